/**
 * PVX end to end: pvos booted on pvm in PV mode, in this process. With one
 * domain the guest must choose the PVX back ends and pass its own PVX
 * conformance cases; with two domains sharing one PvxHost the guests talk
 * over a vchan (grant map in the client's grant window + an interdomain event
 * channel, docs/para-api-pvx.md appendix A) and the host asks one to shut down
 * through VIRQ_SHUTDOWN_REQUEST.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostResources } from '../src/host/builder.js';
import type { Domain } from '../src/hypervisor/domain.js';
import { bootPvmInProcess, type Console, make, PROMPT, PVOS_ELF, vchanTransfer } from './pvos-console.js';

interface Booted {
  con: Console;
  vm: Domain;
}

let domains = 0;
function boot(resources: HostResources, smp = 1): Promise<Booted> {
  return bootPvmInProcess({ name: `pvos${domains++}`, memory: '64M', smp, kernel: PVOS_ELF }, resources);
}

test('pvos on pvm PV mode with 2 vCPUs chooses the PVX back ends and passes pvxtest', async () => {
  make();
  const { con, vm } = await boot(new HostResources(), 2);
  try {
    const lines = (await con.until(PROMPT)).split('\n');
    assert.equal(lines[0], 'pvos 0.1: boot hart 0, harts 2, ram 64 MiB at 0x80000000, timebase 10000000 Hz');
    assert.equal(lines[1], 'pvos: PVX 1.0 present (domain 1, features 0x1ff)');
    assert.equal(lines[2], 'pvos: backends: pvx 1.0');
    const info = await con.run('info');
    assert.match(info, /\npvx: 1\.0, domain 1, features 0x1ff\nbackends: pvx 1\.0\n/);
    assert.match(info, /\n {2}idle {5}pvx-sched-block\n {2}ipi {6}pvx-evtchn-ipi\n {2}tlb {6}pvx-multicall-rfence\n/);
    assert.equal(await con.run('pvxtest'), 'pvxtest: 73 passed, 0 failed\n');
    // idle is SCHED_BLOCK woken by the timer VIRQ; IPIs and shootdowns reach the second vCPU
    for (const b of ['idle 10', 'ipi 10', 'tlb 10']) {
      assert.match(await con.run(`bench ${b}`), /^bench \w+: 10 ops via pvx-[\w-]+, \d+ ticks, \d+ ns\/op\n$/);
    }
    const ports = await con.run('evtchn');
    assert.match(ports, /^port 1: virq timer, vcpu 0, \d+ events\n/);
    assert.ok((vm.sbi.stats.PVX?.sched_block ?? 0) >= 10, 'idle went through SCHED_BLOCK');
    assert.ok((vm.sbi.stats.PVX?.multicall ?? 0) >= 10, 'shootdowns went through MULTICALL');
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('two pvos domains in one process: 16 MiB over a vchan (a mapped grant and an event channel), host shutdown request', async () => {
  make();
  const resources = new HostResources();
  const pvxHost = resources.pvx;
  const one = await boot(resources);
  const two = await boot(resources);
  try {
    assert.match(await one.con.until(PROMPT), /pvos: PVX 1\.0 present \(domain 1, features 0x1ff\)\n/);
    assert.match(await two.con.until(PROMPT), /pvos: PVX 1\.0 present \(domain 2, features 0x1ff\)\n/);
    await vchanTransfer(one.con, 1, two.con, 2, 16); // 16 MiB, checksums compared at both ends
    // the server's grant was mapped by the client while the transfer ran, and is released now
    assert.equal(two.vm.pvx?.window.slots.size, 0);
    assert.ok((two.vm.pvx?.window.accesses ?? 0) > 1000, 'the client read the ring through its grant window');
    // the host asks domain 2 to power off: VIRQ_SHUTDOWN_REQUEST, the guest answers with SCHED_SHUTDOWN
    assert.equal(two.vm.requestShutdown('poweroff'), true);
    await two.con.until('pvos: shutdown requested by the host (poweroff)\n');
    assert.equal(await two.con.exited, 0);
    assert.deepEqual(pvxHost.ids(), [1], 'a domain that ended leaves the registry');
    one.con.send('poweroff');
    await one.con.until('pvos: poweroff\n');
    assert.equal(await one.con.exited, 0);
  } finally {
    one.con.kill();
    two.con.kill();
  }
});

test('a guest that breaks its own kernel ends only its own domain, with the reason', async () => {
  make();
  const resources = new HostResources();
  const pvxHost = resources.pvx;
  const survivor = await boot(resources);
  try {
    assert.match(await survivor.con.until(PROMPT), /\(domain 1, features 0x1ff\)\n/);
    const cases = [
      {
        how: 'jump', // S-mode runs zeros: illegal instruction, pvos panics and reports a crash through PVX
        out: /^wreck: jumping to a page of zeros in S-mode\npvos: panic: kernel trap: scause 2 stval 0x0 sepc 0x80[0-9a-f]{6}\n$/,
        why: /^PVX shutdown: crash$/,
      },
      {
        how: 'stvec', // the trap vector itself is garbage: the hypervisor sees a double fault
        out: /^wreck: trap vector -> a page of zeros, then ebreak\n$/,
        why: /^double fault on hart 0: the S-mode trap vector 0x80[0-9a-f]{6} faults \(cause 2, tval 0x0\)$/,
      },
      {
        how: 'satp', // page tables over nothing: every fetch is an access fault, the handler's too
        out: /^wreck: page table root -> gigapages of nothing\n$/,
        why: /^double fault on hart 0: the S-mode trap vector 0x80[0-9a-f]{6} faults \(cause 1, tval 0x80[0-9a-f]{6}\)$/,
      },
    ];
    for (const c of cases) {
      const victim = await boot(resources);
      try {
        // the id of an ended domain is free again: each victim is domain 2
        assert.match(await victim.con.until(PROMPT), /\(domain 2, features 0x1ff\)\n/);
        assert.equal(await victim.con.run('ticks').then((t) => t.startsWith('ticks: ')), true);
        victim.con.send(`wreck ${c.how}`);
        assert.equal(await victim.con.exited, 1, `wreck ${c.how}: the domain fails`);
        const out = (await victim.con.until(`wreck ${c.how}\n`)) && (await victim.con.rest());
        assert.match(out, c.out, `wreck ${c.how}: last words`);
        const end = victim.vm.result;
        assert.equal(end?.kind, 'fail');
        assert.match(end.kind === 'fail' ? end.why : '', c.why);
        assert.deepEqual(pvxHost.ids(), [1], 'the broken domain left the PVX registry');
      } finally {
        victim.con.kill();
      }
      // the other domain did not notice: its shell answers, its timer still ticks
      assert.match(await survivor.con.run('ticks'), /^ticks: \d+ \(100 Hz, uptime \d+\.\d\d s\)\n$/);
      assert.equal(await survivor.con.run('sleep 2'), 'sleep: 2 ticks\n');
    }
    survivor.con.send('poweroff');
    await survivor.con.until('pvos: poweroff\n');
    assert.equal(await survivor.con.exited, 0);
  } finally {
    survivor.con.kill();
  }
});

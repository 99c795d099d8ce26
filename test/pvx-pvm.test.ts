/**
 * PVX end to end: pvos booted on pvm in PV mode, in this process. With one
 * domain the guest must choose the PVX back ends and pass its own PVX
 * conformance cases; with two domains sharing one PvxHost the guests talk
 * over a vchan (grant map in the client's grant window + an interdomain event
 * channel, docs/para-api-pvx.md appendix A) and the host asks one to shut down
 * through VIRQ_SHUTDOWN_REQUEST.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { NodeDomainHost } from '../src/host/domain-host.js';
import type { Domain } from '../src/hypervisor/domain.js';
import { PvxHost } from '../src/hypervisor/pvx/host.js';
import type { PvxDomain } from '../src/hypervisor/pvx/pvx-domain.js';
import { createVm } from '../src/hypervisor/vm.js';
import { Console, make, PROMPT, PVOS_ELF, vchanTransfer } from './pvos-console.js';

interface Booted {
  con: Console;
  vm: Domain;
}

function boot(pvxHost: PvxHost<PvxDomain>, harts = 1): Booted {
  let deliver: ((text: string) => void) | undefined;
  let pending = '';
  const decoder = new TextDecoder();
  const host = new NodeDomainHost((bytes) => {
    const text = decoder.decode(bytes, { stream: true });
    if (deliver) deliver(text);
    else pending += text;
  });
  const vm = createVm(
    { mode: 'pv', harts, memory: 64 << 20, kernel: readFileSync(PVOS_ELF), cmdline: '', pvxHost },
    host,
  );
  const ended = vm.run();
  const con = new Console({
    write: (text) => {
      vm.input(new TextEncoder().encode(text));
      host.wake();
    },
    onData: (cb) => {
      deliver = cb;
      if (pending) cb(pending);
      pending = '';
    },
    exited: ended.then((e) => {
      host.flush();
      return e.kind === 'poweroff' ? 0 : e.code;
    }),
    kill: () => vm.stop(130),
  });
  return { con, vm };
}

test('pvos on pvm PV mode with 2 vCPUs chooses the PVX back ends and passes pvxtest', async () => {
  make();
  const { con, vm } = boot(new PvxHost<PvxDomain>(), 2);
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

test('two pvos domains in one process: vchan over a mapped grant and an event channel, host shutdown request', async () => {
  make();
  const pvxHost = new PvxHost<PvxDomain>();
  const one = boot(pvxHost);
  const two = boot(pvxHost);
  try {
    assert.match(await one.con.until(PROMPT), /pvos: PVX 1\.0 present \(domain 1, features 0x1ff\)\n/);
    assert.match(await two.con.until(PROMPT), /pvos: PVX 1\.0 present \(domain 2, features 0x1ff\)\n/);
    await vchanTransfer(one.con, 1, two.con, 2, 1);
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

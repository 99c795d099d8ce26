/**
 * Harts on threads in the daemon's worker pool (docs/scheduler.md, "Harts on threads" and
 * "Worker pool"): a domain with `threads` placed on a pool worker runs hart 0 there and its
 * other harts on threads that worker starts. A two-hart PV guest whose hart 1 answers console
 * input through hart 0 shows hart 1 running on its own thread through pause, save and restore,
 * reboot, moves between workers and destroy; the domain's `threads` statistics come through
 * the API on the pool and on the main thread. Linux `--smp 2 --threads` boots on a worker and
 * runs a command on both harts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DomainStats } from '../src/api/domain.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { ApiSpec } from '../src/server/openapi.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { assembleGuest, collect, runPvm, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { initrd, kernel as linuxKernel } from './support/linux-guest.js';

/**
 * Hart 0 prints a greeting, starts hart 1 (HSM hart_start) and echoes console input (legacy
 * getchar, sleeping 1 ms in WFI between polls); an 'h' it does not echo but stores in `flag`
 * for hart 1, and 'q' powers off. Hart 1 polls `flag` (sleeping 1 ms likewise) and, when set,
 * clears it and prints "[1]" (its hart id, from a0 at its start) through its own hypercalls.
 */
const DUO_GUEST = `
.section .text
.globl _start
_start:
  la s0, msg
1: lbu a0, 0(s0)
  beqz a0, 2f
  li a7, 1            # legacy console_putchar
  ecall
  addi s0, s0, 1
  j 1b
2: li a7, 0x48534D    # HSM hart_start(1, hart1, 0)
  li a6, 0
  li a0, 1
  la a1, hart1
  li a2, 0
  ecall
poll:
  li a7, 2            # legacy console_getchar: a0 = byte or -1
  ecall
  bgez a0, 3f
  call nap
  j poll
3: li t0, 'q'
  beq a0, t0, off
  li t0, 'h'
  bne a0, t0, 4f
  la t1, flag
  li t0, 1
  sw t0, 0(t1)
  j poll
4: li a7, 1
  ecall
  j poll
off:
  li a7, 0x53525354   # SRST system_reset(shutdown, no reason)
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
5: j 5b
hart1:
  mv s1, a0
h1:
  la t1, flag
  lw t0, 0(t1)
  bnez t0, 6f
  call nap
  j h1
6: sw zero, 0(t1)
  li a0, '['
  li a7, 1
  ecall
  addi a0, s1, '0'
  ecall
  li a0, ']'
  ecall
  j h1
nap:                  # sleep 1 ms: legacy set_timer, STIE, WFI
  rdtime t0
  li t1, 10000
  add a0, t0, t1
  li a7, 0
  ecall
  li t0, 32
  csrs sie, t0
  wfi
  ret
msg: .asciz "duo\\n"
.section .data
flag: .word 0
`;

/** Threads of this process at nice 5: the pool's workers and the threads they start. */
function niceFive(): number {
  return readdirSync('/proc/self/task').filter((t) => {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) === 5;
    } catch {
      return false; // ended meanwhile
    }
  }).length;
}

const validStats = ApiSpec.load().schema('DomainStats');

/** Hart 1's entry of `s.threads`, checked against the API's schema; `code`: where its pc may be. */
function hart1(s: DomainStats, code = /^0x8020[0-9a-f]{4}$/): NonNullable<DomainStats['threads']>[number] {
  assert.ok(validStats(s), `stats match the OpenAPI schema: ${JSON.stringify(validStats.errors)}`);
  assert.equal(s.threads?.length, 1, JSON.stringify(s.threads));
  const t = s.threads[0]!;
  assert.equal(t.hart, 1);
  // in the guest's code once it ran (before its start: 0x0)
  assert.match(t.pc, t.instret > 0 ? code : /^0x0$/);
  return t;
}

describe('harts on threads on a pool of worker threads', () => {
  let h: TestDaemon<PoolDomainManager>;
  let duo: string;

  before(async () => {
    h = await startTestDaemon(new PoolDomainManager({ workers: 2, rebalanceMs: 0 }), { prefix: 'pvm-pthr-' });
    duo = assembleGuest(join(h.dir, 'duo'), DUO_GUEST, 'rv64imac_zicsr');
    await until('the workers lowered their priority', () => niceFive() === 2);
  });
  after(() => h.close());

  /** Types `h` on `con` until hart 1's answer follows what `out` held before. */
  async function hart1Answers(con: { write(s: string): unknown }, out: { text: () => string }): Promise<void> {
    const n = out.text().split('[1]').length;
    con.write('h');
    await until(`hart 1 answers after ${JSON.stringify(out.text())}`, () => out.text().split('[1]').length > n, 20_000);
  }

  test('a threaded domain on a worker: hart 1 on a thread the worker starts, through pause, save, restore, reboot and destroy', async () => {
    const threadsBefore = niceFive();
    const d = await h.client.create({
      name: 'duo',
      kernel: duo,
      memory: '16M',
      smp: 2,
      threads: true,
      append: 'console=hvc0',
    });
    assert.equal(typeof h.manager.placement(d.id), 'number');
    const con = await h.client.attachConsole('duo', { write: true });
    const out = collect(con);
    await until('greeting', () => out.text() === 'duo\n');
    con.write('ah');
    await until('hart 0 echoes, hart 1 answers', () => out.text() === 'duo\na[1]');
    // Hart 1's thread was started by the domain's worker, at the worker's nice value.
    assert.equal(niceFive(), threadsBefore + 1, 'one more thread at nice 5');
    const t = hart1(await h.client.stats('duo'));
    assert.ok(t.instret > 0, JSON.stringify(t));

    // A pause holds hart 1 on its thread: its count stands still.
    await h.client.pause('duo');
    const held = hart1(await h.client.stats('duo'));
    assert.equal(held.state, 'held');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hart1(await h.client.stats('duo')).instret, held.instret, 'no instruction while paused');
    await h.client.unpause('duo');
    con.write('h');
    await until('hart 1 answers after the pause', () => out.text() === 'duo\na[1][1]');

    // Saved on the worker (hart 1's state from its thread), restored onto a worker.
    const saved = await h.client.save('duo', join(h.dir, 'duo.snap'));
    assert.equal(saved.state, 'destroyed');
    await until('hart 1 thread ended with its domain', () => niceFive() === threadsBefore);
    const r = await h.client.restore(join(h.dir, 'duo.snap'), { name: 'duo2' });
    assert.equal(typeof h.manager.placement(r.id), 'number');
    assert.equal((await h.client.info('duo2')).config.threads, true);
    const restored = hart1(await h.client.stats('duo2'));
    assert.ok(restored.instret >= held.instret, `hart 1 goes on from its count: ${JSON.stringify(restored)}`);
    const con2 = await h.client.attachConsole('duo2', { write: true });
    const out2 = collect(con2);
    con2.write('xh');
    await until('echo and hart 1 after restore', () => out2.text().endsWith('x[1]'));

    // Reboot: hart 1's thread is parked and started again by the second boot.
    assert.equal((await h.client.reboot('duo2')).state, 'running');
    await until('greeting again', () => out2.text().endsWith('duo\n'));
    await hart1Answers(con2, out2);
    assert.equal(niceFive(), threadsBefore + 1, 'the same thread, parked and started again');

    con2.write('q');
    await until('poweroff', async () => (await h.client.info('duo2')).state === 'shutoff');
    con2.destroy();
    con.destroy();
    await h.client.destroy('duo2');
    await until('its thread ended', () => niceFive() === threadsBefore);
    assert.deepEqual(await h.client.list(), []);
  });

  test('a threaded domain moves between workers, running and paused: hart 1 goes on from its state', async () => {
    const m = h.manager;
    const threadsBefore = niceFive();
    const d = await h.client.create({
      name: 'mv',
      kernel: duo,
      memory: '16M',
      smp: 2,
      threads: true,
      append: 'console=hvc0',
    });
    const from = m.placement(d.id) as number;
    const con = await h.client.attachConsole('mv', { write: true });
    const out = collect(con);
    await until('greeting', () => out.text() === 'duo\n');
    await hart1Answers(con, out);
    const before = hart1(await h.client.stats('mv')).instret;

    await m.move(d.id, 1 - from);
    assert.equal(m.placement(d.id), 1 - from);
    assert.equal((await h.client.info('mv')).state, 'running');
    const after = hart1(await h.client.stats('mv'));
    assert.ok(after.instret >= before, `hart 1 restored with its count: ${before} -> ${after.instret}`);
    await hart1Answers(con, out);
    assert.equal(niceFive(), threadsBefore + 1, "the source's hart thread ended, the target started one");

    // Paused, it moves paused and hart 1 stays held until the unpause.
    await h.client.pause('mv');
    await m.move(d.id, from);
    assert.equal(m.placement(d.id), from);
    assert.equal((await h.client.info('mv')).state, 'paused');
    const parked = hart1(await h.client.stats('mv')).instret;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(hart1(await h.client.stats('mv')).instret, parked, 'no instruction while paused');
    await h.client.unpause('mv');
    await hart1Answers(con, out);
    assert.equal(out.text().split('[1]').length - 1, 3, out.text());
    con.destroy();
    await h.client.destroy('mv');
    await until('its thread ended', () => niceFive() === threadsBefore);
  });

  test('Linux --smp 2 --threads on a worker: boots to init ready, a command runs on both harts', async () => {
    const d = await h.client.create({
      name: 'linux',
      kernel: linuxKernel,
      initrd,
      append: 'console=hvc0 quiet',
      memory: '128M',
      smp: 2,
      threads: true,
    });
    assert.equal(typeof h.manager.placement(d.id), 'number');
    const con = await h.client.attachConsole('linux', { write: true });
    const out = collect(con);
    // Bounds only against a hang: booting Linux on a loaded machine takes minutes.
    await until('init ready', () => /pvm-guest: init ready \([^,]+, 2 cpu\)/.test(out.text()), 60_000);
    // one process pinned to each hart: both print their CPU
    con.write(
      'taskset 1 sh -c \'echo c$(cut -d" " -f39 /proc/self/stat)\'; taskset 2 sh -c \'echo c$(cut -d" " -f39 /proc/self/stat)\'\r',
    );
    await until('both harts ran a process', () => /c0\r?\n/.test(out.text()) && /c1\r?\n/.test(out.text()), 12_000);
    // (the kernel's or a user process's pc)
    const t = hart1(await h.client.stats('linux'), /^0x[0-9a-f]+$/);
    assert.ok(t.instret > 1_000_000, JSON.stringify(t));
    con.destroy();
    await h.client.destroy('linux');
  });
});

test('the main-thread manager gives the threads statistics through the API too', async () => {
  const h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-pthr-main-' });
  try {
    const duo = assembleGuest(join(h.dir, 'duo'), DUO_GUEST, 'rv64imac_zicsr');
    await h.client.create({ name: 'duo', kernel: duo, memory: '16M', smp: 2, threads: true, append: 'console=hvc0' });
    const t = await until('hart 1 ran on its thread', async () => {
      const x = hart1(await h.client.stats('duo'));
      return x.instret > 0 && x;
    });
    assert.ok(['running', 'waiting', 'request'].includes(t.state), JSON.stringify(t));
    // `pvm stats` prints a line per hart on a thread
    const { out } = await runPvm(join(h.dir, 'pvmd.sock'), h.dir, ['stats', 'duo']);
    assert.match(
      out,
      /^ {2}hart 1 on its thread: (running|waiting|request \(\w+\)), pc 0x8020[0-9a-f]{4}, \d+ instructions$/m,
    );
    const plain = await h.client.create({ name: 'one', kernel: duo, memory: '16M', smp: 2, append: 'console=hvc0' });
    await until('the unthreaded domain ran', async () => (await h.client.stats('one')).instructions > 0);
    assert.equal((await h.client.stats(plain.name)).threads, undefined, 'no threads without `threads`');
    for (const n of ['duo', 'one']) await h.client.destroy(n);
  } finally {
    await h.close();
  }
});

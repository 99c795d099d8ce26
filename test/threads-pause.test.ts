/**
 * Pausing a domain whose harts run on threads (docs/scheduler.md, "Harts on threads"): the
 * hart on a thread is held while the domain is paused, runs again after, and its guest clock
 * stops with hart 0's. The guest is a raw S-mode program: hart 0 starts hart 1 (SBI HSM), then
 * both loop writing the `time` CSR to memory, hart 1 also counting its passes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { A, li64, Prog } from '../src/cpu/test-asm.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { nodeHartThreads } from '../src/host/hart-threads.js';
import { createVm } from '../src/hypervisor/vm.js';

const ENTRY = 0x8020_0000;
/** hart 0's time at DATA, hart 1's at DATA+8, hart 1's passes at DATA+16. */
const DATA = 0x8028_0000;
const TIME = 0xc01;

/** The program, hart 1 entering at `secondAt` (built until that is where it lands). */
function build(secondAt: number): { bytes: Uint8Array; second: number } {
  const p = new Prog();
  // hart 0 enters with a0 = 0, hart 1 (hart_start below) at `second`
  p.i(...li64(17, 0x48_534dn), ...li64(16, 0n), ...li64(10, 1n), ...li64(11, BigInt(secondAt)));
  p.i(...li64(12, 0n), A.ecall());
  p.i(...li64(8, BigInt(DATA)));
  const loop0 = p.size;
  p.i(A.csrrs(5, TIME, 0), A.sd(5, 8, 0), A.jal(0, loop0 - (p.size + 8)));
  const second = p.size;
  p.i(...li64(8, BigInt(DATA)));
  const loop1 = p.size;
  p.i(A.csrrs(5, TIME, 0), A.sd(5, 8, 8), A.addi(9, 9, 1), A.sd(9, 8, 16), A.jal(0, loop1 - (p.size + 16)));
  return { bytes: p.toBytes(), second: ENTRY + second };
}

function guest(): Uint8Array {
  let g = build(ENTRY);
  for (let at = 0; at !== g.second; ) {
    at = g.second;
    g = build(at);
  }
  return g.bytes;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1500 && !ok(); i++) await sleep(20);
  assert.ok(ok(), `timed out waiting for ${what}`);
}

test('a paused threaded domain holds its hart on a thread; after the pause its clock agrees with hart 0', async () => {
  const host = new NodeDomainHost(() => {});
  const d = createVm({ mode: 'pv', harts: 2, memory: 32 << 20, kernel: guest(), cmdline: '', threads: true }, host, {
    threads: nodeHartThreads,
  });
  const word = (o: number) => d.ram.view.getBigUint64(DATA - d.ram.base + o, true);
  const passes = () => word(16);
  const instret = () => d.statistics().threads![0]!.instret;
  const run = d.run();
  try {
    await until('hart 1 to run', () => passes() > 0n && instret() > 0);
    await host.pause();
    const p1 = passes();
    const i1 = instret();
    await sleep(500); // event-loop turns: a hart that still ran would have moved on
    assert.equal(passes(), p1, 'hart 1 ran while paused');
    assert.equal(instret(), i1);
    await sleep(500);
    host.unpause();
    // (its instruction count is published every 10 000 instructions)
    await until('hart 1 to run again', () => passes() > p1 + 1000n && instret() > i1);
    // hart 1 read its time before the owner reads its own: not later (1 ms of rounding allowed),
    // where a clock that ran on through the pause would be a second (10 M ticks) ahead
    const t1 = Number(word(8));
    const t0 = d.machine.time.now();
    assert.ok(t1 <= t0 + 10_000, `hart 1's time ${t1} is ahead of hart 0's ${t0} by ${(t1 - t0) / 10_000} ms`);
    assert.ok(Number(word(0)) > 0, 'hart 0 ran');
  } finally {
    d.stop(0);
    await run;
  }
});

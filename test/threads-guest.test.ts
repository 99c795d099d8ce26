/**
 * Harts on threads (docs/scheduler.md, "Harts on threads") running raw S-mode guests in
 * process: a paused domain holds its hart on a thread, which runs again after, its guest clock
 * stopped with hart 0's; `send_ipi` and remote fences between harts on threads are served on
 * their threads, going on while the owner thread is blocked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { A, li64, Prog } from '../src/cpu/test-asm.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { nodeHartThreads } from '../src/host/hart-threads.js';
import { createVm } from '../src/hypervisor/vm.js';

const ENTRY = 0x8020_0000;
const DATA = 0x8028_0000;
const TIME = 0xc01;
const SIE = 0x104;
const SIP = 0x144;
const STVEC = 0x105;
const SSTATUS = 0x100;
const HSM = 0x48_534dn;
const IPI = 0x73_5049n;
const RFENCE = 0x5246_4e43n;

type Labels = Record<string, number>;

/**
 * Assemble a program loaded at ENTRY whose code needs the addresses of its own labels: `emit`
 * records each label's address (ENTRY + p.size) and uses the last pass's; passes repeat until
 * the addresses stay put (an li64 of an address may change length with it).
 */
function assemble(emit: (p: Prog, at: Labels, mark: (name: string) => void) => void): Uint8Array {
  let at: Labels = {};
  for (;;) {
    const p = new Prog();
    const now: Labels = {};
    emit(p, at, (name) => {
      now[name] = ENTRY + p.size;
    });
    if (JSON.stringify(now) === JSON.stringify(at)) return p.toBytes();
    at = now;
  }
}

/** An SBI call: a7 = eid, a6 = fid, a0.. = args. */
const sbi = (eid: bigint, fid: number, ...args: bigint[]): number[] => [
  ...li64(17, eid),
  ...li64(16, BigInt(fid)),
  ...args.flatMap((v, i) => li64(10 + i, v)),
  A.ecall(),
];

/**
 * Hart 0 starts hart 1 (SBI HSM), then both loop writing the `time` CSR to memory: hart 0's at
 * DATA, hart 1's at DATA+8, hart 1's passes at DATA+16.
 */
function clockGuest(): Uint8Array {
  return assemble((p, at, mark) => {
    p.i(...sbi(HSM, 0, 1n, BigInt(at.second ?? ENTRY), 0n));
    p.i(...li64(8, BigInt(DATA)));
    const loop0 = p.size;
    p.i(A.csrrs(5, TIME, 0), A.sd(5, 8, 0), A.jal(0, loop0 - (p.size + 8)));
    mark('second');
    p.i(...li64(8, BigInt(DATA)));
    const loop1 = p.size;
    p.i(A.csrrs(5, TIME, 0), A.sd(5, 8, 8), A.addi(9, 9, 1), A.sd(9, 8, 16), A.jal(0, loop1 - (p.size + 16)));
  });
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1500 && !ok(); i++) await sleep(20);
  assert.ok(ok(), `timed out waiting for ${what}`);
}

test('a paused threaded domain holds its hart on a thread; after the pause its clock agrees with hart 0', async () => {
  const host = new NodeDomainHost(() => {});
  const d = createVm(
    { mode: 'pv', harts: 2, memory: 32 << 20, kernel: clockGuest(), cmdline: '', threads: true },
    host,
    {
      threads: nodeHartThreads,
    },
  );
  const word = (o: number) => d.ram.view.getBigUint64(DATA - d.ram.base + o, true);
  const passes = () => word(16);
  const thread = () => d.statistics().threads![0]!;
  const instret = () => thread().instret;
  const run = d.run();
  try {
    await until('hart 1 to run', () => passes() > 0n && instret() > 0);
    await host.pause();
    assert.equal(thread().state, 'held');
    const p1 = passes();
    const i1 = instret();
    await sleep(500); // event-loop turns: a hart that still ran would have moved on
    assert.equal(passes(), p1, 'hart 1 ran while paused');
    assert.equal(instret(), i1);
    await sleep(500);
    host.unpause();
    await until('hart 1 to leave the hold', () => thread().state !== 'held');
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

test('a cap holds a hart on a thread to its part: at a hundredth of a percent, hart 1 all but stops', async () => {
  const host = new NodeDomainHost(() => {});
  const d = createVm(
    { mode: 'pv', harts: 2, memory: 32 << 20, kernel: clockGuest(), cmdline: '', threads: true },
    host,
    { threads: nodeHartThreads },
  );
  const passes = () => d.ram.view.getBigUint64(DATA - d.ram.base + 16, true);
  /** Hart 1's passes over a second (a pass is 5 instructions: 2 000 in a chunk of 10 000). */
  const second = async () => {
    const p0 = passes();
    await sleep(1000);
    return passes() - p0;
  };
  const run = d.run();
  try {
    await until('hart 1 to run', () => passes() > 0n);
    // The cap is the domain's total: each of its 2 harts gets half, the owner's part returned
    // for its scheduler entity (the exact budget is CapBudget's, scheduler.test.ts).
    assert.equal(d.threads!.setCap(50), 25);
    // 0.01 % a hart: a chunk (at least 0.1 ms: every pass reads the host clock) is paid for by
    // a second's wait, so in a second hart 1 starts at most two, whatever the host's load.
    d.threads!.setCap(0.02);
    await sleep(1200); // the chunk it ran before it saw the cap
    const capped = await second();
    assert.ok(capped <= 6000n, `hart 1's passes in a second at 0.01 %: ${capped}`);
    d.threads!.setCap(0);
    await sleep(100);
    const lifted = await second();
    assert.ok(lifted > 6000n, `hart 1's passes in a second after the cap was lifted: ${lifted} (${capped} capped)`);
  } finally {
    d.stop(0);
    await run;
  }
});

/**
 * Three harts. Hart 0 starts harts 1 and 2, then counts the wake-ups its IPIs give it (DATA+16).
 * Hart 1 loops: send_ipi to harts 0 and 2, remote_sfence_vma of hart 2, a pass counted at
 * DATA. Hart 2 waits in WFI; its interrupt handler makes a remote_fence_i of hart 1 (so the
 * two fence each other at times) and counts the interrupt at DATA+8.
 */
function ipiGuest(): Uint8Array {
  return assemble((p, at, mark) => {
    p.i(...sbi(HSM, 0, 1n, BigInt(at.one ?? ENTRY), 0n));
    p.i(...sbi(HSM, 0, 2n, BigInt(at.two ?? ENTRY), 0n));
    p.i(...li64(8, BigInt(DATA)), A.addi(6, 0, 2), A.csrrs(0, SIE, 6));
    const loop0 = p.size;
    p.i(A.wfi(), A.csrrc(0, SIP, 6), A.ld(5, 8, 16), A.addi(5, 5, 1), A.sd(5, 8, 16));
    p.i(A.jal(0, loop0 - p.size));
    mark('one');
    p.i(...li64(8, BigInt(DATA)));
    const loop1 = p.size;
    p.i(...sbi(IPI, 0, 5n, 0n));
    p.i(...sbi(RFENCE, 1, 4n, 0n, 0n, -1n));
    p.i(A.ld(5, 8, 0), A.addi(5, 5, 1), A.sd(5, 8, 0));
    p.i(A.jal(0, loop1 - p.size));
    mark('two');
    p.i(...li64(8, BigInt(DATA)), ...li64(5, BigInt(at.handler ?? ENTRY)), A.csrrw(0, STVEC, 5));
    p.i(A.addi(6, 0, 2), A.csrrs(0, SIE, 6), A.csrrsi(0, SSTATUS, 2));
    p.i(A.wfi(), A.jal(0, -4));
    mark('handler');
    p.i(A.csrrc(0, SIP, 6), ...sbi(RFENCE, 0, 2n, 0n));
    p.i(A.ld(5, 8, 8), A.addi(5, 5, 1), A.sd(5, 8, 8), A.sret());
  });
}

test('send_ipi and remote fences between harts on threads go on while the owner thread is blocked', async () => {
  const host = new NodeDomainHost(() => {});
  const d = createVm({ mode: 'pv', harts: 3, memory: 32 << 20, kernel: ipiGuest(), cmdline: '', threads: true }, host, {
    threads: nodeHartThreads,
  });
  const word = (o: number) => Number(d.ram.view.getBigUint64(DATA - d.ram.base + o, true));
  const run = d.run();
  try {
    await until('IPIs to harts 0 and 2', () => word(0) > 0 && word(8) > 0 && word(16) > 0);
    // the owner thread (hart 0, the devices, the SBI layer) does nothing for a second
    const before = [word(0), word(8)];
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    const after = [word(0), word(8)];
    assert.ok(after[0]! >= before[0]! + 5, `hart 1's passes while the owner was blocked: ${before} -> ${after}`);
    assert.ok(after[1]! >= before[1]! + 5, `hart 2's interrupts while the owner was blocked: ${before} -> ${after}`);
    // hart 0's IPIs are picked up by the owner once it runs again
    const woken = word(16);
    await until("hart 0's IPIs", () => word(16) > woken);
    const s = d.statistics();
    assert.ok(s.hypercalls.IPI!.send_ipi! >= after[0]!, JSON.stringify(s.hypercalls));
    assert.ok(s.hypercalls.RFENCE!.remote_sfence_vma! >= after[0]!, JSON.stringify(s.hypercalls));
    assert.ok(s.hypercalls.RFENCE!.remote_fence_i! >= after[1]!, JSON.stringify(s.hypercalls));
  } finally {
    d.stop(0);
    await run;
  }
});

test('calls a hart on a thread cannot serve itself get the SBI layer answers: bad masks, ranges, ids', async () => {
  // hart 1 makes each call and stores a0 at DATA + 8k, then 1 at DATA+64
  const calls: number[][] = [
    sbi(IPI, 0, 1n, 5n), // base beyond the harts: INVALID_PARAM
    sbi(IPI, 0, 8n, 0n), // hart 3 of 2: INVALID_PARAM
    sbi(RFENCE, 1, 2n, 0n, -4096n, 8192n), // range wrapping past 2^64: INVALID_ADDRESS
    sbi(RFENCE, 0, 2n, 0n), // itself: served on its thread
    sbi(IPI, 0, 0n, 0n), // nobody: success
    sbi(0x1_0073_5049n, 0, 2n, 0n), // a7 beyond 32 bits names no extension: NOT_SUPPORTED
  ];
  const prog = assemble((p, at, mark) => {
    p.i(...sbi(HSM, 0, 1n, BigInt(at.one ?? ENTRY), 0n), A.wfi(), A.jal(0, -4));
    mark('one');
    p.i(...li64(8, BigInt(DATA)));
    calls.forEach((c, k) => {
      p.i(...c, A.sd(10, 8, 8 * k));
    });
    p.i(A.addi(5, 0, 1), A.sd(5, 8, 64), A.wfi(), A.jal(0, -4));
  });
  const host = new NodeDomainHost(() => {});
  const d = createVm({ mode: 'pv', harts: 2, memory: 32 << 20, kernel: prog, cmdline: '', threads: true }, host, {
    threads: nodeHartThreads,
  });
  const word = (o: number) => d.ram.view.getBigInt64(DATA - d.ram.base + o, true);
  const run = d.run();
  try {
    await until('hart 1 to finish', () => word(64) === 1n);
    assert.deepEqual(
      calls.map((_, k) => Number(word(8 * k))),
      [-3, -3, -5, 0, 0, -2],
    );
    const s = d.statistics();
    assert.deepEqual(s.hypercalls.IPI, { send_ipi: 3 });
    assert.deepEqual(s.hypercalls.RFENCE, { remote_sfence_vma: 1, remote_fence_i: 1 });
  } finally {
    d.stop(0);
    await run;
  }
});

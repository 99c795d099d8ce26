/**
 * Named exactness cases of the translation tier, each run in lockstep against the interpreter
 * (same state after every slice) and checked against the result the program must compute:
 * self-modifying code, FENCE.I after an outside write, a page remapped under translated code,
 * a trap in the middle of a block, interrupts arriving during a hot loop, code across a page
 * boundary; and when the tier is made.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr, IrqBit } from '../src/cpu/arch.js';
import { Hart } from '../src/cpu/hart.js';
import { HART_STATE_BYTES } from '../src/cpu/jit/state.js';
import { A, C, li64, Prog } from '../src/cpu/test-asm.js';
import { LogBus, openPmp, RAM_BASE } from '../src/cpu/test-util.js';
import { GuestRam } from '../src/memory/ram.js';
import {
  BAD,
  boot,
  csrrs,
  DATA,
  lockstep,
  lockstepYielding,
  type Machine,
  machine,
  put,
  snapshot,
} from './support/jit-rig.js';

const F = RAM_BASE + 0x2000;
const ret = () => A.jalr(0, 1, 0);
const li = (rd: number, v: number | bigint) => li64(rd, BigInt(v));

/** Both machines with `prog` at RAM_BASE and `extra` pieces at their addresses (`jitAsync`: b compiles off the thread). */
function pair(prog: Prog, extra: [number, Prog][] = [], jitAsync = false): [Machine, Machine] {
  const a = machine(false);
  const b = machine(true, false, jitAsync);
  for (const m of [a, b]) {
    boot(m, prog, new Uint8Array(0x2000));
    for (const [pa, p] of extra) put(m, pa, p.toBytes());
  }
  return [a, b];
}

const slices = (n: number, size: number) => new Array<number>(n).fill(size);

test('self-modifying code: a store into a translated function is seen by the next call', () => {
  // s0 = iterations, s1 = sum of F's results, s2 = &F, s3 = the new first instruction of F
  const p = new Prog().i(...li(8, 3000), ...li(9, 0), ...li(18, F), ...li(19, A.addi(10, 0, 2)), ...li(20, 1500));
  const loop = p.size;
  p.i(A.jalr(1, 18, 0), A.add(9, 9, 10), A.addi(8, 8, -1), A.bne(8, 20, 8), A.sw(19, 18, 0));
  p.i(A.bne(8, 0, loop - (p.size + 0)), A.jal(0, 0));
  const [a, b] = pair(p, [[F, new Prog().i(A.addi(10, 0, 1), ret())]]);
  lockstep(a, b, slices(40, 1000));
  assert.equal(b.hart.getX(9), 1500n * 1n + 1500n * 2n);
  assert.ok(b.hart.jit!.stats.pageInvalidations >= 1);
  assert.ok(b.hart.jit!.stats.instructions > 5000);
});

test('FENCE.I: code written from outside the hart (as DMA does) runs after the guest fences', () => {
  // 2000 calls, WFI (the host rewrites F meanwhile), FENCE.I, 2000 calls
  const p = new Prog().i(...li(9, 0), ...li(18, F));
  const phase = () => {
    p.i(...li(8, 2000));
    const loop = p.size;
    p.i(A.jalr(1, 18, 0), A.add(9, 9, 10), A.addi(8, 8, -1));
    p.i(A.bne(8, 0, loop - p.size));
  };
  phase();
  p.i(A.wfi(), A.fence_i());
  phase();
  p.i(A.jal(0, 0));
  const [a, b] = pair(p, [[F, new Prog().i(A.addi(10, 0, 1), ret())]]);
  for (const m of [a, b]) assert.equal(m.hart.run(1_000_000), 1); // Exit.Wfi
  assert.ok(b.hart.jit!.stats.instructions > 500);
  for (const m of [a, b]) put(m, F, new Prog().i(A.addi(10, 0, 2)).toBytes());
  const flushes = b.hart.jit!.stats.flushes;
  lockstep(a, b, slices(20, 1000));
  assert.equal(b.hart.getX(9), 2000n + 4000n);
  assert.equal(b.hart.jit!.stats.flushes, flushes + 1);
});

/** Sv39 tables: 0x8000_0000 identity-mapped by a gigapage, VA 0x4000_0000 by a 4 KiB page to `target`. */
const ROOT = RAM_BASE + 0x1_0000;
const L1 = ROOT + 0x1000;
const L0 = ROOT + 0x2000;
const CODE_VA = 0x4000_0000;
const pte = (pa: number, flags: number) => ((BigInt(pa) >> 12n) << 10n) | BigInt(flags);

function mapTables(m: Machine, target: number): void {
  const w = (pa: number, v: bigint) => m.ram.view.setBigUint64(pa - RAM_BASE, v, true);
  w(ROOT + 2 * 8, pte(RAM_BASE, 0xcf)); // V R W X A D
  w(ROOT + 1 * 8, pte(L1, 0x01));
  w(L1, pte(L0, 0x01));
  w(L0, pte(target, 0xcb)); // V R X A D
}

test('a page remapped under translated code: SFENCE.VMA re-keys the blocks', () => {
  const P1 = RAM_BASE + 0x3000;
  const P2 = RAM_BASE + 0x4000;
  // S-mode: 2000 calls to VA 0x4000_0000 (P1 returns 1), repoint the PTE to P2 (returns 2), SFENCE.VMA, 2000 calls
  const p = new Prog().i(...li(9, 0), ...li(18, CODE_VA), ...li(21, L0), ...li(22, pte(P2, 0xcb)));
  const phase = () => {
    p.i(...li(8, 2000));
    const loop = p.size;
    p.i(A.jalr(1, 18, 0), A.add(9, 9, 10), A.addi(8, 8, -1));
    p.i(A.bne(8, 0, loop - p.size));
  };
  phase();
  p.i(A.sd(22, 21, 0), A.sfence_vma(0, 0));
  phase();
  p.i(A.jal(0, 0));
  const [a, b] = pair(p, [
    [P1, new Prog().i(A.addi(10, 0, 1), ret())],
    [P2, new Prog().i(A.addi(10, 0, 2), ret())],
  ]);
  for (const m of [a, b]) {
    mapTables(m, P1);
    m.hart.setCsr(Csr.satp, (8n << 60n) | BigInt(ROOT / 4096));
    m.hart.priv = 1;
  }
  lockstep(a, b, slices(60, 500));
  assert.equal(b.hart.getX(28), 0n); // no trap
  assert.equal(b.hart.getX(9), 2000n + 4000n);
  assert.equal(b.hart.priv, 1);
  assert.ok(b.hart.jit!.stats.instructions > 2000);
});

test('a trap in the middle of a block: the third load faults with exact epc, tval, cause, instret', () => {
  // three loads per iteration; from iteration 1500 on the third one's base is BAD (load access fault, skipped)
  const p = new Prog().i(
    ...li(8, 3000),
    ...li(18, DATA),
    ...li(19, DATA + 8),
    ...li(20, DATA + 16),
    ...li(21, BAD),
    ...li(22, 1500),
  );
  const loop = p.size;
  p.i(A.ld(5, 18, 0), A.ld(6, 19, 0), A.ld(7, 20, 0), A.add(9, 9, 5), A.addi(8, 8, -1));
  p.i(A.bne(8, 22, 8), A.addi(20, 21, 0));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p);
  lockstep(a, b, slices(100, 997)); // each trap costs TRAP_COST of the budget
  const h = b.hart;
  assert.equal(h.getX(28), 1500n * 5n); // 1500 faults, cause 5
  assert.equal(h.getCsr(Csr.mepc), BigInt(RAM_BASE + loop + 8 + 4)); // the handler stepped over the load
  assert.equal(h.getCsr(Csr.mtval), BigInt(BAD));
  assert.equal(h.getCsr(Csr.mcause), 5n);
  assert.ok(h.jit!.stats.instructions > 1000);
});

test('interrupts during a hot loop are taken at the same instruction as by the interpreter', () => {
  // M-mode, SSIP enabled (mideleg 0); the handler counts interrupts in x25, records mepc in x27 and clears SSIP.
  // The loop stores to MMIO every 64th iteration: the bus raises SSIP from inside the slice.
  const H = RAM_BASE + 0x6000;
  const handler = new Prog().i(
    csrrs(27, Csr.mepc, 0),
    A.addi(25, 25, 1),
    ...li(26, 2),
    A.csrrc(0, Csr.mip, 26),
    A.mret(),
  );
  const p = new Prog().i(...li(8, 3000), ...li(24, 0x1000_0000), ...li(26, 2), A.csrrs(0, Csr.mie, 26), ...li(26, 8));
  p.i(A.csrrs(0, Csr.mstatus, 26)); // MIE
  const loop = p.size;
  p.i(A.addi(9, 9, 3), A.andi(7, 8, 63), A.bne(7, 0, 8), A.sw(8, 24, 0), A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p, [[H, handler]]);
  for (const m of [a, b]) {
    m.hart.setCsr(Csr.mtvec, BigInt(H));
    m.bus.onWrite = () => m.hart.setIrq(IrqBit.SSIP, true);
  }
  // and from the host between slices
  for (let i = 0; i < 30; i++) {
    lockstep(a, b, [733]);
    if (i % 3 === 0) for (const m of [a, b]) m.hart.setIrq(IrqBit.SSIP, true);
  }
  assert.equal(b.hart.getX(9), 3000n * 3n);
  assert.ok(b.hart.getX(25) > 3000n / 64n);
  assert.ok(b.hart.jit!.stats.instructions > 5000);
});

test('code across a page boundary: a 32-bit instruction split by it, a compressed one at its end', () => {
  for (const compressedAtEnd of [false, true]) {
    const start = RAM_BASE + 0xfe0;
    // the loop at start: 30 bytes of padding put the next instruction at page offset 0xffe
    const loop = new Prog();
    for (let i = 0; i < 5; i++) loop.i(A.addi(9, 9, 1)).c(C.addi(10, 1));
    if (compressedAtEnd) loop.c(C.addi(11, 1));
    else loop.i(A.addi(11, 11, 1)); // halves on both pages
    loop.i(A.addi(8, 8, -1));
    loop.i(A.bne(8, 0, -loop.size));
    loop.i(A.jal(0, 0));
    const head = new Prog().i(...li(8, 3000));
    head.i(A.jal(0, start - RAM_BASE - head.size));
    assert.ok(head.size < 0xfe0 && loop.size > 0x20);
    const [a, b] = pair(head, [[start, loop]]);
    lockstep(a, b, slices(60, 1000));
    assert.equal(b.hart.getX(11), 3000n);
    assert.ok(b.hart.jit!.stats.instructions > 2000);
  }
});

test('a long straight run after an instruction across a page end runs translated, exactly', () => {
  // a hot loop whose block stops before the 32-bit instruction at page offset 0xffe; the 200
  // instructions after it are reached by running on, not by a jump, and must still be translated
  const start = RAM_BASE + 0xff2;
  const loop = new Prog();
  loop
    .i(A.addi(8, 8, -1))
    .i(A.addi(9, 9, 1))
    .c(C.addi(10, 1))
    .c(C.addi(10, 1));
  loop.i(A.addi(11, 11, 1)); // at 0xffe: halves on both pages
  for (let i = 0; i < 200; i++) loop.i(A.addi(12, 12, 1));
  loop.i(A.bne(8, 0, -loop.size));
  loop.i(A.jal(0, 0));
  const head = new Prog().i(...li(8, 3000));
  head.i(A.jal(0, start - RAM_BASE - head.size));
  const [a, b] = pair(head, [[start, loop]]);
  lockstep(a, b, slices(619, 1000)); // the loop's 618 006 instructions, then the spin
  assert.equal(b.hart.getX(12), 600_000n);
  // ~250 000 translated (each 64-instruction piece compiles after its own warm-up); ~8 000
  // when the run after the split instruction stayed interpreted
  const translated = b.hart.jit!.stats.instructions;
  assert.ok(translated > 0.3 * b.hart.instret, `${translated} of ${b.hart.instret}`);
});

test('the tier is made after jitAfter instructions of one busy stretch; a wake-up restarts the count', () => {
  const ram = new GuestRam(RAM_BASE, 1 << 20, HART_STATE_BYTES);
  const h = new Hart(ram, new LogBus(), { jitAfter: 50_000 });
  const m = { hart: h, ram, bus: new LogBus() };
  const p = new Prog().i(...li(8, 0));
  const loop = p.size;
  p.i(A.addi(8, 8, 1));
  p.i(A.jal(0, loop - p.size));
  boot(m, p, new Uint8Array(0x2000));
  h.run(40_000);
  h.woke(); // waited, as an idle domain's hart does between ticks
  h.run(40_000);
  h.run(20_000); // made when a run starts at or after 50 000 since the wake-up
  assert.equal(h.jit, null);
  h.run(20_000);
  const jit = h.jit as Hart['jit'];
  assert.ok(jit !== null);
  assert.ok(jit.stats.instructions > 10_000);
  assert.equal(h.getX(8), 60_000n);
  // switched off: never made
  const off = new Hart(new GuestRam(RAM_BASE, 1 << 20, HART_STATE_BYTES), new LogBus(), { jit: false, jitAfter: 0 });
  off.run(1000);
  assert.equal(off.jit, null);
});

test('AMOs run translated: every AMO .W and .D as the interpreter, a misaligned one faults exactly', () => {
  // s2 = &DATA; each pass applies all 18 AMOs to DATA[0..8) with x5 = pass counter-dependent values
  const p = new Prog().i(...li(8, 2000), ...li(18, DATA), ...li(5, -7), ...li(6, 0x1234_5678_9abc_def0n));
  const loop = p.size;
  for (const f5 of [0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c]) {
    p.i(A.amo(f5, 2, 9, 18, 5), A.add(10, 10, 9)); // .W: the old value sign-extended
    p.i(A.amo(f5, 3, 9, 18, 6), A.add(10, 10, 9));
    p.i(A.addi(5, 5, 13), A.xor(6, 6, 5), A.slli(11, 6, 7), A.add(6, 6, 11));
  }
  p.i(A.addi(8, 8, -1), A.addi(19, 18, 4)); // x19 = DATA + 4: .D there is misaligned
  p.i(A.andi(12, 8, 255), A.bne(12, 0, 8), A.amo(0x00, 3, 9, 19, 6)); // every 256th pass: cause 6
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p);
  lockstep(a, b, slices(80, 4000));
  assert.equal(b.hart.getX(8), 0n);
  assert.equal(b.hart.getX(28), 6n * 8n); // 8 misaligned AMO.D, cause 6 each
  assert.ok(b.hart.jit!.stats.instructions > 100_000);
});

test("MULH, MULHSU and MULHU run translated with the interpreter's high words", () => {
  // x5, x6 walk through values with every sign combination; x10 sums the three high words
  const p = new Prog().i(
    ...li(8, 3000),
    ...li(5, -3),
    ...li(6, 0x7fff_ffff_ffff_fff1n),
    ...li(7, 0x9e37_79b9_7f4a_7c15n),
  );
  const loop = p.size;
  p.i(A.mulh(9, 5, 6), A.add(10, 10, 9), A.mulhsu(9, 5, 6), A.add(10, 10, 9), A.mulhu(9, 5, 6), A.add(10, 10, 9));
  p.i(A.mulhsu(9, 6, 5), A.add(10, 10, 9), A.mulh(9, 5, 5), A.add(10, 10, 9), A.mulhu(9, 6, 6), A.add(10, 10, 9));
  p.i(A.mul(5, 5, 7), A.addi(5, 5, 1), A.xor(6, 6, 5), A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p);
  lockstep(a, b, slices(40, 2000));
  assert.equal(b.hart.getX(8), 0n);
  assert.ok(b.hart.jit!.stats.instructions > 30_000);
  // a reference for the first pass, in BigInt
  const r = machine(true);
  const q = new Prog().i(
    ...li(5, -3),
    ...li(6, 0x7fff_ffff_ffff_fff1n),
    A.mulh(9, 5, 6),
    A.mulhsu(10, 5, 6),
    A.mulhu(11, 5, 6),
  );
  boot(r, q, new Uint8Array(0x2000));
  r.hart.run(20);
  const A64 = -3n;
  const B64 = 0x7fff_ffff_ffff_fff1n;
  const high = (x: bigint) => BigInt.asIntN(64, x >> 64n);
  assert.equal(r.hart.getX(9), high(A64 * B64));
  assert.equal(r.hart.getX(10), high(A64 * B64)); // b is positive: MULHSU = MULH
  assert.equal(r.hart.getX(11), high(BigInt.asUintN(64, A64) * B64));
});

test('sscratch, sepc, scause, stval: every Zicsr form runs translated with the WARL rules', () => {
  // x5 walks through values; each pass writes, sets and clears bits of the four CSRs and sums what they read
  const p = new Prog().i(...li(8, 2000), ...li(5, 0x8000_0000_1234_5679n), ...li(6, 0x0f0f));
  const loop = p.size;
  for (const csr of [Csr.sscratch, Csr.sepc, Csr.scause, Csr.stval]) {
    p.i(A.csrrw(9, csr, 5), A.add(10, 10, 9), A.csrrs(9, csr, 6), A.add(10, 10, 9));
    p.i(A.csrrc(9, csr, 8), A.add(10, 10, 9), A.csrrwi(9, csr, 21), A.add(10, 10, 9));
    p.i(A.csrrsi(9, csr, 6), A.add(10, 10, 9), A.csrrci(9, csr, 3), A.add(10, 10, 9));
    p.i(A.csrrs(9, csr, 0), A.add(10, 10, 9), A.csrrw(0, csr, 5), A.slli(11, 5, 13), A.xor(5, 5, 11));
  }
  p.i(A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p);
  lockstep(a, b, slices(60, 3000));
  assert.equal(b.hart.getX(8), 0n);
  assert.ok(b.hart.jit!.stats.instructions > 60_000);
  assert.deepEqual(
    Object.keys(b.hart.jit!.stats.ends).filter((e) => e.startsWith('csr')),
    [],
  );
  // the WARL rules held (and the values are the interpreter's, compared after every slice)
  assert.equal(b.hart.getCsr(Csr.sepc) & 1n, 0n);
  assert.equal(b.hart.getCsr(Csr.scause) & 0x7fff_ffff_0000_0000n, 0n);
  assert.notEqual(b.hart.getCsr(Csr.scause), 0n);
});

test('sstatus.SIE: a translated write that enables a pending interrupt takes it at the next instruction', () => {
  // S-mode with SSIP delegated and enabled in sie. The loop masks interrupts (csrrci sstatus, as
  // local_irq_save does), stores to MMIO every 64th pass (the bus raises SSIP while SIE is clear),
  // and unmasks them (csrrsi sstatus): the interrupt is taken right after that, at the same
  // instruction with the tier on and off. The S handler counts in x25, keeps sepc in x27, clears SSIP.
  const S = RAM_BASE + 0x3000;
  const H = RAM_BASE + 0x6000;
  const handler = new Prog().i(
    csrrs(27, Csr.sepc, 0),
    A.addi(25, 25, 1),
    ...li(26, 2),
    A.csrrc(0, Csr.sip, 26),
    A.sret(),
  );
  const s = new Prog().i(...li(8, 3000), ...li(24, 0x1000_0000));
  const loop = s.size;
  s.i(A.csrrci(5, Csr.sstatus, 2), A.addi(9, 9, 3), A.andi(7, 8, 63), A.bne(7, 0, 8), A.sw(8, 24, 0));
  s.i(A.addi(9, 9, 1), A.csrrsi(0, Csr.sstatus, 2));
  const after = s.size;
  s.i(A.addi(8, 8, -1), A.csrrw(10, Csr.sscratch, 8));
  s.i(A.bne(8, 0, loop - s.size), A.jal(0, 0));
  // M-mode: delegate SSIP, enable it in sie, stvec = H, enter S at S through mret
  const p = new Prog().i(...li(26, 2), A.csrrw(0, Csr.mideleg, 26), A.csrrs(0, Csr.sie, 26));
  p.i(...li(26, H), A.csrrw(0, Csr.stvec, 26), ...li(26, S), A.csrrw(0, Csr.mepc, 26));
  p.i(...li(26, 1 << 11), A.csrrs(0, Csr.mstatus, 26), A.mret());
  const [a, b] = pair(p, [
    [S, s],
    [H, handler],
  ]);
  for (const m of [a, b]) m.bus.onWrite = () => m.hart.setIrq(IrqBit.SSIP, true);
  let atUnmask = 0;
  for (let i = 0; i < 40; i++) {
    lockstep(a, b, [911]);
    if (b.hart.getX(27) === BigInt(S + after)) atUnmask++;
  }
  assert.equal(b.hart.getX(8), 0n);
  assert.equal(b.hart.getX(9), 3000n * 4n);
  assert.ok(b.hart.getX(25) >= 3000n / 64n);
  assert.ok(atUnmask > 0);
  assert.ok(b.hart.jit!.stats.instructions > 10_000);
  assert.deepEqual(
    Object.keys(b.hart.jit!.stats.ends).filter((e) => e.includes('sstatus')),
    [],
  );
});

test('sstatus.SUM and MXR: a translated write that changes them ends the block; the next loads fault or not as in the interpreter', () => {
  // S-mode, Sv39: VA 0x4000_0000 is a user page (readable by S only with SUM), VA 0x4000_1000 an
  // execute-only page (readable only with MXR). Each pass sets SUM and MXR, loads from both, clears
  // them and loads again: the second loads fault (cause 13, skipped by the M handler, summed in x28).
  const U = RAM_BASE + 0x3000;
  const XO = RAM_BASE + 0x4000;
  const p = new Prog().i(...li(8, 3000), ...li(18, CODE_VA), ...li(19, CODE_VA + 0x1000));
  p.i(...li(20, 1 << 18), ...li(21, 1 << 19));
  const loop = p.size;
  // (reading sip, which stays the interpreter's, makes the next block start with SUM and MXR set)
  p.i(A.csrrs(0, Csr.sstatus, 20), A.csrrs(0, Csr.sstatus, 21), A.csrrs(12, Csr.sip, 0));
  p.i(A.ld(9, 18, 0), A.add(10, 10, 9), A.ld(9, 19, 0), A.add(10, 10, 9));
  p.i(A.csrrc(0, Csr.sstatus, 20), A.ld(9, 18, 0), A.add(11, 11, 9));
  p.i(A.csrrc(0, Csr.sstatus, 21), A.ld(9, 19, 0), A.add(11, 11, 9), A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p);
  for (const m of [a, b]) {
    mapTables(m, U);
    m.ram.view.setBigUint64(L0 - RAM_BASE, pte(U, 0xd7), true); // V R W U A D
    m.ram.view.setBigUint64(L0 + 8 - RAM_BASE, pte(XO, 0x49), true); // V X A
    m.ram.view.setBigUint64(U - RAM_BASE, 5n, true);
    m.ram.view.setBigUint64(XO - RAM_BASE, 7n, true);
    m.hart.setCsr(Csr.satp, (8n << 60n) | BigInt(ROOT / 4096));
    m.hart.priv = 1;
  }
  lockstep(a, b, slices(300, 1000));
  assert.equal(b.hart.getX(8), 0n);
  assert.equal(b.hart.getX(10), 3000n * 12n); // with SUM and MXR: both loads
  assert.equal(b.hart.getX(28), 3000n * 2n * 13n); // without: two load page faults a pass
  assert.ok(b.hart.jit!.stats.instructions > 10_000);
  assert.deepEqual(
    Object.keys(b.hart.jit!.stats.ends).filter((e) => e.includes('sstatus')),
    [],
  );
});

test('LR/SC run translated: success, no reservation, another address, a changed value, .W and .D', () => {
  // x18 = &DATA. Each pass: a counter increment by LR.D/SC.D (succeeds), SC.D again (no
  // reservation: fails), LR.W then SC.W at DATA+8 (another address: fails), LR.W, a store that
  // changes the word, SC.W (fails), LR.W/SC.W (succeeds). x10 sums the SC results.
  const p = new Prog().i(...li(8, 2000), ...li(18, DATA), A.addi(19, 18, 8));
  const loop = p.size;
  p.i(A.amo(0x02, 3, 5, 18, 0), A.addi(5, 5, 1), A.amo(0x03, 3, 6, 18, 5), A.add(10, 10, 6));
  p.i(A.amo(0x03, 3, 6, 18, 5), A.add(10, 10, 6));
  p.i(A.amo(0x02, 2, 5, 18, 0), A.amo(0x03, 2, 6, 19, 5), A.add(10, 10, 6));
  p.i(A.amo(0x02, 2, 5, 19, 0), A.addi(7, 5, 3), A.sw(7, 19, 0), A.amo(0x03, 2, 6, 19, 5), A.add(10, 10, 6));
  p.i(A.amo(0x02, 2, 5, 19, 0), A.addi(5, 5, -1), A.amo(0x03, 2, 6, 19, 5), A.add(10, 10, 6));
  p.i(A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const [a, b] = pair(p);
  lockstep(a, b, slices(40, 2000));
  assert.equal(b.hart.getX(8), 0n);
  assert.equal(b.hart.getX(10), 2000n * 3n); // three failures a pass
  assert.equal(b.ram.view.getBigUint64(DATA - RAM_BASE, true), 2000n);
  assert.equal(b.ram.view.getInt32(DATA + 8 - RAM_BASE, true), 2000 * 2);
  assert.ok(b.hart.jit!.stats.instructions > 30_000);
  assert.deepEqual(
    Object.keys(b.hart.jit!.stats.ends).filter((e) => e.startsWith('lr') || e.startsWith('sc')),
    [],
  );
});

/** Both machines in PV mode (virtualM), `prog` at RAM_BASE run in S-mode, with a hypercall hook. */
function pvPair(prog: Prog, extra: [number, Prog][] = []): [Machine, Machine, bigint[][]] {
  const seen: bigint[][] = [];
  const ms = [false, true].map((jit): Machine => {
    const ram = new GuestRam(RAM_BASE, 1 << 20, HART_STATE_BYTES);
    const bus = new LogBus();
    const m = { hart: new Hart(ram, bus, { jit, jitAfter: 0, virtualM: true }), ram, bus };
    boot(m, prog, new Uint8Array(0x2000));
    for (const [pa, p] of extra) put(m, pa, p.toBytes());
    m.hart.reset(BigInt(RAM_BASE), 1);
    openPmp(m.hart);
    // the hook makes calls with a7 = 1 (a0 += 1) and declines the others; it records the
    // instret it sees (the deterministic clock is made of it)
    const log: bigint[] = [];
    seen.push(log);
    const h = m.hart;
    h.ecallHook = () => {
      if (h.getX(17) !== 1n) return false;
      log.push(BigInt(h.instret));
      h.setX(10, h.getX(10) + 1n);
      h.skip(4);
      return true;
    };
    return m;
  });
  return [ms[0]!, ms[1]!, seen];
}

test('hypercalls in translated code: the hook makes them without the interpreter; declined ones exit exactly', () => {
  // S-mode loop: 3000 ECALLs, every 16th with a7 = 2 (the hook declines: Exit.MachineTrap, cause
  // 9, the pc at the ECALL; the test's hypervisor steps over it and counts in x25). The taken
  // branch lands on the ECALL itself, so one block holds nothing but it. Then medeleg delegates
  // ECALLs from S to S-mode's own handler (scause 9, sepc), which the interpreter takes.
  const S = RAM_BASE + 0x6000;
  const p = new Prog().i(...li(8, 3000));
  const loop = p.size;
  p.i(A.addi(9, 9, 3), A.andi(7, 8, 15), A.addi(17, 0, 1), A.bne(7, 0, 8), A.addi(17, 0, 2));
  const ecall = p.size;
  p.i(A.ecall(), A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  const handler = new Prog().i(
    csrrs(27, Csr.sepc, 0),
    csrrs(26, Csr.scause, 0),
    A.add(24, 24, 26),
    A.addi(27, 27, 4),
    A.csrrw(0, Csr.sepc, 27),
    A.sret(),
  );
  const [a, b, seen] = pvPair(p, [[S, handler]]);
  for (const m of [a, b]) m.hart.setCsr(Csr.stvec, BigInt(S));
  const made = countJitHypercalls(b);
  let exits = 0;
  // once the blocks are made (after ~1 024 passes), every call the hook makes is made from translated code
  let warm = [0, 0];
  for (let i = 0; i < 300; i++) {
    if (i === 80) warm = [made.n, seen[1]!.length];
    if (i === 120) assert.equal(made.n - warm[0]!, seen[1]!.length - warm[1]!);
    if (i === 120) for (const m of [a, b]) m.hart.setCsr(Csr.medeleg, 1n << 9n);
    const ea = a.hart.run(613);
    const eb = b.hart.run(613);
    assert.deepEqual(snapshot(b, eb), snapshot(a, ea));
    if (ea === 2) {
      exits++;
      for (const m of [a, b]) {
        assert.equal(m.hart.exitCause, 9);
        assert.equal(m.hart.exitIsInterrupt, false);
        assert.equal(m.hart.getPc(), BigInt(RAM_BASE + ecall));
        m.hart.setX(25, m.hart.getX(25) + 1n);
        m.hart.skip(4);
      }
    }
  }
  assert.deepEqual(seen[1], seen[0]);
  assert.deepEqual(b.hart.x, a.hart.x);
  assert.equal(b.hart.getX(8), 0n);
  assert.equal(b.hart.getX(9), 3000n * 3n);
  const declined = b.hart.getX(25);
  const delegated = b.hart.getX(24) / 9n;
  assert.equal(b.hart.getX(24) % 9n, 0n);
  assert.equal(BigInt(exits), declined);
  assert.ok(declined > 50n && delegated > 100n);
  assert.equal(b.hart.getX(10) + declined + delegated, 3000n);
  assert.ok(made.n > 500, `${made.n} of ${seen[1]!.length} hypercalls made in translated code`);
  assert.equal(b.hart.getCsr(Csr.scause), 9n);
  assert.equal(b.hart.getCsr(Csr.sepc), BigInt(RAM_BASE + ecall + 4)); // stepped by the handler
});

test('a hypercall made in translated code that raises an interrupt: taken right after the ECALL, as by the interpreter', () => {
  // S-mode loop of 6000 ECALLs the hook makes; every 7th raises SSIP (delegated, enabled). The
  // dispatcher must return after that call, so the interrupt is taken at the instruction after
  // the ECALL (sepc), exactly where the interpreter takes it; the handler clears SSIP, adds sepc
  // into x24 and counts in x23.
  const S = RAM_BASE + 0x6000;
  const p = new Prog().i(...li(8, 6000), ...li(17, 1));
  const loop = p.size;
  p.i(A.addi(9, 9, 5));
  const ecall = p.size;
  p.i(A.ecall(), A.addi(8, 8, -1), A.bne(8, 0, loop - p.size - 8), A.jal(0, 0));
  const handler = new Prog().i(
    A.addi(22, 0, 2),
    A.csrrc(0, Csr.sip, 22),
    csrrs(27, Csr.sepc, 0),
    A.add(24, 24, 27),
    A.addi(23, 23, 1),
    A.sret(),
  );
  const [a, b, seen] = pvPair(p, [[S, handler]]);
  for (const m of [a, b]) {
    const h = m.hart;
    h.setCsr(Csr.stvec, BigInt(S));
    h.setCsr(Csr.mideleg, 1n << BigInt(IrqBit.SSIP));
    h.setCsr(Csr.sie, 1n << BigInt(IrqBit.SSIP));
    h.setCsr(Csr.sstatus, 2n); // SIE
    let calls = 0;
    h.ecallHook = () => {
      if (h.getX(17) !== 1n) return false;
      h.setX(10, h.getX(10) + 1n);
      h.skip(4);
      if (++calls % 7 === 0) h.setIrq(IrqBit.SSIP, true);
      return true;
    };
  }
  const made = countJitHypercalls(b);
  for (let i = 0; i < 600; i++) {
    const ea = a.hart.run(509);
    const eb = b.hart.run(509);
    assert.deepEqual(snapshot(b, eb), snapshot(a, ea));
  }
  assert.deepEqual(seen[1], seen[0]);
  assert.equal(b.hart.getX(8), 0n);
  assert.equal(b.hart.getX(10), 6000n);
  const taken = b.hart.getX(23);
  assert.equal(taken, 6000n / 7n);
  assert.equal(b.hart.getX(24), taken * BigInt(RAM_BASE + ecall + 4));
  // once the blocks are made (after ~1 024 passes), the calls are made from translated code
  assert.ok(made.n > 4000, `${made.n} of 6000 hypercalls made in translated code`);
});

/** A loop calling F `n` times, summing its a0 in s1, then a jump-to-self. */
/** Counts the hypercalls `m`'s translated code makes without the interpreter (the hook said yes). */
function countJitHypercalls(m: Machine): { n: number } {
  const made = { n: 0 };
  const jitEcall = m.hart.ecallFromJit.bind(m.hart);
  m.hart.ecallFromJit = (retired: number) => {
    const r = jitEcall(retired);
    if (r) made.n++;
    return r;
  };
  return made;
}

function callLoop(n: number): Prog {
  const p = new Prog().i(...li(9, 0), ...li(18, F), ...li(8, n));
  const loop = p.size;
  p.i(A.jalr(1, 18, 0), A.add(9, 9, 10), A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  return p;
}

test('modules compiled off the thread are installed when the caller yields, and run exactly', async () => {
  const [a, b] = pair(callLoop(20_000), [[F, new Prog().i(A.addi(10, 0, 1), ret())]], true);
  const jit = b.hart.jit!;
  lockstep(a, b, slices(8, 1000)); // hot, but nothing can be installed before the event loop turns
  assert.ok(jit.stats.asyncModules >= 1);
  assert.equal(jit.stats.instructions, 0);
  while (jit.stats.inFlight > 0) await new Promise((r) => setImmediate(r));
  assert.equal(jit.stats.lateModules, 0);
  assert.ok(jit.stats.modules >= 1 && jit.stats.cached >= 1);
  await lockstepYielding(a, b, slices(200, 1000));
  assert.equal(b.hart.getX(9), 20_000n);
  assert.ok(jit.stats.instructions > 30_000);
});

test('a module compiled off the thread for code changed meanwhile is dropped, not run', async () => {
  const [a, b] = pair(callLoop(20_000), [[F, new Prog().i(A.addi(10, 0, 1), ret())]], true);
  const jit = b.hart.jit!;
  lockstep(a, b, slices(8, 1000));
  assert.ok(jit.stats.inFlight >= 1);
  // written from outside while F's block compiles (as DMA would): both tiers must now run a0 = 2
  for (const m of [a, b]) put(m, F, new Prog().i(A.addi(10, 0, 2)).toBytes());
  const calls = b.hart.getX(9);
  await lockstepYielding(a, b, slices(200, 1000));
  assert.ok(jit.stats.staleBlocks >= 1);
  const sum = calls + (20_000n - calls) * 2n; // less one if a call had read the old a0 already
  assert.ok(b.hart.getX(9) === sum || b.hart.getX(9) === sum - 1n);
  assert.ok(jit.stats.instructions > 30_000); // F was translated again, from its new code
});

test('a block that waits too long for its compile off the thread is compiled on the thread', () => {
  const [a, b] = pair(callLoop(20_000), [[F, new Prog().i(A.addi(10, 0, 1), ret())]], true);
  lockstep(a, b, slices(200, 1000)); // never yields: the background compiles cannot be installed
  const jit = b.hart.jit!;
  assert.equal(b.hart.getX(9), 20_000n);
  assert.ok(jit.stats.lateModules >= 1);
  assert.ok(jit.stats.instructions > 30_000);
});

test('a module compiled off the thread for a cache cleared meanwhile (reset) is dropped', async () => {
  const p = callLoop(20_000);
  const [a, b] = pair(p, [[F, new Prog().i(A.addi(10, 0, 1), ret())]], true);
  const jit = b.hart.jit!;
  lockstep(a, b, slices(8, 1000));
  assert.ok(jit.stats.inFlight >= 1);
  for (const m of [a, b]) boot(m, p, new Uint8Array(0x2000));
  for (const m of [a, b]) put(m, F, new Prog().i(A.addi(10, 0, 1), ret()).toBytes());
  await lockstepYielding(a, b, slices(200, 1000));
  assert.ok(jit.stats.staleBlocks >= 1);
  assert.equal(b.hart.getX(9), 20_000n);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cause, Csr } from './arch.js';
import { Exit } from './exits.js';
import { Hart } from './hart.js';
import { A, AMO, C, li64, Prog } from './test-asm.js';
import { MMIO_BASE, RAM_BASE, rig } from './test-util.js';

const DATA = RAM_BASE + 0x1_0000;

function run(insns: number[], setup?: (r: ReturnType<typeof rig>) => void) {
  const r = rig(new Prog().i(...li64(10, BigInt(DATA)), ...insns, A.ebreak()));
  setup?.(r);
  const exit = r.hart.run(1000);
  return { ...r, exit, cause: r.hart.getCsr(Csr.mcause), tval: r.hart.getCsr(Csr.mtval) };
}

test('loads of every width and signedness, aligned and misaligned', () => {
  const bytes = [0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a];
  const cases: [number, number, bigint][] = [];
  for (let off = 0; off < 3; off++) {
    const v = (n: number, signed: boolean) => {
      let x = 0n;
      for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[off + i]!);
      return signed ? BigInt.asIntN(n * 8, x) : x;
    };
    cases.push([A.lb(7, 10, off), off, v(1, true)]);
    cases.push([A.lbu(7, 10, off), off, v(1, false)]);
    cases.push([A.lh(7, 10, off), off, v(2, true)]);
    cases.push([A.lhu(7, 10, off), off, v(2, false)]);
    cases.push([A.lw(7, 10, off), off, v(4, true)]);
    cases.push([A.lwu(7, 10, off), off, v(4, false)]);
    cases.push([A.ld(7, 10, off), off, v(8, true)]);
  }
  for (const [insn, off, want] of cases) {
    const r = run([insn], ({ ram }) => ram.load(DATA, Uint8Array.from(bytes)));
    assert.equal(r.cause, 3n, `no fault at offset ${off}`);
    assert.equal(r.hart.getX(7), want, `insn ${insn.toString(16)} offset ${off}`);
  }
});

test('stores of every width, aligned and misaligned, incl. across a page boundary', () => {
  for (const [enc, n] of [
    [A.sb, 1],
    [A.sh, 2],
    [A.sw, 4],
    [A.sd, 8],
  ] as const) {
    for (const off of [0, 1, 3, 0xffd]) {
      const r2 = rig(
        new Prog().i(...li64(10, BigInt(DATA + off)), ...li64(6, 0x1122334455667788n), enc(6, 10, 0), A.ebreak()),
      );
      r2.hart.run(100);
      assert.equal(r2.hart.getCsr(Csr.mcause), 3n);
      const got = [...r2.ram.u8.subarray(DATA + off - RAM_BASE, DATA + off - RAM_BASE + 9)];
      const want = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11].slice(0, n);
      assert.deepEqual(got.slice(0, n), want, `store ${n} at +${off}`);
      assert.equal(got[n], 0, 'no byte beyond the store');
    }
  }
});

test('load/store to MMIO go to the bus; unmapped addresses raise access faults with tval', () => {
  const r = run([...li64(11, BigInt(MMIO_BASE)), A.lw(7, 11, 0), A.lbu(8, 11, 1), A.sw(7, 11, 8), A.sd(7, 11, 16)]);
  assert.equal(r.cause, 3n);
  assert.equal(r.hart.getX(7), 0x11223344n);
  assert.equal(r.hart.getX(8), 0x33n); // byte 1 of 0x11223344
  assert.deepEqual(r.bus.writes, [
    [MMIO_BASE + 8, 4, 0x11223344],
    [MMIO_BASE + 16, 4, 0x11223344],
    [MMIO_BASE + 20, 4, 0],
  ]);
  const l = run([...li64(11, 0x4000_0000n), A.ld(7, 11, 8)]);
  assert.equal(l.cause, BigInt(Cause.LoadAccess));
  assert.equal(l.tval, 0x4000_0008n);
  const s = run([...li64(11, 0x4000_0000n), A.sb(7, 11, 3)]);
  assert.equal(s.cause, BigInt(Cause.StoreAccess));
  assert.equal(s.tval, 0x4000_0003n);
  const f = rig(new Prog().i(...li64(11, 0x4000_0000n), A.jalr(0, 11, 0)));
  f.hart.run(100);
  assert.equal(f.hart.getCsr(Csr.mcause), BigInt(Cause.InstAccess));
  assert.equal(f.hart.getCsr(Csr.mtval), 0x4000_0000n);
  assert.equal(f.hart.getCsr(Csr.mepc), 0x4000_0000n);
});

test('a store followed by loads of the same address sees the data (TLB write path)', () => {
  const r = run([...li64(6, -2n), A.sd(6, 10, 8), A.ld(7, 10, 8), A.lw(8, 10, 12), A.lhu(9, 10, 8)]);
  assert.equal(r.hart.getX(7), -2n);
  assert.equal(r.hart.getX(8), -1n);
  assert.equal(r.hart.getX(9), 0xfffen);
});

test('LR/SC: success with a reservation, failure without, failure after the value changed', () => {
  const r = run(
    [
      ...li64(6, 42n),
      A.amo(AMO.lr, 3, 7, 10, 0), // x7 = [a0]
      A.amo(AMO.sc, 3, 8, 10, 6), // succeeds: x8 = 0
      A.amo(AMO.sc, 3, 9, 10, 6), // no reservation: x9 = 1
      A.amo(AMO.lr, 2, 12, 10, 0),
      A.sw(0, 10, 0), // the value changes (42 -> 0)
      A.amo(AMO.sc, 2, 13, 10, 6), // fails: x13 = 1
      A.ld(14, 10, 0),
    ],
    ({ ram }) => ram.w64(DATA, 0x1_0000_0007n),
  );
  assert.equal(r.cause, 3n);
  assert.equal(r.hart.getX(7), 0x1_0000_0007n);
  assert.equal(r.hart.getX(8), 0n);
  assert.equal(r.hart.getX(9), 1n);
  assert.equal(r.hart.getX(12), 42n);
  assert.equal(r.hart.getX(13), 1n);
  assert.equal(r.hart.getX(14), 0n);
});

test('every AMO, word and doubleword, returns the old value (sign-extended) and stores the result', () => {
  const old64 = -5n;
  const src = 3n;
  const cases: [number, (a: bigint, b: bigint) => bigint][] = [
    [AMO.swap, (_a, b) => b],
    [AMO.add, (a, b) => a + b],
    [AMO.xor, (a, b) => a ^ b],
    [AMO.and, (a, b) => a & b],
    [AMO.or, (a, b) => a | b],
    // biome-ignore lint/complexity/useMathMinMax: bigint operands
    [AMO.min, (a, b) => (a < b ? a : b)],
    // biome-ignore lint/complexity/useMathMinMax: bigint operands
    [AMO.max, (a, b) => (a > b ? a : b)],
    [AMO.minu, (a, b) => (BigInt.asUintN(64, a) < BigInt.asUintN(64, b) ? a : b)],
    [AMO.maxu, (a, b) => (BigInt.asUintN(64, a) > BigInt.asUintN(64, b) ? a : b)],
  ];
  for (const [f5, ref] of cases) {
    for (const w of [2, 3]) {
      const r = run([...li64(6, src), A.amo(f5, w, 7, 10, 6, 1, 1), A.ld(8, 10, 0)], ({ ram }) => {
        ram.w64(DATA, w === 3 ? old64 : 0x7777_7777_0000_0000n | BigInt.asUintN(32, old64));
      });
      assert.equal(r.cause, 3n);
      assert.equal(r.hart.getX(7), old64, `amo ${f5} w${w} old`);
      const mem = r.hart.getX(8);
      if (w === 3) assert.equal(mem, BigInt.asIntN(64, ref(old64, src)), `amo ${f5} d result`);
      else {
        const want32 = BigInt.asUintN(32, ref(BigInt.asIntN(32, old64), src));
        assert.equal(BigInt.asUintN(64, mem), 0x7777_7777_0000_0000n | want32, `amo ${f5} w result`);
      }
    }
  }
});

test('misaligned AMO raises store/AMO misaligned; misaligned LR raises load misaligned', () => {
  const a = run([A.addi(10, 10, 4), A.amo(AMO.add, 3, 7, 10, 0)]);
  assert.equal(a.cause, BigInt(Cause.StoreMisaligned));
  assert.equal(a.tval, BigInt(DATA + 4));
  const l = run([A.addi(10, 10, 2), A.amo(AMO.lr, 2, 7, 10, 0)]);
  assert.equal(l.cause, BigInt(Cause.LoadMisaligned));
  const u = run([...li64(10, 0x4000_0000n), A.amo(AMO.swap, 2, 7, 10, 0)]);
  assert.equal(u.cause, BigInt(Cause.StoreAccess));
});

test('AMO with an unknown funct5 and LR with rs2 != 0 are illegal (tval = instruction)', () => {
  const bad = A.amo(0x1e, 3, 7, 10, 0);
  const r = run([bad]);
  assert.equal(r.cause, BigInt(Cause.Illegal));
  assert.equal(r.tval, BigInt(bad));
  const lr = A.amo(AMO.lr, 3, 7, 10, 5);
  const r2 = run([lr]);
  assert.equal(r2.cause, BigInt(Cause.Illegal));
  assert.equal(r2.tval, BigInt(lr));
  const w1 = A.amo(AMO.add, 1, 7, 10, 0);
  assert.equal(run([w1]).cause, BigInt(Cause.Illegal));
});

test('FENCE and FENCE.I execute as no-ops', () => {
  const r = run([A.fence(), A.fence_i(), A.addi(7, 0, 1)]);
  assert.equal(r.cause, 3n);
  assert.equal(r.hart.getX(7), 1n);
  assert.equal(r.exit, Exit.Wfi);
});

test('FP loads/stores move bits: FLW NaN-boxes, FSW stores the low word, FLD/FSD 64 bits; FS becomes Dirty', () => {
  const r = run(
    [
      A.flw(1, 10, 0),
      A.fld(2, 10, 8),
      A.fsw(2, 10, 16), // low word of f2
      A.fsd(1, 10, 24), // NaN-boxed single
    ],
    ({ hart, ram }) => {
      hart.setCsr(Csr.mstatus, 1n << 13n); // FS = Initial
      ram.w64(DATA, 0x1111_1111_3f80_0000n);
      ram.w64(DATA + 8, 0x4000_0000_0000_0001n);
    },
  );
  assert.equal(r.cause, 3n);
  assert.equal(r.hart.fi[2], 0x3f80_0000);
  assert.equal(r.hart.fi[3], -1, 'NaN-boxed');
  assert.equal(r.hart.fi[4], 1);
  assert.equal(r.hart.fi[5], 0x4000_0000);
  assert.equal(r.ram.r64(DATA + 16), 1n);
  assert.equal(r.ram.r64(DATA + 24), 0xffff_ffff_3f80_0000n);
  assert.equal((r.hart.getCsr(Csr.mstatus) >> 13n) & 3n, 3n, 'FS dirty');
});

test('compressed FP loads/stores (C.FLD, C.FSD, C.FLDSP, C.FSDSP) are routed like FLD/FSD and trap with FS off', () => {
  const p = new Prog().i(...li64(10, BigInt(DATA)), ...li64(2, BigInt(DATA + 64)));
  p.c(C.fld(8, 10, 8), C.fsd(8, 10, 16), C.fldsp(3, 8), C.fsdsp(3, 24));
  p.i(A.ebreak());
  const r = rig(p);
  r.hart.setCsr(Csr.mstatus, 1n << 13n);
  r.ram.w64(DATA + 8, 0x1234_5678_9abc_def0n);
  r.ram.w64(DATA + 72, 0x0fed_cba9_8765_4321n);
  r.hart.run(100);
  assert.equal(r.hart.getCsr(Csr.mcause), 3n);
  assert.equal(r.ram.r64(DATA + 16), 0x1234_5678_9abc_def0n);
  assert.equal(r.ram.r64(DATA + 88), 0x0fed_cba9_8765_4321n);
  const off = rig(new Prog().c(C.fld(8, 10, 8)));
  off.hart.run(10);
  assert.equal(off.hart.getCsr(Csr.mcause), BigInt(Cause.Illegal));
  assert.equal(off.hart.getCsr(Csr.mtval), BigInt(C.fld(8, 10, 8)), 'tval = the 16-bit instruction');
});

test('misaligned load across a page boundary into an unmapped physical page is an access fault at the original address', () => {
  const end = RAM_BASE + (4 << 20) - 4;
  const r = run([...li64(11, BigInt(end)), A.ld(7, 11, 0)]);
  assert.equal(r.cause, BigInt(Cause.LoadAccess));
  assert.equal(r.tval, BigInt(end));
  assert.equal(r.hart.getX(7), 0n, 'no write-back');
});

test('RAM beyond 2 GiB (outside the TLB fast path) still runs code, loads, stores and AMOs', () => {
  const size = 2 ** 31 + 2 ** 16;
  const ram = { base: RAM_BASE, size, buffer: new ArrayBuffer(size) };
  const hart = new Hart(ram, { has: () => false, read: () => 0, write: () => {} });
  const high = RAM_BASE + 2 ** 31; // 0x1_0000_0000
  const p = new Prog().i(
    ...li64(10, BigInt(high + 0x8000)),
    ...li64(5, 0x1122_3344_5566_7788n),
    A.sd(5, 10, 0),
    A.ld(6, 10, 0),
    A.amo(AMO.add, 3, 7, 10, 5),
    A.lw(9, 10, 4),
    A.ecall(),
  );
  new Uint8Array(ram.buffer).set(p.toBytes(), high - RAM_BASE);
  new Uint8Array(ram.buffer).set(new Prog().i(A.wfi()).toBytes(), high + 0x1000 - RAM_BASE);
  hart.reset(BigInt(high), 3);
  hart.setCsr(Csr.mtvec, BigInt(high + 0x1000));
  assert.equal(hart.run(100), Exit.Wfi);
  assert.equal(hart.getCsr(Csr.mcause), 11n);
  assert.equal(hart.getX(6), 0x1122_3344_5566_7788n);
  assert.equal(hart.getX(7), 0x1122_3344_5566_7788n);
  assert.equal(hart.getX(9), 0x2244_6688n);
});

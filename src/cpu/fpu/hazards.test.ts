/**
 * Named hazards of RISC-V floating point, one small test each (the bulk of the checking is the QEMU vector
 * replay in fpu.test.ts; these document the rules with hand-checked values).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fpFma, fpOp } from './index.js';
import type { FpState } from './state.js';

const NX = 1;
const UF = 2;
const OF = 4;
const NV = 16;
const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const DYN = 7;

interface In {
  a?: bigint;
  b?: bigint;
  c?: bigint;
  x?: bigint;
  frm?: number;
}

/** Runs insn with f10=a, f11=b, f12=c, x10=x; returns f10, x10, fflags and the illegal flag. */
function run(insn: number, i: In): { f: bigint; x: bigint; flags: number; ill: number } {
  const buf = new ArrayBuffer(256);
  const h: FpState = {
    x: new Int32Array(64),
    f: new Float64Array(buf),
    fi: new Int32Array(buf),
    fflags: 0,
    frm: i.frm ?? 0,
  };
  const set = (a: Int32Array, k: number, v: bigint) => {
    a[k] = Number(BigInt.asIntN(32, v));
    a[k + 1] = Number(BigInt.asIntN(32, v >> 32n));
  };
  set(h.fi, 20, i.a ?? 0n);
  set(h.fi, 22, i.b ?? 0n);
  set(h.fi, 24, i.c ?? 0n);
  set(h.x, 20, i.x ?? 0n);
  const ill = (insn & 0x7f) === 0x53 ? fpOp(h, insn) : fpFma(h, insn);
  const get = (a: Int32Array, k: number) => (BigInt(a[k + 1]! >>> 0) << 32n) | BigInt(a[k]! >>> 0);
  return { f: get(h.fi, 20), x: get(h.x, 20), flags: h.fflags, ill };
}

/** OP-FP with rd = rs1 = 10 (f10 or x10), rs2 = 11. */
const op = (f7: number, rm: number, rs2 = 11, rd = 10) =>
  (f7 << 25) | (rs2 << 20) | (10 << 15) | (rm << 12) | (rd << 7) | 0x53;
/** R4 with rd = rs1 = 10, rs2 = 11, rs3 = 12. */
const r4 = (opcode: number, fmt: number, rm: number) =>
  (12 << 27) | (fmt << 25) | (11 << 20) | (10 << 15) | (rm << 12) | (10 << 7) | opcode;
const S = (bits: number) => 0xffffffff00000000n | BigInt(bits >>> 0);

const FADD_D = 0x01;
const FMUL_D = 0x09;
const FMIN_D = 0x15;
const FCMP_D = 0x51;
const FCVT_INT_D = 0x61;
const FMADD = 0x43;
const MAX_D = 0x7fefffffffffffffn;
const MIN_NORMAL_D = 0x0010000000000000n;
const QNAN_D = 0x7ff8000000000000n;
const SNAN_D = 0x7ff0000000000001n;

test('FMADD.D rounds once: (1+2^-52)(1-2^-53) - 1 is 2^-53 - 2^-105, not the 0 of a*b+c in doubles', () => {
  const r = run(r4(FMADD, 1, RNE), { a: 0x3ff0000000000001n, b: 0x3fefffffffffffffn, c: 0xbff0000000000000n });
  assert.deepEqual([r.f, r.flags], [0x3c9ffffffffffffen, 0]);
});

test('FMADD.S: a binary64 sum on a binary32 midpoint is rounded by the exact sum, not to even', () => {
  // (1+2^-12)^2 = 1 + 2^-11 + 2^-24 (a midpoint) plus 2^-80: exact is above the midpoint
  const r = run(r4(FMADD, 0, RNE), { a: S(0x3f800800), b: S(0x3f800800), c: S(0x17800000) });
  assert.deepEqual([r.f, r.flags], [S(0x3f801001), NX]);
});

test('FMIN/FMAX: -0 is below +0, a single NaN operand is ignored, sNaN raises NV, two NaNs give the canonical NaN', () => {
  assert.equal(run(op(FMIN_D, 0), { a: 0n, b: 0x8000000000000000n }).f, 0x8000000000000000n);
  assert.equal(run(op(FMIN_D, 1), { a: 0x8000000000000000n, b: 0n }).f, 0n);
  assert.deepEqual(run(op(FMIN_D, 0), { a: QNAN_D, b: 0x3ff0000000000000n }), {
    f: 0x3ff0000000000000n,
    x: 0n,
    flags: 0,
    ill: 0,
  });
  assert.deepEqual(run(op(FMIN_D, 0), { a: SNAN_D, b: 0x3ff0000000000000n }).flags, NV);
  assert.equal(run(op(FMIN_D, 1), { a: 0x7ff8000000000123n, b: 0xfff8000000000000n }).f, QNAN_D);
});

test('FEQ raises NV only for signalling NaNs; FLT and FLE for any NaN', () => {
  assert.deepEqual(
    [run(op(FCMP_D, 2), { a: QNAN_D, b: 0n }).flags, run(op(FCMP_D, 2), { a: SNAN_D, b: 0n }).flags],
    [0, NV],
  );
  assert.equal(run(op(FCMP_D, 1), { a: QNAN_D, b: 0n }).flags, NV);
  assert.equal(run(op(FCMP_D, 0), { a: 0n, b: QNAN_D }).flags, NV);
  assert.equal(run(op(FCMP_D, 2), { a: 0n, b: 0x8000000000000000n }).x, 1n); // +0 == -0
});

test('FCVT.W.D / FCVT.WU.D saturate out-of-range and NaN inputs with NV only; in-range inexact is NX', () => {
  const w = (a: bigint, rm: number, kind = 0) => {
    const r = run(op(FCVT_INT_D, rm, kind), { a });
    return [r.x, r.flags];
  };
  assert.deepEqual(w(QNAN_D, RTZ), [0x7fffffffn, NV]);
  assert.deepEqual(w(0x7ff0000000000000n, RTZ), [0x7fffffffn, NV]);
  assert.deepEqual(w(0xfff0000000000000n, RTZ), [0xffffffff80000000n, NV]);
  assert.deepEqual(w(0x41e0000000000000n, RTZ), [0x7fffffffn, NV]); // 2^31
  assert.deepEqual(w(0xc1e0000000100000n, RTZ), [0xffffffff80000000n, NX]); // -2^31 - 0.5 truncates into range
  assert.deepEqual(w(0xc1e0000000100000n, RNE), [0xffffffff80000000n, NX]); // tie to even
  assert.deepEqual(w(0xbfeccccccccccccdn, RTZ, 1), [0n, NX]); // wu: -0.9 truncates to 0
  assert.deepEqual(w(0xbff0000000000000n, RTZ, 1), [0n, NV]); // wu: -1
  assert.deepEqual(w(QNAN_D, RTZ, 1), [0xffffffffffffffffn, NV]); // wu: 2^32-1 sign-extended
  assert.deepEqual(w(QNAN_D, RTZ, 3), [0xffffffffffffffffn, NV]); // lu
  assert.deepEqual(w(0xc3e0000000000000n, RTZ, 2), [0x8000000000000000n, 0]); // l: -2^63 fits
});

test('an improperly NaN-boxed single operand reads as the canonical quiet NaN', () => {
  const unboxed = 0x000000003f800000n; // 1.0f without the all-ones upper half
  assert.deepEqual(
    [run(op(0x00, RNE), { a: unboxed, b: S(0x3f800000) }).f, run(op(0x00, RNE), { a: unboxed }).flags],
    [S(0x7fc00000), 0],
  );
  assert.equal(run(op(0x70, 1, 0), { a: unboxed }).x, 0x200n); // fclass.s: quiet NaN
  assert.equal(run(op(0x10, 0), { a: unboxed, b: S(0x80000000) }).f, S(0xffc00000)); // fsgnj.s
  assert.equal(run(op(0x70, 0, 0), { a: 0x12345678_9abcdef0n }).x, 0xffffffff9abcdef0n); // fmv.x.w ignores boxing
  assert.equal(run(op(0x21, RNE, 0), { a: unboxed }).f, QNAN_D); // fcvt.d.s
});

test('tininess is detected after rounding: minN - 2^-1077 rounds to minN without UF, but RTZ underflows', () => {
  const i = { a: 0x1e40000000000000n, b: 0x9e50000000000000n, c: MIN_NORMAL_D }; // 2^-539 * -2^-538 + 2^-1022
  assert.deepEqual([run(r4(FMADD, 1, RNE), i).f, run(r4(FMADD, 1, RNE), i).flags], [MIN_NORMAL_D, NX]);
  assert.deepEqual([run(r4(FMADD, 1, RTZ), i).f, run(r4(FMADD, 1, RTZ), i).flags], [0x000fffffffffffffn, NX | UF]);
});

test('overflow goes to the largest finite under RTZ, RDN (positive) and RUP (negative), else to infinity', () => {
  const two = 0x4000000000000000n;
  const neg = 0x8000000000000000n;
  const m = (a: bigint, rm: number) => {
    const r = run(op(FMUL_D, rm), { a, b: two });
    return [r.f, r.flags];
  };
  assert.deepEqual(m(MAX_D, RNE), [0x7ff0000000000000n, OF | NX]);
  assert.deepEqual(m(MAX_D, RTZ), [MAX_D, OF | NX]);
  assert.deepEqual(m(MAX_D, RDN), [MAX_D, OF | NX]);
  assert.deepEqual(m(MAX_D, RUP), [0x7ff0000000000000n, OF | NX]);
  assert.deepEqual(m(MAX_D | neg, RDN), [0xfff0000000000000n, OF | NX]);
  assert.deepEqual(m(MAX_D | neg, RUP), [MAX_D | neg, OF | NX]);
});

test('an exact zero sum is +0, or -0 under RDN; -0 + -0 is -0', () => {
  const one = 0x3ff0000000000000n;
  assert.equal(run(op(FADD_D, RNE), { a: one, b: one | (1n << 63n) }).f, 0n);
  assert.equal(run(op(FADD_D, RDN), { a: one, b: one | (1n << 63n) }).f, 1n << 63n);
  assert.equal(run(op(FADD_D, DYN), { a: one, b: one | (1n << 63n), frm: RDN }).f, 1n << 63n);
  assert.equal(run(op(FADD_D, RNE), { a: 1n << 63n, b: 1n << 63n }).f, 1n << 63n);
});

test('reserved rounding modes (5, 6, and dynamic with frm >= 5) are illegal and change nothing', () => {
  for (const [rm, frm] of [
    [5, 0],
    [6, 0],
    [DYN, 5],
    [DYN, 7],
  ] as const) {
    assert.deepEqual(run(op(FADD_D, rm), { a: 1n, b: 1n, frm }), { f: 1n, x: 0n, flags: 0, ill: 1 });
    assert.equal(run(r4(FMADD, 1, rm), { frm }).ill, 1);
  }
  assert.equal(run(r4(FMADD, 2, RNE), {}).ill, 1); // half precision is not implemented
  assert.equal(run(op(0x2d, RNE, 1), {}).ill, 1); // fsqrt.d with rs2 != 0
});

test('integer results never write x0', () => {
  const buf = new ArrayBuffer(256);
  const h: FpState = { x: new Int32Array(64), f: new Float64Array(buf), fi: new Int32Array(buf), fflags: 0, frm: 0 };
  assert.equal(fpOp(h, op(FCMP_D, 2, 11, 0)), 0); // feq.d x0, f10, f11 (both +0: true)
  assert.deepEqual([h.x[0], h.x[1]], [0, 0]);
});

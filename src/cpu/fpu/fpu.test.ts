import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { fpFma, fpOp } from './index.js';
import { slowFma, slowOp } from './slow.js';
import type { FpState } from './state.js';
import { type FpVector, parseVectors, vectorName } from './vectors.js';

const file = new URL('../../../../src/cpu/fpu/vectors/fpvectors.txt.gz', import.meta.url);
const vectors = parseVectors(gunzipSync(readFileSync(file)).toString('utf8'));

function makeState(): FpState {
  const buf = new ArrayBuffer(256);
  return { x: new Int32Array(64), f: new Float64Array(buf), fi: new Int32Array(buf), fflags: 0, frm: 0 };
}

function setPair(a: Int32Array, i: number, v: bigint): void {
  a[i] = Number(BigInt.asIntN(32, v));
  a[i + 1] = Number(BigInt.asIntN(32, v >> 32n));
}

function getPair(a: Int32Array, i: number): bigint {
  return (BigInt(a[i + 1]! >>> 0) << 32n) | BigInt(a[i]! >>> 0);
}

const hex = (v: bigint | number) => v.toString(16);

/** A fresh state holding a vector's operands: frm, f10..f12 and x10. */
function loadVector(v: FpVector): FpState {
  const h = makeState();
  h.frm = v.frm;
  setPair(h.fi, 20, v.f10);
  setPair(h.fi, 22, v.f11);
  setPair(h.fi, 24, v.f12);
  setPair(h.x, 20, v.x10);
  return h;
}

/** Runs one vector; returns a description of the mismatch or undefined. */
function check(v: FpVector, exec: (h: FpState, insn: number) => number): string | undefined {
  const h = loadVector(v);
  const ill = exec(h, v.insn);
  const gotF = getPair(h.fi, 20);
  const gotX = getPair(h.x, 20);
  const ctx = `line ${v.line} ${vectorName(v.insn)} insn=${hex(v.insn)} frm=${v.frm} in=${hex(v.f10)},${hex(v.f11)},${hex(v.f12)},x=${hex(v.x10)}`;
  if (v.flags < 0) {
    if (ill !== 1) return `${ctx}: expected illegal instruction`;
    if (gotF !== v.f10 || gotX !== v.x10 || h.fflags !== 0) return `${ctx}: illegal instruction changed state`;
    return undefined;
  }
  if (ill !== 0) return `${ctx}: unexpected illegal instruction`;
  if (gotF !== v.outF || gotX !== v.outX || h.fflags !== v.flags) {
    return `${ctx}: expected f=${hex(v.outF)} x=${hex(v.outX)} flags=${hex(v.flags)}, got f=${hex(gotF)} x=${hex(gotX)} flags=${hex(h.fflags)}`;
  }
  return undefined;
}

function runAll(exec: (h: FpState, insn: number) => number, filter: (v: FpVector) => boolean): string[] {
  const fails: string[] = [];
  for (const v of vectors) {
    if (!filter(v)) continue;
    const m = check(v, exec);
    if (m !== undefined) fails.push(m);
  }
  return fails;
}

/** Same dispatch rules as fpOp/fpFma, but every computation goes through the exact (slow) path. */
function slowOnly(h: FpState, insn: number): number {
  if ((insn & 0x7f) !== 0x53) {
    const f3 = (insn >>> 12) & 7;
    const rm = f3 === 7 ? h.frm : f3;
    if (rm > 4) return 1;
    slowFma(h, insn, rm);
    return 0;
  }
  // validate the encoding with the dispatcher's rules, then use the slow path
  const probe = makeState();
  probe.frm = h.frm;
  if (fpOp(probe, insn) === 1) return 1;
  const f3 = (insn >>> 12) & 7;
  slowOp(h, insn, f3 === 7 ? h.frm : f3);
  return 0;
}

function dispatch(h: FpState, insn: number): number {
  return (insn & 0x7f) === 0x53 ? fpOp(h, insn) : fpFma(h, insn);
}

test('the vector file covers every F and D computational instruction, all rounding modes and flags', () => {
  assert.ok(vectors.length >= 100000, `only ${vectors.length} vectors`);
  const groups = new Map<string, { rms: Set<number>; flags: number }>();
  for (const v of vectors) {
    const name = vectorName(v.insn);
    let g = groups.get(name);
    if (g === undefined) groups.set(name, (g = { rms: new Set(), flags: 0 }));
    const f3 = (v.insn >>> 12) & 7;
    if (v.flags >= 0) {
      g.rms.add(f3 === 7 ? v.frm : f3);
      g.flags |= v.flags;
    }
  }
  assert.equal(groups.size, 34);
  for (const n of ['fadd.s', 'fadd.d', 'fmul.s', 'fmul.d', 'fdiv.s', 'fdiv.d', 'fmadd.s', 'fmadd.d']) {
    assert.deepEqual([...groups.get(n)!.rms].sort(), [0, 1, 2, 3, 4], n);
    assert.equal(groups.get(n)!.flags, n.startsWith('fdiv') ? 31 : n.startsWith('fadd') ? 21 : 23, `${n} flags`);
  }
});

test('fpOp and fpFma reproduce every QEMU reference vector (result bits, integer result, fflags)', () => {
  const fails = runAll(dispatch, () => true);
  assert.deepEqual(fails.slice(0, 20), [], `${fails.length} of ${vectors.length} vectors differ`);
});

test('the exact (slow) path alone also reproduces every rounding vector', () => {
  const rounding = new Set([
    0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x2c, 0x2d, 0x20, 0x21, 0x60, 0x61, 0x68, 0x69,
  ]);
  const fails = runAll(slowOnly, (v) => (v.insn & 0x7f) !== 0x53 || rounding.has(v.insn >>> 25));
  assert.deepEqual(fails.slice(0, 20), [], `${fails.length} vectors differ`);
});

/** xorshift64* with a fixed seed, so the random cases are the same on every run. */
let seed = 0x243f6a8885a308d3n;
function rnd64(): bigint {
  seed ^= seed >> 12n;
  seed ^= (seed << 25n) & 0xffffffffffffffffn;
  seed ^= seed >> 27n;
  return (seed * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
}
function rn(n: number): number {
  return Number((rnd64() >> 11n) % BigInt(n));
}

/** Random binary64 bits biased to interesting exponents and short mantissas (exact results and ties). */
function randD(): bigint {
  const k = rn(8);
  const sign = BigInt(rn(2)) << 63n;
  let mant = rnd64() & 0xfffffffffffffn;
  if (rn(2)) mant &= ~((1n << BigInt(rn(53))) - 1n);
  if (k === 0) return rnd64();
  if (k === 1) return sign | mant; // subnormal or zero
  if (k === 2) return sign | (BigInt(rn(2) ? 2046 - rn(60) : 1 + rn(60)) << 52n) | mant;
  return sign | (BigInt(1023 - 30 + rn(61)) << 52n) | mant;
}

function randF(): bigint {
  const k = rn(8);
  const sign = BigInt(rn(2)) << 31n;
  let mant = rnd64() & 0x7fffffn;
  if (rn(2)) mant &= ~((1n << BigInt(rn(24))) - 1n);
  if (k === 0) return 0xffffffff00000000n | (rnd64() & 0xffffffffn);
  if (k === 1) return 0xffffffff00000000n | sign | mant;
  if (k === 2) return 0xffffffff00000000n | sign | (BigInt(rn(2) ? 254 - rn(20) : 1 + rn(20)) << 23n) | mant;
  return 0xffffffff00000000n | sign | (BigInt(127 - 12 + rn(25)) << 23n) | mant;
}

/** Random cases per instruction (FPU_FUZZ=n for a longer local run). */
const PER_OP = Number(process.env['FPU_FUZZ'] ?? 1500);

test('the fast paths agree with the exact path on random operands in every rounding mode', () => {
  const R = (f7: number, rs2 = 11) => (f7 << 25) | (rs2 << 20) | (10 << 15) | (10 << 7) | 0x53;
  const R4 = (op: number, fmt: number) => (12 << 27) | (fmt << 25) | (11 << 20) | (10 << 15) | (10 << 7) | op;
  const ops = [
    ...[0x00, 0x04, 0x08, 0x0c].map((f) => R(f)),
    R(0x2c, 0),
    ...[0x01, 0x05, 0x09, 0x0d].map((f) => R(f)),
    R(0x2d, 0),
    R(0x20, 1),
    R(0x21, 0),
    ...[0, 1, 2, 3].flatMap((k) => [R(0x60, k), R(0x61, k), R(0x68, k), R(0x69, k)]),
    ...[0x43, 0x47, 0x4b, 0x4f].flatMap((op) => [R4(op, 0), R4(op, 1)]),
  ];
  let n = 0;
  const fails: string[] = [];
  for (const base of ops) {
    const fma = (base & 0x7f) !== 0x53;
    const f7 = base >>> 25;
    const single = fma ? (f7 & 3) === 0 : (f7 & 1) === 0;
    const inSingle = f7 === 0x21 || f7 === 0x60 || (single && f7 !== 0x20);
    for (let i = 0; i < PER_OP; i++) {
      const rm = i % 6 === 5 ? 7 : i % 6;
      const insn = (base & ~(7 << 12)) | (rm << 12);
      const v: FpVector = {
        insn,
        frm: rn(5),
        f10: inSingle ? randF() : randD(),
        f11: single ? randF() : randD(),
        f12: single ? randF() : randD(),
        x10: rn(2) ? rnd64() : rnd64() >> BigInt(rn(64)),
        outF: 0n,
        outX: 0n,
        flags: 0,
        line: 0,
      };
      // expected values from the exact path
      const h = loadVector(v);
      assert.equal(slowOnly(h, insn), 0);
      v.outF = getPair(h.fi, 20);
      v.outX = getPair(h.x, 20);
      v.flags = h.fflags;
      const m = check(v, dispatch);
      if (m !== undefined) fails.push(m);
      n++;
    }
  }
  assert.ok(n >= 50000);
  assert.deepEqual(fails.slice(0, 20), [], `${fails.length} of ${n} random cases differ`);
});

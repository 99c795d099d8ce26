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

/** Runs one vector; returns a description of the mismatch or undefined. */
function check(v: FpVector, exec: (h: FpState, insn: number) => number): string | undefined {
  const h = makeState();
  h.frm = v.frm;
  setPair(h.fi, 20, v.f10);
  setPair(h.fi, 22, v.f11);
  setPair(h.fi, 24, v.f12);
  setPair(h.x, 20, v.x10);
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
  const slowOnly = (h: FpState, insn: number): number => {
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
  };
  const fails = runAll(slowOnly, (v) => (v.insn & 0x7f) !== 0x53 || rounding.has(v.insn >>> 25));
  assert.deepEqual(fails.slice(0, 20), [], `${fails.length} vectors differ`);
});

/**
 * FPU micro benchmark: calls fpOp/fpFma directly in a loop for the common instructions (fast paths,
 * round to nearest even, normal operands) and a few slow-path cases. Prints JSON with ns per call.
 * Usage: node dist/bench/fp-ops.js [calls per instruction]
 */
import { fpFma, fpOp } from '../src/cpu/fpu/index.js';
import type { FpState } from '../src/cpu/fpu/state.js';

const calls = Number(process.argv[2] ?? 2_000_000);

function state(): FpState {
  const buf = new ArrayBuffer(256);
  return { x: new Int32Array(64), f: new Float64Array(buf), fi: new Int32Array(buf), fflags: 0, frm: 0 };
}

const R = (f7: number, rs2: number, rm = 0, rd = 10) =>
  (f7 << 25) | (rs2 << 20) | (11 << 15) | (rm << 12) | (rd << 7) | 0x53;
const R4 = (op: number, fmt: number, rm = 0) =>
  (13 << 27) | (fmt << 25) | (12 << 20) | (11 << 15) | (rm << 12) | (10 << 7) | op;

const cases: [string, number][] = [
  ['fadd.d', R(0x01, 12)],
  ['fmul.d', R(0x09, 12)],
  ['fdiv.d', R(0x0d, 12)],
  ['fsqrt.d', R(0x2d, 0)],
  ['fmadd.d', R4(0x43, 1)],
  ['fadd.s', R(0x00, 12)],
  ['fmul.s', R(0x08, 12)],
  ['fdiv.s', R(0x0c, 12)],
  ['fmadd.s', R4(0x43, 0)],
  ['fcvt.w.d rtz', R(0x61, 0, 1)],
  ['fcvt.d.w', (0x69 << 25) | (11 << 15) | (10 << 7) | 0x53],
  ['feq.d', R(0x51, 12, 2)],
  ['fmin.d', R(0x15, 12, 0)],
  ['fsgnj.d', R(0x11, 12, 0)],
  ['fadd.d rdn', R(0x01, 12, 2)],
  ['fmadd.s rup', R4(0x43, 0, 3)],
  ['fdiv.d rtz', R(0x0d, 12, 1)],
  ['fsqrt.d (slow path: negative)', R(0x2d, 0)],
];

const out: Record<string, number> = {};
for (const [name, insn] of cases) {
  const h = state();
  const fma = (insn & 0x7f) !== 0x53;
  const n = name.includes('slow') ? calls / 50 : calls;
  const negative = name.includes('negative');
  const single = name.endsWith('.s') || name.includes('.s ');
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    // operands change every call so nothing is constant-folded
    h.f[11] = 1.25 + (i & 1023) * 0.001;
    h.f[12] = 0.75 - (i & 511) * 0.0003;
    h.f[13] = 3.5;
    if (negative) h.f[11] = -h.f[11]!;
    if (single) {
      h.fi[22] = 0x3fa00000 + (i & 1023);
      h.fi[23] = -1;
      h.fi[24] = 0x3f400000 + (i & 511);
      h.fi[25] = -1;
      h.fi[26] = 0x40600000;
      h.fi[27] = -1;
    }
    h.x[22] = i;
    if (fma) fpFma(h, insn);
    else fpOp(h, insn);
    sink += h.fi[20]!;
  }
  const ms = performance.now() - t0;
  out[name] = Math.round((ms * 1e7) / n) / 10;
  if (sink === 0.5) console.log('');
}
// The loop alone (operand writes, no FPU call), to subtract by eye.
{
  const h = state();
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    h.f[11] = 1.25 + (i & 1023) * 0.001;
    h.f[12] = 0.75 - (i & 511) * 0.0003;
    h.f[13] = 3.5;
    h.x[22] = i;
    sink += h.fi[20]!;
  }
  out['(loop only)'] = Math.round(((performance.now() - t0) * 1e7) / calls) / 10;
  if (sink === 0.5) console.log('');
}
console.log(JSON.stringify({ bench: 'fp-ops', callsPerInstruction: calls, nsPerCall: out }, null, 2));

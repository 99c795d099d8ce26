/**
 * FPU entry points called by the CPU core for the computational F and D instructions
 * (RISC-V unprivileged spec, chapters "F" and "D"). Both return 0 on success or 1 for an illegal
 * instruction (the CPU raises it with tval = insn).
 *
 * Fast paths compute the round-to-nearest-even result with host doubles together with the exact error
 * (TwoSum, Dekker's TwoProduct, exact remainders of division and square root). The error says whether the
 * result is inexact (NX) and on which side of it the exact value lies, which is all the directed modes
 * (RTZ, RDN, RUP) need: one ulp step; RMM also needs to know ties, which only sums and products have.
 * Everything else (NaN and infinite operands, overflow under RNE, tiny results that may underflow,
 * operands where the error-free transforms could overflow or underflow) goes to the exact BigInt path in
 * slow.ts / soft.ts.
 *
 * Single precision: binary32 operands are exact doubles and a*b is exact in binary64; a+b and a*b+c are
 * computed as a binary64 value s plus its exact error, then rounded once more (roundS), fixing the only case
 * where rounding twice differs: s exactly on a binary32 midpoint. a/b and sqrt(a) rounded to binary64 then to
 * binary32 are correctly rounded under RNE because 53 >= 2*24 + 2 (Figueroa, "When is double rounding
 * innocuous?", SIGNUM 1995); their exact remainders (a - r*b, a - r*r are exact in binary64) give NX and
 * the side for the directed modes.
 */
import { slowFma, slowOp } from './slow.js';
import type { FpState } from './state.js';

export type { FpState } from './state.js';

const scratch = new ArrayBuffer(8);
const sF64 = new Float64Array(scratch);
const sF32 = new Float32Array(scratch);
const sI32 = new Int32Array(scratch);

const NX = 1;
const OF = 4;
const NV = 16;
const MIN_NORMAL_S = 2 ** -126;
/** Veltkamp splitting constant 2^27 + 1. */
const SPLIT = 134217729;
const CANON_S = 0x7fc00000;
const TWO32 = 4294967296;

function f32(bits: number): number {
  sI32[0] = bits;
  return sF32[0]!;
}

function bitsOfF32(v: number): number {
  sF32[0] = v;
  return sI32[0]!;
}

/** Single-precision operand bits; an improperly NaN-boxed value reads as the canonical NaN. */
function sBits(fi: Int32Array, r: number): number {
  return fi[2 * r + 1] === -1 ? fi[2 * r]! : CANON_S;
}

function writeS(fi: Int32Array, rd: number, v: number): void {
  fi[2 * rd] = bitsOfF32(v);
  fi[2 * rd + 1] = -1;
}

function writeX(h: FpState, rd: number, lo: number, hi: number): void {
  if (rd !== 0) {
    h.x[2 * rd] = lo;
    h.x[2 * rd + 1] = hi;
  }
}

/** Exact error of the binary64 product a*b = p under RNE (Dekker). NaN if a split overflowed. */
function prodErr(a: number, b: number, p: number): number {
  let c = SPLIT * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLIT * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

function classS(b: number): number {
  const neg = b < 0;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 0xff) return m === 0 ? (neg ? 1 : 1 << 7) : m & 0x400000 ? 1 << 9 : 1 << 8;
  if (e === 0) return m === 0 ? (neg ? 1 << 3 : 1 << 4) : neg ? 1 << 2 : 1 << 5;
  return neg ? 1 << 1 : 1 << 6;
}

function classD(hi: number, lo: number): number {
  const neg = hi < 0;
  const e = (hi >>> 20) & 0x7ff;
  const m = (hi & 0xfffff) | lo;
  if (e === 0x7ff) return m === 0 ? (neg ? 1 : 1 << 7) : hi & 0x80000 ? 1 << 9 : 1 << 8;
  if (e === 0) return m === 0 ? (neg ? 1 << 3 : 1 << 4) : neg ? 1 << 2 : 1 << 5;
  return neg ? 1 << 1 : 1 << 6;
}

function isNanS(b: number): boolean {
  return (b & 0x7fffffff) > 0x7f800000;
}

function isSnanS(b: number): boolean {
  return isNanS(b) && (b & 0x400000) === 0;
}

function isSnanD(hi: number, lo: number): boolean {
  const ah = hi & 0x7fffffff;
  return (ah > 0x7ff00000 || (ah === 0x7ff00000 && lo !== 0)) && (hi & 0x80000) === 0;
}

/** The binary64 neighbour of r (nonzero, finite) one ulp away from zero (`away`) or toward zero. */
function stepD(r: number, away: boolean): number {
  sF64[0] = r;
  let lo = sI32[0]!;
  let hi = sI32[1]!;
  if (away) {
    lo = (lo + 1) | 0;
    if (lo === 0) hi = (hi + 1) | 0;
  } else {
    if (lo === 0) hi = (hi - 1) | 0;
    lo = (lo - 1) | 0;
  }
  sI32[0] = lo;
  sI32[1] = hi;
  return sF64[0]!;
}

/**
 * Whether to move the round-to-nearest-even result r one ulp away from zero (1), toward zero (-1) or keep it
 * (0) for rounding mode rm, given dir = the sign of (exact - r), nonzero, and whether exact is a tie.
 */
function directedStep(r: number, dir: number, rm: number, tie: boolean): number {
  const up = dir > 0;
  const pos = r > 0;
  switch (rm) {
    case 1: // RTZ
      return up === pos ? 0 : -1;
    case 2: // RDN
      return up ? 0 : pos ? -1 : 1;
    case 3: // RUP
      return up ? (pos ? 1 : -1) : 0;
    default: // RMM: differs from RNE only on ties that RNE broke toward zero
      return tie && up === pos ? 1 : 0;
  }
}

/** Directed rounding of a binary64 RNE result r (see directedStep); stepping past the largest finite is OF. */
function directD(h: FpState, r: number, dir: number, rm: number, tie: boolean): number {
  const step = directedStep(r, dir, rm, tie);
  if (step === 0) return r;
  const v = stepD(r, step > 0);
  if (v === Infinity || v === -Infinity) h.fflags |= OF;
  return v;
}

/** Is r + err (err exact, on the side away from zero) exactly halfway to the next binary64? */
function tieD(r: number, err: number): boolean {
  if (err > 0 !== r > 0) return false;
  const u = stepD(r, true) - r;
  return 2 * err === u;
}

/** Directed rounding of a binary32 RNE result r (as a double). */
function directS(h: FpState, r: number, dir: number, rm: number, tie: boolean): number {
  const step = directedStep(r, dir, rm, tie);
  if (step === 0) return r;
  sF32[0] = r;
  sI32[0] = (sI32[0]! + step) | 0; // sign-magnitude: +1 moves away from zero for either sign
  const v = sF32[0]!;
  if (v === Infinity || v === -Infinity) h.fflags |= OF;
  return v;
}

/**
 * Rounds the exact value s + err to binary32 under rm and writes it (NaN-boxed) to f[rd], raising NX/OF.
 * s = RN64(exact) and err = exact - s exactly (so |err| <= ulp64(s)/2). Double rounding through binary64 can
 * only go wrong when s is exactly a binary32 midpoint while err != 0; then t = 2s - r is the other neighbour
 * and the sign of err picks it. Returns false and writes nothing when the result is tiny or not finite,
 * or for an exact zero under RDN (sign rules), so the caller takes the exact path.
 */
function roundS(h: FpState, rd: number, s: number, err: number, rm: number): boolean {
  let r = Math.fround(s);
  if (r === s && err === 0) {
    if (r - r !== 0 || (r === 0 && rm === 2)) return false;
    writeS(h.fi, rd, r);
    return true;
  }
  const ar = r < 0 ? -r : r;
  if (!(ar > MIN_NORMAL_S && ar < Infinity)) return false;
  let dir = err;
  let tie = false;
  if (r !== s) {
    const t = 2 * s - r;
    if (Math.fround(t) === t) {
      if (err === 0) tie = true;
      else if (err > 0 === s > r) r = t;
    }
    dir = s - r;
  }
  h.fflags |= NX;
  if (rm !== 0) r = directS(h, r, dir, rm, tie);
  writeS(h.fi, rd, r);
  return true;
}

/**
 * FCVT.{W,WU,L,LU}.{S,D} of the value `a` (exact double; NaN for any NaN input).
 * Out of range and NaN inputs saturate with NV only (spec table "FCVT.W.S ... invalid inputs").
 */
function toInt(h: FpState, rd: number, a: number, kind: number, rm: number): void {
  let r = Number.NaN;
  if (!Number.isNaN(a)) {
    const neg = a < 0;
    const x = neg ? -a : a;
    const fl = Math.floor(x);
    const d = x - fl; // exact for x >= 0
    let m = fl;
    if (d !== 0) {
      switch (rm) {
        case 0:
          if (d > 0.5 || (d === 0.5 && fl % 2 !== 0)) m = fl + 1;
          break;
        case 2:
          if (neg) m = fl + 1;
          break;
        case 3:
          if (!neg) m = fl + 1;
          break;
        case 4:
          if (d >= 0.5) m = fl + 1;
          break;
      }
    }
    r = neg ? -m : m;
  }
  let ok: boolean;
  switch (kind) {
    case 0:
      ok = r >= -2147483648 && r <= 2147483647;
      break;
    case 1:
      ok = r >= 0 && r <= 4294967295;
      break;
    case 2:
      ok = r >= -(2 ** 63) && r < 2 ** 63;
      break;
    default:
      ok = r >= 0 && r < 2 ** 64;
      break;
  }
  if (!ok) {
    h.fflags |= NV;
    const high = Number.isNaN(r) || r > 0;
    switch (kind) {
      case 0:
        if (high) writeX(h, rd, 0x7fffffff, 0);
        else writeX(h, rd, -2147483648, -1);
        break;
      case 1:
        if (high) writeX(h, rd, -1, -1);
        else writeX(h, rd, 0, 0);
        break;
      case 2:
        if (high) writeX(h, rd, -1, 0x7fffffff);
        else writeX(h, rd, 0, -2147483648);
        break;
      default:
        if (high) writeX(h, rd, -1, -1);
        else writeX(h, rd, 0, 0);
        break;
    }
    return;
  }
  if (r !== a) h.fflags |= NX;
  if (kind < 2) {
    const lo = r | 0;
    writeX(h, rd, lo, lo >> 31);
  } else {
    const hi = Math.floor(r / TWO32);
    writeX(h, rd, (r - hi * TWO32) | 0, hi | 0);
  }
}

/** OP-FP (opcode 0x53). */
export function fpOp(h: FpState, insn: number): number {
  const f3 = (insn >>> 12) & 7;
  const rd = (insn >>> 7) & 31;
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  const fi = h.fi;
  switch (insn >>> 25) {
    case 0x00: // FADD.S
    case 0x04: {
      // FSUB.S
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      if (fi[2 * rs1 + 1] === -1 && fi[2 * rs2 + 1] === -1) {
        const a = f32(fi[2 * rs1]!);
        let b = f32(fi[2 * rs2]!);
        if (insn & 0x08000000) b = -b;
        const s = a + b;
        const z = s - a;
        // A binary32 sum in the subnormal range is exact, so roundS never meets a tiny inexact sum here.
        if (roundS(h, rd, s, a - (s - z) + (b - z), rm)) return 0;
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x01: // FADD.D
    case 0x05: {
      // FSUB.D
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      const f = h.f;
      const a = f[rs1]!;
      let b = f[rs2]!;
      if (insn & 0x08000000) b = -b;
      const s = a + b;
      const z = s - a;
      const err = a - (s - z) + (b - z);
      // A binary64 sum in the subnormal range is exact: no underflow on this path.
      if (err === 0) {
        if (s - s === 0 && (s !== 0 || rm !== 2)) {
          f[rd] = s;
          return 0;
        }
      } else if (err - err === 0) {
        h.fflags |= NX;
        f[rd] = rm === 0 ? s : directD(h, s, err, rm, rm === 4 && tieD(s, err));
        return 0;
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x08: {
      // FMUL.S: the product of two binary32 values is exact in binary64
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      if (fi[2 * rs1 + 1] === -1 && fi[2 * rs2 + 1] === -1) {
        const d = f32(fi[2 * rs1]!) * f32(fi[2 * rs2]!);
        if (d !== 0 && roundS(h, rd, d, 0, rm)) return 0;
        if (d === 0) {
          writeS(fi, rd, d);
          return 0;
        }
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x09: {
      // FMUL.D
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      const f = h.f;
      const a = f[rs1]!;
      const b = f[rs2]!;
      const p = a * b;
      const ap = p < 0 ? -p : p;
      if (ap >= 2 ** -969 && ap < 2 ** 1000) {
        const err = prodErr(a, b, p);
        if (err === 0) {
          f[rd] = p;
          return 0;
        }
        if (err - err === 0) {
          h.fflags |= NX;
          f[rd] = rm === 0 ? p : directD(h, p, err, rm, rm === 4 && tieD(p, err));
          return 0;
        }
      } else if (p === 0 && (a === 0 || b === 0)) {
        f[rd] = p;
        return 0;
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x0c: {
      // FDIV.S
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      if (fi[2 * rs1 + 1] === -1 && fi[2 * rs2 + 1] === -1) {
        const a = f32(fi[2 * rs1]!);
        const b = f32(fi[2 * rs2]!);
        const q = a / b;
        let r = Math.fround(q);
        const ar = r < 0 ? -r : r;
        if (ar > MIN_NORMAL_S && ar < Infinity) {
          // r*b is exact in binary64, so the sign of a - r*b says on which side of r the quotient is.
          let dir = q - r;
          if (dir === 0) {
            const rem = a - r * b;
            dir = rem === 0 ? 0 : rem > 0 === b > 0 ? 1 : -1;
          }
          if (dir !== 0) {
            h.fflags |= NX;
            if (rm !== 0) r = directS(h, r, dir, rm, false);
          }
          writeS(fi, rd, r);
          return 0;
        }
        if (q === 0 && a === 0) {
          writeS(fi, rd, q);
          return 0;
        }
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x0d: {
      // FDIV.D
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      const f = h.f;
      const a = f[rs1]!;
      const b = f[rs2]!;
      let q = a / b;
      const aq = q < 0 ? -q : q;
      const aa = a < 0 ? -a : a;
      const ab = b < 0 ? -b : b;
      if (aq >= 2 ** -969 && aq < 2 ** 995 && aa >= 2 ** -960 && aa < 2 ** 1000 && ab < 2 ** 995) {
        // The remainder a - q*b is exactly representable; its sign says which side the quotient is on.
        const p = q * b;
        const rem = a - p - prodErr(q, b, p);
        if (rem !== 0) {
          h.fflags |= NX;
          if (rm !== 0) q = directD(h, q, rem > 0 === b > 0 ? 1 : -1, rm, false);
        }
        f[rd] = q;
        return 0;
      }
      if (q === 0 && a === 0) {
        f[rd] = q;
        return 0;
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x2c: {
      // FSQRT.S
      if (rs2 !== 0) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      if (fi[2 * rs1 + 1] === -1) {
        const a = f32(fi[2 * rs1]!);
        if (a > 0 && a < Infinity) {
          let r = Math.fround(Math.sqrt(a));
          const rem = a - r * r; // r*r is exact in binary64
          if (rem !== 0) {
            h.fflags |= NX;
            if (rm !== 0) r = directS(h, r, rem, rm, false);
          }
          writeS(fi, rd, r);
          return 0;
        }
        if (a === 0) {
          writeS(fi, rd, a);
          return 0;
        }
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x2d: {
      // FSQRT.D
      if (rs2 !== 0) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      const f = h.f;
      const a = f[rs1]!;
      if (a >= 2 ** -960 && a < 2 ** 996) {
        let s = Math.sqrt(a);
        const p = s * s;
        const rem = a - p - prodErr(s, s, p);
        if (rem !== 0) {
          h.fflags |= NX;
          if (rm !== 0) s = directD(h, s, rem, rm, false);
        }
        f[rd] = s;
        return 0;
      }
      if (a === 0) {
        f[rd] = a;
        return 0;
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x10: {
      // FSGNJ.S / FSGNJN.S / FSGNJX.S
      if (f3 > 2) return 1;
      const a = sBits(fi, rs1);
      const b = sBits(fi, rs2);
      const sign = f3 === 0 ? b : f3 === 1 ? ~b : a ^ b;
      fi[2 * rd] = (a & 0x7fffffff) | (sign & 0x80000000);
      fi[2 * rd + 1] = -1;
      return 0;
    }
    case 0x11: {
      // FSGNJ.D / FSGNJN.D / FSGNJX.D
      if (f3 > 2) return 1;
      const ah = fi[2 * rs1 + 1]!;
      const al = fi[2 * rs1]!;
      const bh = fi[2 * rs2 + 1]!;
      const sign = f3 === 0 ? bh : f3 === 1 ? ~bh : ah ^ bh;
      fi[2 * rd] = al;
      fi[2 * rd + 1] = (ah & 0x7fffffff) | (sign & 0x80000000);
      return 0;
    }
    case 0x14: {
      // FMIN.S / FMAX.S (2019 semantics: minimumNumber/maximumNumber, -0 < +0)
      if (f3 > 1) return 1;
      const a = sBits(fi, rs1);
      const b = sBits(fi, rs2);
      let r: number;
      const an = isNanS(a);
      const bn = isNanS(b);
      if (an || bn) {
        if (isSnanS(a) || isSnanS(b)) h.fflags |= NV;
        r = an && bn ? CANON_S : an ? b : a;
      } else {
        const x = f32(a);
        const y = f32(b);
        if (x < y) r = f3 === 0 ? a : b;
        else if (y < x) r = f3 === 0 ? b : a;
        else r = f3 === 0 ? a | b : a & b;
      }
      fi[2 * rd] = r;
      fi[2 * rd + 1] = -1;
      return 0;
    }
    case 0x15: {
      // FMIN.D / FMAX.D
      if (f3 > 1) return 1;
      const x = h.f[rs1]!;
      const y = h.f[rs2]!;
      const ah = fi[2 * rs1 + 1]!;
      const al = fi[2 * rs1]!;
      const bh = fi[2 * rs2 + 1]!;
      const bl = fi[2 * rs2]!;
      let rh: number;
      let rl: number;
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (isSnanD(ah, al) || isSnanD(bh, bl)) h.fflags |= NV;
        if (Number.isNaN(x) && Number.isNaN(y)) {
          rh = 0x7ff80000;
          rl = 0;
        } else if (Number.isNaN(x)) {
          rh = bh;
          rl = bl;
        } else {
          rh = ah;
          rl = al;
        }
      } else if (x < y === (f3 === 0) && x !== y) {
        rh = ah;
        rl = al;
      } else if (x !== y) {
        rh = bh;
        rl = bl;
      } else {
        rh = f3 === 0 ? ah | bh : ah & bh;
        rl = al;
      }
      fi[2 * rd] = rl;
      fi[2 * rd + 1] = rh;
      return 0;
    }
    case 0x20: {
      // FCVT.S.D
      if (rs2 !== 1) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      const a = h.f[rs1]!;
      if (!roundS(h, rd, a, 0, rm)) slowOp(h, insn, rm);
      return 0;
    }
    case 0x21: {
      // FCVT.D.S (exact)
      if (rs2 !== 0) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      if (fi[2 * rs1 + 1] === -1) {
        const a = f32(fi[2 * rs1]!);
        if (!Number.isNaN(a)) {
          h.f[rd] = a;
          return 0;
        }
      }
      slowOp(h, insn, rm);
      return 0;
    }
    case 0x50: {
      // FLE.S / FLT.S / FEQ.S
      if (f3 > 2) return 1;
      const a = sBits(fi, rs1);
      const b = sBits(fi, rs2);
      let r = 0;
      if (isNanS(a) || isNanS(b)) {
        // FEQ signals only on signalling NaNs; FLT/FLE on any NaN.
        if (f3 !== 2 || isSnanS(a) || isSnanS(b)) h.fflags |= NV;
      } else {
        const x = f32(a);
        const y = f32(b);
        r = (f3 === 0 ? x <= y : f3 === 1 ? x < y : x === y) ? 1 : 0;
      }
      writeX(h, rd, r, 0);
      return 0;
    }
    case 0x51: {
      // FLE.D / FLT.D / FEQ.D
      if (f3 > 2) return 1;
      const x = h.f[rs1]!;
      const y = h.f[rs2]!;
      let r = 0;
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (f3 !== 2 || isSnanD(fi[2 * rs1 + 1]!, fi[2 * rs1]!) || isSnanD(fi[2 * rs2 + 1]!, fi[2 * rs2]!)) {
          h.fflags |= NV;
        }
      } else {
        r = (f3 === 0 ? x <= y : f3 === 1 ? x < y : x === y) ? 1 : 0;
      }
      writeX(h, rd, r, 0);
      return 0;
    }
    case 0x60: {
      // FCVT.{W,WU,L,LU}.S
      if (rs2 > 3) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      toInt(h, rd, f32(sBits(fi, rs1)), rs2, rm);
      return 0;
    }
    case 0x61: {
      // FCVT.{W,WU,L,LU}.D
      if (rs2 > 3) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      toInt(h, rd, h.f[rs1]!, rs2, rm);
      return 0;
    }
    case 0x68: // FCVT.S.{W,WU,L,LU}
    case 0x69: {
      // FCVT.D.{W,WU,L,LU}
      if (rs2 > 3) return 1;
      const rm = f3 === 7 ? h.frm : f3;
      if (rm > 4) return 1;
      const lo = h.x[2 * rs1]!;
      let v: number;
      let err = 0;
      if (rs2 === 0) v = lo;
      else if (rs2 === 1) v = lo >>> 0;
      else {
        // v + err = hi * 2^32 + lo exactly (TwoSum)
        const hiw = h.x[2 * rs1 + 1]!;
        const p = (rs2 === 2 ? hiw : hiw >>> 0) * TWO32;
        const l = lo >>> 0;
        v = p + l;
        const z = v - p;
        err = p - (v - z) + (l - z);
      }
      if (insn & 0x02000000) {
        if (err !== 0) {
          h.fflags |= NX;
          if (rm !== 0) v = directD(h, v, err, rm, rm === 4 && tieD(v, err));
        }
        h.f[rd] = v;
        return 0;
      }
      if (v === 0) writeS(fi, rd, 0);
      else if (!roundS(h, rd, v, err, rm)) slowOp(h, insn, rm);
      return 0;
    }
    case 0x70: {
      // FMV.X.W / FCLASS.S
      if (rs2 !== 0 || f3 > 1) return 1;
      if (f3 === 0) {
        const v = fi[2 * rs1]!;
        writeX(h, rd, v, v >> 31);
      } else {
        writeX(h, rd, classS(sBits(fi, rs1)), 0);
      }
      return 0;
    }
    case 0x71: {
      // FMV.X.D / FCLASS.D
      if (rs2 !== 0 || f3 > 1) return 1;
      if (f3 === 0) writeX(h, rd, fi[2 * rs1]!, fi[2 * rs1 + 1]!);
      else writeX(h, rd, classD(fi[2 * rs1 + 1]!, fi[2 * rs1]!), 0);
      return 0;
    }
    case 0x78: {
      // FMV.W.X
      if (rs2 !== 0 || f3 !== 0) return 1;
      fi[2 * rd] = h.x[2 * rs1]!;
      fi[2 * rd + 1] = -1;
      return 0;
    }
    case 0x79: {
      // FMV.D.X
      if (rs2 !== 0 || f3 !== 0) return 1;
      fi[2 * rd] = h.x[2 * rs1]!;
      fi[2 * rd + 1] = h.x[2 * rs1 + 1]!;
      return 0;
    }
  }
  return 1;
}

/** FMADD/FMSUB/FNMSUB/FNMADD (opcodes 0x43/0x47/0x4b/0x4f), one rounding. */
export function fpFma(h: FpState, insn: number): number {
  const fmt = (insn >>> 25) & 3;
  if (fmt > 1) return 1;
  const f3 = (insn >>> 12) & 7;
  const rm = f3 === 7 ? h.frm : f3;
  if (rm > 4) return 1;
  const rd = (insn >>> 7) & 31;
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  const rs3 = insn >>> 27;
  if (fmt === 1) {
    const f = h.f;
    let a = f[rs1]!;
    const b = f[rs2]!;
    let c = f[rs3]!;
    if (insn & 8) a = -a;
    if (insn & 4) c = -c;
    const ph = a * b;
    const aph = ph < 0 ? -ph : ph;
    const ac = c < 0 ? -c : c;
    if (aph >= 2 ** -900 && aph < 2 ** 900 && ac < 2 ** 900 && (ac >= 2 ** -900 || c === 0)) {
      const pl = prodErr(a, b, ph);
      if (pl - pl === 0) {
        // Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using
        // rounding to odd" (IEEE TC 2008): th+tl = c+ph exactly, v = RO(tl+pl), result = RN(th+v).
        const th = c + ph;
        let z = th - c;
        const tl = c - (th - z) + (ph - z);
        let v = tl + pl;
        z = v - tl;
        const ve = tl - (v - z) + (pl - z);
        if (ve !== 0) {
          sF64[0] = v;
          const lo = sI32[0]!;
          if ((lo & 1) === 0) {
            if (ve > 0 === v > 0) sI32[0] = lo + 1;
            else if (lo !== 0) sI32[0] = lo - 1;
            else {
              sI32[0] = -1;
              sI32[1] = sI32[1]! - 1;
            }
            v = sF64[0]!;
          }
        }
        const s = th + v;
        z = s - th;
        const se = th - (s - z) + (v - z);
        if (ve === 0 && se === 0) {
          // exact; an exact zero under RDN needs the sign rules of the exact path
          if (s !== 0 || rm !== 2) {
            f[rd] = s;
            return 0;
          }
        } else if (rm === 0) {
          h.fflags |= NX;
          f[rd] = s;
          return 0;
        } else if (ve === 0) {
          // exact = s + se exactly
          h.fflags |= NX;
          f[rd] = directD(h, s, se, rm, rm === 4 && tieD(s, se));
          return 0;
        }
      }
    } else if (ph === 0 && (a === 0 || b === 0) && c - c === 0 && (c !== 0 || rm !== 2)) {
      f[rd] = ph + c;
      return 0;
    }
  } else {
    const fi = h.fi;
    if (fi[2 * rs1 + 1] === -1 && fi[2 * rs2 + 1] === -1 && fi[2 * rs3 + 1] === -1) {
      let a = f32(fi[2 * rs1]!);
      const b = f32(fi[2 * rs2]!);
      let c = f32(fi[2 * rs3]!);
      if (insn & 8) a = -a;
      if (insn & 4) c = -c;
      const p = a * b; // exact in binary64
      const s = p + c;
      const z = s - p;
      if (roundS(h, rd, s, p - (s - z) + (c - z), rm)) return 0;
    }
  }
  slowFma(h, insn, rm);
  return 0;
}

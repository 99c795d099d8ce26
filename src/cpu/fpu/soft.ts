/**
 * Exact software floating point on BigInt significands: the reference (slow) path of the FPU.
 *
 * Every operation computes the exact result (or, for division and square root, a truncated result with at
 * least two guard bits plus a sticky bit) and rounds it once with `roundPack`, which implements the five
 * RISC-V rounding modes and the five flags, detecting tininess after rounding (RISC-V unprivileged spec,
 * "F" chapter, and IEEE 754-2008 7.5). The fast paths in ops.ts fall back to these functions whenever an
 * operand or a result leaves the range where host doubles give the same answer.
 */
import { FLAG_DZ, FLAG_NV, FLAG_NX, FLAG_OF, FLAG_UF, RM_RDN, RM_RMM, RM_RNE, RM_RTZ, RM_RUP } from './state.js';

/** An IEEE binary format. */
export interface Fmt {
  /** precision in bits including the hidden bit */
  readonly p: number;
  readonly emin: number;
  readonly emax: number;
  readonly ebits: number;
  readonly bias: number;
  /** canonical quiet NaN bits */
  readonly qnan: bigint;
}

export const F32: Fmt = { p: 24, emin: -126, emax: 127, ebits: 8, bias: 127, qnan: 0x7fc00000n };
export const F64: Fmt = { p: 53, emin: -1022, emax: 1023, ebits: 11, bias: 1023, qnan: 0x7ff8000000000000n };

export const CLS_ZERO = 0;
export const CLS_FINITE = 1;
export const CLS_INF = 2;
export const CLS_QNAN = 3;
export const CLS_SNAN = 4;

/** An unpacked operand: value = (-1)^neg * sig * 2^exp when finite. */
export interface Val {
  cls: number;
  neg: boolean;
  sig: bigint;
  exp: number;
}

/** Flags raised by the soft routines since the caller last cleared it. */
export const soft = { flags: 0 };

function bitlen(v: bigint): number {
  if (v === 0n) return 0;
  if (v < 0x20000000000000n) {
    const hi = Number(v >> 32n);
    return hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(Number(v));
  }
  const hex = v.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(Number.parseInt(hex[0]!, 16)));
}

export function unpack(fmt: Fmt, bits: bigint): Val {
  const mb = fmt.p - 1;
  const mant = bits & ((1n << BigInt(mb)) - 1n);
  const e = Number((bits >> BigInt(mb)) & BigInt((1 << fmt.ebits) - 1));
  const neg = ((bits >> BigInt(mb + fmt.ebits)) & 1n) === 1n;
  if (e === (1 << fmt.ebits) - 1) {
    if (mant === 0n) return { cls: CLS_INF, neg, sig: 0n, exp: 0 };
    return { cls: (mant >> BigInt(mb - 1)) & 1n ? CLS_QNAN : CLS_SNAN, neg, sig: mant, exp: 0 };
  }
  if (e === 0) {
    return { cls: mant === 0n ? CLS_ZERO : CLS_FINITE, neg, sig: mant, exp: fmt.emin - mb };
  }
  return { cls: CLS_FINITE, neg, sig: mant | (1n << BigInt(mb)), exp: e - fmt.bias - mb };
}

function signBit(fmt: Fmt, neg: boolean): bigint {
  return neg ? 1n << BigInt(fmt.p - 1 + fmt.ebits) : 0n;
}

function infBits(fmt: Fmt, neg: boolean): bigint {
  return signBit(fmt, neg) | (BigInt((1 << fmt.ebits) - 1) << BigInt(fmt.p - 1));
}

function maxBits(fmt: Fmt, neg: boolean): bigint {
  return infBits(fmt, neg) - 1n;
}

export function zeroBits(fmt: Fmt, neg: boolean): bigint {
  return signBit(fmt, neg);
}

/** Re-packs a finite or zero value that is exactly representable in `fmt`. */
function packExact(fmt: Fmt, v: Val): bigint {
  if (v.cls === CLS_ZERO) return zeroBits(fmt, v.neg);
  return roundPack(fmt, v.neg, v.sig, v.exp, false, RM_RNE);
}

let rInexact = false;

/**
 * Rounds sig * 2^exp (plus a positive epsilon below 2^exp when `sticky`) to a multiple of 2^q under `rm`,
 * returning the multiplier; sets rInexact. When sticky is set, callers guarantee q - exp >= 2.
 */
function roundAt(sig: bigint, exp: number, q: number, sticky: boolean, rm: number, neg: boolean): bigint {
  const shift = q - exp;
  if (shift <= 0) {
    rInexact = sticky;
    const m = sig << BigInt(-shift);
    if (sticky && ((rm === RM_RUP && !neg) || (rm === RM_RDN && neg))) return m + 1n;
    return m;
  }
  const sh = BigInt(shift);
  let m = sig >> sh;
  const rem = sig & ((1n << sh) - 1n);
  const half = 1n << (sh - 1n);
  const inexact = rem !== 0n || sticky;
  rInexact = inexact;
  if (!inexact) return m;
  // cmp: position of the discarded part relative to half an ulp
  const cmp = rem > half || (rem === half && sticky) ? 1 : rem === half ? 0 : -1;
  let inc = false;
  switch (rm) {
    case RM_RNE:
      inc = cmp > 0 || (cmp === 0 && (m & 1n) === 1n);
      break;
    case RM_RTZ:
      break;
    case RM_RDN:
      inc = neg;
      break;
    case RM_RUP:
      inc = !neg;
      break;
    case RM_RMM:
      inc = cmp >= 0;
      break;
  }
  if (inc) m += 1n;
  return m;
}

/**
 * Rounds (-1)^neg * (sig + sticky epsilon) * 2^exp into `fmt` under `rm`, raising NX, UF (tininess after
 * rounding, as RISC-V specifies), and OF. Returns the packed bits. sig must be nonzero.
 */
export function roundPack(fmt: Fmt, neg: boolean, sig: bigint, exp: number, sticky: boolean, rm: number): bigint {
  const p = fmt.p;
  const n = bitlen(sig);
  const e = exp + n - 1; // exponent of the leading bit
  let q = Math.max(e - (p - 1), fmt.emin - (p - 1));
  let m = roundAt(sig, exp, q, sticky, rm, neg);
  const inexact = rInexact;
  const top = 1n << BigInt(p);
  const hidden = 1n << BigInt(p - 1);
  if (m === top) {
    m = hidden;
    q += 1;
  }
  if (m >= hidden && q + p - 1 > fmt.emax) {
    soft.flags |= FLAG_OF | FLAG_NX;
    const toInf = rm === RM_RNE || rm === RM_RMM || (rm === RM_RDN && neg) || (rm === RM_RUP && !neg);
    return toInf ? infBits(fmt, neg) : maxBits(fmt, neg);
  }
  if (inexact) {
    soft.flags |= FLAG_NX;
    if (m < hidden) {
      soft.flags |= FLAG_UF;
    } else if (e < fmt.emin) {
      // Rounded to the smallest normal: tiny only if rounding with an unbounded exponent stays below it.
      const mu = roundAt(sig, exp, e - (p - 1), sticky, rm, neg);
      const eu = mu === top ? e + 1 : e;
      if (eu < fmt.emin) soft.flags |= FLAG_UF;
    }
  }
  const sb = signBit(fmt, neg);
  if (m < hidden) return sb | m;
  return sb | (BigInt(q + p - 1 + fmt.bias) << BigInt(p - 1)) | (m - hidden);
}

function isNaN_(v: Val): boolean {
  return v.cls === CLS_QNAN || v.cls === CLS_SNAN;
}

/** Canonical NaN result; NV if any operand is a signalling NaN. */
function nanResult(fmt: Fmt, a: Val, b?: Val, c?: Val): bigint {
  if (a.cls === CLS_SNAN || b?.cls === CLS_SNAN || c?.cls === CLS_SNAN) soft.flags |= FLAG_NV;
  return fmt.qnan;
}

function invalid(fmt: Fmt): bigint {
  soft.flags |= FLAG_NV;
  return fmt.qnan;
}

/** Exact sum of two nonzero-or-zero finite values, rounded; exact cancellation gives +0 (-0 under RDN). */
function addFinite(fmt: Fmt, a: Val, b: Val, rm: number): bigint {
  if (a.cls === CLS_ZERO && b.cls === CLS_ZERO) {
    return zeroBits(fmt, a.neg === b.neg ? a.neg : rm === RM_RDN);
  }
  if (a.cls === CLS_ZERO) return roundPack(fmt, b.neg, b.sig, b.exp, false, rm);
  if (b.cls === CLS_ZERO) return roundPack(fmt, a.neg, a.sig, a.exp, false, rm);
  const e = Math.min(a.exp, b.exp);
  const sa = a.sig << BigInt(a.exp - e);
  const sb = b.sig << BigInt(b.exp - e);
  const s = (a.neg ? -sa : sa) + (b.neg ? -sb : sb);
  if (s === 0n) return zeroBits(fmt, rm === RM_RDN);
  return s < 0n ? roundPack(fmt, true, -s, e, false, rm) : roundPack(fmt, false, s, e, false, rm);
}

export function softAdd(fmt: Fmt, a: Val, b: Val, rm: number): bigint {
  if (isNaN_(a) || isNaN_(b)) return nanResult(fmt, a, b);
  if (a.cls === CLS_INF) {
    if (b.cls === CLS_INF && a.neg !== b.neg) return invalid(fmt);
    return infBits(fmt, a.neg);
  }
  if (b.cls === CLS_INF) return infBits(fmt, b.neg);
  return addFinite(fmt, a, b, rm);
}

export function softMul(fmt: Fmt, a: Val, b: Val, rm: number): bigint {
  if (isNaN_(a) || isNaN_(b)) return nanResult(fmt, a, b);
  const neg = a.neg !== b.neg;
  if (a.cls === CLS_INF || b.cls === CLS_INF) {
    if (a.cls === CLS_ZERO || b.cls === CLS_ZERO) return invalid(fmt);
    return infBits(fmt, neg);
  }
  if (a.cls === CLS_ZERO || b.cls === CLS_ZERO) return zeroBits(fmt, neg);
  return roundPack(fmt, neg, a.sig * b.sig, a.exp + b.exp, false, rm);
}

export function softDiv(fmt: Fmt, a: Val, b: Val, rm: number): bigint {
  if (isNaN_(a) || isNaN_(b)) return nanResult(fmt, a, b);
  const neg = a.neg !== b.neg;
  if (a.cls === CLS_INF) {
    if (b.cls === CLS_INF) return invalid(fmt);
    return infBits(fmt, neg);
  }
  if (b.cls === CLS_INF) return zeroBits(fmt, neg);
  if (b.cls === CLS_ZERO) {
    if (a.cls === CLS_ZERO) return invalid(fmt);
    soft.flags |= FLAG_DZ;
    return infBits(fmt, neg);
  }
  if (a.cls === CLS_ZERO) return zeroBits(fmt, neg);
  const k = Math.max(0, fmt.p + 3 + bitlen(b.sig) - bitlen(a.sig));
  const num = a.sig << BigInt(k);
  const q = num / b.sig;
  const r = num - q * b.sig;
  return roundPack(fmt, neg, q, a.exp - b.exp - k, r !== 0n, rm);
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitlen(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function softSqrt(fmt: Fmt, a: Val, rm: number): bigint {
  if (isNaN_(a)) return nanResult(fmt, a);
  if (a.cls === CLS_ZERO) return zeroBits(fmt, a.neg);
  if (a.neg) return invalid(fmt);
  if (a.cls === CLS_INF) return infBits(fmt, false);
  let sig = a.sig;
  let exp = a.exp;
  if (exp & 1) {
    sig <<= 1n;
    exp -= 1;
  }
  const k = Math.max(0, Math.ceil((2 * fmt.p + 5 - bitlen(sig)) / 2));
  sig <<= BigInt(2 * k);
  exp -= 2 * k;
  const r = isqrt(sig);
  return roundPack(fmt, false, r, exp / 2, r * r !== sig, rm);
}

/** (-1)^negProd * a * b + (-1)^negC * c with one rounding. */
export function softFma(fmt: Fmt, a: Val, b: Val, c: Val, negProd: boolean, negC: boolean, rm: number): bigint {
  // Spec ("F" chapter, FMA): inf * 0 raises NV even when the addend is a quiet NaN.
  if ((a.cls === CLS_INF && b.cls === CLS_ZERO) || (a.cls === CLS_ZERO && b.cls === CLS_INF)) {
    soft.flags |= FLAG_NV;
    return fmt.qnan;
  }
  if (isNaN_(a) || isNaN_(b) || isNaN_(c)) return nanResult(fmt, a, b, c);
  const pneg = (a.neg !== b.neg) !== negProd;
  const cneg = c.neg !== negC;
  if (a.cls === CLS_INF || b.cls === CLS_INF) {
    if (c.cls === CLS_INF && cneg !== pneg) return invalid(fmt);
    return infBits(fmt, pneg);
  }
  if (c.cls === CLS_INF) return infBits(fmt, cneg);
  const cv: Val = { cls: c.cls, neg: cneg, sig: c.sig, exp: c.exp };
  if (a.cls === CLS_ZERO || b.cls === CLS_ZERO) {
    return addFinite(fmt, { cls: CLS_ZERO, neg: pneg, sig: 0n, exp: 0 }, cv, rm);
  }
  return addFinite(fmt, { cls: CLS_FINITE, neg: pneg, sig: a.sig * b.sig, exp: a.exp + b.exp }, cv, rm);
}

/** Conversion between formats (FCVT.S.D, FCVT.D.S). */
export function softCvtFF(to: Fmt, a: Val, rm: number): bigint {
  if (isNaN_(a)) return nanResult(to, a);
  if (a.cls === CLS_INF) return infBits(to, a.neg);
  if (a.cls === CLS_ZERO) return zeroBits(to, a.neg);
  return roundPack(to, a.neg, a.sig, a.exp, false, rm);
}

/** Integer to float (FCVT.S.W ... FCVT.D.LU); v is the exact integer value. */
export function softCvtFromInt(to: Fmt, v: bigint, rm: number): bigint {
  if (v === 0n) return 0n;
  return v < 0n ? roundPack(to, true, -v, 0, false, rm) : roundPack(to, false, v, 0, false, rm);
}

/**
 * Float to integer (FCVT.W/WU/L/LU): rounds under rm, saturates out-of-range and NaN inputs with NV only
 * (spec table "FCVT.W.S ... results for invalid inputs"), NX when in range but inexact.
 * Returns the integer result (not yet sign-extended).
 */
export function softCvtToInt(a: Val, width: number, signed: boolean, rm: number): bigint {
  const max = signed ? (1n << BigInt(width - 1)) - 1n : (1n << BigInt(width)) - 1n;
  const min = signed ? -(1n << BigInt(width - 1)) : 0n;
  if (isNaN_(a)) {
    soft.flags |= FLAG_NV;
    return max;
  }
  if (a.cls === CLS_INF) {
    soft.flags |= FLAG_NV;
    return a.neg ? min : max;
  }
  if (a.cls === CLS_ZERO) return 0n;
  const m = roundAt(a.sig, a.exp, 0, false, rm, a.neg);
  const v = a.neg ? -m : m;
  if (v > max || v < min) {
    soft.flags |= FLAG_NV;
    return a.neg ? min : max;
  }
  if (rInexact) soft.flags |= FLAG_NX;
  return v;
}

export function packExactValue(fmt: Fmt, v: Val): bigint {
  return packExact(fmt, v);
}

/**
 * 64-bit arithmetic on (lo, hi) int32 pairs for the slow ALU operations:
 * high multiplies and divisions. Results go to `R` (R[0] = lo, R[1] = hi), so
 * nothing is allocated. Semantics: unprivileged spec ch. 13 (M extension),
 * table 13.1 for division by zero and overflow.
 */

export const R = new Int32Array(2);

const TWO32 = 4294967296;

/** High 32 bits of the unsigned 32x32 product. */
export function umulh32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid1 = a1 * b0;
  const mid2 = a0 * b1;
  const cross = ((a0 * b0) >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff);
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + Math.floor(cross / 65536)) | 0;
}

/** Low 64 bits of a*b (MUL). */
export function mul64(alo: number, ahi: number, blo: number, bhi: number): void {
  const hi = umulh32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo);
  R[0] = Math.imul(alo, blo);
  R[1] = hi | 0;
}

/** High 64 bits of the unsigned 64x64 product (MULHU). */
export function mulhu64(alo: number, ahi: number, blo: number, bhi: number): void {
  // 32-bit limbs: a = a1:a0, b = b1:b0
  const p00h = umulh32(alo, blo) >>> 0;
  const p01l = Math.imul(alo, bhi) >>> 0;
  const p01h = umulh32(alo, bhi) >>> 0;
  const p10l = Math.imul(ahi, blo) >>> 0;
  const p10h = umulh32(ahi, blo) >>> 0;
  const p11l = Math.imul(ahi, bhi) >>> 0;
  const p11h = umulh32(ahi, bhi);
  const c1 = Math.floor((p00h + p01l + p10l) / TWO32);
  const s = p11l + p01h + p10h + c1;
  R[0] = s | 0;
  R[1] = (p11h + Math.floor(s / TWO32)) | 0;
}

/** R -= (lo, hi), modulo 2^64. */
function subR(lo: number, hi: number): void {
  const l = (R[0]! - lo) | 0;
  const borrow = R[0]! >>> 0 < lo >>> 0 ? 1 : 0;
  R[1] = (R[1]! - hi - borrow) | 0;
  R[0] = l;
}

/** MULH: signed x signed, high 64 bits. */
export function mulh64(alo: number, ahi: number, blo: number, bhi: number): void {
  mulhu64(alo, ahi, blo, bhi);
  if (ahi < 0) subR(blo, bhi);
  if (bhi < 0) subR(alo, ahi);
}

/** MULHSU: signed a x unsigned b, high 64 bits. */
export function mulhsu64(alo: number, ahi: number, blo: number, bhi: number): void {
  mulhu64(alo, ahi, blo, bhi);
  if (ahi < 0) subR(blo, bhi);
}

function setBig(v: bigint): void {
  R[0] = Number(BigInt.asIntN(32, v));
  R[1] = Number(BigInt.asIntN(32, v >> 32n));
}
const sbig = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo >>> 0);
const ubig = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** True when the signed pair lies in (-2^52, 2^52): doubles then divide exactly. */
const smallS = (hi: number): boolean => hi >= -0x100000 && hi < 0x100000;

function setNum(v: number): void {
  // v is an integer with |v| < 2^53
  const hi = Math.floor(v / TWO32);
  R[0] = (v - hi * TWO32) | 0;
  R[1] = hi | 0;
}

/** Exact truncating quotient or remainder of integers |a|,|b| < 2^52, b != 0 (% on doubles is exact). */
function divSmall(a: number, b: number, wantRem: boolean): number {
  const r = a % b;
  return wantRem ? r : (a - r) / b;
}

/** DIV (signed): x/0 = -1, MIN/-1 = MIN. */
export function div64(alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) {
    R[0] = -1;
    R[1] = -1;
  } else if (smallS(ahi) && smallS(bhi)) {
    setNum(divSmall(ahi * TWO32 + (alo >>> 0), bhi * TWO32 + (blo >>> 0), false));
  } else {
    setBig(BigInt.asIntN(64, sbig(alo, ahi) / sbig(blo, bhi))); // MIN/-1 wraps to MIN
  }
}

/** REM (signed): x%0 = x, MIN%-1 = 0. */
export function rem64(alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) {
    R[0] = alo;
    R[1] = ahi;
  } else if (smallS(ahi) && smallS(bhi)) {
    setNum(divSmall(ahi * TWO32 + (alo >>> 0), bhi * TWO32 + (blo >>> 0), true));
  } else {
    setBig(sbig(alo, ahi) % sbig(blo, bhi));
  }
}

/** DIVU: x/0 = 2^64-1. */
export function divu64(alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) {
    R[0] = -1;
    R[1] = -1;
  } else if (ahi >>> 0 < 0x100000 && bhi >>> 0 < 0x100000) {
    const a = (ahi >>> 0) * TWO32 + (alo >>> 0);
    const b = (bhi >>> 0) * TWO32 + (blo >>> 0);
    setNum((a - (a % b)) / b);
  } else {
    setBig(ubig(alo, ahi) / ubig(blo, bhi));
  }
}

/** REMU: x%0 = x. */
export function remu64(alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) {
    R[0] = alo;
    R[1] = ahi;
  } else if (ahi >>> 0 < 0x100000 && bhi >>> 0 < 0x100000) {
    const a = (ahi >>> 0) * TWO32 + (alo >>> 0);
    const b = (bhi >>> 0) * TWO32 + (blo >>> 0);
    setNum(a % b); // % on doubles is exact
  } else {
    setBig(ubig(alo, ahi) % ubig(blo, bhi));
  }
}

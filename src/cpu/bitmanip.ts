/**
 * The bit-manipulation extensions Zba, Zbb, Zbc and Zbs (unprivileged spec ch. 28, RV64 forms)
 * and the integer conditional operations of Zicond (ch. 12), one small function per instruction
 * on (lo, hi) int32 pairs. A 64-bit result goes to `R` (R[0] = lo, R[1] = hi) as in alu64.ts; a
 * count or a 32-bit result is returned (the caller sign- or zero-extends it as the instruction
 * says). Nothing is allocated.
 *
 * The interpreter (hart.ts) decodes these in its OP, OP-32, OP-IMM and OP-IMM-32 switches and
 * calls the function named after the mnemonic; a translator can call or mirror the same ones.
 * Which extensions a hart has is `Hart.ext` (isa.ts).
 */
import { R } from './alu64.js';

export { R };

// ---- Zba: address generation ----

/** SH1ADD, SH2ADD, SH3ADD: (rs1 << n) + rs2. */
export function shadd(a: number, ah: number, b: number, bh: number, n: number): void {
  const sl = a << n;
  const sh = (ah << n) | (a >>> (32 - n));
  const lo = (sl + b) | 0;
  R[0] = lo;
  R[1] = (sh + bh + (lo >>> 0 < sl >>> 0 ? 1 : 0)) | 0;
}

/** ADD.UW: zext32(rs1) + rs2. */
export function addUw(a: number, b: number, bh: number): void {
  const lo = (a + b) | 0;
  R[0] = lo;
  R[1] = (bh + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
}

/** SH1ADD.UW, SH2ADD.UW, SH3ADD.UW: (zext32(rs1) << n) + rs2. */
export function shaddUw(a: number, b: number, bh: number, n: number): void {
  shadd(a, 0, b, bh, n);
}

/** SLLI.UW: zext32(rs1) << shamt (shamt 0..63). */
export function slliUw(a: number, sh: number): void {
  if (sh === 0) {
    R[0] = a;
    R[1] = 0;
  } else if (sh < 32) {
    R[0] = a << sh;
    R[1] = a >>> (32 - sh);
  } else {
    R[0] = 0;
    R[1] = a << (sh - 32);
  }
}

// ---- Zbb: basic bit manipulation ----

/** ANDN: rs1 & ~rs2. */
export function andn(a: number, ah: number, b: number, bh: number): void {
  R[0] = a & ~b;
  R[1] = ah & ~bh;
}

/** ORN: rs1 | ~rs2. */
export function orn(a: number, ah: number, b: number, bh: number): void {
  R[0] = a | ~b;
  R[1] = ah | ~bh;
}

/** XNOR: ~(rs1 ^ rs2). */
export function xnor(a: number, ah: number, b: number, bh: number): void {
  R[0] = ~(a ^ b);
  R[1] = ~(ah ^ bh);
}

/** CLZ: leading zeros of the 64-bit value (64 for zero). */
export function clz(a: number, ah: number): number {
  return ah !== 0 ? Math.clz32(ah) : 32 + Math.clz32(a);
}

/** CLZW: leading zeros of the low word (32 for zero). */
export function clzw(a: number): number {
  return Math.clz32(a);
}

/** CTZW: trailing zeros of the low word (32 for zero). */
export function ctzw(a: number): number {
  return a === 0 ? 32 : 31 - Math.clz32(a & -a);
}

/** CTZ: trailing zeros of the 64-bit value (64 for zero). */
export function ctz(a: number, ah: number): number {
  return a !== 0 ? ctzw(a) : 32 + ctzw(ah);
}

/** CPOPW: set bits of the low word. */
export function cpopw(a: number): number {
  let v = a - ((a >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** CPOP: set bits of the 64-bit value. */
export function cpop(a: number, ah: number): number {
  return cpopw(a) + cpopw(ah);
}

/** MIN: the signed smaller. */
export function min(a: number, ah: number, b: number, bh: number): void {
  const lt = ah < bh || (ah === bh && a >>> 0 < b >>> 0);
  R[0] = lt ? a : b;
  R[1] = lt ? ah : bh;
}

/** MINU: the unsigned smaller. */
export function minu(a: number, ah: number, b: number, bh: number): void {
  const lt = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0);
  R[0] = lt ? a : b;
  R[1] = lt ? ah : bh;
}

/** MAX: the signed larger. */
export function max(a: number, ah: number, b: number, bh: number): void {
  const lt = ah < bh || (ah === bh && a >>> 0 < b >>> 0);
  R[0] = lt ? b : a;
  R[1] = lt ? bh : ah;
}

/** MAXU: the unsigned larger. */
export function maxu(a: number, ah: number, b: number, bh: number): void {
  const lt = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0);
  R[0] = lt ? b : a;
  R[1] = lt ? bh : ah;
}

/** SEXT.B: the low byte sign-extended. */
export function sextB(a: number): void {
  const v = (a << 24) >> 24;
  R[0] = v;
  R[1] = v >> 31;
}

/** SEXT.H: the low halfword sign-extended. */
export function sextH(a: number): void {
  const v = (a << 16) >> 16;
  R[0] = v;
  R[1] = v >> 31;
}

/** ZEXT.H: the low halfword zero-extended. */
export function zextH(a: number): void {
  R[0] = a & 0xffff;
  R[1] = 0;
}

/** ROL (shamt = rs2 & 63), and ROR as rol by 64 - shamt. */
export function rol(a: number, ah: number, sh: number): void {
  sh &= 63;
  if (sh & 32) {
    const t = a;
    a = ah;
    ah = t;
    sh &= 31;
  }
  if (sh === 0) {
    R[0] = a;
    R[1] = ah;
  } else {
    R[0] = (a << sh) | (ah >>> (32 - sh));
    R[1] = (ah << sh) | (a >>> (32 - sh));
  }
}

/** ROR, RORI: rotate right by shamt & 63. */
export function ror(a: number, ah: number, sh: number): void {
  rol(a, ah, 64 - (sh & 63));
}

/** ROLW: the low word rotated left by shamt & 31 (the caller sign-extends). */
export function rolw(a: number, sh: number): number {
  sh &= 31;
  return sh === 0 ? a : (a << sh) | (a >>> (32 - sh));
}

/** RORW, RORIW: the low word rotated right by shamt & 31 (the caller sign-extends). */
export function rorw(a: number, sh: number): number {
  return rolw(a, 32 - (sh & 31));
}

/** ORC.B of one word: each byte 0xff when any bit of it is set, else 0. */
function orcbWord(v: number): number {
  let r = 0;
  if (v & 0xff) r |= 0xff;
  if (v & 0xff00) r |= 0xff00;
  if (v & 0xff0000) r |= 0xff0000;
  if (v & 0xff000000) r |= 0xff000000;
  return r;
}

/** ORC.B: bitwise OR-combine within each byte. */
export function orcB(a: number, ah: number): void {
  R[0] = orcbWord(a);
  R[1] = orcbWord(ah);
}

/** Byte order of one word reversed. */
function bswap(v: number): number {
  return (v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24) | 0;
}

/** REV8 (RV64 encoding): the 8 bytes in reverse order. */
export function rev8(a: number, ah: number): void {
  R[0] = bswap(ah);
  R[1] = bswap(a);
}

// ---- Zbc: carry-less multiplication ----

/** Words of the last 128-bit carry-less product, low first. */
const P = new Int32Array(4);

/** The 128-bit carry-less product of two 64-bit values into P. */
function clmul128(a: number, ah: number, b: number, bh: number): void {
  let p0 = 0;
  let p1 = 0;
  let p2 = 0;
  let p3 = 0;
  // for each set bit i of b, XOR in a << i
  for (let w = 0; w < 2; w++) {
    let bits = w === 0 ? b : bh;
    while (bits !== 0) {
      const low = bits & -bits;
      bits ^= low;
      const i = 31 - Math.clz32(low) + 32 * w;
      const s = i & 31;
      // a << s over three words
      const x0 = a << s;
      const x1 = s === 0 ? ah : (ah << s) | (a >>> (32 - s));
      const x2 = s === 0 ? 0 : ah >>> (32 - s);
      if (i < 32) {
        p0 ^= x0;
        p1 ^= x1;
        p2 ^= x2;
      } else {
        p1 ^= x0;
        p2 ^= x1;
        p3 ^= x2;
      }
    }
  }
  P[0] = p0;
  P[1] = p1;
  P[2] = p2;
  P[3] = p3;
}

/** CLMUL: the low 64 bits of the carry-less product. */
export function clmul(a: number, ah: number, b: number, bh: number): void {
  clmul128(a, ah, b, bh);
  R[0] = P[0]!;
  R[1] = P[1]!;
}

/** CLMULH: the high 64 bits of the carry-less product. */
export function clmulh(a: number, ah: number, b: number, bh: number): void {
  clmul128(a, ah, b, bh);
  R[0] = P[2]!;
  R[1] = P[3]!;
}

/** CLMULR: bits 126..63 of the carry-less product. */
export function clmulr(a: number, ah: number, b: number, bh: number): void {
  clmul128(a, ah, b, bh);
  R[0] = (P[1]! >>> 31) | (P[2]! << 1);
  R[1] = (P[2]! >>> 31) | (P[3]! << 1);
}

// ---- Zbs: single-bit instructions (index = rs2 or shamt, & 63) ----

/** BSET, BSETI: rs1 with bit `i` set. */
export function bset(a: number, ah: number, i: number): void {
  R[0] = i & 32 ? a : a | (1 << i);
  R[1] = i & 32 ? ah | (1 << i) : ah;
}

/** BCLR, BCLRI: rs1 with bit `i` cleared. */
export function bclr(a: number, ah: number, i: number): void {
  R[0] = i & 32 ? a : a & ~(1 << i);
  R[1] = i & 32 ? ah & ~(1 << i) : ah;
}

/** BINV, BINVI: rs1 with bit `i` inverted. */
export function binv(a: number, ah: number, i: number): void {
  R[0] = i & 32 ? a : a ^ (1 << i);
  R[1] = i & 32 ? ah ^ (1 << i) : ah;
}

/** BEXT, BEXTI: bit `i` of rs1 (0 or 1). */
export function bext(a: number, ah: number, i: number): number {
  return ((i & 32 ? ah : a) >>> (i & 31)) & 1;
}

// ---- Zicond ----

/** CZERO.EQZ: 0 when rs2 is zero, else rs1. */
export function czeroEqz(a: number, ah: number, b: number, bh: number): void {
  const z = (b | bh) === 0;
  R[0] = z ? 0 : a;
  R[1] = z ? 0 : ah;
}

/** CZERO.NEZ: 0 when rs2 is not zero, else rs1. */
export function czeroNez(a: number, ah: number, b: number, bh: number): void {
  const z = (b | bh) === 0;
  R[0] = z ? a : 0;
  R[1] = z ? ah : 0;
}

import type { GuestRam } from '../../memory/ram.js';

/**
 * Argument checks shared by every PVX call (docs/para-api-pvx.md §1.2-1.3).
 * Arguments arrive as unsigned 64-bit bigints; each helper answers "usable"
 * or not and never throws.
 */

const U16 = 0xffffn;
const U32 = 0xffff_ffffn;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `v` as a number when it fits in 16 bits, else -1 (§1.3: higher bits must be zero). */
export function asU16(v: bigint): number {
  return v <= U16 ? Number(v) : -1;
}

/** `v` as a number when it fits in 32 bits, else -1. */
export function asU32(v: bigint): number {
  return v <= U32 ? Number(v) : -1;
}

/** `v` as a number when it is below `limit`, else -1 (no width is implied: any 64-bit value is compared). */
export function below(v: bigint, limit: number): number {
  return v < BigInt(limit) ? Number(v) : -1;
}

/**
 * Offset in `ram` of the range [gpa, gpa+len) when it is `align`-aligned and
 * entirely inside RAM (the grant window is not RAM), else -1.
 */
export function ramOffset(ram: GuestRam, gpa: bigint, len: number, align: number): number {
  if (gpa > SAFE) return -1;
  const pa = Number(gpa);
  if (pa % align !== 0) return -1;
  return ram.offsetOf(pa, len);
}

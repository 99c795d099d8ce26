import { ALL_ONES, SbiErr } from './consts.js';

/**
 * Decode an SBI hart mask (SBI v2.0 §3.3 "Hart list parameter"): bit i of
 * `mask` names hart `base + i`; `base` = -1 (all ones) names every hart and
 * `mask` is ignored. Returns the hart ids in increasing order, or
 * SbiErr.INVALID_PARAM when any named hart does not exist.
 */
export function decodeHartMask(mask: bigint, base: bigint, hartCount: number): number[] | number {
  if (base === ALL_ONES) return Array.from({ length: hartCount }, (_, i) => i);
  const out: number[] = [];
  if (mask === 0n) return out;
  if (base >= BigInt(hartCount)) return SbiErr.INVALID_PARAM;
  const b = Number(base);
  for (let i = 0; i < 64; i++) {
    if (((mask >> BigInt(i)) & 1n) === 0n) continue;
    const h = b + i;
    if (h >= hartCount) return SbiErr.INVALID_PARAM;
    out.push(h);
  }
  return out;
}

/** Physical address from the (lo, hi) pair of a shared-memory argument, or null when it is beyond 2^53. */
export function physAddr(lo: bigint, hi: bigint): number | null {
  if (hi !== 0n || lo > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(lo);
}

/** `v` as a number when it is at most `max`, else null (lengths and counts from a guest). */
export function boundedNumber(v: bigint, max: number): number | null {
  return v <= BigInt(max) ? Number(v) : null;
}

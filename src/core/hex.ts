/** Format a number (up to 2^53) as 0x-prefixed hex, zero-padded to `width` digits. */
export function hex(n: number, width = 0): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}

/** Combine a lo/hi int32 pair into a number; exact while the value is below 2^53. */
export function u64ToNumber(lo: number, hi: number): number {
  return (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);
}

/** Format a lo/hi int32 pair as 16 hex digits. */
export function hex64(lo: number, hi: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

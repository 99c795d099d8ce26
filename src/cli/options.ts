import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * Parses a byte size as QEMU's -m does: a number with an optional K/M/G/T
 * suffix (binary units, `B`/`iB` tolerated); a bare number is MiB, like QEMU.
 * The result must be a positive multiple of 4 KiB.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (m === null) throw new InvalidArgumentError(`'${text}' is not a size (e.g. 128M, 1G)`);
  const unit = m[2]!.toUpperCase();
  const bytes = Math.round(Number(m[1]) * (unit === '' ? UNITS.M! : UNITS[unit]!));
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % 4096 !== 0) {
    throw new InvalidArgumentError(`'${text}' is not a positive multiple of 4 KiB`);
  }
  return bytes;
}

/** Parses a positive integer count (underscores and k/M/G decimal suffixes allowed: 5M = 5 000 000). */
export function parseCount(text: string): number {
  const m = /^\s*(\d[\d_]*)\s*([kMG]?)\s*$/.exec(text);
  if (m === null) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  const mult = { '': 1, k: 1e3, M: 1e6, G: 1e9 }[m[2]!]!;
  const n = Number(m[1]!.replaceAll('_', '')) * mult;
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  return n;
}

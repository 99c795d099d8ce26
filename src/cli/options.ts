import { InvalidArgumentError } from 'commander';

/** Parses a positive integer count (underscores and k/M/G decimal suffixes allowed: 5M = 5 000 000). */
export function parseCount(text: string): number {
  const m = /^\s*(\d[\d_]*)\s*([kMG]?)\s*$/.exec(text);
  if (m === null) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  const mult = { '': 1, k: 1e3, M: 1e6, G: 1e9 }[m[2]!]!;
  const n = Number(m[1]!.replaceAll('_', '')) * mult;
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  return n;
}

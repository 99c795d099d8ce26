/**
 * What this process keeps resident, from Linux's own accounting (/proc/self/smaps and
 * /proc/self/pagemap), for bench/density: RSS alone mixes guest memory with the V8 heap's
 * spare young generation and malloc's free lists, which come and go with GC timing.
 *
 * - `wasm`: the rw- mappings of exactly `wasmBytes` (a domain's WebAssembly.Memory: RAM then
 *   the harts' state areas; V8 maps each one alone between guard regions), their count and
 *   resident bytes, and which pages of them are resident, by region (`regions`), from pagemap.
 * - `v8`: the V8 heap's spaces (committed = resident or reserved for reuse, used = live objects).
 * - `smaps`: resident bytes of the rest of the process by kind of mapping.
 *
 * Linux only; elsewhere `resident()` returns null.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

/** A named byte range of a domain's WebAssembly.Memory, [start, end). */
export interface Region {
  name: string;
  start: number;
  end: number;
}

export interface Resident {
  /** Resident bytes of the whole process (the sum of smaps's Rss). */
  rss: number;
  wasm: { memories: number; rss: number; regions: Record<string, number> };
  v8: Record<string, { committed: number; used: number }>;
  smaps: { heap: number; anon: number; file: number; other: number };
}

const PAGE = 4096;

/** Resident bytes of each kind (see the module comment); null where /proc is missing. */
export function resident(wasmBytes: number, regions: Region[]): Resident | null {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return null;
  }
  const out: Resident = {
    rss: 0,
    wasm: { memories: 0, rss: 0, regions: Object.fromEntries(regions.map((r) => [r.name, 0])) },
    v8: {},
    smaps: { heap: 0, anon: 0, file: 0, other: 0 },
  };
  const wasmStarts: number[] = [];
  let kind: 'wasm' | keyof Resident['smaps'] = 'other';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const start = Number.parseInt(head[1]!, 16);
      const size = Number.parseInt(head[2]!, 16) - start;
      const name = head[5]!;
      if (name === '' && head[3] === 'rw-p' && size === wasmBytes) {
        kind = 'wasm';
        wasmStarts.push(start);
      } else if (name === '[heap]') kind = 'heap';
      else if (name === '') kind = 'anon';
      else if (name.startsWith('/')) kind = 'file';
      else kind = 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const b = Number(rss[1]) * 1024;
    out.rss += b;
    if (kind === 'wasm') out.wasm.rss += b;
    else out.smaps[kind] += b;
  }
  out.wasm.memories = wasmStarts.length;
  // which pages of each memory are resident: pagemap's bit 63 per page
  if (wasmStarts.length > 0 && regions.length > 0) {
    const fd = openSync('/proc/self/pagemap', 'r');
    try {
      const pages = wasmBytes / PAGE;
      const buf = Buffer.alloc(pages * 8);
      for (const start of wasmStarts) {
        readSync(fd, buf, 0, buf.length, (start / PAGE) * 8);
        for (const r of regions) {
          let n = 0;
          for (let p = Math.floor(r.start / PAGE); p < Math.ceil(r.end / PAGE); p++) {
            if (buf.readUInt32LE(p * 8 + 4) & 0x8000_0000) n++;
          }
          out.wasm.regions[r.name]! += n * PAGE;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  for (const s of getHeapSpaceStatistics()) {
    out.v8[s.space_name] = { committed: s.physical_space_size, used: s.space_used_size };
  }
  return out;
}

/** `a - b` field by field (numbers and nested records of numbers). */
export function minus<T>(a: T, b: T): T {
  if (typeof a === 'number') return ((a as number) - (b as number)) as T;
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(a as object)) {
    o[k] = minus((a as Record<string, unknown>)[k], (b as Record<string, unknown> | undefined)?.[k] ?? 0);
  }
  return o as T;
}

/** Every number divided by `n` and turned into KiB (one decimal). */
export function perKiB<T>(a: T, n: number): T {
  if (typeof a === 'number') return (Math.round((a / n / 1024) * 10) / 10) as T;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a as object)) o[k] = perKiB(v, n);
  return o as T;
}

import { StateReader, StateWriter } from '../../core/state.js';
import { type Compressor, PAGE_SIZE, type SnapshotProgress } from './format.js';

/**
 * The RAM section:
 *   u64 base, u64 size, u32 page size (4096), u32 pages per chunk, u32 present pages,
 *   bitmap of present (non-zero) pages, bit p of byte p>>3,
 *   u32 chunk count, then per chunk: u32 raw length, u32-prefixed compressed bytes.
 * The chunks hold the present pages in ascending order, concatenated; pages
 * that are entirely zero are not stored at all.
 */

/** Largest RAM a snapshot may declare: what one typed array can hold in Node 20. */
export const MAX_RAM_BYTES = 2 ** 32;
export const DEFAULT_CHUNK_PAGES = 256;

function isZeroPage(bytes: Uint8Array, words: Int32Array | null, off: number): boolean {
  if (words) {
    for (let i = off >>> 2, end = (off + PAGE_SIZE) >>> 2; i < end; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = off, end = off + PAGE_SIZE; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

export function* encodeRam(
  ram: { readonly base: number; readonly bytes: Uint8Array },
  compressor: Compressor,
  chunkPages = DEFAULT_CHUNK_PAGES,
): Generator<SnapshotProgress, Uint8Array, void> {
  const { bytes } = ram;
  const size = bytes.length;
  if (size % PAGE_SIZE !== 0) throw new RangeError(`RAM size ${size} is not a multiple of ${PAGE_SIZE}`);
  const pages = size / PAGE_SIZE;
  const words = bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, size >>> 2) : null;
  const bitmap = new Uint8Array(Math.ceil(pages / 8));
  const chunks: { raw: number; comp: Uint8Array }[] = [];
  const pending: number[] = [];
  let present = 0;
  const flush = (): void => {
    const buf = new Uint8Array(pending.length * PAGE_SIZE);
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      buf.set(bytes.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE), i * PAGE_SIZE);
    }
    chunks.push({ raw: buf.length, comp: compressor.compress(buf) });
    pending.length = 0;
  };
  for (let p = 0; p < pages; p++) {
    if (!isZeroPage(bytes, words, p * PAGE_SIZE)) {
      bitmap[p >>> 3]! |= 1 << (p & 7);
      present++;
      pending.push(p);
      if (pending.length === chunkPages) flush();
    }
    if ((p + 1) % chunkPages === 0 && p + 1 < pages) yield { phase: 'ram', done: (p + 1) * PAGE_SIZE, total: size };
  }
  if (pending.length > 0) flush();
  yield { phase: 'ram', done: size, total: size };
  const w = new StateWriter().uint(ram.base).uint(size).u32(PAGE_SIZE).u32(chunkPages).u32(present).raw(bitmap);
  w.list(chunks, (w, c) => w.u32(c.raw).bytes(c.comp));
  return w.finish();
}

export function* decodeRam(
  payload: Uint8Array,
  compressor: Compressor,
  maxBytes = MAX_RAM_BYTES,
): Generator<SnapshotProgress, { base: number; bytes: Uint8Array }, void> {
  const r: StateReader = new StateReader(payload, 'RAM section', 'bad-section');
  const base = r.uint('base');
  const size = r.uint('size');
  const pageSize = r.u32('page size');
  const chunkPages = r.u32('pages per chunk');
  const present = r.u32('present pages');
  if (pageSize !== PAGE_SIZE) r.fail(`page size ${pageSize}, expected ${PAGE_SIZE}`);
  if (size === 0 || size % PAGE_SIZE !== 0) r.fail(`size ${size} is not a positive multiple of ${PAGE_SIZE}`);
  if (size > maxBytes) r.fail(`size ${size} exceeds the limit of ${maxBytes} bytes`);
  if (chunkPages === 0) r.fail('zero pages per chunk');
  const pages = size / PAGE_SIZE;
  const bitmap = r.raw(Math.ceil(pages / 8), 'bitmap');
  const order: number[] = [];
  for (let p = 0; p < bitmap.length * 8; p++) {
    if (bitmap[p >>> 3]! & (1 << (p & 7))) {
      if (p >= pages) r.fail(`page ${p} marked present beyond the end of RAM`);
      order.push(p);
    }
  }
  if (order.length !== present) r.fail(`bitmap has ${order.length} pages, header says ${present}`);
  const chunkCount = r.u32('chunk count');
  if (chunkCount !== Math.ceil(present / chunkPages)) r.fail(`${chunkCount} chunks for ${present} pages`);
  const bytes = new Uint8Array(size);
  let next = 0;
  for (let c = 0; c < chunkCount; c++) {
    const raw = r.u32('chunk length');
    const comp = r.bytes('chunk');
    const expected = Math.min(chunkPages, present - next) * PAGE_SIZE;
    if (raw !== expected) r.fail(`chunk ${c} holds ${raw} bytes, expected ${expected}`);
    let data: Uint8Array;
    try {
      data = compressor.decompress(comp, raw);
    } catch (e) {
      r.fail(`chunk ${c} does not decompress (${e instanceof Error ? e.message : String(e)})`);
    }
    if (data.length !== raw) r.fail(`chunk ${c} decompresses to ${data.length} bytes, expected ${raw}`);
    for (let i = 0; i < raw / PAGE_SIZE; i++, next++) {
      bytes.set(data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), order[next]! * PAGE_SIZE);
    }
    yield { phase: 'ram', done: Math.min(size, ((order[next - 1] ?? 0) + 1) * PAGE_SIZE), total: size };
  }
  r.end();
  yield { phase: 'ram', done: size, total: size };
  return { base, bytes };
}

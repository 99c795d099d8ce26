import { PvmError } from '../core/errors.js';
import type { TrapCsrs } from './csr.js';
import type { Hart } from './hart.js';

/**
 * One hart's state in a save file (the CPU section's per-hart blob), format 1:
 * a little-endian Float64Array, every value an exact integer (int32 words or
 * counters below 2^53):
 *
 *   [0] format (1)   [1] hart id   [2] word count (N)
 *   scalars (SCALARS below, in that order)
 *   x0..x31 as 64 int32 words, f0..f31 as 64 int32 words (raw bits, NaN payloads kept)
 *   pmpcfg (4 words), pmpaddr (32 words), Hart.saveHidden() (11 values)
 *
 * Not saved: the TLB and the fetch cache (flushed on load), exit fields (a
 * save happens between exits), `virtualM` and the time source (configuration).
 */
export const HART_STATE_FORMAT = 1;

/** Public numeric fields of Hart, in file order; `m.f` / `s.f` is field f of the hart's M- or S-level trap CSRs. */
const SCALARS = [
  'priv',
  'pcLo',
  'pcHi',
  'fflags',
  'frm',
  'instret',
  'mTraps',
  'mInstret',
  'mstatus',
  'medeleg',
  'mideleg',
  'mie',
  'mip',
  'seipHw',
  'm.tvecLo',
  'm.tvecHi',
  's.tvecLo',
  's.tvecHi',
  'm.epcLo',
  'm.epcHi',
  's.epcLo',
  's.epcHi',
  'm.causeLo',
  'm.causeHi',
  's.causeLo',
  's.causeHi',
  'm.tvalLo',
  'm.tvalHi',
  's.tvalLo',
  's.tvalHi',
  'm.scratchLo',
  'm.scratchHi',
  's.scratchLo',
  's.scratchHi',
  'm.counteren',
  's.counteren',
  'm.envcfg',
  's.envcfg',
  'mcountinhibit',
  'satpLo',
  'satpHi',
] as const satisfies readonly (keyof Hart | `${'m' | 's'}.${keyof TrapCsrs}`)[];

/** The object and key holding scalar `k`. */
function slot(h: Hart, k: (typeof SCALARS)[number]): [Record<string, number>, string] {
  const [level, field] = k.split('.');
  return field === undefined
    ? [h as unknown as Record<string, number>, k]
    : [h[level as 'm' | 's'] as unknown as Record<string, number>, field];
}

const HIDDEN = 11;
const HEAD = 3;
const WORDS = HEAD + SCALARS.length + 64 + 64 + 4 + 32 + HIDDEN;

/** The hart's state as bytes. Call only between `run` calls (an instruction boundary). */
export function saveHart(h: Hart): Uint8Array {
  const v = new Float64Array(WORDS);
  let i = 0;
  v[i++] = HART_STATE_FORMAT;
  v[i++] = h.id;
  v[i++] = WORDS;
  for (const k of SCALARS) {
    const [o, f] = slot(h, k);
    v[i++] = o[f]!;
  }
  for (const w of h.x) v[i++] = w;
  for (const w of h.fi) v[i++] = w;
  for (const w of h.pmpcfg) v[i++] = w;
  for (const w of h.pmpaddr) v[i++] = w;
  for (const w of h.saveHidden()) v[i++] = w;
  return new Uint8Array(v.buffer);
}

/**
 * Loads a saveHart blob into `h` (same hart id). Throws PvmError('image')
 * before changing anything when the blob is not one (size, format, id, a
 * value that is not an integer in range).
 */
export function loadHart(h: Hart, blob: Uint8Array): void {
  const bad = (why: string) => new PvmError('image', `hart ${h.id} state in the snapshot: ${why}`);
  if (blob.length !== WORDS * 8) throw bad(`${blob.length} bytes, expected ${WORDS * 8}`);
  const v = new Float64Array(WORDS);
  new Uint8Array(v.buffer).set(blob);
  if (v[0] !== HART_STATE_FORMAT) throw bad(`unknown format ${v[0]}`);
  if (v[1] !== h.id) throw bad(`saved for hart ${v[1]}`);
  if (v[2] !== WORDS) throw bad('wrong word count');
  for (let i = HEAD; i < WORDS; i++) {
    const x = v[i]!;
    if (!Number.isSafeInteger(x) || x < -0x8000_0000 || (x > 0xffff_ffff && !isCounter(i))) {
      throw bad(`value ${x} at word ${i} is out of range`);
    }
  }
  const priv = v[HEAD]!;
  if (priv !== 0 && priv !== 1 && priv !== 3) throw bad(`privilege ${priv}`);
  let i = HEAD;
  for (const k of SCALARS) {
    const [o, f] = slot(h, k);
    o[f] = v[i++]!;
  }
  for (let r = 0; r < 64; r++) h.x[r] = v[i++]!;
  h.x[0] = 0;
  h.x[1] = 0;
  for (let r = 0; r < 64; r++) h.fi[r] = v[i++]!;
  for (let r = 0; r < 4; r++) h.pmpcfg[r] = v[i++]!;
  for (let r = 0; r < 32; r++) h.pmpaddr[r] = v[i++]!;
  h.loadHidden(Array.from(v.subarray(i, i + HIDDEN)));
  h.setPc((BigInt(h.pcHi >>> 0) << 32n) | BigInt(h.pcLo >>> 0)); // drops the fetch cache
}

/** Words that hold counters (instret, mTraps, mInstret, mEntry): non-negative up to 2^53. */
function isCounter(i: number): boolean {
  const s = i - HEAD;
  if (s === 5 || s === 6 || s === 7) return true;
  return i === WORDS - 2; // mEntry
}

/** Interface check for callers holding a structurally typed hart. */
export const isCpuHart = (h: unknown): h is Hart =>
  typeof (h as Partial<Hart> | null)?.saveHidden === 'function' &&
  typeof (h as Partial<Hart> | null)?.loadHidden === 'function';

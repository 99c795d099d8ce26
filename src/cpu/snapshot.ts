import type { StateCodec, StateReader, StateWriter } from '../core/state.js';
import type { TrapCsrs } from './csr.js';
import type { Hart } from './hart.js';

/**
 * One hart's state in a save file (the CPU section's per-hart blob). Not
 * saved: the TLB and the fetch cache (flushed on load), exit fields (a save
 * happens between exits), `virtualM` and the time source (configuration).
 *
 * captureHart and applyHart are the only code that knows how Hart keeps its
 * state; the codec below knows only CpuState.
 */
export interface CpuState {
  readonly id: number;
  /** 0 = U, 1 = S, 3 = M. */
  readonly priv: number;
  /** WORDS, in that order: 32-bit halves and small CSRs, as the hart holds them (signed or not). */
  readonly words: readonly number[];
  /** COUNTERS, in that order. */
  readonly counters: readonly number[];
  /** x0..x31 as 64 int32 words (lo, hi). */
  readonly x: Int32Array;
  /** f0..f31 as 64 int32 words: raw bits, NaN payloads kept. */
  readonly f: Int32Array;
  readonly pmpcfg: Int32Array;
  readonly pmpaddr: Int32Array;
  /** Counter offsets (4 words), LR/SC reservation (valid, pa, size, lo, hi), M-mode bookkeeping (entry, inM). */
  readonly hidden: readonly number[];
}

/** The 32-bit words of CpuState.words; `m.f` / `s.f` is field f of the hart's M- or S-level trap CSRs. */
const WORDS = [
  'pcLo',
  'pcHi',
  'fflags',
  'frm',
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
  'm.envcfgHi',
  'mcountinhibit',
  'satpLo',
  'satpHi',
  'stimecmpLo',
  'stimecmpHi',
] as const satisfies readonly (keyof Hart | `${'m' | 's'}.${keyof TrapCsrs}`)[];

/** The object and key holding word `k`. */
function slot(h: Hart, k: (typeof WORDS)[number]): [Record<string, number>, string] {
  const [level, field] = k.split('.');
  return field === undefined
    ? [h as unknown as Record<string, number>, k]
    : [h[level as 'm' | 's'] as unknown as Record<string, number>, field];
}

/** Retired instructions and the M-mode statistics: non-negative up to 2^53. */
const COUNTERS = ['instret', 'mTraps', 'mInstret'] as const satisfies readonly (keyof Hart)[];

/** Hart.saveHidden's length, and which of its values is a counter (mEntry) rather than a word. */
const HIDDEN = 11;
const HIDDEN_COUNTER = 9;

const PRIVS = [0, 1, 3] as const;
const WORD_MIN = -0x8000_0000;
const WORD_MAX = 0xffff_ffff;

/** The state of `h`. Call only between `run` calls (an instruction boundary). */
export function captureHart(h: Hart): CpuState {
  return {
    id: h.id,
    priv: h.priv,
    words: WORDS.map((k) => {
      const [o, f] = slot(h, k);
      return o[f]!;
    }),
    counters: COUNTERS.map((k) => h[k]),
    x: h.x.slice(),
    f: h.fi.slice(),
    pmpcfg: h.pmpcfg.slice(),
    pmpaddr: h.pmpaddr.slice(),
    hidden: h.saveHidden(),
  };
}

/** Load `s` (read by cpuStateCodec for this hart) into `h`. */
export function applyHart(h: Hart, s: CpuState): void {
  h.priv = s.priv;
  const w = h as unknown as Record<(typeof COUNTERS)[number], number>;
  WORDS.forEach((k, i) => {
    const [o, f] = slot(h, k);
    o[f] = s.words[i]!;
  });
  COUNTERS.forEach((k, i) => {
    w[k] = s.counters[i]!;
  });
  h.x.set(s.x);
  h.x[0] = 0;
  h.x[1] = 0;
  h.fi.set(s.f);
  h.pmpcfg.set(s.pmpcfg);
  h.pmpaddr.set(s.pmpaddr);
  h.pmp.update();
  h.loadHidden(s.hidden);
  h.setPc((BigInt(h.pcHi >>> 0) << 32n) | BigInt(h.pcLo >>> 0)); // drops the fetch cache
}

const writeWords = (w: StateWriter, a: Int32Array) => {
  for (const v of a) w.i32(v);
};
const readWords = (r: StateReader, n: number, field: string) => {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.i32(`${field}[${i}]`);
  return a;
};

/** The hart's id in the file, then WORDS and COUNTERS as 64-bit integers, then the register files. */
export const cpuStateCodec: StateCodec<CpuState, { id: number }> = {
  write(w, s) {
    w.u32(s.id).u8(s.priv);
    for (const v of s.words) w.int(v);
    for (const v of s.counters) w.uint(v);
    writeWords(w, s.x);
    writeWords(w, s.f);
    writeWords(w, s.pmpcfg);
    writeWords(w, s.pmpaddr);
    for (const v of s.hidden) w.int(v);
  },
  read(r, shape) {
    const id = r.u32('hart id');
    if (id !== shape.id) r.mismatch(`saved for hart ${id}`);
    const priv = r.oneOf('privilege', PRIVS);
    const words = WORDS.map((k) => r.int(k, WORD_MIN, WORD_MAX));
    const counters = COUNTERS.map((k) => r.uint(k));
    const x = readWords(r, 64, 'x');
    const f = readWords(r, 64, 'f');
    const pmpcfg = readWords(r, 4, 'pmpcfg');
    const pmpaddr = readWords(r, 32, 'pmpaddr');
    const hidden: number[] = [];
    for (let i = 0; i < HIDDEN; i++) {
      hidden.push(i === HIDDEN_COUNTER ? r.uint('hidden counter') : r.int(`hidden[${i}]`, WORD_MIN, WORD_MAX));
    }
    return { id, priv, words, counters, x, f, pmpcfg, pmpaddr, hidden };
  },
};

/** Interface check for callers holding a structurally typed hart. */
export const isCpuHart = (h: unknown): h is Hart =>
  typeof (h as Partial<Hart> | null)?.saveHidden === 'function' &&
  typeof (h as Partial<Hart> | null)?.loadHidden === 'function';

import { BaseExtension } from './base.js';
import { Eid, SbiErr } from './consts.js';
import { hsmExtension } from './hsm.js';
import { legacyExtension } from './legacy.js';
import { ALLOW_ALL, type HypercallPolicy } from './policy.js';
import { dbcnExtension, srstExtension, staExtension } from './srst-dbcn-sta.js';
import { ipiExtension, rfenceExtension, timeExtension } from './timer-ipi-rfence.js';
import type { SbiArgs, SbiExtension, SbiHart, SbiPlatform, SbiRet } from './types.js';
import { err } from './types.js';

const A0 = 10;
const A1 = 11;
const A6 = 16;
const A7 = 17;
const U32 = 0xffff_ffffn;
const TWO64 = 1n << 64n;

/** x[r] of `h` as an unsigned 64-bit value (no allocation beyond getX's for non-negative values). */
function u64(h: SbiHart, r: number): bigint {
  const v = h.getX(r);
  return v < 0n ? v + TWO64 : v;
}

/** Counter slots of the numeric fast path: `FastExt.slots` values other than a slot number. */
const SLOT_UNRESOLVED = -1;
const SLOT_NONE = -2;
/** Extension ids the fast path keeps a table for; calls to further ones take `handleEcall`. */
const FAST_EIDS_MAX = 64;
/** Function ids the fast path keeps a slot for (PVX's are below 0x600). */
const FAST_FIDS_MAX = 0x1000;

/** The fast path's view of one extension id: its extension and a counter slot per function id. */
interface FastExt {
  readonly ext: SbiExtension;
  /** By fid: a slot in `counts`, SLOT_UNRESOLVED, or SLOT_NONE (unknown, denied or no callNum). */
  slots: Int32Array;
}

interface Range {
  readonly first: number;
  readonly last: number;
  readonly ext: SbiExtension;
}

/** Hypercall counts: extension name -> function name -> calls. */
export type SbiCallStats = Record<string, Record<string, number>>;

/**
 * Counter names for calls that name nothing: every unknown extension counts under
 * `unknown/unknown`, every unknown function of a known extension under `EXT/unknown`, so a guest
 * cannot grow the statistics (or a save file) by calling new numbers. Denied calls count under
 * their own name and under `denied/EXT/function` (bounded by the catalog of known calls).
 */
export const UNKNOWN = 'unknown';
export const DENIED = 'denied';

/**
 * The para-API dispatcher: a table from extension id (a7) to an extension
 * object. Standard extensions register one id each; PVX registers a range in
 * the firmware-specific space 0x0A000000-0x0AFFFFFF. Unknown extensions and
 * functions answer SBI_ERR_NOT_SUPPORTED (SBI v2.0 §3); nothing a guest
 * passes can make `call` throw.
 */
export class SbiDispatcher {
  private readonly exact = new Map<number, SbiExtension>();
  private readonly ranges: Range[] = [];
  private readonly counted: SbiCallStats = {};
  /** Total calls handled. */
  calls = 0;
  private allowed: HypercallPolicy = ALLOW_ALL;
  /**
   * The fast path counts in numbers and names its calls only when the statistics are read: per
   * extension id a table from fid to a slot, per slot its names and the calls not yet added to
   * `counted`. A slot is made on a call's first fast pass, with the policy's decision for it.
   */
  private readonly fast = new Map<number, FastExt>();
  /** The last extension id the fast path saw and its table: a guest makes the same call in a loop. */
  private lastEid = -1;
  private lastFast: FastExt | undefined;
  private slotExt: string[] = [];
  private slotFn: string[] = [];
  private counts = new Float64Array(8);

  constructor(readonly platform: SbiPlatform) {}

  /** Calls per extension and function; unknown ones aggregated (UNKNOWN), denied ones also under DENIED. */
  get stats(): SbiCallStats {
    const c = this.counts;
    for (let i = 0; i < this.slotExt.length; i++) {
      if (c[i] === 0) continue;
      const m = (this.counted[this.slotExt[i]!] ??= {});
      const fn = this.slotFn[i]!;
      m[fn] = (m[fn] ?? 0) + c[i]!;
      c[i] = 0;
    }
    return this.counted;
  }

  /** Which calls the domain may make (src/sbi/policy.ts); everything by default. */
  get policy(): HypercallPolicy {
    return this.allowed;
  }

  set policy(p: HypercallPolicy) {
    // the slots hold the old policy's decisions: count what they hold and start again
    void this.stats;
    this.fast.clear();
    this.lastEid = -1;
    this.lastFast = undefined;
    this.slotExt = [];
    this.slotFn = [];
    this.counts = new Float64Array(8);
    this.allowed = p;
  }

  /** Register `ext` for extension ids first..last (inclusive). Overlaps are a programming error. */
  register(ext: SbiExtension, first: number, last = first): void {
    if (last < first) throw new Error(`bad SBI extension range for ${ext.name}`);
    for (let id = first; id <= last && id - first < 16; id++) {
      if (this.lookup(id) !== undefined) throw new Error(`SBI extension id 0x${id.toString(16)} registered twice`);
    }
    if (first === last) this.exact.set(first, ext);
    else {
      for (const r of this.ranges) {
        if (first <= r.last && r.first <= last)
          throw new Error(`SBI extension range for ${ext.name} overlaps ${r.ext.name}`);
      }
      this.ranges.push({ first, last, ext });
    }
  }

  lookup(eid: number): SbiExtension | undefined {
    const e = this.exact.get(eid);
    if (e !== undefined) return e;
    for (const r of this.ranges) if (eid >= r.first && eid <= r.last) return r.ext;
    return undefined;
  }

  /** Base probe_extension: 0 when absent, the extension's probe value (default 1) otherwise. */
  probe(eid: bigint): number {
    if (eid > U32) return 0;
    const ext = this.lookup(Number(eid));
    if (ext === undefined || !this.allowed.allowsAny(ext.name)) return 0;
    return ext.probe ? ext.probe(this.platform) : 1;
  }

  /**
   * Perform one call for hart `hart`: find the extension, name and count the
   * call, run it. Every call passes here, standard SBI and PVX alike, direct
   * or as a multicall entry, so a per-domain hypercall policy (which
   * extensions and functions a domain may use; DENIED otherwise) is one
   * check on (`ext.name`, `name`) between the count and the call. a7/a6
   * wider than 32 bits name no extension or function (EIDs and FIDs are
   * 32-bit, §3).
   */
  call(hart: number, eid: bigint, fid: bigint, a: SbiArgs): SbiRet {
    this.calls++;
    const ext = eid <= U32 ? this.lookup(Number(eid)) : undefined;
    if (ext === undefined) {
      this.count(UNKNOWN, UNKNOWN);
      return err(SbiErr.NOT_SUPPORTED);
    }
    const e = Number(eid);
    const f = ext.legacy ? 0 : fid <= U32 ? Number(fid) : -1;
    const name = ext.functionName(e, f);
    this.count(ext.name, name ?? UNKNOWN);
    if (name === undefined) return err(SbiErr.NOT_SUPPORTED);
    if (!this.allowed.allows(ext.name, name)) {
      this.count(DENIED, `${ext.name}/${name}`);
      return err(SbiErr.DENIED);
    }
    return ext.call(this.platform, hart, e, f, a);
  }

  /**
   * `handleEcall` without BigInts for the calls that allow it (SbiExtension.callNum): true when
   * the call was made (a0 = error, a1 = 0), false when nothing was done and `handleEcall` must
   * make it. Counts and checks the policy as `call` does, with the name and the policy's
   * decision looked up once per (eid, fid) and the count kept as a number until the statistics
   * are read. This is the hypercall fast path: a PVX timer allocates nothing.
   */
  handleEcallFast(h: SbiHart): boolean {
    const x = h.x;
    // a7 and a6 are 32-bit ids, a0 below 2^53 (its high word's top 11 bits clear)
    if (x === undefined || x[35] !== 0 || x[33] !== 0 || x[21]! >>> 21 !== 0) return false;
    const e = x[34]! >>> 0;
    let fe = this.lastFast;
    if (e !== this.lastEid || fe === undefined) {
      fe = this.fast.get(e) ?? this.fastExt(e);
      if (fe === undefined) return false;
      this.lastEid = e;
      this.lastFast = fe;
    }
    const ext = fe.ext;
    const f = ext.legacy ? 0 : x[32]! >>> 0;
    let slot = f < fe.slots.length ? fe.slots[f]! : SLOT_UNRESOLVED;
    if (slot === SLOT_UNRESOLVED) slot = this.resolveSlot(fe, e, f);
    if (slot === SLOT_NONE) return false;
    const error = ext.callNum!(this.platform, h.id, e, f, x[21]! * 4294967296 + (x[20]! >>> 0));
    if (error === undefined) return false;
    this.calls++;
    // the record gets the name when first counted, in the order `count` would have given it
    if (this.counts[slot]!++ === 0) (this.counted[this.slotExt[slot]!] ??= {})[this.slotFn[slot]!] ??= 0;
    x[20] = error;
    x[21] = error < 0 ? -1 : 0;
    if (!ext.legacy) x[22] = x[23] = 0;
    return true;
  }

  /** The fast path's table for extension id `e`; undefined (and nothing kept) when it has none. */
  private fastExt(e: number): FastExt | undefined {
    const ext = this.lookup(e);
    if (ext === undefined || ext.callNum === undefined || this.fast.size >= FAST_EIDS_MAX) return undefined;
    const fe: FastExt = { ext, slots: new Int32Array(8).fill(SLOT_UNRESOLVED) };
    this.fast.set(e, fe);
    return fe;
  }

  /** Name (eid, fid), ask the policy once, and give the call a counter slot (or SLOT_NONE). */
  private resolveSlot(fe: FastExt, e: number, f: number): number {
    if (f >= FAST_FIDS_MAX) return SLOT_NONE;
    if (f >= fe.slots.length) {
      const grown = new Int32Array(Math.min(FAST_FIDS_MAX, Math.max(2 * fe.slots.length, f + 1))).fill(SLOT_UNRESOLVED);
      grown.set(fe.slots);
      fe.slots = grown;
    }
    const ext = fe.ext;
    const name = ext.functionName(e, f);
    let slot = SLOT_NONE;
    if (name !== undefined && this.allowed.allows(ext.name, name)) {
      slot = this.slotExt.length;
      this.slotExt.push(ext.name);
      this.slotFn.push(name);
      if (slot >= this.counts.length) {
        const grown = new Float64Array(2 * this.counts.length);
        grown.set(this.counts);
        this.counts = grown;
      }
    }
    fe.slots[f] = slot;
    return slot;
  }

  /**
   * Handle an `ecall` from S-mode on `h`: read a7, a6, a0..a5, perform the
   * call, write a0 = error and a1 = value (legacy calls: a0 only). The pc
   * is the caller's business (it advances past the ecall).
   */
  handleEcall(h: SbiHart): SbiRet {
    const args: SbiArgs = [u64(h, A0), u64(h, A1), u64(h, 12), u64(h, 13), u64(h, 14), u64(h, 15)];
    const eid = u64(h, A7);
    const fid = u64(h, A6);
    const ext = eid <= U32 ? this.lookup(Number(eid)) : undefined;
    const r = this.call(h.id, eid, fid, args);
    // the registers hold the same 64 bits whether the value is written signed or unsigned
    h.setX(A0, BigInt(r.error));
    if (ext === undefined || !ext.legacy) h.setX(A1, r.value);
    return r;
  }

  private count(ext: string, fn: string): void {
    const m = (this.counted[ext] ??= {});
    m[fn] = (m[fn] ?? 0) + 1;
  }
}

/**
 * A dispatcher with every standard extension pvm answers in PV mode: Base,
 * TIME, IPI, RFENCE, HSM, SRST, DBCN, STA and the legacy v0.1 calls.
 */
export function createSbi(platform: SbiPlatform): SbiDispatcher {
  const d = new SbiDispatcher(platform);
  d.register(new BaseExtension((eid) => d.probe(eid)), Eid.BASE);
  d.register(timeExtension, Eid.TIME);
  d.register(ipiExtension, Eid.IPI);
  d.register(rfenceExtension, Eid.RFENCE);
  d.register(hsmExtension, Eid.HSM);
  d.register(srstExtension, Eid.SRST);
  d.register(dbcnExtension, Eid.DBCN);
  d.register(staExtension, Eid.STA);
  d.register(legacyExtension, Eid.LEGACY_SET_TIMER, Eid.LEGACY_SHUTDOWN);
  return d;
}

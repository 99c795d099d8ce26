/**
 * The hart's memory side: RAM views, the software TLBs, the Sv39/Sv48 page-table walk and the slow
 * paths of fetches, loads and stores (privileged spec 4.3-4.5).
 *
 * The run loop (hart.ts) checks the TLBs inline and calls in here only on a miss, for MMIO, or for
 * an access that is misaligned or crosses a page. Every TLB maps a virtual page (a 4 KiB page,
 * or a 4 KiB piece of a superpage) to its offset in RAM:
 *
 * - read and write TLBs: DATA_SETS (16) sets of 2^TLB_BITS (1024) direct-mapped entries, the set
 *   chosen by the effective privilege (after MPRV/MPP), SUM and MXR, so changing any of those
 *   needs no flush. The write TLB only receives pages whose PTE already has D set, so a first
 *   store walks again and sets D: A/D bits stay exact.
 * - execute TLB: 4 sets (one per privilege) of 1024 entries; plus a one-entry fetch cache (the
 *   page of the pc) that the run loop keeps in locals.
 *
 * They hold RAM pages only (MMIO always takes the slow path), only pages below 2 GiB of RAM
 * offset (offsets are int32), and only pages whose PMP permissions (pmp.ts) are the same for
 * every byte and allow the access kind the TLB serves: every access that misses is checked
 * against PMP here (page-table reads and A/D writes as S-mode accesses), so hits need no check. Everything is flushed on satp writes and SFENCE.VMA x0; SFENCE.VMA
 * with an address drops that page in every set plus every remembered superpage piece (flushing
 * more than asked is always allowed). Faults are raised through `Hart.fault`.
 */

import { type Copy64, makeAccess64 } from '../core/access64.js';
import { DirtyLog } from '../core/dirty-log.js';
import { Cause, MSTATUS_MPRV, MSTATUS_MXR, MSTATUS_SUM, Priv } from './arch.js';
import type { Hart } from './hart.js';
import { COPY64_OFF, R_HI, R_OFF, R_TAG, TLB_ENTRIES, W_HI, W_OFF, W_TAG, X_HI, X_OFFS, X_TAG } from './jit/state.js';
import { PMP_R, PMP_W, PMP_X, type Pmp } from './pmp.js';
import type { PhysBus, RamLike } from './types.js';

const TWO32 = 4294967296;
/** TLB entries per set (direct mapped on the low bits of the virtual page number). */
export const TLB_BITS = 10;
const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
/** Data TLB sets: effective privilege (2 bits) x SUM x MXR. */
const DATA_SETS = TLB_ENTRIES >> TLB_BITS;
/** Superpage pieces remembered for SFENCE.VMA by address (more: the next one flushes everything). */
const MAX_FRAGS = 1024;
/** A tag no page-aligned address can equal. */
export const NO_TAG = 1;

/** Access kinds for translation. */
export const Access = { Load: 0, Store: 1, Fetch: 2 } as const;

/** Mmu.copy64 where 64-bit accesses stay two 32-bit ones (never called). */
const noCopy: Copy64 = () => {};

export class Mmu {
  // RAM views (the run loop copies them into locals)
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly i32: Int32Array;
  /**
   * RAM is shared with harts on other threads (a SharedArrayBuffer): AMOs and LR/SC use
   * `Atomics` (amo.ts), 64-bit ones on `i64`, which exists only then.
   */
  readonly shared: boolean;
  readonly i64: BigInt64Array | null;
  /**
   * Aligned 64-bit accesses are one access (copy64, src/core/access64.ts): true on shared RAM when the hart's
   * registers are in the memory's state area. Without it (private RAM, or a hart without a
   * state area) they are two 32-bit accesses, which no other thread can see on private RAM.
   */
  readonly single64: boolean;
  /** Internal (hart.ts): the copy, a no-op unless `single64`. */
  readonly copy64: Copy64;
  /** Byte offset of the hart's COPY64 word in the memory, and that word as two int32s. */
  readonly wideOff: number;
  readonly wide: Int32Array;
  private readonly dv: DataView;
  private readonly ramBase: number;
  private readonly ramSize: number;

  // TLBs: tag = virtual page (low word), hi = high word of the address, off = RAM offset of the page
  // (the data TLBs live in the hart's state area when it has one: translated code reads them)
  readonly rTag: Int32Array;
  readonly rHi: Int32Array;
  readonly rOff: Int32Array;
  readonly wTag: Int32Array;
  readonly wHi: Int32Array;
  readonly wOff: Int32Array;
  /**
   * Data TLB sets in use (bit s: set s): a set is filled with NO_TAG when `dataSet` first
   * chooses it, and only sets in use are flushed, so the pages of sets a hart never uses (most
   * of the 16) are never written and take no memory. Every reader of the data TLBs finds its set
   * through `dataSet`, so none sees a set that is not in use (all zeros, not empty). One Mmu
   * runs over a state area (a hart on another thread has its own, which starts with none in
   * use), so a set this one does not use holds nothing it will read without emptying it first.
   */
  private dataSetsInUse = 0;
  /** Internal (jit/): the execute TLB, which also validates translated blocks. */
  readonly xTag: Int32Array;
  readonly xHi: Int32Array;
  readonly xOff: Int32Array;
  /**
   * Internal (jit/): one byte per 4 KiB RAM page, non-zero while translated code was made from
   * it. Such pages never enter the write TLB, so every store into them takes the slow path,
   * which calls `onCodeWrite` (self-modifying code). Null without a translator.
   */
  codePages: Uint8Array | null = null;
  onCodeWrite: ((pageOff: number) => void) | null = null;
  /** Fetch cache: virtual page of the pc (low word; the high word is the hart's pcHi) and its RAM offset. */
  fetchTag = NO_TAG;
  fetchOff = 0;
  /**
   * TLB entries holding 4 KiB pieces of superpages: SFENCE.VMA by address must drop the whole
   * superpage, so these are dropped too. Encoded as index (data) or ~index (execute).
   * Non-global and global ones apart: an SFENCE.VMA with an ASID keeps global mappings.
   */
  private readonly frags = new Int32Array(MAX_FRAGS);
  private nFrags = 0;
  private readonly gFrags = new Int32Array(MAX_FRAGS);
  private nGFrags = 0;
  /** Leaf level and global bit of the last page-table walk (0 and true for Bare). */
  private walkLevel = 0;
  private walkGlobal = true;
  /** High word of the last slow load. */
  tHi = 0;
  /** Effective privilege of the last translate (the PMP checks use it). */
  private accPriv = 0;
  private readonly pmp: Pmp;
  /**
   * RAM offset of a page whose stores leave the fast path (-1: none): the store TLB never holds
   * it, so every store into it runs through physWrite/atomicOffset, which call `onWatchedStore`.
   */
  private watchOff = -1;
  private onWatchedStore: ((pa: number, size: number) => void) | null = null;
  /**
   * The RAM's dirty-page log (live migration). Starting it and each harvest drop the write TLB,
   * and a page enters the write TLB only through a slow store that marks it first, so every
   * page in the write TLB is already dirty: the fast store paths, interpreted or translated,
   * need no check (src/core/dirty-log.ts).
   */
  private readonly dirty: DirtyLog;

  constructor(
    private readonly hart: Hart,
    ram: RamLike,
    private readonly bus: PhysBus,
    stateOff = -1,
  ) {
    this.ramBase = ram.base;
    this.ramSize = ram.size;
    this.pmp = hart.pmp;
    // A RAM without a log (unit-test rigs) gets a private one that is never turned on.
    this.dirty = ram.dirty ?? new DirtyLog(Math.ceil(ram.size / 4096));
    this.dirty.addWriteCache(() => this.dropData(false));
    const buf = ram.buffer;
    this.u8 = new Uint8Array(buf, 0, ram.size);
    this.i8 = new Int8Array(buf, 0, ram.size);
    this.u16 = new Uint16Array(buf, 0, Math.floor(ram.size / 2));
    this.i16 = new Int16Array(buf, 0, Math.floor(ram.size / 2));
    this.i32 = new Int32Array(buf, 0, Math.floor(ram.size / 4));
    this.dv = new DataView(buf, 0, ram.size);
    this.shared = !(buf instanceof ArrayBuffer);
    this.i64 = this.shared ? new BigInt64Array(buf, 0, Math.floor(ram.size / 8)) : null;
    const copy =
      this.shared && stateOff >= 0 && ram.wasmMemory !== undefined
        ? (makeAccess64(ram.wasmMemory)?.copy64 ?? null)
        : null;
    this.single64 = copy !== null;
    this.copy64 = copy ?? noCopy;
    this.wideOff = copy !== null ? stateOff + COPY64_OFF : 0;
    this.wide = copy !== null ? new Int32Array(buf, this.wideOff, 2) : new Int32Array(2);
    const n = DATA_SETS * TLB_SIZE;
    const tlb = (at: number) => (stateOff < 0 ? new Int32Array(n) : new Int32Array(buf, stateOff + at, n));
    this.rTag = tlb(R_TAG);
    this.rHi = tlb(R_HI);
    this.rOff = tlb(R_OFF);
    this.wTag = tlb(W_TAG);
    this.wHi = tlb(W_HI);
    this.wOff = tlb(W_OFF);
    const xtlb = (at: number) =>
      stateOff < 0 ? new Int32Array(4 * TLB_SIZE) : new Int32Array(buf, stateOff + at, 4 * TLB_SIZE);
    this.xTag = xtlb(X_TAG).fill(NO_TAG);
    this.xHi = xtlb(X_HI);
    this.xOff = xtlb(X_OFFS);
  }

  /** Internal (jit/): drop every write-TLB entry of the RAM page at offset `pageOff` (it now holds translated code). */
  unmapWrites(pageOff: number): void {
    const wOff = this.wOff;
    const wTag = this.wTag;
    for (let e = 0; e < wOff.length; e++) if (wOff[e] === pageOff) wTag[e] = NO_TAG;
  }

  /** See Hart.watchStores. */
  watchStores(pa: number | null, onStore: ((pa: number, size: number) => void) | null): void {
    const o = pa === null ? -1 : this.ramOff(pa, 1);
    this.watchOff = o < 0 ? -1 : o - (o % 4096);
    this.onWatchedStore = this.watchOff < 0 ? null : onStore;
    this.flush();
  }

  /** Drop every cached translation. */
  flush(): void {
    this.dropData(true);
    this.xTag.fill(NO_TAG);
    this.fetchTag = NO_TAG;
    this.nFrags = 0;
    this.nGFrags = 0;
  }

  /**
   * SFENCE.VMA with rs1 != x0 (privileged spec 4.2.1): drop every cached translation of the page
   * of va (any high word), whatever the ASID (a superset is allowed), plus every superpage fragment; with an
   * ASID (rs2 != x0) global superpage fragments may stay.
   */
  flushPage(va: number, withAsid: boolean): void {
    if (this.nFrags === MAX_FRAGS || this.nGFrags === MAX_FRAGS) {
      this.flush();
      return;
    }
    const i = (va >>> 12) & TLB_MASK;
    for (let s = 0; s < DATA_SETS; s++) {
      if ((this.dataSetsInUse & (1 << s)) === 0) continue;
      this.rTag[(s << TLB_BITS) + i] = NO_TAG;
      this.wTag[(s << TLB_BITS) + i] = NO_TAG;
    }
    for (let s = 0; s < 4; s++) this.xTag[(s << TLB_BITS) + i] = NO_TAG;
    this.dropFrags(this.frags, this.nFrags);
    this.nFrags = 0;
    if (!withAsid) {
      this.dropFrags(this.gFrags, this.nGFrags);
      this.nGFrags = 0;
    }
    this.fetchTag = NO_TAG;
  }

  private dropFrags(list: Int32Array, n: number): void {
    for (let k = 0; k < n; k++) {
      const e = list[k]!;
      if (e >= 0) {
        this.rTag[e] = NO_TAG;
        this.wTag[e] = NO_TAG;
      } else this.xTag[~e] = NO_TAG;
    }
  }

  /** Data TLB set for the current state: effective privilege (MPRV/MPP), SUM, MXR. */
  dataSet(): number {
    const h: Hart = this.hart;
    const m = h.mstatus;
    const ep = (m & MSTATUS_MPRV) !== 0 && h.priv === Priv.M ? (m >> 11) & 3 : h.priv;
    const s = ep | ((m & MSTATUS_SUM) >> 16) | ((m & MSTATUS_MXR) >> 16);
    if ((this.dataSetsInUse & (1 << s)) === 0) this.useDataSet(s);
    return s;
  }

  /** Start using data TLB set `s`: empty it (its untouched pages read as zeros, not NO_TAG). */
  private useDataSet(s: number): void {
    this.rTag.fill(NO_TAG, s << TLB_BITS, (s + 1) << TLB_BITS);
    this.wTag.fill(NO_TAG, s << TLB_BITS, (s + 1) << TLB_BITS);
    this.dataSetsInUse |= 1 << s;
  }

  /** Empty the write TLB of every set in use, and the read TLB too when `reads`. */
  private dropData(reads: boolean): void {
    for (let s = 0; s < DATA_SETS; s++) {
      if ((this.dataSetsInUse & (1 << s)) === 0) continue;
      if (reads) this.rTag.fill(NO_TAG, s << TLB_BITS, (s + 1) << TLB_BITS);
      this.wTag.fill(NO_TAG, s << TLB_BITS, (s + 1) << TLB_BITS);
    }
  }

  /** Internal (tests): the data TLB sets in use, bit s for set s. */
  get dataSetsUsed(): number {
    return this.dataSetsInUse;
  }

  /** Translate (va, vh) for an access; returns the physical address (a number). Throws page faults. */
  private translate(va: number, vh: number, acc: number): number {
    const h: Hart = this.hart;
    const ms = h.mstatus;
    const ep = acc === Access.Fetch ? h.priv : (ms & MSTATUS_MPRV) !== 0 && h.priv === Priv.M ? (ms >> 11) & 3 : h.priv;
    this.accPriv = ep;
    const mode = h.satpHi >>> 28;
    this.walkLevel = 0;
    this.walkGlobal = true;
    const accessFault =
      acc === Access.Fetch ? Cause.InstAccess : acc === Access.Load ? Cause.LoadAccess : Cause.StoreAccess;
    if (ep === Priv.M || mode === 0) {
      // Bare: physical addresses are 56 bits; anything above is an access fault
      if (vh < 0 || vh >= 0x1000000) h.fault(accessFault, va, vh);
      return vh * TWO32 + (va >>> 0);
    }
    const pageFault = acc === Access.Fetch ? Cause.InstPage : acc === Access.Load ? Cause.LoadPage : Cause.StorePage;
    const levels = mode === 8 ? 3 : 4;
    // the address must be sign-extended from bit 38 (Sv39) or 47 (Sv48)
    const top = mode === 8 ? vh >> 6 : vh >> 15;
    if (top !== 0 && top !== -1) h.fault(pageFault, va, vh);
    const vpn = (vh & 0xffff) * 1048576 + (va >>> 12); // up to 36 bits
    let a = ((h.satpHi & 0xfff) * TWO32 + (h.satpLo >>> 0)) * 4096;
    const i32 = this.i32;
    let global = false;
    for (let i = levels - 1; i >= 0; i--) {
      const idx = Math.floor(vpn / 2 ** (9 * i)) & 511;
      const pa = a + idx * 8;
      const o = this.ramOff(pa, 8);
      // page-table reads are S-mode accesses for PMP (privileged spec 3.7.1)
      if (o < 0 || !this.pmp.check(pa, 8, PMP_R, Priv.S)) h.fault(accessFault, va, vh);
      let lo: number;
      let hi: number;
      if (this.single64) {
        // another hart may write the entry meanwhile: read it in one access
        this.copy64(this.wideOff, o);
        lo = this.wide[0]!;
        hi = this.wide[1]!;
      } else {
        lo = i32[o / 4]!;
        hi = i32[o / 4 + 1]!;
      }
      // V=0, W without R, or reserved/PBMT/N bits set (no Svpbmt/Svnapot): page fault
      if ((lo & 1) === 0 || (lo & 6) === 4 || (hi & 0xffc00000) !== 0) h.fault(pageFault, va, vh);
      const ppn = (hi & 0x3fffff) * 4194304 + (lo >>> 10);
      if (lo & 32) global = true;
      if ((lo & 0xa) === 0) {
        // pointer to the next level
        a = ppn * 4096;
        continue;
      }
      // leaf: permissions
      const u = (lo & 16) !== 0;
      if (ep === Priv.U ? !u : u && (acc === Access.Fetch || (ms & MSTATUS_SUM) === 0)) h.fault(pageFault, va, vh);
      if (acc === Access.Fetch) {
        if ((lo & 8) === 0) h.fault(pageFault, va, vh);
      } else if (acc === Access.Load) {
        if ((lo & 2) === 0 && !((ms & MSTATUS_MXR) !== 0 && (lo & 8) !== 0)) h.fault(pageFault, va, vh);
      } else if ((lo & 4) === 0) h.fault(pageFault, va, vh);
      // misaligned superpage
      const span = 2 ** (9 * i);
      if (ppn % span !== 0) h.fault(pageFault, va, vh);
      // A/D update by the hardware (Svadu behaviour, as QEMU): on shared RAM a compare-and-swap
      // of the word read, so an entry another hart changed since is walked again (QEMU does so)
      const need = acc === Access.Store ? 0xc0 : 0x40;
      if ((lo & need) !== need) {
        if (!this.pmp.check(pa, 8, PMP_W, Priv.S)) h.fault(accessFault, va, vh);
        if (this.shared) {
          if (Atomics.compareExchange(i32, o / 4, lo, lo | need) !== lo) {
            i++;
            continue;
          }
        } else i32[o / 4] = lo | need;
        lo |= need;
        if (this.dirty.on) this.dirty.pages[o >>> 12] = 1;
      }
      this.walkLevel = i;
      this.walkGlobal = global;
      return (ppn + (vpn % span)) * 4096 + (va & 4095);
    }
    return h.fault(pageFault, va, vh);
  }

  /** RAM offset of [pa, pa+len), or -1 when not entirely in RAM. */
  private ramOff(pa: number, len: number): number {
    const o = pa - this.ramBase;
    return o >= 0 && o + len <= this.ramSize ? o : -1;
  }

  /**
   * Fault unless PMP allows an access of kind `acc` to [pa, pa + len) at the privilege of the
   * last translate (privileged spec 3.7.1: a PMP violation is an access fault).
   */
  private pmpCheck(acc: number, pa: number, len: number, va: number, vh: number, amo = false): void {
    const want = acc === Access.Fetch ? PMP_X : acc === Access.Load ? PMP_R : amo ? PMP_R | PMP_W : PMP_W;
    if (this.pmp.check(pa, len, want, this.accPriv)) return;
    this.hart.fault(
      acc === Access.Fetch ? Cause.InstAccess : acc === Access.Load ? Cause.LoadAccess : Cause.StoreAccess,
      va,
      vh,
    );
  }

  /**
   * Put a translated RAM page into the TLB of `acc` (data TLB index uses the effective privilege),
   * when PMP gives every byte of the page the permission that TLB serves.
   */
  private fill(acc: number, va: number, vh: number, pa: number): void {
    const o = pa - (pa % 4096) - this.ramBase;
    if (o < 0 || o + 4096 > this.ramSize || o > 0x7fffe000) return;
    const perm = this.pmp.page(pa, this.accPriv);
    if (perm <= 0) return;
    const set = acc === Access.Fetch ? this.hart.priv : this.dataSet();
    const e = (set << TLB_BITS) + ((va >>> 12) & TLB_MASK);
    const tag = va & -4096;
    if (this.walkLevel > 0) {
      // a piece of a superpage: remember it for SFENCE.VMA by address
      if (this.walkGlobal) {
        if (this.nGFrags < MAX_FRAGS) this.gFrags[this.nGFrags++] = acc === Access.Fetch ? ~e : e;
      } else if (this.nFrags < MAX_FRAGS) this.frags[this.nFrags++] = acc === Access.Fetch ? ~e : e;
    }
    if (acc === Access.Fetch) {
      if ((perm & PMP_X) === 0) return;
      this.xTag[e] = tag;
      this.xHi[e] = vh;
      this.xOff[e] = o;
      return;
    }
    if ((perm & PMP_R) === 0) return;
    this.rTag[e] = tag;
    this.rHi[e] = vh;
    this.rOff[e] = o;
    if (acc === Access.Store && (perm & PMP_W) !== 0 && o !== this.watchOff && this.codePages?.[o >>> 12] !== 1) {
      this.wTag[e] = tag;
      this.wHi[e] = vh;
      this.wOff[e] = o;
    }
  }

  /**
   * Fetch-cache miss: find the page of pc in the execute TLB or walk the page table, refresh the
   * fetch cache, and return the instruction at pc (16 or 32 bits). Pages the TLB cannot hold
   * (RAM beyond 2 GiB) are fetched through this path every time. Sets the hart's pcHi (it carries
   * when sequential execution leaves the top page of a 4 GiB region).
   */
  fetchMiss(pc: number, pcHi: number, oldTag: number): number {
    if (oldTag === -4096 && pc >>> 0 < 4) {
      // sequential execution carried out of the top page of a 4 GiB region: propagate into the high word
      pcHi = (pcHi + 1) | 0;
    }
    this.hart.pcHi = pcHi;
    const e = (this.hart.priv << TLB_BITS) + ((pc >>> 12) & TLB_MASK);
    let o: number;
    if (this.xTag[e] === (pc & -4096) && this.xHi[e] === pcHi) {
      this.fetchTag = pc & -4096;
      this.fetchOff = this.xOff[e]!;
      o = this.fetchOff + (pc & 4095);
    } else {
      const pa = this.translate(pc, pcHi, Access.Fetch);
      o = this.ramOff(pa, 2);
      if (o < 0) this.hart.fault(Cause.InstAccess, pc, pcHi);
      this.pmpCheck(Access.Fetch, pa, 2, pc, pcHi);
      // the upper half of a 32-bit instruction on this page is checked too
      if ((pc & 4095) !== 4094 && (this.dv.getUint16(o, true) & 3) === 3)
        this.pmpCheck(Access.Fetch, pa + 2, 2, pc, pcHi);
      this.fill(Access.Fetch, pc, pcHi, pa);
      if (this.xTag[e] === (pc & -4096) && this.xHi[e] === pcHi) {
        this.fetchTag = pc & -4096;
        this.fetchOff = this.xOff[e]!;
      } else this.fetchTag = NO_TAG;
    }
    const lo = this.dv.getUint16(o, true);
    if ((lo & 3) !== 3) return lo;
    if ((pc & 4095) === 4094) return this.fetchCross(pc, pcHi, lo);
    return lo | (this.dv.getUint16(o + 2, true) << 16);
  }

  /** A 32-bit instruction whose upper half lies on the next page. */
  fetchCross(pc: number, pcHi: number, low: number): number {
    const t = (pc >>> 0) + 2;
    const va = t | 0;
    const vh = t >= TWO32 ? (pcHi + 1) | 0 : pcHi;
    const pa = this.translate(va, vh, Access.Fetch);
    const o = this.ramOff(pa, 2);
    if (o < 0) this.hart.fault(Cause.InstAccess, va, vh);
    this.pmpCheck(Access.Fetch, pa, 2, va, vh);
    return low | (this.dv.getUint16(o, true) << 16);
  }

  /** Physical read of 1, 2, 4 or 8 bytes (8: high word to tHi). Faults with `cause` outside RAM and MMIO. */
  private physRead(pa: number, size: number, cause: number, va: number, vh: number): number {
    const o = this.ramOff(pa, size);
    if (o >= 0) {
      const dv = this.dv;
      switch (size) {
        case 1:
          return this.u8[o]!;
        case 2:
          return dv.getUint16(o, true);
        case 4:
          return dv.getInt32(o, true);
        default:
          if (this.single64 && (o & 7) === 0) {
            this.copy64(this.wideOff, o);
            this.tHi = this.wide[1]!;
            return this.wide[0]!;
          }
          this.tHi = dv.getInt32(o + 4, true);
          return dv.getInt32(o, true);
      }
    }
    if (!this.bus.has(pa)) this.hart.fault(cause, va, vh);
    this.hart.attn = true;
    if ((pa & (size - 1)) !== 0 && size > 1) {
      // misaligned MMIO: byte by byte
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < size; i++) {
        const b = this.bus.read(pa + i, 1) & 255;
        if (i < 4) lo |= b << (8 * i);
        else hi |= b << (8 * (i - 4));
      }
      this.tHi = hi;
      return lo;
    }
    if (size === 8) {
      const lo = this.bus.read(pa, 4);
      this.tHi = this.bus.read(pa + 4, 4) | 0;
      return lo | 0;
    }
    return this.bus.read(pa, size as 1 | 2 | 4);
  }

  /** A store to non-RAM address `pa` reaches something (PhysBus.writable when the bus has it, else has). */
  private storable(pa: number): boolean {
    return this.bus.writable !== undefined ? this.bus.writable(pa) : this.bus.has(pa);
  }

  private physWrite(pa: number, size: number, lo: number, hi: number, va: number, vh: number): void {
    const o = this.ramOff(pa, size);
    if (o >= 0) {
      if (this.dirty.on) this.dirty.mark(o, size);
      if (o - (o % 4096) === this.watchOff) this.onWatchedStore?.(pa, size);
      if (this.codePages !== null && this.codePages[o >>> 12] === 1) this.onCodeWrite?.(o - (o % 4096));
      const dv = this.dv;
      switch (size) {
        case 1:
          this.u8[o] = lo;
          return;
        case 2:
          dv.setUint16(o, lo, true);
          return;
        case 4:
          dv.setInt32(o, lo, true);
          return;
        default:
          if (this.single64 && (o & 7) === 0) {
            this.wide[0] = lo;
            this.wide[1] = hi;
            this.copy64(o, this.wideOff);
            return;
          }
          dv.setInt32(o, lo, true);
          dv.setInt32(o + 4, hi, true);
          return;
      }
    }
    if (!this.storable(pa)) this.hart.fault(Cause.StoreAccess, va, vh);
    this.hart.attn = true;
    if ((pa & (size - 1)) !== 0 && size > 1) {
      for (let i = 0; i < size; i++) this.bus.write(pa + i, 1, (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 255);
      return;
    }
    if (size === 8) {
      this.bus.write(pa, 4, lo);
      this.bus.write(pa + 4, 4, hi);
      return;
    }
    this.bus.write(pa, size as 1 | 2 | 4, lo);
  }

  /**
   * Load of kind f3 (LB LH LW LD LBU LHU LWU) with any alignment: the low word, the high word in
   * tHi (sign- or zero-extended per f3). An MMIO access sets the hart's `attn`.
   */
  loadSlow(va: number, vh: number, f3: number): number {
    const size = 1 << (f3 & 3);
    let lo: number;
    let hi = 0;
    const pg = va & 4095;
    if (pg + size > 4096) {
      // crosses a page: translate both pages first, then read byte by byte
      const pa0 = this.translate(va, vh, Access.Load);
      const t = (va >>> 0) + size - 1;
      const pa1 = this.translate(t | 0, t >= TWO32 ? (vh + 1) | 0 : vh, Access.Load);
      const split = 4096 - pg;
      this.pmpCheck(Access.Load, pa0, split, va, vh);
      this.pmpCheck(Access.Load, pa1 - (size - 1 - split), size - split, va, vh);
      lo = 0;
      for (let i = 0; i < size; i++) {
        const pa = i < split ? pa0 + i : pa1 - (size - 1) + i;
        const b = this.physRead(pa, 1, Cause.LoadAccess, va, vh);
        if (i < 4) lo |= b << (8 * i);
        else hi |= b << (8 * (i - 4));
      }
    } else {
      const pa = this.translate(va, vh, Access.Load);
      this.pmpCheck(Access.Load, pa, size, va, vh);
      this.fill(Access.Load, va, vh, pa);
      lo = this.physRead(pa, size, Cause.LoadAccess, va, vh);
      if (size === 8) hi = this.tHi;
    }
    switch (f3) {
      case 0: // LB
        lo = (lo << 24) >> 24;
        hi = lo >> 31;
        break;
      case 1: // LH
        lo = (lo << 16) >> 16;
        hi = lo >> 31;
        break;
      case 2: // LW
        lo |= 0;
        hi = lo >> 31;
        break;
      case 4: // LBU
        lo &= 255;
        hi = 0;
        break;
      case 5: // LHU
        lo &= 0xffff;
        hi = 0;
        break;
      case 6: // LWU
        lo |= 0;
        hi = 0;
        break;
      // 3: LD, both words as read
    }
    this.tHi = hi;
    return lo;
  }

  /** Store of 1 << f3 bytes (SB SH SW SD) with any alignment. An MMIO access sets the hart's `attn`. */
  storeSlow(va: number, vh: number, f3: number, lo: number, hi: number): void {
    const size = 1 << f3;
    const pg = va & 4095;
    if (pg + size > 4096) {
      const pa0 = this.translate(va, vh, Access.Store);
      const t = (va >>> 0) + size - 1;
      const pa1 = this.translate(t | 0, t >= TWO32 ? (vh + 1) | 0 : vh, Access.Store);
      const split = 4096 - pg;
      this.pmpCheck(Access.Store, pa0, split, va, vh);
      this.pmpCheck(Access.Store, pa1 - (size - 1 - split), size - split, va, vh);
      // check both ends exist before writing anything
      if (this.ramOff(pa0, 1) < 0 && !this.storable(pa0)) this.hart.fault(Cause.StoreAccess, va, vh);
      if (this.ramOff(pa1, 1) < 0 && !this.storable(pa1)) this.hart.fault(Cause.StoreAccess, va, vh);
      for (let i = 0; i < size; i++) {
        const pa = i < split ? pa0 + i : pa1 - (size - 1) + i;
        const b = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 255;
        this.physWrite(pa, 1, b, 0, va, vh);
      }
      return;
    }
    const pa = this.translate(va, vh, Access.Store);
    this.pmpCheck(Access.Store, pa, size, va, vh);
    if (this.dirty.on) {
      const o = this.ramOff(pa, size);
      if (o >= 0) this.dirty.mark(o, size); // before fill, so the page enters the write TLB at once
    }
    this.fill(Access.Store, va, vh, pa);
    this.physWrite(pa, size, lo, hi, va, vh);
  }

  /** RAM offset for an atomic access (Load for LR, Store otherwise): the TLB first, then a walk; outside RAM, an access fault. */
  atomicOffset(va: number, vh: number, acc: number, size: number): number {
    const e = (this.dataSet() << TLB_BITS) + ((va >>> 12) & TLB_MASK);
    const tag = va & -4096;
    if (acc === Access.Load) {
      if (this.rTag[e] === tag && this.rHi[e] === vh) return this.rOff[e]! + (va & 4095);
    } else if (this.wTag[e] === tag && this.wHi[e] === vh) return this.wOff[e]! + (va & 4095);
    const pa = this.translate(va, vh, acc);
    const o = this.ramOff(pa, size);
    if (o < 0) this.hart.fault(acc === Access.Load ? Cause.LoadAccess : Cause.StoreAccess, va, vh);
    // an AMO or SC needs read and write permission (a store/AMO access fault otherwise), LR read
    this.pmpCheck(acc, pa, size, va, vh, true);
    if (acc !== Access.Load && this.dirty.on) this.dirty.mark(o, size);
    if (acc !== Access.Load && o - (o % 4096) === this.watchOff) this.onWatchedStore?.(pa, size);
    if (acc !== Access.Load && this.codePages !== null && this.codePages[o >>> 12] === 1)
      this.onCodeWrite?.(o - (o % 4096));
    this.fill(acc, va, vh, pa);
    return o;
  }
}

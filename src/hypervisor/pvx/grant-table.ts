import type { StateCodec } from '../../core/state.js';
import type { GuestRam } from '../../memory/ram.js';
import { SbiErr } from '../../sbi/consts.js';
import type { PvxGrantTableCalls } from '../../sbi/pvx/calls.js';
import {
  GNTCOPY_TO_GRANT,
  GNTMAP_READONLY,
  Gtf,
  NONE,
  PAGE_SIZE,
  PVX_DOMID_SELF,
  PVX_GNTTAB_ENTRIES_PER_FRAME,
  PVX_GNTTAB_MAX_FRAMES,
} from '../../sbi/pvx/consts.js';
import { asU16, asU32, below, ramOffset } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import type { PvxEnv } from './env.js';
import { GrantWindow } from './grant-window.js';
import type { PvxRemote } from './host.js';
import { foreignRam, foreignRamHeld, type PvxReply } from './remote.js';

/** One grant of ours mapped by peers: how many mappings, how many of them read-write. */
interface MapCount {
  n: number;
  rw: number;
}

/** Where the table is: RAM offset and entry count. */
interface GrantTableLocation {
  readonly off: number;
  readonly entries: number;
}

/** The grant table's saved state: where it is, or null. */
export type GrantTableState = GrantTableLocation | null;

export const grantTableStateCodec: StateCodec<GrantTableState, { ramSize: number }> = {
  write: (w, t) => void w.opt(t, (w, t) => w.u8(t.entries / PVX_GNTTAB_ENTRIES_PER_FRAME).uint(t.off)),
  read: (r, { ramSize }) =>
    r.opt('grant table', (r) => {
      const frames = r.u8('grant table frames', PVX_GNTTAB_MAX_FRAMES);
      if (frames === 0) r.fail('grant table of 0 frames');
      const off = r.uint('grant table offset', ramSize - frames * PAGE_SIZE);
      if (off % PAGE_SIZE !== 0) r.fail(`grant table offset ${off} is not page-aligned`);
      return { off, entries: frames * PVX_GNTTAB_ENTRIES_PER_FRAME };
    }),
};

/**
 * The grant table of one domain (docs/para-api-pvx.md §6): where the guest
 * keeps its table, the counts of peers' mappings of its grants, and its
 * side of GNTTAB_MAP/UNMAP/COPY into its own grant window.
 *
 * A granter is reached through `peer` and touched only by the methods marked
 * "peer": a grant is used only when the granter's entry names the caller. A
 * granter on another thread of the daemon is reached through `elsewhere`,
 * whose other side calls the same peer methods (remote.ts); its pages are
 * mapped from its shared RAM, posted to this thread with the first map.
 */
export class GrantTable implements PvxGrantTableCalls {
  private table: GrantTableState = null;
  /** Our grants mapped by peers: ref -> counts; our pages mapped by peers: page index -> count. */
  private readonly refMaps = new Map<number, MapCount>();
  private readonly pageMaps = new Map<number, number>();
  private destroyed = false;
  /** Names this domain's RAM to other threads (remote.ts); drawn at the first map from another thread. */
  private inc = 0;

  constructor(
    /** This domain's id. */
    private readonly id: number,
    private readonly env: PvxEnv,
    /** This domain's grant window (GNTTAB_MAP puts granters' pages there). */
    private readonly window: GrantWindow,
    /** The grant table of domain `domid` when it exists. */
    private readonly peer: (domid: number) => GrantTable | undefined,
    /** The daemon's domains on other threads (null: none). */
    private readonly elsewhere: PvxRemote | null = null,
  ) {}

  // ------------------------------------------------------------------ guest calls

  setup(gpa: bigint, frames: bigint): SbiRet {
    if (gpa === NONE) {
      if (frames !== 0n) return err(SbiErr.INVALID_PARAM);
      if (this.table === null) return err(SbiErr.INVALID_STATE);
      if (this.refMaps.size > 0) return err(SbiErr.INVALID_STATE);
      this.table = null;
      return ok(0);
    }
    const n = frames === 0n ? -1 : below(frames, PVX_GNTTAB_MAX_FRAMES + 1);
    if (n < 1) return err(SbiErr.INVALID_PARAM);
    const off = ramOffset(this.env.ram, gpa, n * PAGE_SIZE, PAGE_SIZE);
    if (off < 0) return err(SbiErr.INVALID_ADDRESS);
    if (this.table !== null) return err(SbiErr.ALREADY_AVAILABLE);
    this.table = { off, entries: n * PVX_GNTTAB_ENTRIES_PER_FRAME };
    return ok(this.table.entries);
  }

  map(dom: bigint, ref: bigint, gpa: bigint, flags: bigint): SbiRet {
    const d = this.granterArg(dom);
    if (d < 0) return err(SbiErr.INVALID_PARAM);
    const r = asU32(ref);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    // Our checks, which the granter places between its own (peerLend): §1.2's order.
    let before: number = SbiErr.SUCCESS;
    if (flags > BigInt(GNTMAP_READONLY)) before = SbiErr.INVALID_PARAM;
    else if (!GrantWindow.isSlot(gpa)) before = SbiErr.INVALID_ADDRESS;
    const slot = before === SbiErr.SUCCESS ? GrantWindow.slotIndex(gpa) : -1;
    const after = slot >= 0 && this.window.slots.has(slot) ? SbiErr.ALREADY_AVAILABLE : SbiErr.SUCCESS;
    const ro = flags === BigInt(GNTMAP_READONLY);
    const g = this.peer(d);
    const lent =
      g !== undefined
        ? { page: g.peerLend(r, this.id, ro, before, after), ram: g.env.ram }
        : this.lendElsewhere(d, r, ro, before, after);
    const { page, ram } = lent;
    if (page < 0 || ram === undefined) return err(page);
    const elsewhere = this.elsewhere;
    const id = this.id;
    this.window.slots.set(slot, {
      ram,
      off: page * PAGE_SIZE,
      readonly: ro,
      granter: d,
      ref: r,
      release:
        g !== undefined
          ? () => g.peerUnmapped(r, page, ro)
          : (answered) => {
              // A guest's unmap waits for the granter, so that the granter's END_ACCESS after it
              // succeeds whatever way the grantee told it (docs/pvx-implementation.md).
              if (answered) elsewhere?.call({ k: 'unmap', to: d, from: id, ref: r, page, ro });
              else elsewhere?.post({ k: 'unmapped', to: d, from: id, ref: r, page, ro });
            },
    });
    return ok(0);
  }

  unmap(gpa: bigint): SbiRet {
    if (!GrantWindow.isSlot(gpa)) return err(SbiErr.INVALID_ADDRESS);
    const slot = GrantWindow.slotIndex(gpa);
    const s = this.window.slots.get(slot);
    if (s === undefined) return err(SbiErr.INVALID_STATE);
    this.window.slots.delete(slot);
    s.release(true);
    for (let v = 0; v < this.env.vcpuCount; v++) this.env.flushTlb(v);
    return ok(0);
  }

  copy(dom: bigint, ref: bigint, offset: bigint, gpa: bigint, len: bigint, flags: bigint): SbiRet {
    const d = this.granterArg(dom);
    if (d < 0) return err(SbiErr.INVALID_PARAM);
    const r = asU32(ref);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    // Our checks, which the granter places between its own (peerLendCopy): §1.2's order.
    let before: number = SbiErr.SUCCESS;
    let local = -1;
    const n = Number(len);
    if (flags > BigInt(GNTCOPY_TO_GRANT)) before = SbiErr.INVALID_PARAM;
    else if (offset >= BigInt(PAGE_SIZE) || len === 0n || offset + len > BigInt(PAGE_SIZE)) before = SbiErr.BAD_RANGE;
    else {
      local = ramOffset(this.env.ram, gpa, n, 1);
      if (local < 0) before = SbiErr.INVALID_ADDRESS;
    }
    const toGrant = flags === BigInt(GNTCOPY_TO_GRANT);
    const mine = this.env.ram.u8;
    const g = this.peer(d);
    if (g !== undefined) {
      const page = g.peerLendCopy(r, this.id, toGrant, before);
      if (page < 0) return err(page);
      const remote = page * PAGE_SIZE + Number(offset);
      const theirs = g.env.ram.u8;
      if (toGrant) {
        theirs.set(mine.subarray(local, local + n), remote);
        g.env.ram.dirty.mark(remote, n);
      } else {
        mine.set(theirs.subarray(remote, remote + n), local);
        this.env.ram.dirty.mark(local, n);
      }
      return ok(n);
    }
    const checked = before === SbiErr.SUCCESS;
    const reply = this.elsewhere?.call({
      k: 'copy',
      to: d,
      from: this.id,
      ref: r,
      offset: checked ? Number(offset) : 0,
      len: checked ? n : 0,
      toGrant,
      before,
      // a copy: a view of shared RAM would cross as the RAM itself
      ...(checked && toGrant ? { data: mine.slice(local, local + n) } : {}),
    }) ?? { err: SbiErr.INVALID_PARAM };
    if (reply.err !== SbiErr.SUCCESS) return err(reply.err);
    if (!toGrant) {
      if (reply.data?.length !== n) return err(SbiErr.FAILED);
      mine.set(reply.data, local);
      this.env.ram.dirty.mark(local, n);
    }
    return ok(n);
  }

  endAccess(ref: bigint): SbiRet {
    const r = GrantTable.refArg(this, ref);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    if (this.table === null) return err(SbiErr.NO_SHMEM);
    if (this.refMaps.has(r)) return err(SbiErr.INVALID_STATE);
    this.env.ram.view.setUint16(this.table.off + 8 * r, 0, true);
    this.env.ram.dirty.mark(this.table.off + 8 * r, 2);
    return ok(0);
  }

  // ------------------------------------------------------------------ for the rest of PVX

  /** The table's place; mappings are not saved (see PvxDomain.loadState). */
  saveState(): GrantTableState {
    return this.table;
  }

  loadState(s: GrantTableState): void {
    this.table = s === null ? null : { off: s.off, entries: s.entries };
  }

  /** The page at RAM offset `off` holds part of the table. */
  holds(off: number): boolean {
    const t = this.table;
    return t !== null && off >= t.off && off < t.off + (t.entries / PVX_GNTTAB_ENTRIES_PER_FRAME) * PAGE_SIZE;
  }

  /** Grant mappings that tie this domain to others: foreign frames we map, our grants peers map. */
  foreignMappings(): { mine: number; peers: number } {
    let peers = 0;
    for (const c of this.refMaps.values()) peers += c.n;
    return { mine: this.window.slots.size, peers };
  }

  /** Our RAM page `page` is mapped by some peer. */
  mappedByPeers(page: number): boolean {
    return this.pageMaps.has(page);
  }

  /**
   * Remove our window mappings and forget the table. Peers' mappings of our
   * pages stay until they unmap (§6.4): refMaps/pageMaps keep counting them.
   */
  drop(): void {
    for (const s of this.window.slots.values()) s.release(false);
    this.window.slots.clear();
    for (let v = 0; v < this.env.vcpuCount; v++) this.env.flushTlb(v);
    this.table = null;
  }

  /** The domain is gone (after `drop`): never write grant flags into its RAM again. */
  destroy(): void {
    this.destroyed = true;
  }

  /**
   * GNTTAB_MAP's granter side for a granter `d` on another thread: the granted page (or the
   * error, < 0), and the granter's RAM as this thread sees it (posted with the first map).
   */
  private lendElsewhere(
    d: number,
    r: number,
    ro: boolean,
    before: number,
    after: number,
  ): { page: number; ram: GuestRam | undefined } {
    const have = foreignRamHeld(d);
    const reply: PvxReply = this.elsewhere?.call({
      k: 'map',
      to: d,
      from: this.id,
      ref: r,
      ro,
      before,
      after,
      have,
    }) ?? {
      err: SbiErr.INVALID_PARAM,
    };
    if (reply.err !== SbiErr.SUCCESS || reply.page === undefined) return { page: reply.err, ram: undefined };
    const ram = foreignRam(d, reply);
    if (ram === undefined) {
      // not expected: the memory did not come or could not be viewed; the count is given back
      this.elsewhere?.post({ k: 'unmapped', to: d, from: this.id, ref: r, page: reply.page, ro });
      return { page: SbiErr.FAILED, ram: undefined };
    }
    return { page: reply.page, ram };
  }

  // ------------------------------------------------------------------ peers and internals

  /** A domid argument naming another existing domain, here or on another thread (grants: never the caller, §6.4), or -1. */
  private granterArg(v: bigint): number {
    const d = asU16(v);
    if (d < 0 || d === PVX_DOMID_SELF || d === this.id) return -1;
    return this.peer(d) !== undefined || this.elsewhere?.has(d) === true ? d : -1;
  }

  /** This domain's RAM (a peer on another thread copies through it, remote.ts). */
  get ram(): GuestRam {
    return this.env.ram;
  }

  /** Pages of RAM. */
  get pages(): number {
    return this.env.ram.size / PAGE_SIZE;
  }

  /** A number naming this domain's RAM to other threads, drawn once (they keep the RAM posted with it). */
  get incarnation(): number {
    if (this.inc === 0) this.inc = 1 + Math.floor(Math.random() * 2 ** 52);
    return this.inc;
  }

  /**
   * Peer: GNTTAB_MAP of our grant `ref` by `grantee`, with the grantee's own checks `before`
   * (flags, slot address) and `after` (slot in use) in their place. Counts the mapping and
   * returns the granted page, or the error (< 0).
   */
  peerLend(ref: number, grantee: number, ro: boolean, before: number, after: number): number {
    if (this.table !== null && ref >= this.table.entries) return SbiErr.INVALID_PARAM;
    if (before !== SbiErr.SUCCESS) return before;
    if (this.table === null) return SbiErr.NO_SHMEM;
    if (after !== SbiErr.SUCCESS) return after;
    const entry = this.grantFor(ref, grantee);
    if (entry === null || (entry.readonly && !ro)) return SbiErr.DENIED;
    const c = this.refMaps.get(ref) ?? { n: 0, rw: 0 };
    c.n++;
    if (!ro) c.rw++;
    this.refMaps.set(ref, c);
    this.pageMaps.set(entry.page, (this.pageMaps.get(entry.page) ?? 0) + 1);
    this.syncGrantFlags(ref);
    return entry.page;
  }

  /** Peer: GNTTAB_COPY with our grant `ref` by `grantee` (its own checks `before`): the granted page, or the error (< 0). */
  peerLendCopy(ref: number, grantee: number, toGrant: boolean, before: number): number {
    if (this.table !== null && ref >= this.table.entries) return SbiErr.INVALID_PARAM;
    if (before !== SbiErr.SUCCESS) return before;
    if (this.table === null) return SbiErr.NO_SHMEM;
    const entry = this.grantFor(ref, grantee);
    if (entry === null || (toGrant && entry.readonly)) return SbiErr.DENIED;
    return entry.page;
  }

  /** A ref argument: u32 and below the granter's entry count when it has a table; else -1. */
  private static refArg(g: GrantTable, v: bigint): number {
    const r = asU32(v);
    if (r < 0 || (g.table !== null && r >= g.table.entries)) return -1;
    return r;
  }

  /**
   * Peer: the grant entry `ref` of this (granter's) table as seen by
   * `grantee`, or null when it does not grant access to `grantee` (§6.2:
   * invalid type, unknown bits or a frame outside our RAM count as not granted).
   */
  private grantFor(ref: number, grantee: number): { page: number; readonly: boolean } | null {
    if (this.table === null) return null;
    const dv = this.env.ram.view;
    const e = this.table.off + 8 * ref;
    const flags = dv.getUint16(e, true);
    if ((flags & ~0x1f) !== 0 || (flags & Gtf.TYPE_MASK) !== Gtf.PERMIT_ACCESS) return null;
    if (dv.getUint16(e + 2, true) !== grantee) return null;
    const pa = dv.getUint32(e + 4, true) * PAGE_SIZE;
    const off = this.env.ram.offsetOf(pa, PAGE_SIZE);
    if (off < 0) return null;
    return { page: off / PAGE_SIZE, readonly: (flags & Gtf.READONLY) !== 0 };
  }

  /** Write GTF_reading / GTF_writing of entry `ref` from the mapping counts (§6.2). */
  private syncGrantFlags(ref: number): void {
    if (this.table === null || this.destroyed) return;
    const e = this.table.off + 8 * ref;
    const dv = this.env.ram.view;
    const c = this.refMaps.get(ref);
    let f = dv.getUint16(e, true) & ~(Gtf.READING | Gtf.WRITING);
    if (c !== undefined && c.n > 0) f |= Gtf.READING;
    if (c !== undefined && c.rw > 0) f |= Gtf.WRITING;
    dv.setUint16(e, f, true);
    this.env.ram.dirty.mark(e, 2);
  }

  /** Peer: one mapping of our grant `ref` (page `page`) went away. */
  peerUnmapped(ref: number, page: number, ro: boolean): void {
    const c = this.refMaps.get(ref);
    if (c !== undefined) {
      c.n--;
      if (!ro) c.rw--;
      if (c.n <= 0) this.refMaps.delete(ref);
    }
    const n = (this.pageMaps.get(page) ?? 1) - 1;
    if (n <= 0) this.pageMaps.delete(page);
    else this.pageMaps.set(page, n);
    this.syncGrantFlags(ref);
  }
}

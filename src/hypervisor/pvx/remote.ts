import { GuestRam } from '../../memory/ram.js';
import { SbiErr } from '../../sbi/consts.js';
import { PAGE_SIZE, PVX_DOMID_MAX, PVX_EVTCHN_NR_PORTS } from '../../sbi/pvx/consts.js';
import type { PvxHost } from './host.js';
import type { PvxDomain } from './pvx-domain.js';

/**
 * What one thread's PVX registry asks of, or tells, the registry of the thread where another
 * domain of the daemon runs (docs/pvx-implementation.md, "Across threads"). Each message is
 * one of the peer methods of event-channels.ts and grant-table.ts, carried as plain data; the
 * transport (src/server/pvx-links.ts) moves it, `servePvx` runs it on the other side.
 *
 * Requests are answered while the asking vCPU waits in its hypercall, so a call keeps the
 * guest-visible result and error order of one thread: `before`/`after` carry the caller's own
 * checks, which the granter places between its own as §1.2 orders them.
 */
export type PvxRequest =
  /** EVTCHN_BIND_INTERDOMAIN: connect our `port` to `from`'s `fromPort` (0: only check). */
  | { readonly k: 'bind'; readonly to: number; readonly port: number; readonly from: number; readonly fromPort: number }
  /** A restored domain's port: is our `port` still connected back to `from`'s `fromPort`? */
  | {
      readonly k: 'linked';
      readonly to: number;
      readonly port: number;
      readonly from: number;
      readonly fromPort: number;
    }
  /** GNTTAB_MAP of our grant `ref` by `from`; `have`: the RAM incarnation `from`'s thread holds of ours (0: none). */
  | {
      readonly k: 'map';
      readonly to: number;
      readonly from: number;
      readonly ref: number;
      readonly ro: boolean;
      readonly before: number;
      readonly after: number;
      readonly have: number;
    }
  /** GNTTAB_COPY with our grant `ref`: `data` (len bytes) into it, or len bytes out of it. */
  | {
      readonly k: 'copy';
      readonly to: number;
      readonly from: number;
      readonly ref: number;
      readonly offset: number;
      readonly len: number;
      readonly toGrant: boolean;
      readonly before: number;
      readonly data?: Uint8Array;
    }
  /**
   * GNTTAB_UNMAP by `from` of our grant `ref` (page `page`): answered before `from`'s call
   * returns, so our counts and GTF flags change then, as on one thread (a note could reach us
   * after the guest told us by another way, e.g. its console, that it had unmapped).
   */
  | {
      readonly k: 'unmap';
      readonly to: number;
      readonly from: number;
      readonly ref: number;
      readonly page: number;
      readonly ro: boolean;
    };

export interface PvxReply {
  /** SbiErr: SUCCESS, or the call's error. */
  readonly err: number;
  /** map: the granted page (index in the granter's RAM), its RAM incarnation, and the RAM when the asker lacks it. */
  readonly page?: number;
  readonly inc?: number;
  readonly memory?: object;
  readonly size?: number;
  /** copy out of a grant: the bytes. */
  readonly data?: Uint8Array;
}

export type PvxNote =
  /** EVTCHN_SEND on `from`'s `fromPort`, connected to our `port`. */
  | {
      readonly k: 'signal';
      readonly to: number;
      readonly port: number;
      readonly from: number;
      readonly fromPort: number;
    }
  /** `from` closed (or lost) `fromPort`, the other end of our `port`. */
  | {
      readonly k: 'closed';
      readonly to: number;
      readonly port: number;
      readonly from: number;
      readonly fromPort: number;
    }
  /** `from` let go of our grant `ref` (page `page`, read-only or not) without a call: it ended, or gave up a map. */
  | {
      readonly k: 'unmapped';
      readonly to: number;
      readonly from: number;
      readonly ref: number;
      readonly page: number;
      readonly ro: boolean;
    }
  /** Domain `id` is gone without closing (its thread ended): every port connected to it goes UNBOUND. */
  | { readonly k: 'gone'; readonly id: number };

/** The errors a caller's own checks may pass on (`before`, `after`). */
const PASSED_ERRORS: readonly number[] = [
  SbiErr.SUCCESS,
  SbiErr.INVALID_PARAM,
  SbiErr.INVALID_ADDRESS,
  SbiErr.ALREADY_AVAILABLE,
  SbiErr.BAD_RANGE,
];

const REFUSED: PvxReply = { err: SbiErr.INVALID_PARAM };

function int(v: unknown, lo: number, hi: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

const isDomid = (v: unknown): boolean => int(v, 1, PVX_DOMID_MAX);
const isPort = (v: unknown): boolean => int(v, 1, PVX_EVTCHN_NR_PORTS - 1);

/** Whether `m` is a request (it needs a reply) rather than a note. */
export function isPvxRequest(m: unknown): boolean {
  const k = (m as { k?: unknown } | null)?.k;
  return k === 'bind' || k === 'linked' || k === 'map' || k === 'copy' || k === 'unmap';
}

/**
 * Runs a request or note from another thread on this thread's registry: the reply of a request
 * (a malformed one, or one naming a domain not here, answers INVALID_PARAM as a call naming no
 * domain does), undefined for a note. Never throws: the other thread is trusted code, but
 * every field a guest chose is checked again here.
 */
export function servePvx(host: PvxHost<PvxDomain>, m: unknown): PvxReply | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as Record<string, unknown>;
  if (r.k === 'gone') {
    if (isDomid(r.id)) for (const id of host.ids()) host.get(id)?.events.peerGone(r.id as number);
    return undefined;
  }
  const request = isPvxRequest(m);
  const d = isDomid(r.to) && isDomid(r.from) && r.to !== r.from ? host.get(r.to as number) : undefined;
  if (d === undefined) return request ? REFUSED : undefined;
  const from = r.from as number;
  switch (r.k) {
    case 'signal':
      if (isPort(r.port) && isPort(r.fromPort)) d.events.peerSignal(r.port as number, from, r.fromPort as number);
      return undefined;
    case 'closed':
      if (isPort(r.port) && isPort(r.fromPort)) d.events.peerClosed(r.port as number, from, r.fromPort as number);
      return undefined;
    case 'unmapped':
    case 'unmap': {
      const ok = int(r.ref, 0, 0xffff_ffff) && int(r.page, 0, d.grants.pages - 1) && typeof r.ro === 'boolean';
      if (ok) d.grants.peerUnmapped(r.ref as number, r.page as number, r.ro as boolean);
      return request ? (ok ? { err: SbiErr.SUCCESS } : REFUSED) : undefined;
    }
    case 'bind':
      if (!isPort(r.port) || !int(r.fromPort, 0, PVX_EVTCHN_NR_PORTS - 1)) return REFUSED;
      return { err: d.events.peerBind(r.port as number, from, r.fromPort as number) };
    case 'linked':
      if (!isPort(r.port) || !isPort(r.fromPort)) return REFUSED;
      return { err: d.events.peerLinked(r.port as number, from, r.fromPort as number) ? 0 : SbiErr.INVALID_STATE };
    case 'map': {
      if (!int(r.ref, 0, 0xffff_ffff) || typeof r.ro !== 'boolean' || typeof r.have !== 'number') return REFUSED;
      if (!PASSED_ERRORS.includes(r.before as number) || !PASSED_ERRORS.includes(r.after as number)) return REFUSED;
      const ram = d.grants.ram;
      const page = d.grants.peerLend(r.ref as number, from, r.ro, r.before as number, r.after as number);
      if (page < 0) return { err: page };
      if (!ram.shared || ram.wasmMemory === undefined) {
        // RAM another thread cannot see: refused as a grant not given (the pool makes every RAM shared)
        d.grants.peerUnmapped(r.ref as number, page, r.ro);
        return { err: SbiErr.DENIED };
      }
      const inc = d.grants.incarnation;
      return r.have === inc ? { err: 0, page, inc } : { err: 0, page, inc, memory: ram.wasmMemory, size: ram.size };
    }
    case 'copy': {
      if (!int(r.ref, 0, 0xffff_ffff) || typeof r.toGrant !== 'boolean') return REFUSED;
      if (!PASSED_ERRORS.includes(r.before as number)) return REFUSED;
      const ok = r.before !== SbiErr.SUCCESS || (int(r.offset, 0, PAGE_SIZE - 1) && int(r.len, 1, PAGE_SIZE));
      const off = r.offset as number;
      const len = r.len as number;
      if (!ok || off + len > PAGE_SIZE) return REFUSED;
      const data = r.data;
      if (r.toGrant && r.before === SbiErr.SUCCESS && !(data instanceof Uint8Array && data.length === len)) {
        return REFUSED;
      }
      const page = d.grants.peerLendCopy(r.ref as number, from, r.toGrant, r.before as number);
      if (page < 0) return { err: page };
      const at = page * PAGE_SIZE + off;
      const ram = d.grants.ram;
      if (r.toGrant) {
        ram.u8.set(data as Uint8Array, at);
        ram.dirty.mark(at, len);
        return { err: 0 };
      }
      return { err: 0, data: ram.u8.slice(at, at + len) };
    }
  }
  return request ? REFUSED : undefined;
}

/**
 * The RAM of granters on other threads, as this thread sees it: one GuestRam over each posted
 * memory, kept while a window slot maps it (a weak reference), so the memory is posted once
 * per granter incarnation and a destroyed granter's RAM is not held by this cache.
 */
const foreign = new Map<number, { readonly inc: number; readonly ram: WeakRef<GuestRam> }>();

/** The incarnation of domain `domid`'s RAM this thread holds, 0 when none. */
export function foreignRamHeld(domid: number): number {
  const f = foreign.get(domid);
  if (f === undefined) return 0;
  if (f.ram.deref() === undefined) {
    foreign.delete(domid);
    return 0;
  }
  return f.inc;
}

/** The GuestRam of a map reply's granter: the posted memory, or the one held (foreignRamHeld). */
export function foreignRam(domid: number, reply: PvxReply): GuestRam | undefined {
  if (reply.memory !== undefined && reply.size !== undefined && reply.inc !== undefined) {
    try {
      const ram = new GuestRam(0, reply.size, 0, { memory: reply.memory });
      foreign.set(domid, { inc: reply.inc, ram: new WeakRef(ram) });
      return ram;
    } catch {
      return undefined;
    }
  }
  const f = foreign.get(domid);
  return f !== undefined && f.inc === reply.inc ? f.ram.deref() : undefined;
}

import { SbiErr } from '../consts.js';
import type { SbiArgs, SbiRet } from '../types.js';
import { err, ok } from '../types.js';
import { PVX_VERSION, PvxFeature, PvxFid } from './consts.js';

/**
 * The hypervisor side of PVX, grouped as the specification groups the
 * calls (docs/para-api-pvx.md §3-§9) and as the hypervisor keeps their
 * state. Each method validates its own arguments in the order of §1.2,
 * since several checks need the domain's state (ports, grant tables, other
 * domains); `vcpu` is the calling hart. Nothing a guest passes may make a
 * method throw.
 */
export interface PvxBackend {
  domid(): number;
  limit(id: bigint): SbiRet;
  shinfoSet(vcpu: number, gpa: bigint): SbiRet;
  readonly events: PvxEventChannelCalls;
  readonly grants: PvxGrantTableCalls;
  readonly sched: PvxSchedCalls;
  readonly memory: PvxMemoryCalls;
}

/** §5: event channels. */
export interface PvxEventChannelCalls {
  allocUnbound(remoteDom: bigint): SbiRet;
  bindInterdomain(remoteDom: bigint, remotePort: bigint): SbiRet;
  bindVirq(virq: bigint, vcpu: bigint): SbiRet;
  bindIpi(vcpu: bigint): SbiRet;
  send(port: bigint): SbiRet;
  /** `send` for a port below 2^53: the error (the value is always 0). */
  sendNum(port: number): number;
  close(port: bigint): SbiRet;
  unmask(port: bigint): SbiRet;
  status(port: bigint): SbiRet;
}

/** §6: grant tables. */
export interface PvxGrantTableCalls {
  setup(gpa: bigint, frames: bigint): SbiRet;
  map(dom: bigint, ref: bigint, gpa: bigint, flags: bigint): SbiRet;
  unmap(gpa: bigint): SbiRet;
  copy(dom: bigint, ref: bigint, offset: bigint, gpa: bigint, len: bigint, flags: bigint): SbiRet;
  endAccess(ref: bigint): SbiRet;
}

/** §4.5 and §8: the PVX timer and scheduling. */
export interface PvxSchedCalls {
  timerSet(vcpu: number, deadline: bigint): SbiRet;
  /** `timerSet` for a deadline below 2^53 (never NONE): the error (the value is always 0). */
  timerSetNum(vcpu: number, deadline: number): number;
  yield(vcpu: number): SbiRet;
  block(vcpu: number): SbiRet;
  poll(vcpu: number, gpa: bigint, n: bigint, deadline: bigint): SbiRet;
  shutdown(reason: bigint): SbiRet;
}

/** §9: memory reservation (balloon). */
export interface PvxMemoryCalls {
  decrease(gpa: bigint, n: bigint): SbiRet;
  increase(gpa: bigint, n: bigint): SbiRet;
  reservation(which: bigint): SbiRet;
}

/** What a call's handler may ask of the extension that runs it, besides the domain's backend. */
export interface PvxCaller {
  /** The feature word this domain is offered (§3). */
  readonly features: number;
  /** Run a batch (§7) for `hart`. */
  multicall(hart: number, gpa: bigint, count: bigint): SbiRet;
}

/** One PVX call: the whole of what the dispatcher knows about it. */
export interface PvxCall extends PvxCallRow {
  /** Function id (a6, §2). */
  readonly fid: number;
  /** Its name: the FID's name in lower case (`evtchn_send`), as the hypercall statistics count it. */
  readonly name: string;
}

/** A row of the table below: what a call needs besides its number and name. */
interface PvxCallRow {
  /** Feature bit that must be offered (§3); 0 for the calls every domain has. */
  readonly feature: number;
  /** Refused inside a multicall (§7): the call blocks, yields or nests. */
  readonly notInBatch?: true;
  /** A success ends the multicall it runs in (§7). */
  readonly endsBatch?: true;
  /** Decode a0..a5 and call the domain; every further check is the backend's. */
  readonly run: (b: PvxBackend, a: SbiArgs, hart: number, caller: PvxCaller) => SbiRet;
  /** The same for a0 below 2^53, without BigInts: the error (the value is always 0). The frequent calls have it. */
  readonly runNum?: (b: PvxBackend, a0: number, hart: number) => number;
}

const F = PvxFeature;

/**
 * Every PVX 1.0 call by its FID's name (§2); the compiler holds it to one
 * row per FID. Adding a call is adding a FID, a row here and its method in
 * the backend.
 */
const ROWS = {
  // §3 information
  GET_VERSION: { feature: 0, run: () => ok(PVX_VERSION) },
  GET_FEATURES: { feature: 0, run: (_b, a, _h, c) => (a[0] === 0n ? ok(c.features) : err(SbiErr.INVALID_PARAM)) },
  GET_DOMID: { feature: 0, run: (b) => ok(b.domid()) },
  GET_LIMIT: { feature: 0, run: (b, a) => b.limit(a[0]) },
  // §4 shared info and the PVX timer
  SHINFO_SET: { feature: F.SHINFO, run: (b, a, h) => b.shinfoSet(h, a[0]) },
  TIMER_SET: {
    feature: F.TIMER,
    run: (b, a, h) => b.sched.timerSet(h, a[0]),
    runNum: (b, a0, h) => b.sched.timerSetNum(h, a0),
  },
  // §5 event channels
  EVTCHN_ALLOC_UNBOUND: { feature: F.EVTCHN, run: (b, a) => b.events.allocUnbound(a[0]) },
  EVTCHN_BIND_INTERDOMAIN: { feature: F.EVTCHN, run: (b, a) => b.events.bindInterdomain(a[0], a[1]) },
  EVTCHN_BIND_VIRQ: { feature: F.EVTCHN, run: (b, a) => b.events.bindVirq(a[0], a[1]) },
  EVTCHN_BIND_IPI: { feature: F.EVTCHN_IPI, run: (b, a) => b.events.bindIpi(a[0]) },
  EVTCHN_SEND: { feature: F.EVTCHN, run: (b, a) => b.events.send(a[0]), runNum: (b, a0) => b.events.sendNum(a0) },
  EVTCHN_CLOSE: { feature: F.EVTCHN, run: (b, a) => b.events.close(a[0]) },
  EVTCHN_UNMASK: { feature: F.EVTCHN, run: (b, a) => b.events.unmask(a[0]) },
  EVTCHN_STATUS: { feature: F.EVTCHN, run: (b, a) => b.events.status(a[0]) },
  // §6 grant tables
  GNTTAB_SETUP: { feature: F.GNTTAB, run: (b, a) => b.grants.setup(a[0], a[1]) },
  GNTTAB_MAP: { feature: F.GNTTAB_MAP, run: (b, a) => b.grants.map(a[0], a[1], a[2], a[3]) },
  GNTTAB_UNMAP: { feature: F.GNTTAB_MAP, run: (b, a) => b.grants.unmap(a[0]) },
  GNTTAB_COPY: { feature: F.GNTTAB, run: (b, a) => b.grants.copy(a[0], a[1], a[2], a[3], a[4], a[5]) },
  GNTTAB_END_ACCESS: { feature: F.GNTTAB, run: (b, a) => b.grants.endAccess(a[0]) },
  // §7 multicall
  MULTICALL: { feature: F.MULTICALL, notInBatch: true, run: (_b, a, h, c) => c.multicall(h, a[0], a[1]) },
  // §8 scheduling
  SCHED_YIELD: { feature: F.SCHED, notInBatch: true, run: (b, _a, h) => b.sched.yield(h) },
  SCHED_BLOCK: { feature: F.SCHED, notInBatch: true, run: (b, _a, h) => b.sched.block(h) },
  SCHED_POLL: { feature: F.SCHED, notInBatch: true, run: (b, a, h) => b.sched.poll(h, a[0], a[1], a[2]) },
  SCHED_SHUTDOWN: { feature: F.SCHED, endsBatch: true, run: (b, a) => b.sched.shutdown(a[0]) },
  // §9 memory
  MEMORY_DECREASE: { feature: F.MEMORY, run: (b, a) => b.memory.decrease(a[0], a[1]) },
  MEMORY_INCREASE: { feature: F.MEMORY, run: (b, a) => b.memory.increase(a[0], a[1]) },
  MEMORY_RESERVATION: { feature: F.MEMORY, run: (b, a) => b.memory.reservation(a[0]) },
} satisfies Record<keyof typeof PvxFid, PvxCallRow>;

/** Every PVX call, in FID order. */
export const PVX_CALLS: readonly PvxCall[] = (Object.keys(ROWS) as (keyof typeof PvxFid)[])
  .map((k): PvxCall => ({ fid: PvxFid[k], name: k.toLowerCase(), ...ROWS[k] }))
  .sort((x, y) => x.fid - y.fid);

/** PVX_CALLS by FID. */
export const PVX_CALL_BY_FID: ReadonlyMap<number, PvxCall> = new Map(PVX_CALLS.map((c) => [c.fid, c]));

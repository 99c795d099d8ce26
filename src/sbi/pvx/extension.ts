import { Eid, SbiErr } from '../consts.js';
import type { SbiDispatcher } from '../dispatcher.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from '../types.js';
import { err, ok } from '../types.js';
import { Mc, PVX_FEATURES_ALL, PVX_MULTICALL_MAX, PvxFeature, PvxFid } from './consts.js';
import { ramOffset } from './validate.js';

/**
 * The hypervisor side of every PVX call but MULTICALL (which the extension
 * runs itself, through the dispatcher). Each method validates its own
 * arguments in the order of docs/para-api-pvx.md §1.2, since several checks
 * need the domain's state (ports, grant tables, other domains); `vcpu` is
 * the calling hart. Nothing a guest passes may make a method throw.
 */
export interface PvxBackend {
  domid(): number;
  limit(id: bigint): SbiRet;
  shinfoSet(vcpu: number, gpa: bigint): SbiRet;
  timerSet(vcpu: number, deadline: bigint): SbiRet;
  evtchnAllocUnbound(remoteDom: bigint): SbiRet;
  evtchnBindInterdomain(remoteDom: bigint, remotePort: bigint): SbiRet;
  evtchnBindVirq(virq: bigint, vcpu: bigint): SbiRet;
  evtchnBindIpi(vcpu: bigint): SbiRet;
  evtchnSend(port: bigint): SbiRet;
  evtchnClose(port: bigint): SbiRet;
  evtchnUnmask(port: bigint): SbiRet;
  evtchnStatus(port: bigint): SbiRet;
  gnttabSetup(gpa: bigint, frames: bigint): SbiRet;
  gnttabMap(dom: bigint, ref: bigint, gpa: bigint, flags: bigint): SbiRet;
  gnttabUnmap(gpa: bigint): SbiRet;
  gnttabCopy(dom: bigint, ref: bigint, offset: bigint, gpa: bigint, len: bigint, flags: bigint): SbiRet;
  gnttabEndAccess(ref: bigint): SbiRet;
  schedYield(vcpu: number): SbiRet;
  schedBlock(vcpu: number): SbiRet;
  schedPoll(vcpu: number, gpa: bigint, n: bigint, deadline: bigint): SbiRet;
  schedShutdown(reason: bigint): SbiRet;
  memoryDecrease(gpa: bigint, n: bigint): SbiRet;
  memoryIncrease(gpa: bigint, n: bigint): SbiRet;
  memoryReservation(which: bigint): SbiRet;
}

/** Function names for statistics, and the feature bit each needs (§3). */
const FUNCTIONS: ReadonlyMap<number, { name: string; feature: number }> = new Map([
  [PvxFid.GET_VERSION, { name: 'get_version', feature: 0 }],
  [PvxFid.GET_FEATURES, { name: 'get_features', feature: 0 }],
  [PvxFid.GET_DOMID, { name: 'get_domid', feature: 0 }],
  [PvxFid.GET_LIMIT, { name: 'get_limit', feature: 0 }],
  [PvxFid.SHINFO_SET, { name: 'shinfo_set', feature: PvxFeature.SHINFO }],
  [PvxFid.TIMER_SET, { name: 'timer_set', feature: PvxFeature.TIMER }],
  [PvxFid.EVTCHN_ALLOC_UNBOUND, { name: 'evtchn_alloc_unbound', feature: PvxFeature.EVTCHN }],
  [PvxFid.EVTCHN_BIND_INTERDOMAIN, { name: 'evtchn_bind_interdomain', feature: PvxFeature.EVTCHN }],
  [PvxFid.EVTCHN_BIND_VIRQ, { name: 'evtchn_bind_virq', feature: PvxFeature.EVTCHN }],
  [PvxFid.EVTCHN_BIND_IPI, { name: 'evtchn_bind_ipi', feature: PvxFeature.EVTCHN_IPI }],
  [PvxFid.EVTCHN_SEND, { name: 'evtchn_send', feature: PvxFeature.EVTCHN }],
  [PvxFid.EVTCHN_CLOSE, { name: 'evtchn_close', feature: PvxFeature.EVTCHN }],
  [PvxFid.EVTCHN_UNMASK, { name: 'evtchn_unmask', feature: PvxFeature.EVTCHN }],
  [PvxFid.EVTCHN_STATUS, { name: 'evtchn_status', feature: PvxFeature.EVTCHN }],
  [PvxFid.GNTTAB_SETUP, { name: 'gnttab_setup', feature: PvxFeature.GNTTAB }],
  [PvxFid.GNTTAB_MAP, { name: 'gnttab_map', feature: PvxFeature.GNTTAB_MAP }],
  [PvxFid.GNTTAB_UNMAP, { name: 'gnttab_unmap', feature: PvxFeature.GNTTAB_MAP }],
  [PvxFid.GNTTAB_COPY, { name: 'gnttab_copy', feature: PvxFeature.GNTTAB }],
  [PvxFid.GNTTAB_END_ACCESS, { name: 'gnttab_end_access', feature: PvxFeature.GNTTAB }],
  [PvxFid.MULTICALL, { name: 'multicall', feature: PvxFeature.MULTICALL }],
  [PvxFid.SCHED_YIELD, { name: 'sched_yield', feature: PvxFeature.SCHED }],
  [PvxFid.SCHED_BLOCK, { name: 'sched_block', feature: PvxFeature.SCHED }],
  [PvxFid.SCHED_POLL, { name: 'sched_poll', feature: PvxFeature.SCHED }],
  [PvxFid.SCHED_SHUTDOWN, { name: 'sched_shutdown', feature: PvxFeature.SCHED }],
  [PvxFid.MEMORY_DECREASE, { name: 'memory_decrease', feature: PvxFeature.MEMORY }],
  [PvxFid.MEMORY_INCREASE, { name: 'memory_increase', feature: PvxFeature.MEMORY }],
  [PvxFid.MEMORY_RESERVATION, { name: 'memory_reservation', feature: PvxFeature.MEMORY }],
]);

/** PVX calls a multicall entry may not make (§7): they block, yield or nest. */
const PVX_NOT_IN_BATCH: ReadonlySet<number> = new Set([
  PvxFid.MULTICALL,
  PvxFid.SCHED_YIELD,
  PvxFid.SCHED_BLOCK,
  PvxFid.SCHED_POLL,
]);

/**
 * PVX as an SBI extension object: one instance per domain (it holds the
 * domain's backend), registered at PVX_EID only (§11.1: the rest of the
 * firmware-specific range stays NOT_SUPPORTED). `features` may clear bits
 * of PVX_FEATURES_ALL (tests, or a host that hides grant maps); a call whose
 * bit is clear answers NOT_SUPPORTED (§3).
 */
export class PvxExtension implements SbiExtension {
  readonly name = 'PVX';
  /** Depth guard: a multicall entry never runs another multicall. */
  private inBatch = false;
  /** Set by a successful shutdown-like entry so that a batch stops after it (§7). */
  private ended = false;

  constructor(
    private readonly backend: PvxBackend,
    private readonly dispatcher: SbiDispatcher,
    readonly features: number = PVX_FEATURES_ALL,
  ) {}

  functionName(_eid: number, fid: number): string | undefined {
    return FUNCTIONS.get(fid)?.name;
  }

  call(platform: SbiPlatform, hart: number, _eid: number, fid: number, a: SbiArgs): SbiRet {
    const f = FUNCTIONS.get(fid);
    if (f === undefined || (f.feature & this.features) !== f.feature) return err(SbiErr.NOT_SUPPORTED);
    if (this.inBatch && PVX_NOT_IN_BATCH.has(fid)) return err(SbiErr.NOT_SUPPORTED);
    const b = this.backend;
    switch (fid) {
      case PvxFid.GET_VERSION:
        return ok(0x0001_0000);
      case PvxFid.GET_FEATURES:
        return a[0] === 0n ? ok(this.features) : err(SbiErr.INVALID_PARAM);
      case PvxFid.GET_DOMID:
        return ok(b.domid());
      case PvxFid.GET_LIMIT:
        return b.limit(a[0]);
      case PvxFid.SHINFO_SET:
        return b.shinfoSet(hart, a[0]);
      case PvxFid.TIMER_SET:
        return b.timerSet(hart, a[0]);
      case PvxFid.EVTCHN_ALLOC_UNBOUND:
        return b.evtchnAllocUnbound(a[0]);
      case PvxFid.EVTCHN_BIND_INTERDOMAIN:
        return b.evtchnBindInterdomain(a[0], a[1]);
      case PvxFid.EVTCHN_BIND_VIRQ:
        return b.evtchnBindVirq(a[0], a[1]);
      case PvxFid.EVTCHN_BIND_IPI:
        return b.evtchnBindIpi(a[0]);
      case PvxFid.EVTCHN_SEND:
        return b.evtchnSend(a[0]);
      case PvxFid.EVTCHN_CLOSE:
        return b.evtchnClose(a[0]);
      case PvxFid.EVTCHN_UNMASK:
        return b.evtchnUnmask(a[0]);
      case PvxFid.EVTCHN_STATUS:
        return b.evtchnStatus(a[0]);
      case PvxFid.GNTTAB_SETUP:
        return b.gnttabSetup(a[0], a[1]);
      case PvxFid.GNTTAB_MAP:
        return b.gnttabMap(a[0], a[1], a[2], a[3]);
      case PvxFid.GNTTAB_UNMAP:
        return b.gnttabUnmap(a[0]);
      case PvxFid.GNTTAB_COPY:
        return b.gnttabCopy(a[0], a[1], a[2], a[3], a[4], a[5]);
      case PvxFid.GNTTAB_END_ACCESS:
        return b.gnttabEndAccess(a[0]);
      case PvxFid.MULTICALL:
        return this.multicall(platform, hart, a[0], a[1]);
      case PvxFid.SCHED_YIELD:
        return b.schedYield(hart);
      case PvxFid.SCHED_BLOCK:
        return b.schedBlock(hart);
      case PvxFid.SCHED_POLL:
        return b.schedPoll(hart, a[0], a[1], a[2]);
      case PvxFid.SCHED_SHUTDOWN: {
        const r = b.schedShutdown(a[0]);
        if (r.error === 0) this.ended = true;
        return r;
      }
      case PvxFid.MEMORY_DECREASE:
        return b.memoryDecrease(a[0], a[1]);
      case PvxFid.MEMORY_INCREASE:
        return b.memoryIncrease(a[0], a[1]);
      case PvxFid.MEMORY_RESERVATION:
        return b.memoryReservation(a[0]);
    }
    return err(SbiErr.NOT_SUPPORTED);
  }

  /**
   * PVX_MULTICALL (§7): validate the batch (count, then the array's
   * address), then read each entry just before it runs, run it through the
   * dispatcher (PVX and standard SBI alike) and write its error and value
   * back. Entries that block, yield, nest, stop a hart or use the legacy
   * v0.1 calls get NOT_SUPPORTED and the batch goes on; a successful
   * SCHED_SHUTDOWN or SRST ends it.
   */
  private multicall(platform: SbiPlatform, hart: number, gpa: bigint, count: bigint): SbiRet {
    if (count === 0n || count > BigInt(PVX_MULTICALL_MAX)) return err(SbiErr.INVALID_PARAM);
    const n = Number(count);
    const base = ramOffset(platform.ram, gpa, Mc.ENTRY_SIZE * n, 8);
    if (base < 0) return err(SbiErr.INVALID_ADDRESS);
    const dv = platform.ram.view;
    this.inBatch = true;
    this.ended = false;
    let done = 0;
    try {
      for (let i = 0; i < n; i++) {
        const o = base + Mc.ENTRY_SIZE * i;
        const eid = dv.getUint32(o + Mc.EID, true);
        const fid = dv.getUint32(o + Mc.FID, true);
        const args: bigint[] = [];
        for (let k = 0; k < 6; k++) args.push(dv.getBigUint64(o + Mc.ARGS + 8 * k, true));
        const r = allowedInBatch(eid, fid)
          ? this.dispatcher.call(hart, BigInt(eid), BigInt(fid), args as unknown as SbiArgs)
          : err(SbiErr.NOT_SUPPORTED);
        dv.setBigInt64(o + Mc.ERROR, BigInt(r.error), true);
        dv.setBigUint64(o + Mc.VALUE, BigInt.asUintN(64, r.value), true);
        done++;
        if (r.error === 0 && (this.ended || eid === Eid.SRST)) break;
      }
    } finally {
      this.inBatch = false;
      this.ended = false;
    }
    return ok(done);
  }
}

/** HSM function ids a batch may not use (SBI v2.0 §9.2, §9.4): they stop the calling hart. */
const HSM_HART_STOP = 1;
const HSM_HART_SUSPEND = 3;

/** Standard SBI calls a multicall entry may not make (§7). PVX ones are refused in `call`. */
function allowedInBatch(eid: number, fid: number): boolean {
  if (eid <= 0x0f) return false; // legacy v0.1 (EID 0x00-0x0F)
  if (eid === Eid.HSM && (fid === HSM_HART_STOP || fid === HSM_HART_SUSPEND)) return false;
  return true;
}

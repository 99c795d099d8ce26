import { decodeState, encodeState, type StateCodec } from '../../core/state.js';
import { SbiErr } from '../../sbi/consts.js';
import type { PvxBackend } from '../../sbi/pvx/calls.js';
import {
  NONE,
  PAGE_SIZE,
  PVX_DOMID_MAX,
  PVX_EVTCHN_NR_PORTS,
  PVX_GNT_WINDOW_BASE,
  PVX_GNT_WINDOW_SIZE,
  PVX_GNTTAB_MAX_FRAMES,
  PVX_LIMIT_COUNT,
  PVX_MEMORY_BATCH_MAX,
  PVX_MULTICALL_MAX,
  PVX_POLL_MAX_PORTS,
  PvxLimit,
  Virq,
} from '../../sbi/pvx/consts.js';
import { below, ramOffset } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import { Balloon, type BalloonState, balloonStateCodec } from './balloon.js';
import type { PvxEnv } from './env.js';
import { EventChannels, type EventChannelsState, eventChannelsStateCodec } from './event-channels.js';
import { GrantTable, type GrantTableState, grantTableStateCodec } from './grant-table.js';
import { GrantWindow } from './grant-window.js';
import type { PvxHost } from './host.js';
import { Sched, type SchedState, schedStateCodec } from './sched.js';
import { SharedInfo, type SharedInfoState, sharedInfoStateCodec } from './shared-info.js';

/**
 * The PVX state of one domain (docs/para-api-pvx.md), split as the
 * specification groups the calls, each part with its own state: the shared
 * info page (shared-info.ts), event channels (event-channels.ts), the grant
 * table (grant-table.ts), the timer and scheduling waits (sched.ts) and the
 * balloon (balloon.ts). This class answers the §3 information calls and
 * SHINFO_SET, which concern the domain as a whole, and gives the run loop
 * and the host their hooks.
 *
 * Every call validates its arguments in the order of §1.2 (numbers,
 * addresses, shared memory, state, rights, resources) and has no side
 * effect when it fails. Inter-domain operations go through the PvxHost
 * registry: a domain only ever touches another domain's state through the
 * parts' methods marked "peer".
 */
export class PvxDomain implements PvxBackend {
  readonly id: number;
  readonly shinfo: SharedInfo;
  readonly events: EventChannels;
  readonly grants: GrantTable;
  readonly sched: Sched;
  readonly memory: Balloon;

  private shutdownRequest = 0;
  /** `time` at system time 0 (domain creation or reset). */
  private epochTick: number;
  private destroyed = false;

  constructor(
    private readonly host: PvxHost<PvxDomain>,
    private readonly env: PvxEnv,
    /** This domain's grant window (its harts' bus must be `window.over(...)` for maps to be visible). */
    readonly window: GrantWindow = new GrantWindow(),
    /** Domain id to take (must be free); the lowest free one when absent. */
    domid?: number,
  ) {
    this.id = host.allocateId(domid);
    host.add(this);
    this.shinfo = new SharedInfo(env);
    this.events = new EventChannels(
      this.id,
      env,
      this.shinfo,
      (d) => host.get(d)?.events,
      (v) => this.sched.cancelTimer(v),
      host.remote,
    );
    this.grants = new GrantTable(this.id, env, window, (d) => host.get(d)?.grants, host.remote);
    this.sched = new Sched(env, this.shinfo, this.events);
    this.memory = new Balloon(
      env,
      (off, page) => off === this.shinfo.off || this.grants.holds(off) || this.grants.mappedByPeers(page),
    );
    this.epochTick = env.now();
  }

  /**
   * Why this domain cannot leave its host (live migration, docs/migration.md), or null: event
   * channels connected to other domains and grant mappings between it and others are state of
   * two domains at once, which one stream cannot move.
   */
  migrationBlocker(): string | null {
    const peers = this.events.interdomainPeers();
    const maps = this.grants.foreignMappings();
    const why: string[] = [];
    if (peers.length > 0)
      why.push(`event channels connected to PVX domain${peers.length > 1 ? 's' : ''} ${peers.join(', ')}`);
    if (maps.mine > 0) why.push(`${maps.mine} grant mapping${maps.mine > 1 ? 's' : ''} of another domain's pages`);
    if (maps.peers > 0) why.push(`${maps.peers} of its pages mapped by another domain`);
    return why.length === 0 ? null : why.join(', ');
  }

  // ------------------------------------------------------------------ run-loop hooks

  /** Guest reboot: every piece of PVX state is dropped (§1.4); system time restarts at 0. */
  reset(): void {
    this.dropAll();
    this.epochTick = this.env.now();
  }

  /** The domain is gone: peers see their ports UNBOUND, our window mappings are removed (§5.3, §6.4). */
  destroy(): void {
    if (this.destroyed) return;
    this.dropAll();
    this.grants.destroy();
    this.destroyed = true;
    this.host.remove(this);
  }

  /** Fire VIRQ_TIMER on every vCPU whose PVX_TIMER_SET deadline is at or before `now` (once per set). */
  pollTimers(now: number): void {
    this.sched.pollTimers(now);
  }

  /** The run loop's wake check for a waiting vCPU (Sched.wakeable). */
  wakeable(vcpu: number): boolean | undefined {
    return this.sched.wakeable(vcpu);
  }

  /** Earliest PVX deadline (timer or poll) in ticks, Infinity when none: the run loop's idle bound. */
  nextDeadline(): number {
    return this.sched.nextDeadline();
  }

  /** Host console input arrived for the SBI console: raise VIRQ_CONSOLE (§5.2). */
  consoleInput(): void {
    this.events.raiseVirq(0, Virq.CONSOLE);
  }

  /** Host side, no side effect: would requestShutdown reach the guest (VIRQ bound, shared info page set)? */
  get shutdownListening(): boolean {
    return this.events.virqBound(0, Virq.SHUTDOWN_REQUEST) && this.shinfo.registered;
  }

  /**
   * Host side: ask the guest to power off (1) or reboot (2) (§5.4). Returns
   * whether the guest listens (VIRQ_SHUTDOWN_REQUEST bound); when it does not,
   * the host stops it after its grace period.
   */
  requestShutdown(reason: 1 | 2): boolean {
    this.shutdownRequest = reason;
    this.shinfo.writeShutdownRequest(reason);
    const listening = this.shutdownListening;
    this.events.raiseVirq(0, Virq.SHUTDOWN_REQUEST);
    return listening;
  }

  /** Host side: set the balloon target (§9). */
  setMemTarget(frames: number): void {
    this.shinfo.writeMemTarget(this.memory.setTarget(frames));
    this.events.raiseVirq(0, Virq.MEM_TARGET);
  }

  /** Frames released with MEMORY_DECREASE and not repopulated. */
  get releasedFrames(): number {
    return this.memory.releasedFrames;
  }

  // ------------------------------------------------------------------ §3 info, §4.1 shared info

  domid(): number {
    return this.id;
  }

  limit(id: bigint): SbiRet {
    const i = below(id, PVX_LIMIT_COUNT);
    switch (i) {
      case PvxLimit.EVTCHN_PORTS:
        return ok(PVX_EVTCHN_NR_PORTS);
      case PvxLimit.GNTTAB_FRAMES:
        return ok(PVX_GNTTAB_MAX_FRAMES);
      case PvxLimit.GNT_WINDOW_BASE:
        return ok(PVX_GNT_WINDOW_BASE);
      case PvxLimit.GNT_WINDOW_SIZE:
        return ok(PVX_GNT_WINDOW_SIZE);
      case PvxLimit.MULTICALL_ENTRIES:
        return ok(PVX_MULTICALL_MAX);
      case PvxLimit.VCPUS:
        return ok(this.env.vcpuCount);
      case PvxLimit.POLL_PORTS:
        return ok(PVX_POLL_MAX_PORTS);
      case PvxLimit.MEMORY_BATCH:
        return ok(PVX_MEMORY_BATCH_MAX);
    }
    return err(SbiErr.INVALID_PARAM);
  }

  shinfoSet(_vcpu: number, gpa: bigint): SbiRet {
    if (gpa === NONE) {
      if (!this.shinfo.registered) return err(SbiErr.INVALID_STATE);
      if (this.events.anyOpen()) return err(SbiErr.INVALID_STATE);
      this.shinfo.off = -1;
      this.sched.cancelTimers();
      return ok(0);
    }
    const off = ramOffset(this.env.ram, gpa, PAGE_SIZE, PAGE_SIZE);
    if (off < 0) return err(SbiErr.INVALID_ADDRESS);
    if (this.shinfo.registered) return err(SbiErr.ALREADY_AVAILABLE);
    this.shinfo.off = off;
    this.shinfo.writeTime(this.epochTick);
    this.shinfo.writeShutdownRequest(this.shutdownRequest);
    this.shinfo.writeMemTarget(this.memory.target);
    return ok(0);
  }

  // ------------------------------------------------------------------ snapshots

  /** The domain's PVX state for the snapshot's PARA section. Taken while the run loop is parked. */
  saveState(): Uint8Array {
    return encodeState(pvxStateCodec, {
      domid: this.id,
      vcpus: this.env.vcpuCount,
      frames: this.memory.maxFrames,
      systemTicks: this.env.now() - this.epochTick,
      shutdownRequest: this.shutdownRequest,
      shinfo: this.shinfo.saveState(),
      events: this.events.saveState(),
      grants: this.grants.saveState(),
      sched: this.sched.saveState(),
      memory: this.memory.saveState(),
    });
  }

  /** Read a saveState blob for this domain; throws SnapshotError (and changes nothing) when it does not fit. */
  readState(blob: Uint8Array): PvxState {
    return decodeState(
      pvxStateCodec,
      blob,
      { vcpus: this.env.vcpuCount, frames: this.memory.maxFrames, ramSize: this.env.ram.size },
      'PVX state in the snapshot',
    );
  }

  /**
   * Load a readState result into this domain (freshly built, RAM already
   * restored). Interdomain ports whose peer is not connected back to this
   * domain id come back UNBOUND for that peer, and grant mappings (ours of
   * foreign frames, and peers' of ours) are not restored, as when the peers
   * had closed and unmapped. System time goes on from where it was saved;
   * the time fields are rewritten where they no longer hold (§4.5; SharedInfo.writeTime).
   */
  loadState(s: PvxState): void {
    this.dropAll();
    this.shinfo.loadState(s.shinfo);
    this.events.loadState(s.events, s.domid);
    this.sched.loadState(s.sched);
    this.grants.loadState(s.grants);
    this.memory.loadState(s.memory);
    this.shutdownRequest = s.shutdownRequest;
    this.epochTick = this.env.now() - s.systemTicks;
    if (this.shinfo.registered) this.shinfo.writeTime(this.epochTick, true);
  }

  // ------------------------------------------------------------------ teardown

  /** Close every port (peers see UNBOUND), remove our window mappings, forget everything. */
  private dropAll(): void {
    // Forget the shared info page first: on a reboot the loader has already rewritten RAM,
    // so closing our ports must not touch what is there now.
    this.shinfo.off = -1;
    this.events.closeAll();
    this.grants.drop();
    this.sched.reset();
    this.memory.reset();
    this.shutdownRequest = 0;
  }
}

/** A domain's PVX state: who it was, and each part's own state. */
export interface PvxState {
  /** The domain id it had when saved (its loopback channels name it). */
  readonly domid: number;
  readonly vcpus: number;
  readonly frames: number;
  /** System time (§4.5) when saved, in ticks. */
  readonly systemTicks: number;
  /** 0, or the host's pending shutdown request (1 poweroff, 2 reboot). */
  readonly shutdownRequest: number;
  readonly shinfo: SharedInfoState;
  readonly events: EventChannelsState;
  readonly grants: GrantTableState;
  readonly sched: SchedState;
  readonly memory: BalloonState;
}

/** The domain id first, so that a host can read it before it builds the domain (pvxStateDomid). */
export const pvxStateCodec: StateCodec<PvxState, { vcpus: number; frames: number; ramSize: number }> = {
  write(w, s) {
    w.u16(s.domid).u32(s.vcpus).u32(s.frames).int(s.systemTicks).u8(s.shutdownRequest);
    sharedInfoStateCodec.write(w, s.shinfo);
    eventChannelsStateCodec.write(w, s.events);
    grantTableStateCodec.write(w, s.grants);
    schedStateCodec.write(w, s.sched);
    balloonStateCodec.write(w, s.memory);
  },
  read(r, shape) {
    const domid = r.u16('domain id', PVX_DOMID_MAX);
    if (domid === 0) r.fail('domain id 0');
    const vcpus = r.u32('vCPU count');
    const frames = r.u32('RAM frames');
    if (vcpus !== shape.vcpus || frames !== shape.frames) {
      r.mismatch(
        `saved for ${vcpus} vCPUs and ${frames} frames of RAM, the domain has ${shape.vcpus} and ${shape.frames}`,
      );
    }
    const systemTicks = r.int('system time', 0);
    const shutdownRequest = r.oneOf('shutdown request', [0, 1, 2]);
    const shinfo = sharedInfoStateCodec.read(r, shape);
    const events = eventChannelsStateCodec.read(r, shape);
    if (events.length > 0 && shinfo === null) r.fail('open ports without a shared info page');
    const grants = grantTableStateCodec.read(r, shape);
    const sched = schedStateCodec.read(r, shape);
    const memory = balloonStateCodec.read(r, shape);
    return { domid, vcpus, frames, systemTicks, shutdownRequest, shinfo, events, grants, sched, memory };
  },
};

/** The domain id a PVX state was saved with, or undefined when the blob does not start like one. */
export function pvxStateDomid(blob: Uint8Array): number | undefined {
  if (blob.length < 2) return undefined;
  const id = blob[0]! | (blob[1]! << 8);
  return id >= 1 && id <= PVX_DOMID_MAX ? id : undefined;
}

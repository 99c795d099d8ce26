import { PvmError } from '../../core/errors.js';
import { SbiErr } from '../../sbi/consts.js';
import type { PvxBackend } from '../../sbi/pvx/calls.js';
import {
  NONE,
  PAGE_SIZE,
  PortState,
  PVX_EVTCHN_NR_PORTS,
  PVX_GNT_WINDOW_BASE,
  PVX_GNT_WINDOW_SIZE,
  PVX_GNTTAB_ENTRIES_PER_FRAME,
  PVX_GNTTAB_MAX_FRAMES,
  PVX_LIMIT_COUNT,
  PVX_MEMORY_BATCH_MAX,
  PVX_MULTICALL_MAX,
  PVX_NR_VIRQS,
  PVX_POLL_MAX_PORTS,
  PvxLimit,
  Virq,
} from '../../sbi/pvx/consts.js';
import { below, ramOffset } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import { Balloon } from './balloon.js';
import type { PvxEnv } from './env.js';
import { EventChannels } from './event-channels.js';
import { GrantTable } from './grant-table.js';
import { GrantWindow } from './grant-window.js';
import type { PvxHost } from './host.js';
import { Sched, Wait } from './sched.js';
import { SharedInfo } from './shared-info.js';

/** PvxDomain.saveState format 1. */
interface PvxSavedState {
  format: 1;
  vcpus: number;
  frames: number;
  domid: number;
  shinfo: number;
  systemTicks: number;
  /** [port, state, vcpu, remote domid or virq, remote port] of every open port. */
  ports: number[][];
  timer: (number | null)[];
  wait: number[];
  pollPorts: number[][];
  pollDeadline: (number | null)[];
  gnt: [number, number] | null;
  released: number[];
  memTarget: number;
  shutdownRequest: number;
}

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
    );
    this.grants = new GrantTable(this.id, env, window, (d) => host.get(d)?.grants);
    this.sched = new Sched(env, this.shinfo, this.events);
    this.memory = new Balloon(
      env,
      (off, page) => off === this.shinfo.off || this.grants.holds(off) || this.grants.mappedByPeers(page),
    );
    this.epochTick = env.now();
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

  /**
   * The domain's PVX state as an opaque blob for the snapshot's PARA section
   * (UTF-8 JSON, format 1). Taken while the run loop is parked. What refers to
   * other domains is recorded but cannot outlive a restore elsewhere: see loadState.
   */
  saveState(): Uint8Array {
    const loc = this.grants.location;
    const state: PvxSavedState = {
      format: 1,
      vcpus: this.env.vcpuCount,
      frames: this.memory.maxFrames,
      domid: this.id,
      shinfo: this.shinfo.off,
      systemTicks: this.env.now() - this.epochTick,
      ports: this.events.savePorts(),
      ...this.sched.saveVcpus(),
      gnt: loc === null ? null : [loc.off, loc.entries],
      released: this.memory.releasedPages(),
      memTarget: this.memory.target,
      shutdownRequest: this.shutdownRequest,
    };
    const json = JSON.stringify(state); // numbers and keys only: ASCII
    return Uint8Array.from(json, (c) => c.charCodeAt(0));
  }

  /**
   * Load a saveState blob into this domain (freshly built, same vCPU count and
   * RAM size, RAM already restored). Throws PvmError('image') when the blob
   * does not fit; then nothing has changed. Interdomain ports whose peer is
   * not connected back to this domain id come back UNBOUND for that peer, and
   * grant mappings (ours of foreign frames, and peers' of ours) are not
   * restored, as when the peers had closed and unmapped. System time goes on
   * from where it was saved; the time fields are rewritten (§4.5).
   */
  loadState(blob: Uint8Array): void {
    let s: PvxSavedState;
    try {
      let json = '';
      for (let i = 0; i < blob.length; i += 8192) json += String.fromCharCode(...blob.subarray(i, i + 8192));
      s = JSON.parse(json) as PvxSavedState;
    } catch {
      throw new PvmError('image', 'PVX state in the snapshot is not readable');
    }
    const bad = (why: string) => new PvmError('image', `PVX state in the snapshot does not fit: ${why}`);
    const maxFrames = this.memory.maxFrames;
    if (s === null || typeof s !== 'object' || s.format !== 1) throw bad('unknown format');
    if (s.vcpus !== this.env.vcpuCount || s.frames !== maxFrames) throw bad('other vCPU count or RAM size');
    const okOff = (o: unknown, len: number) =>
      Number.isSafeInteger(o) &&
      (o as number) >= 0 &&
      (o as number) % PAGE_SIZE === 0 &&
      (o as number) + len <= this.env.ram.size;
    if (s.shinfo !== -1 && !okOff(s.shinfo, PAGE_SIZE)) throw bad('shared info page');
    if (
      s.gnt !== null &&
      !(Array.isArray(s.gnt) && okOff(s.gnt[0], (s.gnt[1] / PVX_GNTTAB_ENTRIES_PER_FRAME) * PAGE_SIZE))
    )
      throw bad('grant table');
    if (
      !Array.isArray(s.ports) ||
      s.ports.some(
        (e) =>
          !Array.isArray(e) ||
          e.length !== 5 ||
          !(e[0]! >= 1 && e[0]! < PVX_EVTCHN_NR_PORTS) ||
          !(e[1]! >= 1 && e[1]! <= 4) ||
          !(e[2]! < this.env.vcpuCount),
      )
    )
      throw bad('ports');
    if (s.ports.length > 0 && s.shinfo === -1) throw bad('ports without shared info');
    const n = this.env.vcpuCount;
    if (![s.timer, s.wait, s.pollPorts, s.pollDeadline].every((a) => Array.isArray(a) && a.length === n))
      throw bad('vCPUs');
    const isPort = (x: unknown) => Number.isInteger(x) && (x as number) >= 1 && (x as number) < PVX_EVTCHN_NR_PORTS;
    const isTime = (x: unknown) => x === null || Number.isFinite(x);
    if (
      !s.pollPorts.every((l) => Array.isArray(l) && l.length <= PVX_POLL_MAX_PORTS && l.every(isPort)) ||
      !s.wait.every((w) => w === Wait.NONE || w === Wait.BLOCK || w === Wait.POLL) ||
      !s.timer.every(isTime) ||
      !s.pollDeadline.every(isTime) ||
      s.ports.some((e) => e[1] === PortState.VIRQ && !(e[3]! >= 0 && e[3]! < PVX_NR_VIRQS)) ||
      !(Number.isInteger(s.memTarget) && s.memTarget >= 0 && s.memTarget <= maxFrames) ||
      !(s.shutdownRequest === 0 || s.shutdownRequest === 1 || s.shutdownRequest === 2) ||
      !Number.isFinite(s.systemTicks)
    ) {
      throw bad('values out of range');
    }
    if (!Array.isArray(s.released) || s.released.some((p) => !Number.isSafeInteger(p) || p < 0 || p >= maxFrames))
      throw bad('released frames');
    this.dropAll();
    this.shinfo.off = s.shinfo;
    this.events.loadPorts(s.ports, s.domid);
    this.sched.loadVcpus(s);
    this.grants.restore(s.gnt === null ? null : { off: s.gnt[0], entries: s.gnt[1] });
    this.memory.restore(s.released, s.memTarget);
    this.shutdownRequest = s.shutdownRequest;
    this.epochTick = this.env.now() - s.systemTicks;
    if (this.shinfo.registered) this.shinfo.writeTime(this.epochTick);
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

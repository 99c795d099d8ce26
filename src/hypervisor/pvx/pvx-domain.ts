import { PvmError } from '../../core/errors.js';
import { TIMEBASE_HZ } from '../../machine/memmap.js';
import { SbiErr } from '../../sbi/consts.js';
import {
  GNTCOPY_TO_GRANT,
  GNTMAP_READONLY,
  Gtf,
  NONE,
  PAGE_SIZE,
  PortState,
  PVX_DOMID_SELF,
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
  Reservation,
  Shinfo,
  type ShutdownReason,
  Virq,
} from '../../sbi/pvx/consts.js';
import type { PvxBackend } from '../../sbi/pvx/extension.js';
import { asU16, asU32, below, ramOffset } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import type { PvxEnv } from './env.js';
import { GrantWindow } from './grant-window.js';
import type { PvxHost } from './host.js';

const NO_PORT = 0;
/** Wait states of a vCPU inside PVX. */
const Wait = { NONE: 0, BLOCK: 1, POLL: 2 } as const;

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

/** One page of the granter mapped by peers: how many mappings, how many of them read-write. */
interface MapCount {
  n: number;
  rw: number;
}

/**
 * The PVX state of one domain and the implementation of every PVX call
 * (docs/para-api-pvx.md): shared info page, event channels, grant table
 * and grant window, scheduling waits, balloon. Each call validates its
 * arguments in the order of §1.2 (numbers, addresses, shared memory,
 * state, rights, resources) and has no side effect when it fails.
 *
 * Inter-domain operations go through the PvxHost registry: a domain only
 * ever touches another domain's state through the methods marked "peer".
 */
export class PvxDomain implements PvxBackend {
  readonly id: number;

  /** RAM offset of the shared info page, or -1. */
  private shinfo = -1;
  private readonly portState = new Uint8Array(PVX_EVTCHN_NR_PORTS);
  private readonly portVcpu = new Uint8Array(PVX_EVTCHN_NR_PORTS);
  /** UNBOUND/INTERDOMAIN: remote domid; VIRQ: virq. */
  private readonly portRemote = new Uint16Array(PVX_EVTCHN_NR_PORTS);
  private readonly portRemotePort = new Uint16Array(PVX_EVTCHN_NR_PORTS);
  /** Port bound to (vcpu, virq) at index vcpu * PVX_NR_VIRQS + virq, 0 = none. */
  private readonly virqPort: Uint16Array;
  /** PVX_TIMER_SET deadline per vCPU (ticks; Infinity = none). */
  private readonly timer: Float64Array;
  private readonly wait: Uint8Array;
  private readonly pollDeadline: Float64Array;
  private readonly pollPorts: number[][];
  /** Grant table: RAM offset and entry count, or null. */
  private gnt: { off: number; entries: number } | null = null;
  /** Our grants mapped by peers: ref -> counts; our pages mapped by peers: page index -> count. */
  private readonly refMaps = new Map<number, MapCount>();
  private readonly pageMaps = new Map<number, number>();
  /** Released (ballooned) pages, by page index in RAM. */
  private readonly released = new Set<number>();
  private readonly maxFrames: number;
  private memTarget: number;
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
    const n = env.vcpuCount;
    this.virqPort = new Uint16Array(n * PVX_NR_VIRQS);
    this.timer = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.wait = new Uint8Array(n);
    this.pollDeadline = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.pollPorts = Array.from({ length: n }, () => []);
    this.maxFrames = env.ram.size / PAGE_SIZE;
    this.memTarget = this.maxFrames;
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
    this.destroyed = true;
    this.host.remove(this);
  }

  /** Fire VIRQ_TIMER on every vCPU whose PVX_TIMER_SET deadline is at or before `now` (once per set). */
  pollTimers(now: number): void {
    const t = this.timer;
    for (let v = 0; v < t.length; v++) {
      if (t[v]! <= now) {
        t[v] = Number.POSITIVE_INFINITY;
        this.raiseVirq(v, Virq.TIMER);
      }
    }
  }

  /**
   * Wake check of the run loop for a waiting vCPU: undefined when the vCPU
   * is not waiting inside PVX (the loop applies its own WFI rule), else
   * whether it may run again. SCHED_BLOCK ends when upcall_pending is 1 or
   * an enabled interrupt is pending; SCHED_POLL when a listed port is
   * pending (a0 = 0, a1 = port) or its deadline passed (a0 = TIMEOUT).
   */
  wakeable(vcpu: number): boolean | undefined {
    const w = this.wait[vcpu];
    if (w === undefined || w === Wait.NONE) return undefined;
    if (w === Wait.BLOCK) {
      const pending = this.shinfo >= 0 && this.viByte(vcpu, Shinfo.VI_UPCALL_PENDING) !== 0;
      if (!pending && !this.env.irqPending(vcpu)) return false;
      this.wait[vcpu] = Wait.NONE;
      if (pending && this.viByte(vcpu, Shinfo.VI_UPCALL_MASK) === 0) this.env.raiseUpcall(vcpu);
      return true;
    }
    const port = this.firstPending(this.pollPorts[vcpu]!);
    if (port !== NO_PORT) this.env.setResult(vcpu, 0, BigInt(port));
    else if (this.env.now() >= this.pollDeadline[vcpu]!) this.env.setResult(vcpu, SbiErr.TIMEOUT, 0n);
    else return false;
    this.wait[vcpu] = Wait.NONE;
    this.pollPorts[vcpu] = [];
    this.pollDeadline[vcpu] = Number.POSITIVE_INFINITY;
    return true;
  }

  /** Earliest PVX deadline (timer or poll) in ticks, Infinity when none: the run loop's idle bound. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (let v = 0; v < this.timer.length; v++) {
      if (this.timer[v]! < next) next = this.timer[v]!;
      if (this.wait[v] === Wait.POLL && this.pollDeadline[v]! < next) next = this.pollDeadline[v]!;
    }
    return next;
  }

  /** Host console input arrived for the SBI console: raise VIRQ_CONSOLE (§5.2). */
  consoleInput(): void {
    this.raiseVirq(0, Virq.CONSOLE);
  }

  /** Host side, no side effect: would requestShutdown reach the guest (VIRQ bound, shared info page set)? */
  get shutdownListening(): boolean {
    return this.virqPort[Virq.SHUTDOWN_REQUEST] !== NO_PORT && this.shinfo >= 0;
  }

  /**
   * Host side: ask the guest to power off (1) or reboot (2) (§5.4). Returns
   * whether the guest listens (VIRQ_SHUTDOWN_REQUEST bound); when it does not,
   * the host stops it after its grace period.
   */
  requestShutdown(reason: 1 | 2): boolean {
    this.shutdownRequest = reason;
    if (this.shinfo >= 0) this.env.ram.view.setUint32(this.shinfo + Shinfo.SHUTDOWN_REQUEST, reason, true);
    const listening = this.virqPort[Virq.SHUTDOWN_REQUEST] !== NO_PORT && this.shinfo >= 0;
    this.raiseVirq(0, Virq.SHUTDOWN_REQUEST);
    return listening;
  }

  /** Host side: set the balloon target (§9). */
  setMemTarget(frames: number): void {
    this.memTarget = Math.max(0, Math.min(this.maxFrames, Math.floor(frames)));
    if (this.shinfo >= 0) this.env.ram.view.setBigUint64(this.shinfo + Shinfo.MEM_TARGET, BigInt(this.memTarget), true);
    this.raiseVirq(0, Virq.MEM_TARGET);
  }

  /** Frames released with MEMORY_DECREASE and not repopulated. */
  get releasedFrames(): number {
    return this.released.size;
  }

  // ------------------------------------------------------------------ §3 info

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

  // ------------------------------------------------------------------ §4 shared info, timer

  shinfoSet(_vcpu: number, gpa: bigint): SbiRet {
    if (gpa === NONE) {
      if (this.shinfo < 0) return err(SbiErr.INVALID_STATE);
      for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) {
        if (this.portState[p] !== PortState.FREE) return err(SbiErr.INVALID_STATE);
      }
      this.shinfo = -1;
      this.timer.fill(Number.POSITIVE_INFINITY);
      return ok(0);
    }
    const off = ramOffset(this.env.ram, gpa, PAGE_SIZE, PAGE_SIZE);
    if (off < 0) return err(SbiErr.INVALID_ADDRESS);
    if (this.shinfo >= 0) return err(SbiErr.ALREADY_AVAILABLE);
    this.shinfo = off;
    this.writeTime();
    const dv = this.env.ram.view;
    dv.setUint32(off + Shinfo.SHUTDOWN_REQUEST, this.shutdownRequest, true);
    dv.setBigUint64(off + Shinfo.MEM_TARGET, BigInt(this.memTarget), true);
    return ok(0);
  }

  /** Time fields of §4.5 for every vCPU and the wall clock, each under its version counter. */
  private writeTime(): void {
    const dv = this.env.ram.view;
    const s = this.shinfo;
    const now = this.env.now();
    const sysNs = BigInt(Math.max(0, now - this.epochTick)) * 100n; // 10 MHz: 100 ns per tick
    for (let v = 0; v < this.env.vcpuCount; v++) {
      const t = s + v * Shinfo.VCPU_INFO_SIZE + Shinfo.VI_TIME;
      const ver = dv.getUint32(t + Shinfo.T_VERSION, true);
      dv.setUint32(t + Shinfo.T_VERSION, (ver | 1) >>> 0, true);
      dv.setUint32(t + Shinfo.T_TICK_HZ, TIMEBASE_HZ, true);
      dv.setBigUint64(t + Shinfo.T_TICK_STAMP, BigInt(now), true);
      dv.setBigUint64(t + Shinfo.T_SYSTEM_TIME, sysNs, true);
      dv.setUint32(t + Shinfo.T_VERSION, ((ver | 1) + 1) >>> 0, true);
    }
    const boot = this.env.wallClockNs() - sysNs;
    const wv = dv.getUint32(s + Shinfo.WC_VERSION, true);
    dv.setUint32(s + Shinfo.WC_VERSION, (wv | 1) >>> 0, true);
    dv.setBigUint64(s + Shinfo.WC_SEC, boot / 1_000_000_000n, true);
    dv.setUint32(s + Shinfo.WC_NSEC, Number(boot % 1_000_000_000n), true);
    dv.setUint32(s + Shinfo.WC_VERSION, ((wv | 1) + 1) >>> 0, true);
  }

  timerSet(vcpu: number, deadline: bigint): SbiRet {
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    if (this.virqPort[vcpu * PVX_NR_VIRQS + Virq.TIMER] === NO_PORT) return err(SbiErr.INVALID_STATE);
    this.timer[vcpu] = deadline === NONE ? Number.POSITIVE_INFINITY : Number(deadline);
    if (this.timer[vcpu]! <= this.env.now()) this.pollTimers(this.env.now());
    return ok(0);
  }

  // ------------------------------------------------------------------ §5 event channels

  /** A domid argument naming an existing domain (DOMID_SELF = the caller), or -1. */
  private domArg(v: bigint): number {
    const d = asU16(v);
    if (d < 0) return -1;
    if (d === PVX_DOMID_SELF) return this.id;
    return this.host.get(d) !== undefined ? d : -1;
  }

  /** Lowest free port, or 0. */
  private freePort(): number {
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) if (this.portState[p] === PortState.FREE) return p;
    return NO_PORT;
  }

  /** A port argument naming an open port of ours, or -1 (0, >= 1024 and FREE are INVALID_PARAM, §5.1). */
  private openPort(v: bigint): number {
    const p = below(v, PVX_EVTCHN_NR_PORTS);
    return p >= 1 && this.portState[p] !== PortState.FREE ? p : -1;
  }

  private setPort(p: number, state: PortState, vcpu: number, remote: number, remotePort: number): void {
    this.portState[p] = state;
    this.portVcpu[p] = vcpu;
    this.portRemote[p] = remote;
    this.portRemotePort[p] = remotePort;
  }

  evtchnAllocUnbound(remoteDom: bigint): SbiRet {
    const d = this.domArg(remoteDom);
    if (d < 0) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.UNBOUND, 0, d, 0);
    return ok(p);
  }

  evtchnBindInterdomain(remoteDom: bigint, remotePort: bigint): SbiRet {
    const d = this.domArg(remoteDom);
    if (d < 0) return err(SbiErr.INVALID_PARAM);
    const rp = below(remotePort, PVX_EVTCHN_NR_PORTS);
    if (rp < 1) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    const peer = d === this.id ? this : this.host.get(d)!;
    if (peer.portState[rp] !== PortState.UNBOUND) return err(SbiErr.INVALID_STATE);
    if (peer.portRemote[rp] !== this.id) return err(SbiErr.DENIED);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.INTERDOMAIN, 0, d, rp);
    peer.setPort(rp, PortState.INTERDOMAIN, 0, this.id, p);
    this.setPending(p); // a send before the bind would otherwise be lost (§5.3)
    return ok(p);
  }

  evtchnBindVirq(virq: bigint, vcpu: bigint): SbiRet {
    const q = below(virq, PVX_NR_VIRQS);
    if (q < 0) return err(SbiErr.INVALID_PARAM);
    const v = below(vcpu, this.env.vcpuCount);
    if (v < 0 || (q !== Virq.TIMER && v !== 0)) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    if (this.virqPort[v * PVX_NR_VIRQS + q] !== NO_PORT) return err(SbiErr.ALREADY_AVAILABLE);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.VIRQ, v, q, 0);
    this.virqPort[v * PVX_NR_VIRQS + q] = p;
    if (q === Virq.CONSOLE) this.env.consoleBound();
    return ok(p);
  }

  evtchnBindIpi(vcpu: bigint): SbiRet {
    const v = below(vcpu, this.env.vcpuCount);
    if (v < 0) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.IPI, v, 0, 0);
    return ok(p);
  }

  evtchnSend(port: bigint): SbiRet {
    const p = this.openPort(port);
    if (p < 0) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    switch (this.portState[p]) {
      case PortState.VIRQ:
        return err(SbiErr.INVALID_STATE);
      case PortState.IPI:
        this.setPending(p);
        break;
      case PortState.INTERDOMAIN: {
        const peer = this.portRemote[p] === this.id ? this : this.host.get(this.portRemote[p]!);
        peer?.peerSignal(this.portRemotePort[p]!, this.id, p);
        break;
      }
    }
    return ok(0);
  }

  evtchnClose(port: bigint): SbiRet {
    const p = this.openPort(port);
    if (p < 0) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    this.closePort(p);
    return ok(0);
  }

  private closePort(p: number): void {
    const st = this.portState[p];
    if (st === PortState.INTERDOMAIN) {
      const peer = this.portRemote[p] === this.id ? this : this.host.get(this.portRemote[p]!);
      peer?.peerClosed(this.portRemotePort[p]!, this.id, p);
    } else if (st === PortState.VIRQ) {
      const v = this.portVcpu[p]!;
      const q = this.portRemote[p]!;
      this.virqPort[v * PVX_NR_VIRQS + q] = NO_PORT;
      if (q === Virq.TIMER) this.timer[v] = Number.POSITIVE_INFINITY;
    }
    this.setPort(p, PortState.FREE, 0, 0, 0);
    if (this.shinfo >= 0) this.andWord(Shinfo.EVTCHN_PENDING, p, false);
  }

  evtchnUnmask(port: bigint): SbiRet {
    const p = this.openPort(port);
    if (p < 0) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    this.andWord(Shinfo.EVTCHN_MASK, p, false);
    if (this.testBit(Shinfo.EVTCHN_PENDING, p)) this.deliver(p);
    return ok(0);
  }

  evtchnStatus(port: bigint): SbiRet {
    const p = below(port, PVX_EVTCHN_NR_PORTS);
    if (p < 1) return err(SbiErr.INVALID_PARAM);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    const st = this.portState[p]!;
    let s = BigInt(st) | (BigInt(this.portVcpu[p]!) << 4n);
    if (st === PortState.UNBOUND || st === PortState.INTERDOMAIN || st === PortState.VIRQ) {
      s |= BigInt(this.portRemote[p]!) << 16n;
    }
    if (st === PortState.INTERDOMAIN) s |= BigInt(this.portRemotePort[p]!) << 32n;
    return ok(s);
  }

  /** Peer: `from`'s port `fromPort` sent to our port `p` (checked to still be connected back). */
  private peerSignal(p: number, from: number, fromPort: number): void {
    if (this.portState[p] !== PortState.INTERDOMAIN) return;
    if (this.portRemote[p] !== from || this.portRemotePort[p] !== fromPort) return;
    this.setPending(p);
    if (from !== this.id) this.env.kick();
  }

  /** Peer: `from` closed (or lost) the other end of our port `p`: it goes back to UNBOUND for `from` (§5.3). */
  private peerClosed(p: number, from: number, fromPort: number): void {
    if (this.portState[p] !== PortState.INTERDOMAIN) return;
    if (this.portRemote[p] !== from || this.portRemotePort[p] !== fromPort) return;
    this.setPort(p, PortState.UNBOUND, 0, from, 0);
  }

  private raiseVirq(vcpu: number, virq: number): void {
    const p = this.virqPort[vcpu * PVX_NR_VIRQS + virq];
    if (p !== undefined && p !== NO_PORT && this.shinfo >= 0) {
      this.setPending(p);
      this.env.kick();
    }
  }

  // ---- shared info bit operations (the guest updates these words with AMOs; the hypervisor runs
  //      between instructions, so a read-modify-write here is atomic with respect to every vCPU)

  private wordOff(base: number, p: number): number {
    return this.shinfo + base + 8 * (p >>> 6) + ((p & 63) >>> 5) * 4;
  }

  private testBit(base: number, p: number): boolean {
    return ((this.env.ram.view.getUint32(this.wordOff(base, p), true) >>> (p & 31)) & 1) === 1;
  }

  /** Set (or clear) bit p; returns its old value. */
  private andWord(base: number, p: number, set: boolean): boolean {
    const o = this.wordOff(base, p);
    const dv = this.env.ram.view;
    const w = dv.getUint32(o, true);
    const bit = 1 << (p & 31);
    dv.setUint32(o, (set ? w | bit : w & ~bit) >>> 0, true);
    return (w & bit) !== 0;
  }

  private viOff(vcpu: number): number {
    return this.shinfo + Shinfo.VCPU_INFO + vcpu * Shinfo.VCPU_INFO_SIZE;
  }

  private viByte(vcpu: number, field: number): number {
    return this.env.ram.view.getUint8(this.viOff(vcpu) + field);
  }

  /** §4.3: mark port `p` pending and deliver the upcall. */
  private setPending(p: number): void {
    if (this.shinfo < 0) return;
    if (this.andWord(Shinfo.EVTCHN_PENDING, p, true)) return; // level-like, not counted
    this.deliver(p);
  }

  /** §4.3 from the mask test on: selector bit, upcall_pending, SSIP when unmasked. */
  private deliver(p: number): void {
    if (this.testBit(Shinfo.EVTCHN_MASK, p)) return;
    const v = this.portVcpu[p]!;
    const sel = this.viOff(v) + Shinfo.VI_PENDING_SEL;
    const w = p >>> 6;
    const dv = this.env.ram.view;
    const half = sel + (w >>> 5) * 4;
    const old = dv.getUint32(half, true);
    const bit = 1 << (w & 31);
    dv.setUint32(half, (old | bit) >>> 0, true);
    if (old & bit) return;
    dv.setUint8(this.viOff(v) + Shinfo.VI_UPCALL_PENDING, 1);
    if (dv.getUint8(this.viOff(v) + Shinfo.VI_UPCALL_MASK) === 0) this.env.raiseUpcall(v);
  }

  private firstPending(ports: readonly number[]): number {
    if (this.shinfo < 0) return NO_PORT;
    for (const p of ports) if (this.testBit(Shinfo.EVTCHN_PENDING, p)) return p;
    return NO_PORT;
  }

  // ------------------------------------------------------------------ §6 grant tables

  gnttabSetup(gpa: bigint, frames: bigint): SbiRet {
    if (gpa === NONE) {
      if (frames !== 0n) return err(SbiErr.INVALID_PARAM);
      if (this.gnt === null) return err(SbiErr.INVALID_STATE);
      if (this.refMaps.size > 0) return err(SbiErr.INVALID_STATE);
      this.gnt = null;
      return ok(0);
    }
    const n = frames === 0n ? -1 : below(frames, PVX_GNTTAB_MAX_FRAMES + 1);
    if (n < 1) return err(SbiErr.INVALID_PARAM);
    const off = ramOffset(this.env.ram, gpa, n * PAGE_SIZE, PAGE_SIZE);
    if (off < 0) return err(SbiErr.INVALID_ADDRESS);
    if (this.gnt !== null) return err(SbiErr.ALREADY_AVAILABLE);
    this.gnt = { off, entries: n * PVX_GNTTAB_ENTRIES_PER_FRAME };
    return ok(this.gnt.entries);
  }

  /** A domid argument naming another existing domain (grants: never the caller, §6.4), or null. */
  private granterArg(v: bigint): PvxDomain | null {
    const d = asU16(v);
    if (d < 0 || d === PVX_DOMID_SELF || d === this.id) return null;
    return this.host.get(d) ?? null;
  }

  /** A ref argument: u32 and below the granter's entry count when it has a table; else -1. */
  private static refArg(g: PvxDomain, v: bigint): number {
    const r = asU32(v);
    if (r < 0 || (g.gnt !== null && r >= g.gnt.entries)) return -1;
    return r;
  }

  /**
   * Peer: the grant entry `ref` of this (granter's) table as seen by
   * `grantee`, or null when it does not grant access to `grantee` (§6.2:
   * invalid type, unknown bits or a frame outside our RAM count as not granted).
   */
  private grantFor(ref: number, grantee: number): { page: number; readonly: boolean } | null {
    if (this.gnt === null) return null;
    const dv = this.env.ram.view;
    const e = this.gnt.off + 8 * ref;
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
    if (this.gnt === null || this.destroyed) return;
    const e = this.gnt.off + 8 * ref;
    const dv = this.env.ram.view;
    const c = this.refMaps.get(ref);
    let f = dv.getUint16(e, true) & ~(Gtf.READING | Gtf.WRITING);
    if (c !== undefined && c.n > 0) f |= Gtf.READING;
    if (c !== undefined && c.rw > 0) f |= Gtf.WRITING;
    dv.setUint16(e, f, true);
  }

  gnttabMap(dom: bigint, ref: bigint, gpa: bigint, flags: bigint): SbiRet {
    const g = this.granterArg(dom);
    if (g === null) return err(SbiErr.INVALID_PARAM);
    const r = PvxDomain.refArg(g, ref);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    if (flags > BigInt(GNTMAP_READONLY)) return err(SbiErr.INVALID_PARAM);
    if (!GrantWindow.isSlot(gpa)) return err(SbiErr.INVALID_ADDRESS);
    if (g.gnt === null) return err(SbiErr.NO_SHMEM);
    const slot = GrantWindow.slotIndex(gpa);
    if (this.window.slots.has(slot)) return err(SbiErr.ALREADY_AVAILABLE);
    const entry = g.grantFor(r, this.id);
    const ro = flags === BigInt(GNTMAP_READONLY);
    if (entry === null || (entry.readonly && !ro)) return err(SbiErr.DENIED);
    const c = g.refMaps.get(r) ?? { n: 0, rw: 0 };
    c.n++;
    if (!ro) c.rw++;
    g.refMaps.set(r, c);
    g.pageMaps.set(entry.page, (g.pageMaps.get(entry.page) ?? 0) + 1);
    g.syncGrantFlags(r);
    this.window.slots.set(slot, {
      ram: g.env.ram,
      off: entry.page * PAGE_SIZE,
      readonly: ro,
      granter: g.id,
      ref: r,
      release: () => g.unmapped(r, entry.page, ro),
    });
    return ok(0);
  }

  /** Peer: one mapping of our grant `ref` (page `page`) went away. */
  private unmapped(ref: number, page: number, ro: boolean): void {
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

  gnttabUnmap(gpa: bigint): SbiRet {
    if (!GrantWindow.isSlot(gpa)) return err(SbiErr.INVALID_ADDRESS);
    const slot = GrantWindow.slotIndex(gpa);
    const s = this.window.slots.get(slot);
    if (s === undefined) return err(SbiErr.INVALID_STATE);
    this.window.slots.delete(slot);
    s.release();
    for (let v = 0; v < this.env.vcpuCount; v++) this.env.flushTlb(v);
    return ok(0);
  }

  gnttabCopy(dom: bigint, ref: bigint, offset: bigint, gpa: bigint, len: bigint, flags: bigint): SbiRet {
    const g = this.granterArg(dom);
    if (g === null) return err(SbiErr.INVALID_PARAM);
    const r = PvxDomain.refArg(g, ref);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    if (flags > BigInt(GNTCOPY_TO_GRANT)) return err(SbiErr.INVALID_PARAM);
    if (offset >= BigInt(PAGE_SIZE) || len === 0n || offset + len > BigInt(PAGE_SIZE)) {
      return err(SbiErr.BAD_RANGE);
    }
    const n = Number(len);
    const local = ramOffset(this.env.ram, gpa, n, 1);
    if (local < 0) return err(SbiErr.INVALID_ADDRESS);
    if (g.gnt === null) return err(SbiErr.NO_SHMEM);
    const entry = g.grantFor(r, this.id);
    const toGrant = flags === BigInt(GNTCOPY_TO_GRANT);
    if (entry === null || (toGrant && entry.readonly)) return err(SbiErr.DENIED);
    const remote = entry.page * PAGE_SIZE + Number(offset);
    const mine = this.env.ram.u8;
    const theirs = g.env.ram.u8;
    if (toGrant) theirs.set(mine.subarray(local, local + n), remote);
    else mine.set(theirs.subarray(remote, remote + n), local);
    return ok(n);
  }

  gnttabEndAccess(ref: bigint): SbiRet {
    const r = PvxDomain.refArg(this, ref);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    if (this.gnt === null) return err(SbiErr.NO_SHMEM);
    if (this.refMaps.has(r)) return err(SbiErr.INVALID_STATE);
    this.env.ram.view.setUint16(this.gnt.off + 8 * r, 0, true);
    return ok(0);
  }

  // ------------------------------------------------------------------ §8 sched

  schedYield(vcpu: number): SbiRet {
    this.env.yieldNow(vcpu);
    return ok(0);
  }

  schedBlock(vcpu: number): SbiRet {
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    const dv = this.env.ram.view;
    dv.setUint8(this.viOff(vcpu) + Shinfo.VI_UPCALL_MASK, 0);
    if (this.viByte(vcpu, Shinfo.VI_UPCALL_PENDING) !== 0) {
      this.env.raiseUpcall(vcpu);
      return ok(0);
    }
    if (this.env.irqPending(vcpu)) return ok(0);
    this.wait[vcpu] = Wait.BLOCK;
    this.env.block(vcpu);
    return ok(0);
  }

  schedPoll(vcpu: number, gpa: bigint, n: bigint, deadline: bigint): SbiRet {
    const count = n === 0n ? -1 : below(n, PVX_POLL_MAX_PORTS + 1);
    if (count < 1) return err(SbiErr.INVALID_PARAM);
    const off = ramOffset(this.env.ram, gpa, 4 * count, 4);
    if (off < 0) return err(SbiErr.INVALID_ADDRESS);
    if (this.shinfo < 0) return err(SbiErr.NO_SHMEM);
    const ports: number[] = [];
    const dv = this.env.ram.view;
    for (let i = 0; i < count; i++) {
      const p = dv.getUint32(off + 4 * i, true);
      if (p < 1 || p >= PVX_EVTCHN_NR_PORTS || this.portState[p] === PortState.FREE) return err(SbiErr.INVALID_PARAM);
      ports.push(p);
    }
    const hit = this.firstPending(ports);
    if (hit !== NO_PORT) return ok(hit);
    const d = deadline === NONE ? Number.POSITIVE_INFINITY : Number(deadline);
    if (this.env.now() >= d) return err(SbiErr.TIMEOUT);
    this.wait[vcpu] = Wait.POLL;
    this.pollPorts[vcpu] = ports;
    this.pollDeadline[vcpu] = d;
    this.env.block(vcpu);
    return ok(0); // overwritten by wakeable() when the poll ends
  }

  schedShutdown(reason: bigint): SbiRet {
    const r = below(reason, 4);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    this.env.shutdown(r as ShutdownReason);
    return ok(0);
  }

  // ------------------------------------------------------------------ §9 memory

  memoryDecrease(gpa: bigint, n: bigint): SbiRet {
    return this.balloon(gpa, n, true);
  }

  memoryIncrease(gpa: bigint, n: bigint): SbiRet {
    return this.balloon(gpa, n, false);
  }

  private balloon(gpa: bigint, n: bigint, release: boolean): SbiRet {
    const count = n === 0n ? -1 : below(n, PVX_MEMORY_BATCH_MAX + 1);
    if (count < 1) return err(SbiErr.INVALID_PARAM);
    const ram = this.env.ram;
    const list = ramOffset(ram, gpa, 8 * count, 8);
    if (list < 0) return err(SbiErr.INVALID_ADDRESS);
    const stop = (error: number, i: number): SbiRet => ({ error, value: BigInt(i) });
    for (let i = 0; i < count; i++) {
      const gfn = ram.view.getBigUint64(list + 8 * i, true);
      const off = ramOffset(ram, gfn * BigInt(PAGE_SIZE), PAGE_SIZE, PAGE_SIZE);
      if (gfn >= 1n << 52n || off < 0) return stop(SbiErr.INVALID_ADDRESS, i);
      const page = off / PAGE_SIZE;
      if (this.released.has(page) === release) return stop(SbiErr.INVALID_STATE, i);
      if (release && (this.holdsPvxState(off) || this.pageMaps.has(page))) return stop(SbiErr.DENIED, i);
      ram.u8.fill(0, off, off + PAGE_SIZE);
      if (release) this.released.add(page);
      else this.released.delete(page);
    }
    return ok(count);
  }

  /** The page at RAM offset `off` holds the shared info page or part of the grant table. */
  private holdsPvxState(off: number): boolean {
    if (off === this.shinfo) return true;
    const g = this.gnt;
    return g !== null && off >= g.off && off < g.off + (g.entries / PVX_GNTTAB_ENTRIES_PER_FRAME) * PAGE_SIZE;
  }

  memoryReservation(which: bigint): SbiRet {
    switch (below(which, 3)) {
      case Reservation.CURRENT:
        return ok(this.maxFrames - this.released.size);
      case Reservation.MAXIMUM:
        return ok(this.maxFrames);
      case Reservation.TARGET:
        return ok(this.memTarget);
    }
    return err(SbiErr.INVALID_PARAM);
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * The domain's PVX state as an opaque blob for the snapshot's PARA section
   * (UTF-8 JSON, format 1). Taken while the run loop is parked. What refers to
   * other domains is recorded but cannot outlive a restore elsewhere: see loadState.
   */
  saveState(): Uint8Array {
    const ports: number[][] = [];
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) {
      if (this.portState[p] !== PortState.FREE) {
        ports.push([p, this.portState[p]!, this.portVcpu[p]!, this.portRemote[p]!, this.portRemotePort[p]!]);
      }
    }
    const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
    const state: PvxSavedState = {
      format: 1,
      vcpus: this.env.vcpuCount,
      frames: this.maxFrames,
      domid: this.id,
      shinfo: this.shinfo,
      systemTicks: this.env.now() - this.epochTick,
      ports,
      timer: [...this.timer].map(finite),
      wait: [...this.wait],
      pollPorts: this.pollPorts.map((l) => [...l]),
      pollDeadline: [...this.pollDeadline].map(finite),
      gnt: this.gnt === null ? null : [this.gnt.off, this.gnt.entries],
      released: [...this.released].sort((x, y) => x - y),
      memTarget: this.memTarget,
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
    if (s === null || typeof s !== 'object' || s.format !== 1) throw bad('unknown format');
    if (s.vcpus !== this.env.vcpuCount || s.frames !== this.maxFrames) throw bad('other vCPU count or RAM size');
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
      !(Number.isInteger(s.memTarget) && s.memTarget >= 0 && s.memTarget <= this.maxFrames) ||
      !(s.shutdownRequest === 0 || s.shutdownRequest === 1 || s.shutdownRequest === 2) ||
      !Number.isFinite(s.systemTicks)
    ) {
      throw bad('values out of range');
    }
    if (!Array.isArray(s.released) || s.released.some((p) => !Number.isSafeInteger(p) || p < 0 || p >= this.maxFrames))
      throw bad('released frames');
    this.dropAll();
    this.shinfo = s.shinfo;
    for (const [p, st, v, remote, rport] of s.ports) {
      let state = st as PortState;
      let rp = rport!;
      if (state === PortState.INTERDOMAIN && remote !== s.domid) {
        // connected to another domain: keep it only if that domain's port still points back at us
        const peer = this.host.get(remote!);
        const linked =
          peer !== undefined &&
          peer.portState[rport!] === PortState.INTERDOMAIN &&
          peer.portRemote[rport!] === this.id &&
          peer.portRemotePort[rport!] === p;
        if (!linked) {
          state = PortState.UNBOUND;
          rp = 0;
        }
      }
      this.setPort(p!, state, v!, remote === s.domid ? this.id : remote!, rp);
      if (state === PortState.VIRQ) this.virqPort[v! * PVX_NR_VIRQS + remote!] = p!;
    }
    const inf = (x: number | null) => (x === null ? Number.POSITIVE_INFINITY : x);
    for (let v = 0; v < n; v++) {
      this.timer[v] = inf(s.timer[v]!);
      this.wait[v] = s.wait[v]!;
      this.pollPorts[v] = s.pollPorts[v]!;
      this.pollDeadline[v] = inf(s.pollDeadline[v]!);
    }
    this.gnt = s.gnt === null ? null : { off: s.gnt[0], entries: s.gnt[1] };
    for (const p of s.released) this.released.add(p);
    this.memTarget = s.memTarget;
    this.shutdownRequest = s.shutdownRequest;
    this.epochTick = this.env.now() - s.systemTicks;
    if (this.shinfo >= 0) this.writeTime();
  }

  // ------------------------------------------------------------------ teardown

  /** Close every port (peers see UNBOUND), remove our window mappings, forget everything. */
  private dropAll(): void {
    // Forget the shared info page first: on a reboot the loader has already rewritten RAM,
    // so closing our ports must not touch what is there now.
    this.shinfo = -1;
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) if (this.portState[p] !== PortState.FREE) this.closePort(p);
    for (const s of this.window.slots.values()) s.release();
    this.window.slots.clear();
    for (let v = 0; v < this.env.vcpuCount; v++) this.env.flushTlb(v);
    this.virqPort.fill(NO_PORT);
    this.timer.fill(Number.POSITIVE_INFINITY);
    this.wait.fill(Wait.NONE);
    this.pollDeadline.fill(Number.POSITIVE_INFINITY);
    for (let v = 0; v < this.pollPorts.length; v++) this.pollPorts[v] = [];
    // Peers' mappings of our pages stay until they unmap (§6.4): refMaps/pageMaps keep counting them.
    this.gnt = null;
    this.released.clear();
    this.memTarget = this.maxFrames;
    this.shutdownRequest = 0;
  }
}

import type { StateCodec } from '../../core/state.js';
import { SbiErr } from '../../sbi/consts.js';
import type { PvxSchedCalls } from '../../sbi/pvx/calls.js';
import {
  NONE,
  PVX_EVTCHN_NR_PORTS,
  PVX_POLL_MAX_PORTS,
  Shinfo,
  type ShutdownReason,
  Virq,
} from '../../sbi/pvx/consts.js';
import { below, ramOffset } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import type { PvxEnv } from './env.js';
import { type EventChannels, NO_PORT } from './event-channels.js';
import type { SharedInfo } from './shared-info.js';

/** Wait states of a vCPU inside PVX. */
export const Wait = { NONE: 0, BLOCK: 1, POLL: 2 } as const;
type Wait = (typeof Wait)[keyof typeof Wait];

/**
 * The PVX timer and scheduling of one domain (docs/para-api-pvx.md §4.5,
 * §8): one timer deadline per vCPU, and each vCPU's wait inside PVX (none,
 * SCHED_BLOCK, SCHED_POLL with its port list and deadline), which the run
 * loop consults through `wakeable` and `nextDeadline`.
 */
export class Sched implements PvxSchedCalls {
  /** PVX_TIMER_SET deadline per vCPU (ticks; Infinity = none). */
  private readonly timer: Float64Array;
  private readonly wait: Uint8Array;
  private readonly pollDeadline: Float64Array;
  private readonly pollPorts: number[][];

  constructor(
    private readonly env: PvxEnv,
    private readonly shinfo: SharedInfo,
    private readonly events: EventChannels,
  ) {
    const n = env.vcpuCount;
    this.timer = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.wait = new Uint8Array(n);
    this.pollDeadline = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.pollPorts = Array.from({ length: n }, () => []);
  }

  // ------------------------------------------------------------------ guest calls

  timerSet(vcpu: number, deadline: bigint): SbiRet {
    const e = this.timerSetNum(vcpu, deadline === NONE ? Number.POSITIVE_INFINITY : Number(deadline));
    return e === SbiErr.SUCCESS ? ok(0) : err(e);
  }

  /** `timerSet` with the deadline as a number (Infinity: none); the hypercall fast path calls it. */
  timerSetNum(vcpu: number, deadline: number): number {
    if (!this.shinfo.registered) return SbiErr.NO_SHMEM;
    if (!this.events.virqBound(vcpu, Virq.TIMER)) return SbiErr.INVALID_STATE;
    this.timer[vcpu] = deadline;
    // A deadline due by the clock's last reading fires now; a later one is left to the run
    // loop's timer polls (at most CHECK_EVERY instructions away), as one that falls due while
    // the vCPU runs: no clock read on the hypercall path.
    if (deadline <= this.env.recent()) this.pollTimers(this.env.now());
    return SbiErr.SUCCESS;
  }

  yield(vcpu: number): SbiRet {
    this.env.yieldNow(vcpu);
    return ok(0);
  }

  block(vcpu: number): SbiRet {
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    this.env.ram.view.setUint8(this.shinfo.viOff(vcpu) + Shinfo.VI_UPCALL_MASK, 0);
    this.env.ram.dirty.mark(this.shinfo.viOff(vcpu) + Shinfo.VI_UPCALL_MASK, 1);
    if (this.shinfo.viByte(vcpu, Shinfo.VI_UPCALL_PENDING) !== 0) {
      this.env.raiseUpcall(vcpu);
      return ok(0);
    }
    if (this.env.irqPending(vcpu)) return ok(0);
    this.wait[vcpu] = Wait.BLOCK;
    this.env.block(vcpu);
    return ok(0);
  }

  poll(vcpu: number, gpa: bigint, n: bigint, deadline: bigint): SbiRet {
    const count = n === 0n ? -1 : below(n, PVX_POLL_MAX_PORTS + 1);
    if (count < 1) return err(SbiErr.INVALID_PARAM);
    const off = ramOffset(this.env.ram, gpa, 4 * count, 4);
    if (off < 0) return err(SbiErr.INVALID_ADDRESS);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    const ports: number[] = [];
    const dv = this.env.ram.view;
    for (let i = 0; i < count; i++) {
      const p = dv.getUint32(off + 4 * i, true);
      if (p < 1 || p >= PVX_EVTCHN_NR_PORTS || !this.events.isOpen(p)) return err(SbiErr.INVALID_PARAM);
      ports.push(p);
    }
    const hit = this.events.firstPending(ports);
    if (hit !== NO_PORT) return ok(hit);
    const d = deadline === NONE ? Number.POSITIVE_INFINITY : Number(deadline);
    if (this.env.now() >= d) return err(SbiErr.TIMEOUT);
    this.wait[vcpu] = Wait.POLL;
    this.pollPorts[vcpu] = ports;
    this.pollDeadline[vcpu] = d;
    this.env.block(vcpu);
    return ok(0); // overwritten by wakeable() when the poll ends
  }

  shutdown(reason: bigint): SbiRet {
    const r = below(reason, 4);
    if (r < 0) return err(SbiErr.INVALID_PARAM);
    this.env.shutdown(r as ShutdownReason);
    return ok(0);
  }

  // ------------------------------------------------------------------ run-loop hooks

  /** Fire VIRQ_TIMER on every vCPU whose deadline is at or before `now` (once per set). */
  pollTimers(now: number): void {
    const t = this.timer;
    for (let v = 0; v < t.length; v++) {
      if (t[v]! <= now) {
        t[v] = Number.POSITIVE_INFINITY;
        this.events.raiseVirq(v, Virq.TIMER);
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
      const pending = this.shinfo.registered && this.shinfo.viByte(vcpu, Shinfo.VI_UPCALL_PENDING) !== 0;
      if (!pending && !this.env.irqPending(vcpu)) return false;
      this.wait[vcpu] = Wait.NONE;
      if (pending && this.shinfo.viByte(vcpu, Shinfo.VI_UPCALL_MASK) === 0) this.env.raiseUpcall(vcpu);
      return true;
    }
    const port = this.events.firstPending(this.pollPorts[vcpu]!);
    if (port !== NO_PORT) this.env.setResult(vcpu, 0, BigInt(port));
    else if (this.env.now() >= this.pollDeadline[vcpu]!) this.env.setResult(vcpu, SbiErr.TIMEOUT, 0n);
    else return false;
    this.wait[vcpu] = Wait.NONE;
    this.pollPorts[vcpu] = [];
    this.pollDeadline[vcpu] = Number.POSITIVE_INFINITY;
    return true;
  }

  /** Earliest deadline (timer or poll) in ticks, Infinity when none: the run loop's idle bound. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (let v = 0; v < this.timer.length; v++) {
      if (this.timer[v]! < next) next = this.timer[v]!;
      if (this.wait[v] === Wait.POLL && this.pollDeadline[v]! < next) next = this.pollDeadline[v]!;
    }
    return next;
  }

  // ------------------------------------------------------------------ for the rest of PVX

  /** VIRQ_TIMER of `vcpu` was unbound. */
  cancelTimer(vcpu: number): void {
    this.timer[vcpu] = Number.POSITIVE_INFINITY;
  }

  /** The shared info page went away: no timer can fire. */
  cancelTimers(): void {
    this.timer.fill(Number.POSITIVE_INFINITY);
  }

  /** No timer, no vCPU waiting. */
  reset(): void {
    this.timer.fill(Number.POSITIVE_INFINITY);
    this.wait.fill(Wait.NONE);
    this.pollDeadline.fill(Number.POSITIVE_INFINITY);
    for (let v = 0; v < this.pollPorts.length; v++) this.pollPorts[v] = [];
  }

  saveState(): SchedState {
    return Array.from(this.wait, (wait, v) => ({
      timer: this.timer[v]!,
      wait: wait as Wait,
      pollPorts: [...this.pollPorts[v]!],
      pollDeadline: this.pollDeadline[v]!,
    }));
  }

  loadState(s: SchedState): void {
    s.forEach((x, v) => {
      this.timer[v] = x.timer;
      this.wait[v] = x.wait;
      this.pollPorts[v] = [...x.pollPorts];
      this.pollDeadline[v] = x.pollDeadline;
    });
  }
}

/** One vCPU's timer and wait; deadlines in ticks, Infinity = none. */
export interface VcpuSchedState {
  readonly timer: number;
  readonly wait: Wait;
  /** SCHED_POLL's ports (empty unless wait is POLL). */
  readonly pollPorts: readonly number[];
  readonly pollDeadline: number;
}

/** Per vCPU. */
export type SchedState = readonly VcpuSchedState[];

export const schedStateCodec: StateCodec<SchedState, { vcpus: number }> = {
  write(w, s) {
    w.list(s, (w, v) => {
      w.ticks(v.timer)
        .u8(v.wait)
        .list(v.pollPorts, (w, p) => w.u16(p))
        .ticks(v.pollDeadline);
    });
  },
  read(r, { vcpus }) {
    const s = r.list('vCPUs', vcpus, 21, (r) => ({
      timer: r.ticks('timer deadline'),
      wait: r.oneOf('wait', [Wait.NONE, Wait.BLOCK, Wait.POLL]),
      pollPorts: r.list('poll ports', PVX_POLL_MAX_PORTS, 2, (r) => {
        const p = r.u16('poll port', PVX_EVTCHN_NR_PORTS - 1);
        if (p === 0) r.fail('poll port 0');
        return p;
      }),
      pollDeadline: r.ticks('poll deadline'),
    }));
    if (s.length !== vcpus) r.mismatch(`${s.length} vCPUs saved, the domain has ${vcpus}`);
    return s;
  },
};

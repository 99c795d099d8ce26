import { HsmState } from '../sbi/consts.js';
import type { VcpuHart } from './guest-hart.js';

/** Pending non-retentive resume of an HSM-suspended hart. */
interface Resume {
  retentive: boolean;
  addr: bigint;
  opaque: bigint;
}

/** One virtual CPU of a domain: the hart plus what the hypervisor tracks for it. */
export class Vcpu {
  /** HSM state (SBI v2.0 §9). Only STARTED, STOPPED and SUSPENDED are ever visible: transitions are immediate. */
  state: HsmState;
  /** Executed WFI (or HSM suspend) with nothing pending: runnable again when (mip & mie) != 0. */
  waiting = false;
  /** PV mode: S-mode timer deadline in mtime ticks (Infinity = disarmed). */
  deadline = Number.POSITIVE_INFINITY;
  /** HSM suspend in progress. */
  suspend: Resume | null = null;
  /** STA: guest-physical address of the steal-time record, or null. */
  staAddr: number | null = null;
  /** Steal time reported so far (ns). */
  stealNs = 0;
  /** Host time (ms) when the vCPU was last descheduled while still runnable, or -1. */
  readySinceMs = -1;

  /** The hart runs on a thread of its own (threads.ts): the domain's run loop leaves it alone. */
  readonly remote: boolean;

  constructor(
    readonly id: number,
    readonly hart: VcpuHart,
    started: boolean,
  ) {
    this.state = started ? HsmState.STARTED : HsmState.STOPPED;
    this.remote = (hart as { remoteThread?: boolean }).remoteThread === true;
  }

  get running(): boolean {
    return this.state === HsmState.STARTED || this.state === HsmState.SUSPENDED;
  }
}

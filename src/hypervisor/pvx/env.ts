import type { GuestRam } from '../../memory/ram.js';
import type { ShutdownReason } from '../../sbi/pvx/consts.js';

/**
 * What PVX needs from the domain it serves: RAM, time, the vCPUs' interrupt
 * lines and the run loop. `attachPvx` (attach.ts) implements it over a
 * Domain; unit tests use a fake.
 */
export interface PvxEnv {
  readonly ram: GuestRam;
  readonly vcpuCount: number;
  /** The `time` CSR (ticks of 10 MHz). */
  now(): number;
  /** A reading of `now` no later than now(), taken without reading the clock again (TimeSource.recent). */
  recent(): number;
  /** Host wall clock, ns since 1970-01-01 UTC. */
  wallClockNs(): bigint;
  /** Set sip.SSIP of `vcpu` (the upcall, §4.3). */
  raiseUpcall(vcpu: number): void;
  /** Some interrupt is pending and enabled on `vcpu` (sip & sie != 0). */
  irqPending(vcpu: number): boolean;
  /** Take `vcpu` off the run queue until the run loop's wake check (PvxDomain.wakeable) says it may run. */
  block(vcpu: number): void;
  /** End the calling vCPU's time slice after this call (SCHED_YIELD). */
  yieldNow(vcpu: number): void;
  /** Stop the domain (SCHED_SHUTDOWN) once the current call returns. */
  shutdown(reason: ShutdownReason): void;
  /** Drop `vcpu`'s cached translations (grant unmap). */
  flushTlb(vcpu: number): void;
  /** Overwrite a0/a1 of `vcpu`: the result of a call that blocked (SCHED_POLL). */
  setResult(vcpu: number, error: number, value: bigint): void;
  /** Wake the run loop if it is idle on the host (an event came from another domain or the host). */
  kick(): void;
  /** VIRQ_CONSOLE was bound: host console input should go to the SBI console. */
  consoleBound(): void;
}

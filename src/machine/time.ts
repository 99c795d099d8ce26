import { TIMEBASE_HZ } from './memmap.js';

/**
 * A source of `mtime` ticks (TIMEBASE_HZ, 10 MHz) as a number; structurally
 * the same as the CPU's TimeSource, so one object serves the hart's `time`
 * CSR and the CLINT.
 */
export interface TimeSource {
  now(): number;
  /**
   * Optional: a reading no later than now() without reading the clock again (a host clock's
   * last reading). The hypercall fast path compares a new timer deadline with it: a deadline at
   * or before it is due now; a later one is left to the run loop's timer polls.
   */
  recent?(): number;
}

/**
 * mtime from a host monotonic clock in milliseconds (e.g. `performance.now`),
 * counted from the moment this source is created. The machine layer has no
 * host APIs, so the host passes the clock in.
 */
export function hostTimeSource(nowMs: () => number): TimeSource {
  return new HostTimeSource(nowMs);
}

const TICKS_PER_MS = TIMEBASE_HZ / 1000;

/**
 * The host clock as mtime ticks plus `shift` (snapshots move the time base), in one object:
 * the PVX timer reads it on every hypercall that sets a deadline, so no wrapper sits between
 * the reader and the host's clock.
 */
export class HostTimeSource implements TimeSource {
  /** Ticks added to every reading. */
  shift = 0;
  private readonly start: number;
  /** The last reading without the shift (a restore may move the shift after it). */
  private last = 0;
  constructor(private readonly nowMs: () => number) {
    this.start = nowMs();
  }
  now(): number {
    this.last = Math.floor((this.nowMs() - this.start) * TICKS_PER_MS);
    return this.last + this.shift;
  }
  /** The last reading (a host clock read costs 60-80 ns: a hypercall that sets a timer would pay it). */
  recent(): number {
    return this.last + this.shift;
  }
}

/** Any TimeSource plus `shift` ticks (snapshots move the time base). */
export class ShiftedTimeSource implements TimeSource {
  shift = 0;
  constructor(private readonly raw: TimeSource) {}
  now(): number {
    return this.raw.now() + this.shift;
  }
}

/**
 * Deterministic mtime: advances with instructions retired (`instret()`),
 * `ticksPerInsn` ticks per instruction (default 1/100: a 1 GIPS guest clock
 * seen at 10 MHz would be 0.01; we take 100 instructions per tick, which
 * makes a 1 ms timer fire after 1M instructions). Identical runs see
 * identical times, which tests need. `skip(ticks)` moves time forward when
 * the board idles in WFI (there is no other way for time to pass).
 */
export class InstretTimeSource implements TimeSource {
  /** Ticks added to every reading (snapshots move the time base). */
  shift = 0;
  private offset = 0;
  constructor(
    private readonly instret: () => number,
    private readonly insnsPerTick = 100,
  ) {}
  now(): number {
    return Math.floor(this.instret() / this.insnsPerTick) + this.offset + this.shift;
  }
  /** Advance time by `ticks` without retiring instructions (idle in WFI). */
  skip(ticks: number): void {
    if (ticks > 0) this.offset += Math.ceil(ticks);
  }
}

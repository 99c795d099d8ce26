import { TIMEBASE_HZ } from './memmap.js';

/**
 * A source of `mtime` ticks (TIMEBASE_HZ, 10 MHz) as a number; structurally
 * the same as the CPU's TimeSource, so one object serves the hart's `time`
 * CSR and the CLINT.
 */
export interface TimeSource {
  now(): number;
}

/**
 * mtime from a host monotonic clock in milliseconds (e.g. `performance.now`),
 * counted from the moment this source is created. The machine layer has no
 * host APIs, so the host passes the clock in.
 */
export function hostTimeSource(nowMs: () => number): TimeSource {
  const start = nowMs();
  const ticksPerMs = TIMEBASE_HZ / 1000;
  return { now: () => Math.floor((nowMs() - start) * ticksPerMs) };
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
  private offset = 0;
  constructor(
    private readonly instret: () => number,
    private readonly insnsPerTick = 100,
  ) {}
  now(): number {
    return Math.floor(this.instret() / this.insnsPerTick) + this.offset;
  }
  /** Advance time by `ticks` without retiring instructions (idle in WFI). */
  skip(ticks: number): void {
    if (ticks > 0) this.offset += Math.ceil(ticks);
  }
}

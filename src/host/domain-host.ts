import { performance } from 'node:perf_hooks';
import type { DomainHost } from '../hypervisor/domain.js';

/**
 * The Node.js side of a running domain, for `pvm run`, the daemon and the library alike: a
 * monotonic clock, an idle sleep that console input (or anything else) can cut short with
 * `wake()`, a macrotask yield, buffered console output (one write per batch, not per byte),
 * and a pause gate.
 *
 * The gate: the run loop calls `yield` or `idle` between rounds, when every vCPU is at an
 * instruction boundary, and a requested `pause` parks it right there until `unpause`. The guest
 * clock stands still while paused, so a paused guest does not see time jump. A host built with
 * `paused: true` (the daemon's, for a domain created paused or restored) starts with the gate
 * closed and its clock stopped.
 */
export class NodeDomainHost implements DomainHost {
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private pausedTotal = 0;
  /** Closed while paused: the run loop waits on it at its next checkpoint. */
  private gate: { promise: Promise<void>; open: () => void; since: number } | null = null;
  private parkedWaiters: (() => void)[] = [];
  private parked = false;
  /** The run loop has returned: it will never park again. */
  private ended = false;

  constructor(
    private readonly sink: (bytes: Uint8Array) => void = (b) => process.stdout.write(b),
    options: { paused?: boolean } = {},
  ) {
    if (options.paused) this.closeGate();
  }

  nowMs(): number {
    const t = performance.now();
    return t - this.pausedTotal - (this.gate ? t - this.gate.since : 0);
  }

  cpuMs(): number {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }

  async idle(ms: number): Promise<void> {
    this.flush();
    if (this.woken) this.woken = false;
    else {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.wakeUp = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.wakeUp = done;
      });
    }
    await this.checkpoint();
  }

  /** Cut the current (or next) idle sleep short (input arrived, a pause or stop was asked). */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  async yield(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.checkpoint();
  }

  consoleOut(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.out.push(bytes.slice());
    this.outBytes += bytes.length;
    if (this.outBytes >= 4096) this.flush();
  }

  flush(): void {
    if (this.outBytes === 0) return;
    const b = new Uint8Array(this.outBytes);
    let o = 0;
    for (const c of this.out) {
      b.set(c, o);
      o += c.length;
    }
    this.out = [];
    this.outBytes = 0;
    this.sink(b);
  }

  /** Resolves once the run loop is parked at the gate, or has ended. */
  pause(): Promise<void> {
    this.closeGate();
    if (this.parked || this.ended) return Promise.resolve();
    const parked = new Promise<void>((r) => this.parkedWaiters.push(r));
    this.wake();
    return parked;
  }

  unpause(): void {
    const g = this.gate;
    if (!g) return;
    this.pausedTotal += performance.now() - g.since;
    this.gate = null;
    g.open();
  }

  /** Called when the run loop returns: a pause waiting for it to park (the guest ended first) goes on. */
  loopEnded(): void {
    this.ended = true;
    this.flush();
    for (const w of this.parkedWaiters.splice(0)) w();
  }

  private async checkpoint(): Promise<void> {
    if (!this.gate) return;
    this.flush();
    this.parked = true;
    for (const w of this.parkedWaiters.splice(0)) w();
    await this.gate.promise;
    this.parked = false;
  }

  private closeGate(): void {
    if (this.gate) return;
    let open!: () => void;
    const promise = new Promise<void>((r) => {
      open = r;
    });
    this.gate = { promise, open, since: performance.now() };
  }
}

import type { DomainHost } from '../../src/hypervisor/domain.js';

/**
 * The browser side of a running domain (in a Web Worker): the same DomainHost interface the
 * Node host (src/host/domain-host.ts) implements, over the browser's clock and event loop. A
 * MessageChannel gives the run loop a macrotask turn (setTimeout(0) would be clamped to 4 ms),
 * console output is batched per turn, and a pause gate parks the run loop between rounds with
 * the guest clock stopped, so a snapshot sees every hart at an instruction boundary.
 */
export class BrowserDomainHost implements DomainHost {
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private pausedTotal = 0;
  private gate: { promise: Promise<void>; open: () => void; since: number } | null = null;
  private parkedWaiters: (() => void)[] = [];
  private parked = false;
  private ended = false;
  private readonly channel = new MessageChannel();
  private turns: (() => void)[] = [];

  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    options: { paused?: boolean } = {},
  ) {
    this.channel.port1.onmessage = () => this.turns.shift()?.();
    if (options.paused) this.closeGate();
  }

  nowMs(): number {
    const t = performance.now();
    return t - this.pausedTotal - (this.gate ? t - this.gate.since : 0);
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

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  async yield(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve) => {
      this.turns.push(resolve);
      this.channel.port2.postMessage(0);
    });
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

  get paused(): boolean {
    return this.gate !== null;
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

import type { DomainHost } from './domain.js';
import type { SchedEntity } from './scheduler.js';

/**
 * The part of a DomainHost that is the same on every host (Node.js, a browser's Web Worker):
 * buffered console output (one write per batch, not per byte), an idle sleep that `wake()` cuts
 * short, and the pause gate. A host supplies its clock, its timer and its macrotask turn.
 *
 * The gate: the run loop calls `yield` or `idle` between rounds, when every vCPU is at an
 * instruction boundary, and a requested `pause` parks it right there until `unpause`. The guest
 * clock stands still while paused, so a paused guest does not see time jump. A host built with
 * `paused: true` (a domain created paused or restored) starts with the gate closed and its clock
 * stopped. A domain whose harts run on threads holds them when the loop parks (`onPark`); they
 * go on with the loop, their clock moved on past the pause.
 *
 * With a scheduler entity (`sched`), the run loop's turns are granted by the host thread's credit
 * scheduler (src/hypervisor/scheduler.ts) instead of coming round in event-loop order: each
 * `yield` and `idle` charges the turn's host time to the entity and gives the thread back, and
 * the loop goes on when the scheduler grants it its next turn.
 */
export abstract class GatedDomainHost implements DomainHost {
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
  /** This domain's place in the thread's scheduler, or null (turns in event-loop order). */
  private readonly sched: SchedEntity | null;
  /** Host clock when the run loop last got the thread back (start of the current turn). */
  private runSince: number;
  onPark: (() => void) | undefined = undefined;

  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    options: { paused?: boolean; sched?: SchedEntity } = {},
  ) {
    this.sched = options.sched ?? null;
    if (options.paused) this.closeGate();
    this.runSince = this.clock();
  }

  /** The host's monotonic clock, in milliseconds. */
  protected abstract clock(): number;
  /** Calls `fn` after `ms`; returns what cancels it. */
  protected abstract timer(ms: number, fn: () => void): () => void;
  /** Resolves after one macrotask turn of the host's event loop. */
  protected abstract turn(): Promise<void>;

  nowMs(): number {
    const t = this.clock();
    return t - this.pausedTotal - (this.gate ? t - this.gate.since : 0);
  }

  async idle(ms: number): Promise<void> {
    this.flush();
    this.sched?.release(this.clock() - this.runSince);
    if (this.woken) this.woken = false;
    else {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          cancel();
          this.wakeUp = null;
          resolve();
        };
        const cancel = this.timer(ms, done);
        this.wakeUp = done;
      });
    }
    await this.nextTurn();
  }

  /** Cut the current (or next) idle sleep short (input arrived, a pause or stop was asked). */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  async yield(): Promise<void> {
    this.flush();
    if (this.sched !== null) {
      this.sched.release(this.clock() - this.runSince);
      return this.nextTurn();
    }
    await this.turn();
    await this.checkpoint();
  }

  /** Parks while paused, then (with a scheduler) waits for a turn; a pause asked meanwhile parks first. */
  private async nextTurn(): Promise<void> {
    const sched = this.sched;
    for (;;) {
      await this.checkpoint();
      if (sched === null) return;
      await sched.acquire();
      if (!this.gate || this.ended) break;
      sched.release(0); // paused while it waited: park before the turn
    }
    this.runSince = this.clock();
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
    this.sched?.interrupt(); // waiting for a turn (a cap may hold it for long): park now
    return parked;
  }

  unpause(): void {
    const g = this.gate;
    if (!g) return;
    this.pausedTotal += this.clock() - g.since;
    this.gate = null;
    this.runSince = this.clock();
    g.open();
  }

  /** Called when the run loop returns: a pause waiting for it to park (the guest ended first) goes on. */
  loopEnded(): void {
    this.ended = true;
    this.sched?.remove();
    this.flush();
    for (const w of this.parkedWaiters.splice(0)) w();
  }

  private async checkpoint(): Promise<void> {
    if (!this.gate) return;
    this.flush();
    this.onPark?.(); // harts on threads stop too before the pause is reported done
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
    this.gate = { promise, open, since: this.clock() };
  }
}

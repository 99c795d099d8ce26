import { performance } from 'node:perf_hooks';
import type { DomainHost } from '../hypervisor/domain.js';

/**
 * The Node.js side of a running domain: a monotonic clock, an idle sleep that
 * console input (or anything else) can cut short with `wake()`, a macrotask
 * yield, and buffered console output (one write per batch, not per byte).
 */
export class NodeDomainHost implements DomainHost {
  private out: number[] = [];
  private wakeUp: (() => void) | null = null;
  private woken = false;

  constructor(private readonly sink: (bytes: Uint8Array) => void = (b) => process.stdout.write(b)) {}

  nowMs(): number {
    return performance.now();
  }

  cpuMs(): number {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }

  idle(ms: number): Promise<void> {
    this.flush();
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Cut the current (or next) idle sleep short. */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  yield(): Promise<void> {
    this.flush();
    return new Promise((resolve) => setImmediate(resolve));
  }

  consoleOut(bytes: Uint8Array): void {
    for (const b of bytes) this.out.push(b);
    if (this.out.length >= 4096) this.flush();
  }

  flush(): void {
    if (this.out.length === 0) return;
    const b = Uint8Array.from(this.out);
    this.out = [];
    this.sink(b);
  }
}

import { performance } from 'node:perf_hooks';
import { GatedDomainHost } from '../hypervisor/gated-host.js';
import { CreditScheduler, type SchedEntity } from '../hypervisor/scheduler.js';

/**
 * The Node.js side of a running domain, for `pvm run`, the daemon and the library alike:
 * Node's monotonic clock, timers and `setImmediate` turns, and the process's CPU time, under
 * the console batching and pause gate every host shares (src/hypervisor/gated-host.ts).
 */
export class NodeDomainHost extends GatedDomainHost {
  constructor(
    sink: (bytes: Uint8Array) => void = (b) => process.stdout.write(b),
    options: { paused?: boolean; sched?: SchedEntity } = {},
  ) {
    super(sink, options);
  }

  protected clock(): number {
    return performance.now();
  }

  protected timer(ms: number, fn: () => void): () => void {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  }

  protected turn(): Promise<void> {
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  cpuMs(): number {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
}

/** The credit scheduler of this Node.js thread: its clock, `setImmediate` turns and timers. */
export function nodeScheduler(): CreditScheduler {
  return new CreditScheduler({
    now: () => performance.now(),
    later: (fn) => void setImmediate(fn),
    timer: (ms, fn) => {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    },
  });
}

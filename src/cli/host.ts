import { performance } from 'node:perf_hooks';
import type { BareHost } from '../hypervisor/bare.js';
import type { CliIo } from './context.js';

/** The Node side of a bare-metal run: monotonic clock, sleep, console to stdout. */
export function nodeBareHost(io: CliIo): BareHost {
  return {
    nowMs: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    console: (bytes) => io.stdout(bytes),
    wallClockNs: () => BigInt(Date.now()) * 1_000_000n,
    yield: () => new Promise((resolve) => setImmediate(resolve)),
    cpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
  };
}

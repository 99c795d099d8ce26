import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { PvmError } from '../core/errors.js';
import type { BareHost } from '../hypervisor/bare.js';
import type { CliIo } from './context.js';

/** Reads a whole file; a missing or unreadable file is a PvmError('io') with a one-line message. */
export function readImage(path: string, what = 'file'): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new PvmError('io', `cannot read ${what} ${path}: ${why}`);
  }
}

/** The Node side of a bare-metal run: monotonic clock, sleep, console to stdout. */
export function nodeBareHost(io: CliIo): BareHost {
  return {
    nowMs: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    console: (bytes) => io.stdout(bytes),
    wallClockNs: () => BigInt(Date.now()) * 1_000_000n,
    cpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
  };
}

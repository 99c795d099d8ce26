import type { DirtyLog } from '../core/dirty-log.js';
/**
 * The seams between the hart and the rest of the machine. The CPU layer does
 * not import the board or the RAM class: these interfaces are structural, and
 * src/machine/bus.ts (Bus) and src/memory/ram.ts (GuestRam) satisfy them.
 */

/** Physical bus for everything that is not RAM (MMIO). Sizes 1, 2 or 4; 8-byte accesses are split by the hart. */
export interface PhysBus {
  has(pa: number): boolean;
  /** Optional: false where loads work but stores must fault (a read-only PVX grant mapping). Defaults to `has`. */
  writable?(pa: number): boolean;
  read(pa: number, size: 1 | 2 | 4): number;
  write(pa: number, size: 1 | 2 | 4, value: number): void;
}

/** Source of the `time` CSR: mtime ticks (10 MHz on the virt board). */
export interface TimeSource {
  now(): number;
  /** Optional: a reading no later than now() without reading the clock again (machine/time.ts). */
  recent?(): number;
}

/** The part of GuestRam the hart uses: one contiguous region at `base` backed by `buffer`. */
export interface RamLike {
  readonly base: number;
  readonly size: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** The WebAssembly.Memory backing `buffer` (RAM at offset 0), when there is one. */
  readonly wasmMemory?: object | undefined;
  /** Reserve bytes after RAM in `buffer` for a hart's state (offset, or -1): see GuestRam. */
  claimCpuState?(bytes: number): number;
  /** The dirty-page log of live migration (src/core/dirty-log.ts), when the RAM keeps one. */
  readonly dirty?: DirtyLog;
}

/** A bus with nothing on it. */
export const EMPTY_BUS: PhysBus = {
  has: () => false,
  read: () => 0,
  write: () => {},
};

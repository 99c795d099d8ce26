/**
 * The seams between the virtio-mmio transport, the device models and the board.
 * A device model sees guest memory (through `GuestRam`), its queues and an
 * interrupt pin through `VirtioTransport`; it never sees the CPU or the bus.
 */
import type { StateCodec } from '../../core/state.js';
import type { GuestRam } from '../../memory/ram.js';
import type { Chain } from './chain.js';
import type { SplitQueue } from './queue.js';

/**
 * One interrupt wire of a device, level-triggered: the transport drives it high while
 * InterruptStatus is non-zero. The hypervisor connects it to PLIC source `1 + slot`
 * (see `plicPin`). Named `IrqPin` because `machine/irq.ts` already has an `IrqLine`
 * (the PLIC's `setLevel(irq, level)`).
 */
export interface IrqPin {
  set(level: boolean): void;
}

/** What a device model may ask of its transport. */
export interface VirtioTransport {
  readonly ram: GuestRam;
  /**
   * Increments on every device reset. A request started under one epoch and finishing
   * under another belongs to a driver that is gone: its completion must not touch memory.
   */
  readonly epoch: number;
  /** True when `epoch` is the current one and the device is running: guest memory may be touched. */
  current(epoch: number): boolean;
  /** DRIVER_OK is set and the device does not need a reset: queues may be used. */
  readonly running: boolean;
  /** A feature bit (number) the driver accepted. */
  hasFeature(bit: number): boolean;
  queue(index: number): SplitQueue;
  /**
   * The next available chain of queue `q`, or null. A malformed ring or chain puts the
   * device into DEVICE_NEEDS_RESET (§2.1.2) and returns null; the host goes on.
   */
  pop(q: number): Chain | null;
  /** Puts the last `n` chains popped from queue `q` (none of them completed) back. */
  unpop(q: number, n: number): void;
  /**
   * Returns a chain to the driver with `len` bytes written, and raises the used-buffer
   * interrupt if the driver asked for one. Ignored when `epoch` is stale (reset since).
   */
  complete(q: number, head: number, len: number, epoch?: number): void;
  /** Config space changed: bump config generation, raise the config interrupt (§2.5, §4.2.2). */
  configChanged(): void;
  /** The device is in an error state: set DEVICE_NEEDS_RESET (§2.1.2). */
  fail(reason: string): void;
}

/** A device model plugged into a virtio transport. */
export interface VirtioDevice {
  /** Short kind for names and messages: "blk", "net", ... */
  readonly kind: string;
  /** §5: device id. */
  readonly deviceId: number;
  /** Maximum size of each queue (powers of 2); the length is the number of queues. */
  readonly queueSizes: readonly number[];
  /** Device-specific feature bits offered (the transport adds VERSION_1, INDIRECT_DESC, EVENT_IDX). */
  readonly features: bigint;
  /** The device configuration space, kept current by the device; the transport reads it. */
  readonly config: Uint8Array;
  /** A driver write into the configuration space; read-only fields ignore it. */
  writeConfig?(offset: number, size: 1 | 2 | 4, value: number): void;
  /** Called once, when the transport is built. */
  attach(t: VirtioTransport): void;
  /** DRIVER_OK with every ready queue validated. Returns an error message to refuse. */
  activate(): string | null;
  /** The driver notified queue `q` (only while running). */
  notify(q: number): void;
  /** Device reset: drop all device state that belongs to the driver. */
  reset(): void;
  /** Requests still being served by an asynchronous backend. */
  readonly inFlight: number;
  /** Resolves once `inFlight` is 0 (devices with asynchronous backends). */
  drain?(): Promise<void>;
  /** Device-specific snapshot state beyond the transport's; absent when the device keeps none. */
  readonly state?: VirtioDeviceState<unknown>;
}

/**
 * A device model's own snapshot state: its codec (which validates while it
 * reads), what to save, and how to load what the codec read (which cannot fail).
 */
export interface VirtioDeviceState<S> {
  readonly codec: StateCodec<S>;
  save(): S;
  load(s: S): void;
}

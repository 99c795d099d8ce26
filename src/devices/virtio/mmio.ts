/**
 * The virtio-mmio transport, version 2 register layout (virtio 1.2 §4.2.2).
 *
 * Status is a transition table (§2.1, §3.1.1): ACKNOWLEDGE -> DRIVER -> FEATURES_OK ->
 * DRIVER_OK, bits only ever added, 0 resets. Queues are validated once at DRIVER_OK and
 * frozen; a failed activation or a malformed ring sets DEVICE_NEEDS_RESET instead of
 * throwing. Nothing a guest writes here can throw into the host.
 */

import { PvmError } from '../../core/errors.js';
import { isSnapshotError, StateReader, StateWriter } from '../../core/state.js';
import type { MmioDevice } from '../../machine/bus.js';
import type { GuestRam } from '../../memory/ram.js';
import { type Chain, ChainError } from './chain.js';
import {
  bit,
  Feature,
  Interrupt,
  MMIO_MAGIC,
  MMIO_VERSION,
  MmioReg,
  PVM_VENDOR_ID,
  Status,
  TRANSPORT_FEATURES,
} from './constants.js';
import type { IrqPin, VirtioDevice, VirtioTransport } from './device.js';
import { SplitQueue } from './queue.js';
import { type TransportState, transportStateCodec } from './state.js';

/**
 * The status transition table: the bit that must already be set before each bit may be
 * set (§3.1.1 Driver Requirements: Device Initialization gives the order).
 */
const STATUS_STEPS: readonly (readonly [bit: number, requires: number])[] = [
  [Status.ACKNOWLEDGE, 0],
  [Status.DRIVER, Status.ACKNOWLEDGE],
  [Status.FEATURES_OK, Status.DRIVER],
  [Status.DRIVER_OK, Status.FEATURES_OK],
];

/** Counters for diagnostics and benchmarks. */
export interface TransportStats {
  notifications: number;
  interrupts: number;
  chainErrors: number;
  badAccesses: number;
}

export interface VirtioMmioOptions {
  /** Name on the bus, e.g. "virtio-blk@0". Default `virtio-<kind>`. */
  name?: string;
  /** Called with a one-line reason whenever the device enters DEVICE_NEEDS_RESET or refuses a write. */
  log?: (message: string) => void;
}

export class VirtioMmio implements MmioDevice, VirtioTransport {
  readonly name: string;
  readonly queues: SplitQueue[];
  readonly stats: TransportStats = { notifications: 0, interrupts: 0, chainErrors: 0, badAccesses: 0 };
  /** The reason of the last DEVICE_NEEDS_RESET, for diagnostics. */
  lastError: string | null = null;

  status = 0;
  epoch = 0;
  interruptStatus = 0;
  configGeneration = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatureWords = [0, 0];
  private unknownFeatures = false;
  private negotiated = 0n;
  private queueSel = 0;
  private irqLevel = false;
  private readonly offered: bigint;
  private readonly log: (message: string) => void;

  constructor(
    readonly device: VirtioDevice,
    readonly ram: GuestRam,
    private readonly irq: IrqPin,
    options: VirtioMmioOptions = {},
  ) {
    this.name = options.name ?? `virtio-${device.kind}`;
    this.log = options.log ?? (() => {});
    this.queues = device.queueSizes.map((n, i) => new SplitQueue(i, n));
    this.offered = TRANSPORT_FEATURES | device.features;
    device.attach(this);
  }

  // ---- VirtioTransport (the device model's side) ----

  get running(): boolean {
    return (this.status & (Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET | Status.FAILED)) === Status.DRIVER_OK;
  }

  current(epoch: number): boolean {
    return epoch === this.epoch && this.running;
  }

  hasFeature(n: number): boolean {
    return (this.negotiated & bit(n)) !== 0n;
  }

  queue(index: number): SplitQueue {
    return this.queues[index]!;
  }

  pop(q: number): Chain | null {
    if (!this.running) return null;
    const queue = this.queues[q];
    if (queue === undefined) return null;
    const c = queue.pop();
    if (c instanceof ChainError) {
      this.stats.chainErrors++;
      this.fail(`queue ${q}: ${c}`);
      return null;
    }
    return c;
  }

  unpop(q: number, n: number): void {
    if (this.running) this.queues[q]?.rewind(n);
  }

  complete(q: number, head: number, len: number, epoch = this.epoch): void {
    if (epoch !== this.epoch || !this.running) return;
    const queue = this.queues[q];
    if (queue === undefined) return;
    queue.pushUsed(head, len);
    if (queue.needsInterrupt()) this.raise(Interrupt.USED_BUFFER);
  }

  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & Status.DRIVER_OK) this.raise(Interrupt.CONFIG_CHANGE);
  }

  fail(reason: string): void {
    this.lastError = reason;
    this.log(`${this.name}: device needs reset: ${reason}`);
    if (this.status & Status.DEVICE_NEEDS_RESET) return;
    this.status |= Status.DEVICE_NEEDS_RESET;
    // §2.1.2: "If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the device MUST send a
    // device configuration change notification to the driver."
    if (this.status & Status.DRIVER_OK) this.raise(Interrupt.CONFIG_CHANGE);
  }

  private raise(bits: number): void {
    this.interruptStatus |= bits;
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = this.interruptStatus !== 0;
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    if (level) this.stats.interrupts++;
    this.irq.set(level);
  }

  // ---- MmioDevice (the guest's side) ----

  read(offset: number, size: 1 | 2 | 4): number {
    if (offset >= MmioReg.CONFIG) return this.readConfig(offset - MmioReg.CONFIG, size);
    // §4.2.2.2: control registers are accessed 32 bits wide and aligned only.
    if (size !== 4 || offset % 4 !== 0) {
      this.stats.badAccesses++;
      return 0;
    }
    switch (offset) {
      case MmioReg.MAGIC:
        return MMIO_MAGIC;
      case MmioReg.VERSION:
        return MMIO_VERSION;
      case MmioReg.DEVICE_ID:
        return this.device.deviceId;
      case MmioReg.VENDOR_ID:
        return PVM_VENDOR_ID;
      case MmioReg.DEVICE_FEATURES:
        return this.deviceFeaturesSel > 1
          ? 0
          : Number((this.offered >> BigInt(32 * this.deviceFeaturesSel)) & 0xffff_ffffn) | 0;
      case MmioReg.QUEUE_NUM_MAX:
        return this.queues[this.queueSel]?.maxSize ?? 0;
      case MmioReg.QUEUE_READY:
        return this.queues[this.queueSel]?.ready ? 1 : 0;
      case MmioReg.INTERRUPT_STATUS:
        return this.interruptStatus;
      case MmioReg.STATUS:
        return this.status;
      case MmioReg.SHM_LEN_LOW:
      case MmioReg.SHM_LEN_HIGH:
        return -1; // §4.2.2: no shared memory regions (length -1)
      case MmioReg.CONFIG_GENERATION:
        return this.configGeneration | 0;
      default:
        return 0; // write-only and reserved registers read as zero
    }
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset >= MmioReg.CONFIG) {
      this.writeConfig(offset - MmioReg.CONFIG, size, value);
      return;
    }
    if (size !== 4 || offset % 4 !== 0) {
      this.stats.badAccesses++;
      return;
    }
    value >>>= 0;
    switch (offset) {
      case MmioReg.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = value;
        return;
      case MmioReg.DRIVER_FEATURES:
        // §3.1.1: features are written after DRIVER and before FEATURES_OK.
        if ((this.status & (Status.DRIVER | Status.FEATURES_OK)) !== Status.DRIVER) {
          this.refuse('driver features');
          return;
        }
        if (this.driverFeaturesSel < 2) this.driverFeatureWords[this.driverFeaturesSel] = value;
        else if (value !== 0) this.unknownFeatures = true; // bits above 63 were never offered
        return;
      case MmioReg.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = value;
        return;
      case MmioReg.QUEUE_SEL:
        this.queueSel = value;
        return;
      case MmioReg.QUEUE_NUM:
      case MmioReg.QUEUE_READY:
      case MmioReg.QUEUE_DESC_LOW:
      case MmioReg.QUEUE_DESC_HIGH:
      case MmioReg.QUEUE_DRIVER_LOW:
      case MmioReg.QUEUE_DRIVER_HIGH:
      case MmioReg.QUEUE_DEVICE_LOW:
      case MmioReg.QUEUE_DEVICE_HIGH:
        this.writeQueue(offset, value);
        return;
      case MmioReg.QUEUE_NOTIFY:
        this.stats.notifications++;
        // §2.1.2: nothing is consumed before DRIVER_OK; a device needing reset stays quiet.
        if (this.running && value < this.queues.length && this.queues[value]!.active) this.device.notify(value);
        return;
      case MmioReg.INTERRUPT_ACK:
        this.interruptStatus &= ~value;
        this.updateIrq();
        return;
      case MmioReg.STATUS:
        this.writeStatus(value & 0xff);
        return;
      default:
        this.stats.badAccesses++; // read-only or reserved
    }
  }

  private refuse(what: string): void {
    this.stats.badAccesses++;
    this.log(`${this.name}: ignored ${what} write in status 0x${this.status.toString(16)}`);
  }

  private writeQueue(offset: number, value: number): void {
    const q = this.queues[this.queueSel];
    // §4.2.3.2: queues are configured before DRIVER_OK; afterwards they are frozen.
    if (q === undefined || this.status & Status.DRIVER_OK) {
      this.refuse('queue register');
      return;
    }
    if (offset === MmioReg.QUEUE_READY) {
      q.ready = (value & 1) === 1;
      return;
    }
    if (q.ready) {
      this.refuse('queue register of a ready queue');
      return;
    }
    const hi = value * 0x1_0000_0000;
    const lo = (cur: number) => cur - (cur % 0x1_0000_0000);
    switch (offset) {
      case MmioReg.QUEUE_NUM:
        q.size = value;
        return;
      case MmioReg.QUEUE_DESC_LOW:
        q.descAddr = lo(q.descAddr) + value;
        return;
      case MmioReg.QUEUE_DESC_HIGH:
        q.descAddr = hi + (q.descAddr % 0x1_0000_0000);
        return;
      case MmioReg.QUEUE_DRIVER_LOW:
        q.driverAddr = lo(q.driverAddr) + value;
        return;
      case MmioReg.QUEUE_DRIVER_HIGH:
        q.driverAddr = hi + (q.driverAddr % 0x1_0000_0000);
        return;
      case MmioReg.QUEUE_DEVICE_LOW:
        q.deviceAddr = lo(q.deviceAddr) + value;
        return;
      case MmioReg.QUEUE_DEVICE_HIGH:
        q.deviceAddr = hi + (q.deviceAddr % 0x1_0000_0000);
        return;
    }
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    const driverOld = old & ~Status.DEVICE_NEEDS_RESET;
    const want = value & ~Status.DEVICE_NEEDS_RESET; // the device owns DEVICE_NEEDS_RESET
    // §2.1.1: "The driver MUST NOT clear a device status bit."
    if (driverOld & ~want) {
      this.refuse(`status 0x${value.toString(16)} (clears a bit)`);
      return;
    }
    if (want & Status.FAILED) this.status |= Status.FAILED; // the driver gave up
    let next = this.status;
    for (const [b, requires] of STATUS_STEPS) {
      if (!(want & b) || next & b) continue;
      if (requires !== 0 && !(next & requires)) {
        this.refuse(`status 0x${value.toString(16)} (out of order)`);
        return;
      }
      if (b === Status.FEATURES_OK && !this.negotiate()) continue; // §2.2.2: leave FEATURES_OK clear
      next |= b;
      if (b === Status.DRIVER_OK) {
        this.status = next;
        this.activate();
        next = this.status;
      }
    }
    this.status = next;
  }

  /** FEATURES_OK: accept the driver's features or refuse them. */
  private negotiate(): boolean {
    const want = BigInt(this.driverFeatureWords[0]!) | (BigInt(this.driverFeatureWords[1]!) << 32n);
    // §2.2.1: the driver MUST NOT accept a feature the device did not offer.
    if (want & ~this.offered || this.unknownFeatures) {
      this.log(`${this.name}: driver accepted features the device did not offer`);
      return false;
    }
    // §6.1 / §4.2.4: this is a non-legacy (version 2) transport; without VERSION_1 we refuse.
    if (!(want & bit(Feature.VERSION_1))) {
      this.log(`${this.name}: driver did not accept VIRTIO_F_VERSION_1`);
      return false;
    }
    this.negotiated = want;
    return true;
  }

  /** DRIVER_OK: validate and freeze every ready queue, then start the device model. */
  private activate(): void {
    const eventIdx = this.hasFeature(Feature.EVENT_IDX);
    const indirect = this.hasFeature(Feature.INDIRECT_DESC);
    for (const q of this.queues) {
      if (!q.ready) continue;
      const err = q.activate(this.ram, eventIdx, indirect);
      if (err !== null) {
        this.fail(`activation: ${err}`);
        return;
      }
    }
    const err = this.device.activate();
    if (err !== null) {
      this.fail(`activation: ${err}`);
      return;
    }
    // Buffers the driver made available (and notified) before DRIVER_OK were not taken
    // then (§2.1.2); look at every queue once now so none is left waiting.
    for (const q of this.queues) if (q.active && this.running) this.device.notify(q.index);
  }

  /** §2.4 Device Reset: back to the state after power-on; in-flight requests are forgotten. */
  reset(): void {
    this.status = 0;
    this.epoch++;
    this.deviceFeaturesSel = this.driverFeaturesSel = 0;
    this.driverFeatureWords = [0, 0];
    this.unknownFeatures = false;
    this.negotiated = 0n;
    this.queueSel = 0;
    for (const q of this.queues) q.reset();
    this.interruptStatus = 0;
    this.updateIrq();
    this.device.reset();
  }

  private readConfig(offset: number, size: 1 | 2 | 4): number {
    const cfg = this.device.config;
    // §4.2.2.2: fields are read with their own width, aligned; reads past the end are zero.
    if (offset % size !== 0 || offset + size > cfg.length) {
      this.stats.badAccesses++;
      return 0;
    }
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + cfg[offset + i]!;
    return v;
  }

  private writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset % size !== 0 || offset + size > this.device.config.length || !this.device.writeConfig) {
      this.stats.badAccesses++;
      return;
    }
    this.device.writeConfig(offset, size, value >>> 0);
  }

  // ---- snapshots ----

  /** Resolves when the device has no request in flight (call before `saveState`). */
  drain(): Promise<void> {
    return this.device.drain?.() ?? Promise.resolve();
  }

  /** Transport and device state; the device must be idle (see `drain`). */
  saveState(): Uint8Array {
    if (this.device.inFlight > 0) {
      throw new PvmError('state', `${this.name}: ${this.device.inFlight} requests in flight; drain first`);
    }
    const split = (x: bigint): [number, number] => [Number(x & 0xffff_ffffn), Number(x >> 32n)];
    const w = new StateWriter();
    transportStateCodec.write(w, {
      deviceId: this.device.deviceId,
      status: this.status,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: [this.driverFeatureWords[0]!, this.driverFeatureWords[1]!],
      negotiated: split(this.negotiated),
      queueSel: this.queueSel,
      queues: this.queues.map((q) => ({
        size: q.size,
        ready: q.ready,
        descAddr: q.descAddr,
        driverAddr: q.driverAddr,
        deviceAddr: q.deviceAddr,
        active: q.active,
        lastAvail: q.lastAvail,
        usedIdx: q.usedIdx,
        signalledUsed: q.signalledUsed,
      })),
    });
    const dev = this.device.state;
    if (dev) dev.codec.write(w, dev.save());
    return w.finish();
  }

  /**
   * Restores `saveState` output into this (freshly built) device over the same RAM.
   * Returns an error message and changes nothing when the blob does not fit.
   */
  restoreState(bytes: Uint8Array): string | null {
    let s: TransportState;
    let devState: unknown;
    try {
      const r = new StateReader(bytes, `${this.name} state`);
      s = transportStateCodec.read(r);
      devState = this.device.state?.codec.read(r);
      r.end();
    } catch (e) {
      if (isSnapshotError(e)) return e.message;
      throw e;
    }
    if (s.deviceId !== this.device.deviceId) return `${this.name}: state is for device id ${s.deviceId}`;
    if (s.queues.length !== this.queues.length) return `${this.name}: state has ${s.queues.length} queues`;
    const negotiated = BigInt(s.negotiated[0]) | (BigInt(s.negotiated[1]) << 32n);
    if (negotiated & ~this.offered) return `${this.name}: state negotiated features this device does not offer`;
    const eventIdx = (negotiated & bit(Feature.EVENT_IDX)) !== 0n;
    const indirect = (negotiated & bit(Feature.INDIRECT_DESC)) !== 0n;
    // Validate every active queue on scratch objects before touching anything.
    const fresh = s.queues.map((qs, i) => {
      const q = new SplitQueue(i, this.queues[i]!.maxSize);
      q.size = qs.size;
      q.ready = qs.ready;
      q.descAddr = qs.descAddr;
      q.driverAddr = qs.driverAddr;
      q.deviceAddr = qs.deviceAddr;
      const err = qs.active ? q.activate(this.ram, eventIdx, indirect) : null;
      q.lastAvail = qs.lastAvail;
      q.usedIdx = qs.usedIdx;
      q.signalledUsed = qs.signalledUsed;
      return err ?? q;
    });
    const bad = fresh.find((q) => typeof q === 'string');
    if (bad !== undefined) return `${this.name}: ${bad}`;
    if (this.device.state) this.device.state.load(devState);
    this.epoch++;
    this.status = s.status;
    this.interruptStatus = s.interruptStatus & (Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
    this.configGeneration = s.configGeneration >>> 0;
    this.deviceFeaturesSel = s.deviceFeaturesSel;
    this.driverFeaturesSel = s.driverFeaturesSel;
    this.driverFeatureWords = [...s.driverFeatures];
    this.negotiated = negotiated;
    this.queueSel = s.queueSel;
    this.queues.splice(0, this.queues.length, ...(fresh as SplitQueue[]));
    this.updateIrq();
    return null;
  }
}

/**
 * The virtio-mmio transport, version 2 register layout (virtio 1.2 §4.2.2).
 *
 * Status bits only accumulate until a write of 0 resets the device. The order is as lenient
 * as QEMU's where that is harmless (docs/devices.md, "Leniency"): ACKNOWLEDGE and DRIVER in
 * any order, features before FEATURES_OK, FEATURES_OK without VIRTIO_F_VERSION_1. Only two
 * steps are gated, because the device depends on them: FEATURES_OK (the features must be
 * ones it offered) and DRIVER_OK (queues validated once and frozen). A failed activation or
 * a malformed ring sets DEVICE_NEEDS_RESET instead of throwing. Nothing a guest writes here
 * can throw into the host; every write turned away is a refusal with the rule it broke.
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
  QEMU_VENDOR_ID,
  Status,
  TRANSPORT_FEATURES,
} from './constants.js';
import type { IrqPin, VirtioDevice, VirtioTransport } from './device.js';
import { SplitQueue } from './queue.js';
import { type TransportState, transportStateCodec } from './state.js';

/**
 * The rules a transport enforces against the driver, each with the spec section it cites.
 * A write that breaks one is refused (ignored, or only its harmless part taken), counted in
 * `stats.refused` and reported once per device through `onRefusal`.
 */
export const VIRTIO_RULES = {
  'register-access': '§4.2.2.2: control registers are read and written 32 bits wide and aligned; some are read-only',
  'status-clear': '§2.1.1: the driver must not clear a device status bit (the bits already set are kept)',
  'features-late': '§3.1.1: driver features are written before FEATURES_OK (and DRIVER_OK)',
  'feature-not-offered': '§2.2.1: the driver must not accept a feature the device did not offer',
  'queue-frozen': '§4.2.3.2: queues are set up before DRIVER_OK',
  'queue-ready': '§4.2.3.2: a queue is configured before QueueReady is set to 1',
  'no-such-queue': '§4.2.2: QueueSel names a queue the device does not have',
  'needs-reset': '§2.1.2: the device found an error and needs a reset',
} as const;
export type VirtioRule = keyof typeof VIRTIO_RULES;

/** One refusal, as reported to the host (`VirtioMmioOptions.onRefusal`). */
export interface VirtioRefusal {
  /** The transport's name, e.g. "virtio1-blk". */
  readonly device: string;
  readonly rule: VirtioRule;
  /** What the driver did, e.g. "status 0x4 (DRIVER_OK) before FEATURES_OK". */
  readonly what: string;
  /** One line for a log: device, what, and the rule with its spec section. */
  readonly message: string;
}

/** Counters for diagnostics and benchmarks. */
export interface TransportStats {
  notifications: number;
  interrupts: number;
  chainErrors: number;
  /** Control register accesses of the wrong width or alignment, and writes to read-only registers. */
  badAccesses: number;
  /** Everything refused, by rule (a refusal of rule `register-access` is also a bad access). */
  refused: Partial<Record<VirtioRule, number>>;
  /** Bytes of the chains the device took (the driver's readable buffers), and bytes it wrote back (used lengths). */
  bytesFromGuest: number;
  bytesToGuest: number;
}

export interface VirtioMmioOptions {
  /** Name on the bus, e.g. "virtio-blk@0". Default `virtio-<kind>`. */
  name?: string;
  /**
   * Called the first time the device refuses something under each rule (later refusals
   * under the same rule are only counted), and for every DEVICE_NEEDS_RESET. The host routes
   * it to its log; this layer does no I/O.
   */
  onRefusal?: (refusal: VirtioRefusal) => void;
  /** VendorID register (default QEMU's, `QEMU_VENDOR_ID`: software written for QEMU checks it). */
  vendorId?: number;
}

export class VirtioMmio implements MmioDevice, VirtioTransport {
  readonly name: string;
  readonly queues: SplitQueue[];
  readonly stats: TransportStats = {
    notifications: 0,
    interrupts: 0,
    chainErrors: 0,
    badAccesses: 0,
    refused: {},
    bytesFromGuest: 0,
    bytesToGuest: 0,
  };
  readonly vendorId: number;
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
  private readonly onRefusal: ((refusal: VirtioRefusal) => void) | undefined;
  /** Rules already reported through onRefusal. */
  private readonly reported = new Set<VirtioRule>();

  constructor(
    readonly device: VirtioDevice,
    readonly ram: GuestRam,
    private readonly irq: IrqPin,
    options: VirtioMmioOptions = {},
  ) {
    this.name = options.name ?? `virtio-${device.kind}`;
    this.onRefusal = options.onRefusal;
    this.vendorId = (options.vendorId ?? QEMU_VENDOR_ID) >>> 0;
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
    if (c !== null) this.stats.bytesFromGuest += c.readableLen;
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
    this.stats.bytesToGuest += len;
    if (queue.needsInterrupt()) this.raise(Interrupt.USED_BUFFER);
  }

  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & Status.DRIVER_OK) this.raise(Interrupt.CONFIG_CHANGE);
  }

  fail(reason: string): void {
    this.lastError = reason;
    if (this.status & Status.DEVICE_NEEDS_RESET) return;
    this.refuse('needs-reset', reason, true);
    this.status |= Status.DEVICE_NEEDS_RESET;
    // §2.1.2: "If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the device MUST send a
    // device configuration change notification to the driver."
    if (this.status & Status.DRIVER_OK) this.raise(Interrupt.CONFIG_CHANGE);
  }

  private raise(bits: number): void {
    this.interruptStatus |= bits;
    this.updateIrq();
  }

  /**
   * Drives the pin on every change of InterruptStatus, not only on edges, as QEMU's
   * virtio_mmio_update_irq does: with the virt board's QEMU-style PLIC gateway each raise is a
   * new request, so a buffer used while the previous interrupt is still claimed is not lost.
   */
  private updateIrq(): void {
    const level = this.interruptStatus !== 0;
    if (level && !this.irqLevel) this.stats.interrupts++;
    this.irqLevel = level;
    this.irq.set(level);
  }

  // ---- MmioDevice (the guest's side) ----

  read(offset: number, size: 1 | 2 | 4): number {
    if (offset >= MmioReg.CONFIG) return this.readConfig(offset - MmioReg.CONFIG, size);
    // §4.2.2.2: control registers are accessed 32 bits wide and aligned only.
    if (size !== 4 || offset % 4 !== 0) {
      this.badAccess(`${size}-byte read at 0x${offset.toString(16)}`);
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
        return this.vendorId | 0;
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
      this.badAccess(`${size}-byte write at 0x${offset.toString(16)}`);
      return;
    }
    value >>>= 0;
    switch (offset) {
      case MmioReg.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = value;
        return;
      case MmioReg.DRIVER_FEATURES:
        // §3.1.1 writes them after DRIVER; QEMU takes them at any time before FEATURES_OK, and
        // so do we: until then nothing depends on them.
        if (this.status & (Status.FEATURES_OK | Status.DRIVER_OK)) {
          this.refuse(
            'features-late',
            `driver features 0x${value.toString(16)} in status 0x${this.status.toString(16)}`,
          );
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
        // §2.1.2: nothing is consumed before DRIVER_OK (activation looks at every queue once);
        // a device needing reset stays quiet.
        if (!this.running) return;
        if (value < this.queues.length && this.queues[value]!.active) this.device.notify(value);
        else this.refuse('no-such-queue', `notify of queue ${value}, which is not active`);
        return;
      case MmioReg.INTERRUPT_ACK:
        this.interruptStatus &= ~value;
        this.updateIrq();
        return;
      case MmioReg.STATUS:
        this.writeStatus(value & 0xff);
        return;
      default:
        this.badAccess(`write to read-only or reserved register 0x${offset.toString(16)}`);
    }
  }

  private badAccess(what: string): void {
    this.stats.badAccesses++;
    this.refuse('register-access', what);
  }

  /**
   * Counts a refusal under `rule` and reports it the first time this device breaks that rule
   * (`always`: every time, for DEVICE_NEEDS_RESET, which a reset clears).
   */
  private refuse(rule: VirtioRule, what: string, always = false): void {
    this.stats.refused[rule] = (this.stats.refused[rule] ?? 0) + 1;
    if (this.onRefusal === undefined || (!always && this.reported.has(rule))) return;
    this.reported.add(rule);
    this.onRefusal({
      device: this.name,
      rule,
      what,
      message: `${this.name}: refused ${what}: ${VIRTIO_RULES[rule]}`,
    });
  }

  private writeQueue(offset: number, value: number): void {
    const q = this.queues[this.queueSel];
    if (q === undefined) {
      this.refuse('no-such-queue', `queue register 0x${offset.toString(16)} of queue ${this.queueSel}`);
      return;
    }
    // §4.2.3.2: queues are configured before DRIVER_OK; afterwards they are frozen.
    if (this.status & Status.DRIVER_OK) {
      this.refuse('queue-frozen', `queue register 0x${offset.toString(16)} of queue ${this.queueSel} after DRIVER_OK`);
      return;
    }
    if (offset === MmioReg.QUEUE_READY) {
      q.ready = (value & 1) === 1;
      return;
    }
    if (q.ready) {
      this.refuse('queue-ready', `queue register 0x${offset.toString(16)} of queue ${this.queueSel} while it is ready`);
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

  /**
   * A status write (§2.1, §3.1.1) with QEMU's leniency where it is harmless: bits accumulate
   * in any order (U-Boot writes DRIVER without ACKNOWLEDGE after a reset; some drivers write
   * each bit alone), and a write that leaves out bits already set keeps them (refused as
   * `status-clear`, the rest taken). Two steps stay gated because the device depends on them:
   * FEATURES_OK is set only for features the device offered, and DRIVER_OK validates the
   * queues; DRIVER_OK without FEATURES_OK takes the written features as a legacy driver means
   * them. Reserved bits and DEVICE_NEEDS_RESET (the device's) are ignored.
   */
  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const hex = `0x${value.toString(16)}`;
    const driverBits = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK | Status.FAILED;
    const want = value & driverBits;
    const cleared = this.status & driverBits & ~want;
    if (cleared !== 0) this.refuse('status-clear', `status ${hex} (would clear 0x${cleared.toString(16)})`);
    const add = want & ~this.status;
    this.status |= add & (Status.ACKNOWLEDGE | Status.DRIVER | Status.FAILED);
    if (add & Status.FEATURES_OK && this.negotiate(`status ${hex}`)) this.status |= Status.FEATURES_OK;
    if (add & Status.DRIVER_OK && !(this.status & Status.FAILED)) {
      // A driver that never sets FEATURES_OK (written to the legacy interface) means the features it wrote.
      if (!(this.status & Status.FEATURES_OK) && !this.negotiate(`status ${hex} (DRIVER_OK without FEATURES_OK)`))
        return;
      this.status |= Status.DRIVER_OK;
      this.activate();
    }
  }

  /**
   * Takes the driver's features (at FEATURES_OK, or DRIVER_OK without it) or refuses them.
   * Only offered bits may be accepted (§2.2.1). A driver that does not accept VERSION_1 is
   * served as QEMU serves it on a non-legacy transport: the same rings and little-endian
   * fields, and the legacy virtio-net header (10 bytes without MRG_RXBUF; §5.1.6.1); every
   * device model here handles that (docs/devices.md).
   */
  private negotiate(what: string): boolean {
    const want = BigInt(this.driverFeatureWords[0]!) | (BigInt(this.driverFeatureWords[1]!) << 32n);
    const extra = want & ~this.offered;
    if (extra || this.unknownFeatures) {
      const bits = this.unknownFeatures ? 'bits above 63' : `0x${extra.toString(16)}`;
      this.refuse('feature-not-offered', `${what}: driver features 0x${want.toString(16)} include ${bits}`);
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
      this.badAccess(`${size}-byte config read at 0x${offset.toString(16)}`);
      return 0;
    }
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + cfg[offset + i]!;
    return v;
  }

  private writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset % size !== 0 || offset + size > this.device.config.length || !this.device.writeConfig) {
      this.badAccess(`${size}-byte config write at 0x${offset.toString(16)}`);
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

/**
 * A virtio-mmio window with no device behind it, as in each unused slot of QEMU's virt board
 * (virtio_mmio_read without a backend): MagicValue, Version and VendorID read as on a
 * populated transport, DeviceID 0, which Linux and U-Boot take as "no device here" and skip;
 * every other register reads 0 and writes are ignored. (QEMU reports Version 1 there too
 * unless its transports are non-legacy; pvm's are always version 2.)
 */
export class EmptyVirtioMmio implements MmioDevice {
  readonly name = 'virtio-empty';
  constructor(readonly vendorId: number = QEMU_VENDOR_ID) {}

  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 4) return 0;
    switch (offset) {
      case MmioReg.MAGIC:
        return MMIO_MAGIC;
      case MmioReg.VERSION:
        return MMIO_VERSION;
      case MmioReg.VENDOR_ID:
        return this.vendorId | 0;
      default:
        return 0;
    }
  }

  write(_offset: number, _size: 1 | 2 | 4, _value: number): void {}
}

/**
 * A virtio driver in miniature, for tests: it lays rings out in a GuestRam and drives a
 * device only through its MMIO registers, the way a guest kernel would. Hazard tests use
 * its raw helpers (`setDesc`, `offer`) to write rings no correct driver would.
 */
import type { Gpa } from '../../core/types.js';
import { gpa } from '../../core/types.js';
import type { MmioDevice } from '../../machine/bus.js';
import type { GuestRam } from '../../memory/ram.js';
import { bit, DescFlag, Feature, MmioReg, Status } from './constants.js';

export interface MockBuffer {
  readonly addr: number;
  readonly len: number;
  /** Device-writable. */
  readonly write?: boolean;
}

export interface UsedElem {
  readonly id: number;
  readonly len: number;
}

export class MockDriver {
  private next: number;

  /** Allocates driver memory from `heapStart` (default: RAM base + 1 MiB). */
  constructor(
    readonly ram: GuestRam,
    readonly dev: MmioDevice,
    heapStart = ram.base + 0x10_0000,
  ) {
    this.next = heapStart;
  }

  r32(off: number): number {
    return this.dev.read(off, 4) >>> 0;
  }
  w32(off: number, v: number): void {
    this.dev.write(off, 4, v >>> 0);
  }

  /** Bump allocator over guest RAM; memory is zeroed. */
  alloc(len: number, align = 16): Gpa {
    this.next = Math.ceil(this.next / align) * align;
    const a = this.next;
    this.next += len;
    this.ram.fill(gpa(a), len, 0);
    return gpa(a);
  }

  /** Places bytes in fresh guest memory and returns their address. */
  put(bytes: Uint8Array, align = 16): Gpa {
    const a = this.alloc(bytes.length, align);
    this.ram.write(a, bytes);
    return a;
  }

  get status(): number {
    return this.r32(MmioReg.STATUS);
  }

  deviceFeatures(): bigint {
    this.w32(MmioReg.DEVICE_FEATURES_SEL, 0);
    const lo = this.r32(MmioReg.DEVICE_FEATURES);
    this.w32(MmioReg.DEVICE_FEATURES_SEL, 1);
    const hi = this.r32(MmioReg.DEVICE_FEATURES);
    return BigInt(lo) | (BigInt(hi) << 32n);
  }

  /**
   * §3.1.1 initialization up to FEATURES_OK: reset, ACKNOWLEDGE, DRIVER, features
   * (default: everything offered), FEATURES_OK. Returns whether FEATURES_OK stuck.
   */
  negotiate(accept?: bigint): boolean {
    this.w32(MmioReg.STATUS, 0);
    this.w32(MmioReg.STATUS, Status.ACKNOWLEDGE);
    this.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
    const features = accept ?? this.deviceFeatures();
    this.w32(MmioReg.DRIVER_FEATURES_SEL, 0);
    this.w32(MmioReg.DRIVER_FEATURES, Number(features & 0xffff_ffffn));
    this.w32(MmioReg.DRIVER_FEATURES_SEL, 1);
    this.w32(MmioReg.DRIVER_FEATURES, Number(features >> 32n));
    this.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    return (this.status & Status.FEATURES_OK) !== 0;
  }

  /** Allocates and registers queue `index` with `size` entries. */
  setupQueue(index: number, size: number): MockQueue {
    this.w32(MmioReg.QUEUE_SEL, index);
    const max = this.r32(MmioReg.QUEUE_NUM_MAX);
    if (max === 0 || size > max) throw new Error(`queue ${index}: size ${size} > max ${max}`);
    const desc = this.alloc(16 * size, 16);
    const avail = this.alloc(6 + 2 * size, 2);
    const used = this.alloc(6 + 8 * size, 4);
    const q = new MockQueue(this, index, size, desc, avail, used);
    this.w32(MmioReg.QUEUE_NUM, size);
    this.w32(MmioReg.QUEUE_DESC_LOW, desc % 0x1_0000_0000);
    this.w32(MmioReg.QUEUE_DESC_HIGH, Math.floor(desc / 0x1_0000_0000));
    this.w32(MmioReg.QUEUE_DRIVER_LOW, avail % 0x1_0000_0000);
    this.w32(MmioReg.QUEUE_DRIVER_HIGH, Math.floor(avail / 0x1_0000_0000));
    this.w32(MmioReg.QUEUE_DEVICE_LOW, used % 0x1_0000_0000);
    this.w32(MmioReg.QUEUE_DEVICE_HIGH, Math.floor(used / 0x1_0000_0000));
    this.w32(MmioReg.QUEUE_READY, 1);
    return q;
  }

  driverOk(): void {
    this.w32(MmioReg.STATUS, this.status | Status.DRIVER_OK);
  }

  /** negotiate + queues + DRIVER_OK; the usual way to bring a device up in a test. */
  start(queueSizes: readonly number[], accept?: bigint): MockQueue[] {
    if (!this.negotiate(accept)) throw new Error('FEATURES_OK refused');
    const qs = queueSizes.map((n, i) => this.setupQueue(i, n));
    this.driverOk();
    return qs;
  }

  get needsReset(): boolean {
    return (this.status & Status.DEVICE_NEEDS_RESET) !== 0;
  }

  /** Reads and acknowledges InterruptStatus. */
  ack(): number {
    const s = this.r32(MmioReg.INTERRUPT_STATUS);
    this.w32(MmioReg.INTERRUPT_ACK, s);
    return s;
  }
}

/** The transport features most tests accept. */
export const BASE_FEATURES = bit(Feature.VERSION_1);

export class MockQueue {
  private nextDesc = 0;
  private availIdx = 0;
  private usedSeen = 0;

  constructor(
    readonly driver: MockDriver,
    readonly index: number,
    readonly size: number,
    readonly desc: Gpa,
    readonly avail: Gpa,
    readonly used: Gpa,
  ) {}

  private get ram(): GuestRam {
    return this.driver.ram;
  }

  /** Writes descriptor `i` of the table at `table` (default: this queue's table). */
  setDesc(i: number, addr: number, len: number, flags: number, next = 0, table: number = this.desc): void {
    const a = gpa(table + 16 * i);
    this.ram.writeU64(a, addr);
    this.ram.writeU32(gpa(a + 8), len);
    this.ram.writeU16(gpa(a + 12), flags);
    this.ram.writeU16(gpa(a + 14), next);
  }

  /** Puts `head` in the available ring and bumps the index (no notification). */
  offer(head: number): void {
    this.ram.writeU16(gpa(this.avail + 4 + 2 * (this.availIdx % this.size)), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.ram.writeU16(gpa(this.avail + 2), this.availIdx);
  }

  /** Sets the available index to any value (hazard tests). */
  setAvailIdx(idx: number): void {
    this.availIdx = idx & 0xffff;
    this.ram.writeU16(gpa(this.avail + 2), this.availIdx);
  }

  /** Adds a well-formed chain (direct, or through one indirect table) and returns its head. */
  add(bufs: readonly MockBuffer[], indirect = false): number {
    const flagsOf = (b: MockBuffer, last: boolean) => (b.write ? DescFlag.WRITE : 0) | (last ? 0 : DescFlag.NEXT);
    if (indirect) {
      const table = this.driver.alloc(16 * bufs.length, 16);
      for (const [i, b] of bufs.entries()) {
        this.setDesc(i, b.addr, b.len, flagsOf(b, i === bufs.length - 1), i + 1, table);
      }
      const head = this.take();
      this.setDesc(head, table, 16 * bufs.length, DescFlag.INDIRECT);
      this.offer(head);
      return head;
    }
    const ids = bufs.map(() => this.take());
    for (const [i, b] of bufs.entries()) {
      this.setDesc(ids[i]!, b.addr, b.len, flagsOf(b, i === bufs.length - 1), ids[i + 1] ?? 0);
    }
    this.offer(ids[0]!);
    return ids[0]!;
  }

  /** Descriptor slots are handed out round-robin; tests keep fewer than `size` outstanding. */
  private take(): number {
    const i = this.nextDesc;
    this.nextDesc = (this.nextDesc + 1) % this.size;
    return i;
  }

  kick(): void {
    this.driver.w32(MmioReg.QUEUE_NOTIFY, this.index);
  }

  get usedIdx(): number {
    return this.ram.readU16(gpa(this.used + 2));
  }

  /** Used elements written since the last call. */
  takeUsed(): UsedElem[] {
    const out: UsedElem[] = [];
    const idx = this.usedIdx;
    while (this.usedSeen !== idx) {
      const e = gpa(this.used + 4 + 8 * (this.usedSeen % this.size));
      out.push({ id: this.ram.readU32(e), len: this.ram.readU32(gpa(e + 4)) });
      this.usedSeen = (this.usedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** EVENT_IDX: used_event, written by the driver at the end of the available ring. */
  setUsedEvent(v: number): void {
    this.ram.writeU16(gpa(this.avail + 4 + 2 * this.size), v);
  }

  /** EVENT_IDX: avail_event, written by the device at the end of the used ring. */
  get availEvent(): number {
    return this.ram.readU16(gpa(this.used + 4 + 8 * this.size));
  }

  setAvailFlags(f: number): void {
    this.ram.writeU16(this.avail, f);
  }
}

/**
 * A split virtqueue seen from the device (virtio 1.2 §2.7). The driver-written
 * registers (size, addresses, ready) live here; at DRIVER_OK the transport calls
 * `activate`, which validates the layout once and freezes it. Ring indices the
 * device owns (last available seen, next used) are kept here and never read back
 * from guest memory.
 */
import type { GuestRam } from '../../memory/ram.js';
import { type Chain, ChainError, collectChain } from './chain.js';
import { AVAIL_F_NO_INTERRUPT, DESC_SIZE, MAX_QUEUE_SIZE } from './constants.js';

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

export class SplitQueue {
  // Registers written by the driver through the transport (§4.2.2).
  size: number;
  ready = false;
  descAddr = 0;
  driverAddr = 0;
  deviceAddr = 0;

  /** True between a successful `activate` and the next reset. */
  active = false;
  /** Next available-ring index the device will read (free-running, 16 bits). */
  lastAvail = 0;
  /** Next used-ring index the device will write (free-running, 16 bits). */
  usedIdx = 0;
  /** `usedIdx` when the last interrupt decision was made (EVENT_IDX "old"). */
  signalledUsed = 0;
  eventIdx = false;
  indirect = false;

  private ram: GuestRam | null = null;
  private descOff = 0;
  private availOff = 0;
  private usedOff = 0;

  constructor(
    readonly index: number,
    readonly maxSize: number,
  ) {
    if (!isPowerOfTwo(maxSize) || maxSize > MAX_QUEUE_SIZE) throw new Error(`bad queue size ${maxSize}`);
    this.size = maxSize;
  }

  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descAddr = this.driverAddr = this.deviceAddr = 0;
    this.active = false;
    this.lastAvail = this.usedIdx = this.signalledUsed = 0;
    this.eventIdx = this.indirect = false;
    this.ram = null;
  }

  /**
   * Validates the driver's layout and starts the queue. Returns an error message, or null.
   * Checks: §2.7 "Queue Size value is always a power of 2" (and at most QueueNumMax);
   * §2.7.1 alignment (descriptors 16, available ring 2, used ring 4); every part inside RAM.
   */
  activate(ram: GuestRam, eventIdx: boolean, indirect: boolean): string | null {
    const n = this.size;
    if (!isPowerOfTwo(n) || n > this.maxSize)
      return `queue ${this.index}: size ${n} is not a power of 2 <= ${this.maxSize}`;
    if (this.descAddr % 16 !== 0 || this.driverAddr % 2 !== 0 || this.deviceAddr % 4 !== 0) {
      return `queue ${this.index}: misaligned ring (§2.7.1)`;
    }
    const extra = eventIdx ? 2 : 0;
    const d = ram.offsetOf(this.descAddr, DESC_SIZE * n);
    const a = ram.offsetOf(this.driverAddr, 4 + 2 * n + extra);
    const u = ram.offsetOf(this.deviceAddr, 4 + 8 * n + extra);
    if (d < 0 || a < 0 || u < 0) return `queue ${this.index}: ring outside RAM`;
    this.ram = ram;
    this.descOff = d;
    this.availOff = a;
    this.usedOff = u;
    this.eventIdx = eventIdx;
    this.indirect = indirect;
    this.active = true;
    return null;
  }

  /** Buffers the driver has made available and the device has not taken yet. */
  pending(): number {
    if (!this.active) return 0;
    const idx = this.ram!.view.getUint16(this.availOff + 2, true);
    return (idx - this.lastAvail) & 0xffff;
  }

  /**
   * Takes the next available chain: null when there is none, a ChainError when the ring or
   * the chain is malformed (the caller marks the device as needing reset).
   */
  pop(): Chain | ChainError | null {
    if (!this.active) return null;
    const ram = this.ram!;
    let pending = this.pending();
    if (pending === 0 && this.eventIdx) {
      // §2.7.10: ask for a notification when the next buffer is added, then look again
      // so a buffer added in between is not missed.
      this.publishAvailEvent();
      pending = this.pending();
    }
    if (pending === 0) return null;
    // §2.7.6: the driver never has more than Queue Size buffers outstanding; an index
    // further ahead than that is garbage.
    if (pending > this.size) {
      return new ChainError('avail-index-ahead', `available index ${this.lastAvail + pending} is ${pending} ahead`);
    }
    const head = ram.view.getUint16(this.availOff + 4 + 2 * (this.lastAvail % this.size), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) this.publishAvailEvent();
    return collectChain(ram, this.descOff, this.size, head, this.indirect);
  }

  /**
   * Gives back the last `n` chains taken by `pop` (not yet used): the device will take
   * them again. With EVENT_IDX, avail_event moves to the driver's next index, so the
   * next buffer the driver adds is notified.
   */
  rewind(n: number): void {
    if (!this.active || n <= 0) return;
    this.lastAvail = (this.lastAvail - n) & 0xffff;
    if (this.eventIdx) {
      const idx = this.ram!.view.getUint16(this.availOff + 2, true);
      this.ram!.view.setUint16(this.usedOff + 4 + 8 * this.size, idx, true);
      this.ram!.dirty.mark(this.usedOff + 4 + 8 * this.size, 2);
    }
  }

  /** §2.7.10: avail_event = the next index the device will read. */
  private publishAvailEvent(): void {
    this.ram!.view.setUint16(this.usedOff + 4 + 8 * this.size, this.lastAvail, true);
    this.ram!.dirty.mark(this.usedOff + 4 + 8 * this.size, 2);
  }

  /** §2.7.8: writes a used element, then the used index. */
  pushUsed(head: number, len: number): void {
    if (!this.active) return;
    const view = this.ram!.view;
    const off = this.usedOff + 4 + 8 * (this.usedIdx % this.size);
    view.setUint32(off, head, true);
    view.setUint32(off + 4, len >>> 0, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    view.setUint16(this.usedOff + 2, this.usedIdx, true);
    // The used ring may span two pages: mark the element and the index.
    this.ram!.dirty.mark(off, 8);
    this.ram!.dirty.mark(this.usedOff + 2, 2);
  }

  /**
   * Whether the driver wants a used-buffer notification for the entries pushed since the
   * last call (§2.7.7): with EVENT_IDX, when used_event lies in (old, new]; otherwise
   * unless the available ring's flags say VIRTQ_AVAIL_F_NO_INTERRUPT.
   */
  needsInterrupt(): boolean {
    if (!this.active) return false;
    const now = this.usedIdx;
    const old = this.signalledUsed;
    this.signalledUsed = now;
    if (now === old) return false;
    const view = this.ram!.view;
    if (this.eventIdx) {
      const usedEvent = view.getUint16(this.availOff + 4 + 2 * this.size, true);
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (view.getUint16(this.availOff, true) & AVAIL_F_NO_INTERRUPT) === 0;
  }
}

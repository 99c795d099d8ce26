/**
 * Descriptor chains of a split virtqueue (virtio 1.2 §2.7.5), walked with a budget
 * and validated in one place. Nothing here throws on guest data: every
 * violation is a `ChainError` naming the rule it breaks.
 */
import type { Gpa } from '../../core/types.js';
import { gpa } from '../../core/types.js';
import type { GuestRam } from '../../memory/ram.js';
import { DESC_SIZE, DescFlag } from './constants.js';

/** Why a chain was refused. Each fault names one rule of the spec. */
export type ChainFault =
  | 'avail-index-ahead'
  | 'head-out-of-range'
  | 'next-out-of-range'
  | 'loop'
  | 'address-out-of-range'
  | 'too-long'
  | 'indirect-not-negotiated'
  | 'indirect-with-next'
  | 'indirect-nested'
  | 'indirect-bad-size'
  | 'indirect-out-of-range'
  | 'write-before-read';

export class ChainError {
  constructor(
    readonly fault: ChainFault,
    readonly message: string,
  ) {}
  toString(): string {
    return `${this.fault}: ${this.message}`;
  }
}

/** One descriptor as the guest wrote it. `addr` is exact below 2^53 and huge above. */
export interface RawDescriptor {
  readonly addr: number;
  readonly len: number;
  readonly flags: number;
}

/** A guest buffer inside RAM (checked). */
export interface Segment {
  readonly addr: Gpa;
  readonly len: number;
}

/** A validated chain: device-readable buffers first, then device-writable ones (§2.7.4.2). */
export interface Chain {
  /** Index of the head descriptor, returned in the used ring. */
  readonly head: number;
  readonly readable: readonly Segment[];
  readonly writable: readonly Segment[];
  readonly readableLen: number;
  readonly writableLen: number;
}

/** §2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in total". */
const MAX_CHAIN_BYTES = 0x1_0000_0000;

const readAddr = (view: DataView, off: number): number =>
  view.getUint32(off + 4, true) * 0x1_0000_0000 + view.getUint32(off, true);

/**
 * Iterates the descriptors of one chain. The walk has a budget: the queue size for the
 * descriptor table (§2.7.5: "this is the maximum possible descriptor chain length"), the
 * table's entry count (itself at most the queue size) once it follows an indirect descriptor. A looping chain therefore
 * ends with the fault `loop` instead of running forever.
 *
 * After iteration, `error` holds the fault that stopped it, or null when the chain ended
 * normally (a descriptor without NEXT).
 */
export class DescriptorWalk implements IterableIterator<RawDescriptor> {
  error: ChainError | null = null;
  private tableOff: number;
  private tableLen: number;
  private idx: number;
  private budget: number;
  private indirect = false;
  private done = false;
  private readonly queueSize: number;

  /**
   * @param tableOff offset of the descriptor table in `ram.u8` (validated by the queue)
   * @param tableLen entries in the table (the queue size)
   * @param head     index of the first descriptor, from the available ring
   * @param indirectAllowed VIRTIO_F_INDIRECT_DESC was negotiated
   */
  constructor(
    private readonly ram: GuestRam,
    tableOff: number,
    tableLen: number,
    head: number,
    private readonly indirectAllowed: boolean,
  ) {
    this.tableOff = tableOff;
    this.tableLen = tableLen;
    this.queueSize = tableLen;
    this.idx = head;
    this.budget = tableLen;
    if (head >= tableLen) this.fail('head-out-of-range', `head ${head} >= queue size ${tableLen}`);
  }

  [Symbol.iterator](): this {
    return this;
  }

  private fail(fault: ChainFault, message: string): IteratorResult<RawDescriptor> {
    this.error = new ChainError(fault, message);
    this.done = true;
    return { done: true, value: undefined };
  }

  next(): IteratorResult<RawDescriptor> {
    for (;;) {
      if (this.done) return { done: true, value: undefined };
      if (this.budget-- <= 0) {
        return this.fail('loop', `chain longer than its table (${this.tableLen} descriptors): a loop`);
      }
      const view = this.ram.view;
      const off = this.tableOff + this.idx * DESC_SIZE;
      const addr = readAddr(view, off);
      const len = view.getUint32(off + 8, true);
      const flags = view.getUint16(off + 12, true);
      const next = view.getUint16(off + 14, true);

      if (flags & DescFlag.INDIRECT) {
        // §2.7.5.3.1: only one table per descriptor, never nested.
        if (this.indirect) return this.fail('indirect-nested', 'indirect descriptor inside an indirect table');
        // §2.7.5.3.1: INDIRECT only when VIRTIO_F_INDIRECT_DESC was negotiated.
        if (!this.indirectAllowed) return this.fail('indirect-not-negotiated', 'VIRTIO_F_INDIRECT_DESC not negotiated');
        // §2.7.5.3.1: "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT".
        if (flags & DescFlag.NEXT) return this.fail('indirect-with-next', 'INDIRECT together with NEXT');
        // §2.7.5.3: the table is desc[len / 16]; anything else is malformed. §2.7.5.3.1: "A
        // driver MUST NOT create a descriptor chain longer than the Queue Size of the device",
        // so a table is at most queue-size entries. This bounds the work one notification
        // can cause at queue size squared descriptor reads.
        if (len === 0 || len % DESC_SIZE !== 0 || len / DESC_SIZE > this.queueSize) {
          return this.fail('indirect-bad-size', `indirect table of ${len} bytes (queue size ${this.queueSize})`);
        }
        const tableOff = this.ram.offsetOf(addr, len);
        if (tableOff < 0) {
          return this.fail('indirect-out-of-range', `indirect table 0x${addr.toString(16)}+${len} outside RAM`);
        }
        // §2.7.5.3.2: the WRITE flag of the descriptor naming the table is ignored.
        this.indirect = true;
        this.tableOff = tableOff;
        this.tableLen = len / DESC_SIZE;
        this.budget = this.tableLen;
        this.idx = 0;
        continue;
      }

      if (flags & DescFlag.NEXT) {
        if (next >= this.tableLen) return this.fail('next-out-of-range', `next ${next} >= table size ${this.tableLen}`);
        this.idx = next;
      } else {
        this.done = true;
      }
      return { done: false, value: { addr, len, flags } };
    }
  }
}

/**
 * Walks a chain and checks every buffer: inside RAM (overflow-safe, `GuestRam.contains`),
 * total length per direction at most 2^32 bytes, device-writable buffers after the
 * device-readable ones. Zero-length buffers are dropped (they name no memory).
 */
export function collectChain(
  ram: GuestRam,
  tableOff: number,
  tableLen: number,
  head: number,
  indirectAllowed: boolean,
): Chain | ChainError {
  const walk = new DescriptorWalk(ram, tableOff, tableLen, head, indirectAllowed);
  const readable: Segment[] = [];
  const writable: Segment[] = [];
  let readableLen = 0;
  let writableLen = 0;
  for (const d of walk) {
    if (d.len === 0) continue;
    if (!ram.contains(d.addr, d.len)) {
      return new ChainError('address-out-of-range', `buffer 0x${d.addr.toString(16)}+${d.len} outside RAM`);
    }
    if (d.flags & DescFlag.WRITE) {
      writable.push({ addr: gpa(d.addr), len: d.len });
      writableLen += d.len;
      if (writableLen > MAX_CHAIN_BYTES) return new ChainError('too-long', 'device-writable part over 2^32 bytes');
    } else {
      // §2.7.4.2: "The driver MUST place any device-writable descriptor elements after any
      // device-readable descriptor elements."
      if (writable.length > 0)
        return new ChainError('write-before-read', 'device-readable buffer after a writable one');
      readable.push({ addr: gpa(d.addr), len: d.len });
      readableLen += d.len;
      if (readableLen > MAX_CHAIN_BYTES) return new ChainError('too-long', 'device-readable part over 2^32 bytes');
    }
  }
  if (walk.error) return walk.error;
  return { head, readable, writable, readableLen, writableLen };
}

/** Copies up to `max` device-readable bytes of a chain, starting at `skip`, into a new array. */
export function readChain(
  ram: GuestRam,
  segs: readonly Segment[],
  skip = 0,
  max = Number.MAX_SAFE_INTEGER,
): Uint8Array {
  let total = 0;
  for (const s of segs) total += s.len;
  const n = Math.max(0, Math.min(total - skip, max));
  const out = new Uint8Array(n);
  let pos = 0;
  for (const s of segs) {
    if (pos >= n) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const off = s.addr - ram.base + skip;
    const take = Math.min(s.len - skip, n - pos);
    out.set(ram.u8.subarray(off, off + take), pos);
    pos += take;
    skip = 0;
  }
  return out;
}

/**
 * Writes `src` into device-writable buffers, starting `skip` bytes in; returns the
 * number of bytes written (less than `src.length` when the buffers are too short).
 */
export function writeChain(ram: GuestRam, segs: readonly Segment[], src: Uint8Array, skip = 0): number {
  let pos = 0;
  for (const s of segs) {
    if (pos >= src.length) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const off = s.addr - ram.base + skip;
    const take = Math.min(s.len - skip, src.length - pos);
    ram.u8.set(src.subarray(pos, pos + take), off);
    ram.dirty.mark(off, take);
    pos += take;
    skip = 0;
  }
  return pos;
}

/** The guest-physical address of the last device-writable byte (a status byte), or -1. */
export function lastWritableByte(chain: Chain): number {
  const last = chain.writable[chain.writable.length - 1];
  return last === undefined ? -1 : last.addr + last.len - 1;
}

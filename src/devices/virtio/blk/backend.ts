/**
 * Where a virtio-blk device keeps its bytes. Every operation may complete later (a Node
 * file, a browser store); the device copies guest data before calling `write` and copies
 * `read` results into guest memory only when the request completes, so a backend never
 * sees guest memory.
 */
import { PvmError } from '../../../core/errors.js';

export interface BlockBackend {
  /** Size of the image in bytes; the device exposes floor(size / 512) sectors. */
  readonly size: number;
  /** The image cannot be written (the device then offers VIRTIO_BLK_F_RO). */
  readonly readOnly: boolean;
  read(offset: number, dst: Uint8Array): Promise<void>;
  write(offset: number, src: Uint8Array): Promise<void>;
  /** Resolves once every completed write is on stable storage (fsync for a file). */
  flush(): Promise<void>;
  /** Optional: the range's contents become unspecified (the device then offers DISCARD). */
  discard?(offset: number, length: number): Promise<void>;
  /** Optional: the range reads back as zeroes afterwards (the device then offers WRITE_ZEROES). */
  writeZeroes?(offset: number, length: number): Promise<void>;
}

/** An image held in memory: for tests, the browser, and scratch disks. */
export class MemoryDisk implements BlockBackend {
  readonly bytes: Uint8Array;
  flushes = 0;

  constructor(
    sizeOrBytes: number | Uint8Array,
    readonly readOnly = false,
  ) {
    this.bytes = typeof sizeOrBytes === 'number' ? new Uint8Array(sizeOrBytes) : sizeOrBytes;
  }

  get size(): number {
    return this.bytes.length;
  }

  private check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new PvmError('io', `memory disk: range ${offset}+${length} outside ${this.bytes.length} bytes`);
    }
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    this.check(offset, dst.length);
    dst.set(this.bytes.subarray(offset, offset + dst.length));
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    if (this.readOnly) throw new PvmError('io', 'memory disk is read-only');
    this.check(offset, src.length);
    this.bytes.set(src, offset);
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  async discard(offset: number, length: number): Promise<void> {
    this.check(offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    if (this.readOnly) throw new PvmError('io', 'memory disk is read-only');
    this.check(offset, length);
    this.bytes.fill(0, offset, offset + length);
  }
}

/**
 * Raw disk images in host files, the Node backend of virtio-blk.
 *
 * Cache modes (as in QEMU's `cache=`):
 * - `writeback` (default): writes go to the host page cache; a guest FLUSH fsyncs the file
 *   before it completes, so nothing the guest saw flushed is lost on a host crash.
 * - `writethrough`: the file is opened O_DSYNC, every write is durable when it completes;
 *   FLUSH still fsyncs (metadata).
 * - `unsafe`: FLUSH completes without fsync (fast scratch disks; a host crash loses data).
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { DiskCache } from '../api/spec.js';
import { PvmError } from '../core/errors.js';
import type { BlockBackend } from '../devices/virtio/blk/backend.js';
import { QCOW2_MAGIC, Qcow2Disk } from './disk-qcow2.js';
import { lockImage, unlockImage } from './image-lock.js';

export interface FileDiskOptions {
  readonly?: boolean;
  cache?: DiskCache;
  /** Take the image lock (default true; off only for a peek at the format before the real open). */
  lock?: boolean;
}

const ZERO_CHUNK = 1 << 20;

export class FileDisk implements BlockBackend {
  /** fsync calls made, for tests and statistics. */
  syncs = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly size: number,
    readonly readOnly: boolean,
    readonly cache: DiskCache,
  ) {}

  /** Opens an existing image. Errors are PvmError('io' | 'image') naming the file. */
  static async open(path: string, opts: FileDiskOptions = {}): Promise<FileDisk> {
    const readOnly = opts.readonly === true;
    const cache = opts.cache ?? 'writeback';
    // O_NONBLOCK: a FIFO named as a disk is refused below instead of blocking the open.
    let flags = (readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK;
    if (cache === 'writethrough' && !readOnly) flags |= constants.O_DSYNC;
    let fh: FileHandle;
    try {
      fh = await open(path, flags);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(e));
      throw new PvmError('io', `cannot open disk ${path}: ${why}`, { cause: e });
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new PvmError('image', `disk ${path} is not a regular file`);
    }
    if (st.size < 512) {
      await fh.close();
      throw new PvmError('image', `disk ${path} is smaller than one 512-byte sector`);
    }
    try {
      if (opts.lock !== false) lockImage(fh.fd, path, readOnly ? 'read' : 'write');
    } catch (e) {
      await fh.close();
      throw e;
    }
    return new FileDisk(path, fh, st.size, readOnly, cache);
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    let done = 0;
    while (done < dst.length) {
      const { bytesRead } = await this.fh.read(dst, done, dst.length - done, offset + done);
      if (bytesRead === 0) {
        dst.fill(0, done); // past the end of a file that shrank: zeroes
        return;
      }
      done += bytesRead;
    }
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    if (this.readOnly) throw new PvmError('io', `disk ${this.path} is read-only`);
    let done = 0;
    while (done < src.length) {
      const { bytesWritten } = await this.fh.write(src, done, src.length - done, offset + done);
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    if (this.readOnly || this.cache === 'unsafe') return;
    await this.fh.sync();
    this.syncs++;
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    const zeroes = new Uint8Array(Math.min(length, ZERO_CHUNK));
    for (let done = 0; done < length; done += zeroes.length) {
      await this.write(offset + done, zeroes.subarray(0, Math.min(zeroes.length, length - done)));
    }
  }

  /**
   * Live migration: flushes what was written to the file and releases its write lock, so the
   * destination can take it. Only called with the guest stopped and its requests drained.
   */
  async handOver(): Promise<void> {
    if (this.readOnly) return; // a shared read lock: the destination takes one beside it
    await this.fh.sync();
    this.syncs++;
    unlockImage(this.fh.fd);
  }

  /** The open file's size and inode (what it is, whatever its path names now). */
  async identity(): Promise<{ size: number; ino: number }> {
    const st = await this.fh.stat();
    return { size: st.size, ino: st.ino };
  }

  /**
   * Takes the lock (again): the source when a migration failed, the destination once the source
   * handed it over. ApiError 'in-use' when another holder has it.
   */
  takeBack(): void {
    lockImage(this.fh.fd, this.path, this.readOnly ? 'read' : 'write');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/** A backend that can be closed. */
export type HostDisk = BlockBackend & {
  readonly path: string;
  close(): Promise<void>;
  /** Live migration: flush and release a write lock (FileDisk.handOver); absent for read-only formats. */
  handOver?(): Promise<void>;
  takeBack?(): void;
  /** The open file's size and inode (FileDisk.identity). */
  identity?(): Promise<{ size: number; ino: number }>;
};

/**
 * Opens a disk image for a domain: raw images as `FileDisk`, qcow2 images (recognised by
 * their magic) as read-only `Qcow2Disk`. A qcow2 image opened writable is refused rather
 * than shown to the guest as raw bytes.
 */
export async function openDisk(path: string, opts: FileDiskOptions = {}): Promise<HostDisk> {
  // A peek at the format, without the lock: the open below takes the one its mode needs.
  const disk = await FileDisk.open(path, { ...opts, readonly: true, lock: false });
  const head = new Uint8Array(4);
  await disk.read(0, head);
  await disk.close();
  if (new DataView(head.buffer).getUint32(0) === QCOW2_MAGIC) {
    if (opts.readonly !== true) {
      throw new PvmError(
        'image',
        `disk ${path} is qcow2, which pvm reads but does not write: add ,ro or convert it (qemu-img convert -O raw)`,
      );
    }
    return Qcow2Disk.open(path);
  }
  return FileDisk.open(path, opts);
}

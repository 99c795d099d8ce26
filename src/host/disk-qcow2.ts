/**
 * Read-only qcow2 images (QEMU's docs/interop/qcow2.txt, versions 2 and 3): the guest sees
 * the virtual disk; unallocated clusters read as zeroes. Supported: standard and
 * zero clusters, deflate-compressed clusters. Refused with a clear error: backing files,
 * encryption, external data files, extended L2 entries, zstd compression, images marked
 * corrupt. Writing needs `qemu-img convert -O raw` first.
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { PvmError } from '../core/errors.js';
import type { BlockBackend } from '../devices/virtio/blk/backend.js';
import { lockImage } from './image-lock.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const OFFSET_MASK = 0x00ff_ffff_ffff_fe00n; // bits 9..55
const L2_COMPRESSED = 1n << 62n;
const L2_ZERO = 1n;
const INCOMPAT_DIRTY = 1n;
const INCOMPAT_CORRUPT = 2n;
const INCOMPAT_EXTERNAL_DATA = 4n;
const INCOMPAT_COMPRESSION_TYPE = 8n;
const INCOMPAT_EXTENDED_L2 = 16n;
/** L2 tables kept in memory (each one cluster). */
const L2_CACHE = 64;

export interface Qcow2Header {
  version: number;
  clusterBits: number;
  size: number;
  l1Size: number;
  l1Offset: number;
}

const bad = (path: string, why: string) => new PvmError('image', `qcow2 ${path}: ${why}`);

/** Parses and checks the header; throws PvmError('image') for anything unsupported. */
export function parseQcow2Header(h: Uint8Array, path: string, fileSize: number): Qcow2Header {
  if (h.length < 72) throw bad(path, 'truncated header');
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  if (v.getUint32(0) !== QCOW2_MAGIC) throw bad(path, 'not a qcow2 image');
  const version = v.getUint32(4);
  if (version !== 2 && version !== 3) throw bad(path, `version ${version} is not supported`);
  if (v.getBigUint64(8) !== 0n) throw bad(path, 'backing files are not supported; flatten it with qemu-img convert');
  const clusterBits = v.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) throw bad(path, `cluster_bits ${clusterBits} out of range`);
  const size = Number(v.getBigUint64(24));
  if (!Number.isSafeInteger(size)) throw bad(path, 'virtual size too large');
  if (v.getUint32(32) !== 0) throw bad(path, 'encrypted images are not supported');
  const l1Size = v.getUint32(36);
  const l1Offset = Number(v.getBigUint64(40));
  const l2Entries = 2 ** (clusterBits - 3);
  if (l1Size < Math.ceil(size / (l2Entries * 2 ** clusterBits))) throw bad(path, 'L1 table too small for the disk');
  if (l1Size > 1 << 24 || l1Offset % 512 !== 0 || l1Offset + 8 * l1Size > fileSize) throw bad(path, 'bad L1 table');
  if (version === 3) {
    if (h.length < 104) throw bad(path, 'truncated version 3 header');
    const incompat = v.getBigUint64(72);
    if (incompat & INCOMPAT_CORRUPT) throw bad(path, 'image is marked corrupt (qemu-img check -r all)');
    if (incompat & INCOMPAT_EXTERNAL_DATA) throw bad(path, 'external data files are not supported');
    if (incompat & INCOMPAT_EXTENDED_L2) throw bad(path, 'extended L2 entries are not supported');
    if (incompat & INCOMPAT_COMPRESSION_TYPE) {
      const headerLength = v.getUint32(100);
      if (headerLength > 104 && h.length > 104 && h[104] !== 0) throw bad(path, 'zstd compression is not supported');
    }
    if (incompat & ~(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_CORRUPT)) {
      throw bad(path, `unknown incompatible features 0x${incompat.toString(16)}`);
    }
  }
  return { version, clusterBits, size, l1Size, l1Offset };
}

export class Qcow2Disk implements BlockBackend {
  readonly readOnly = true;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly l2Cache = new Map<number, DataView>();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly header: Qcow2Header,
    private readonly l1: DataView,
    private readonly fileSize: number,
  ) {
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Entries = this.clusterSize / 8;
  }

  get size(): number {
    return this.header.size;
  }

  static async open(path: string): Promise<Qcow2Disk> {
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      throw new PvmError('io', `cannot open disk ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new PvmError('image', `disk ${path} is not a regular file`);
      lockImage(fh.fd, path, 'read');
      const h = new Uint8Array(112);
      await fh.read(h, 0, h.length, 0);
      const header = parseQcow2Header(h, path, st.size);
      const l1 = new Uint8Array(8 * header.l1Size);
      await fh.read(l1, 0, l1.length, header.l1Offset);
      return new Qcow2Disk(path, fh, header, new DataView(l1.buffer), st.size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private async l2(offset: number): Promise<DataView> {
    const hit = this.l2Cache.get(offset);
    if (hit) {
      this.l2Cache.delete(offset); // move to the back (LRU)
      this.l2Cache.set(offset, hit);
      return hit;
    }
    if (offset % this.clusterSize !== 0 || offset + this.clusterSize > this.fileSize) {
      throw bad(this.path, `L2 table at ${offset} outside the file`);
    }
    const buf = new Uint8Array(this.clusterSize);
    await this.fh.read(buf, 0, buf.length, offset);
    const v = new DataView(buf.buffer);
    if (this.l2Cache.size >= L2_CACHE) this.l2Cache.delete(this.l2Cache.keys().next().value!);
    this.l2Cache.set(offset, v);
    return v;
  }

  /** Reads guest bytes [offset, offset + dst.length) of the virtual disk. */
  async read(offset: number, dst: Uint8Array): Promise<void> {
    if (offset < 0 || offset + dst.length > this.size)
      throw bad(this.path, `read ${offset}+${dst.length} past the end`);
    let pos = 0;
    while (pos < dst.length) {
      const vo = offset + pos;
      const inCluster = vo % this.clusterSize;
      const n = Math.min(this.clusterSize - inCluster, dst.length - pos);
      await this.readPiece(vo - inCluster, inCluster, dst.subarray(pos, pos + n));
      pos += n;
    }
  }

  private async readPiece(clusterStart: number, inCluster: number, out: Uint8Array): Promise<void> {
    const cluster = clusterStart / this.clusterSize;
    const l1i = Math.floor(cluster / this.l2Entries);
    const l1e = this.l1.getBigUint64(8 * l1i);
    const l2Offset = Number(l1e & OFFSET_MASK);
    if (l2Offset === 0) {
      out.fill(0);
      return;
    }
    const table = await this.l2(l2Offset);
    const e = table.getBigUint64(8 * (cluster % this.l2Entries));
    if (e & L2_COMPRESSED) {
      const data = await this.compressed(e);
      out.set(data.subarray(inCluster, inCluster + out.length));
      return;
    }
    const host = Number(e & OFFSET_MASK);
    if (host === 0 || e & L2_ZERO) {
      out.fill(0);
      return;
    }
    if (host >= this.fileSize) throw bad(this.path, 'cluster outside the file');
    const { bytesRead } = await this.fh.read(out, 0, out.length, host + inCluster);
    if (bytesRead < out.length) out.fill(0, bytesRead); // the last cluster may be short in the file
  }

  /** A compressed cluster: offset in the low bits, extra 512-byte sectors above (qcow2.txt). */
  private async compressed(e: bigint): Promise<Uint8Array> {
    const x = BigInt(62 - (this.header.clusterBits - 8));
    const host = Number(e & ((1n << x) - 1n));
    const sectors = Number((e >> x) & ((1n << (62n - x)) - 1n)) + 1;
    const len = Math.min(sectors * 512 - (host % 512), this.fileSize - host);
    if (len <= 0) throw bad(this.path, 'compressed cluster outside the file');
    const raw = new Uint8Array(len);
    await this.fh.read(raw, 0, len, host);
    try {
      const out = inflateRawSync(raw, { maxOutputLength: this.clusterSize, finishFlush: 2 /* Z_SYNC_FLUSH */ });
      const full = new Uint8Array(this.clusterSize);
      full.set(out.subarray(0, this.clusterSize));
      return full;
    } catch (err) {
      throw bad(this.path, `bad compressed cluster: ${(err as Error).message}`);
    }
  }

  async write(): Promise<void> {
    throw new PvmError('io', `qcow2 ${this.path} is read-only`);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    await this.fh.close();
  }
}

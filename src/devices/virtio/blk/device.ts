/**
 * virtio-blk (virtio 1.2 §5.2): one request queue, raw images through a `BlockBackend`.
 * Requests are parsed and checked synchronously, then run on the backend; each completes
 * when its promise settles (status byte last, then the used ring, then the interrupt).
 * FLUSH first waits for the writes already started, then the backend's flush (fsync).
 */
import type { Chain } from '../chain.js';
import { writeChain } from '../chain.js';
import { bit, DeviceId } from '../constants.js';
import type { VirtioDevice, VirtioTransport } from '../device.js';
import type { BlockBackend } from './backend.js';
import {
  type BlkRequest,
  BlkStatus,
  ID_BYTES,
  MAX_RANGE_SECTORS,
  MAX_TRANSFER,
  parseRequest,
  SECTOR,
} from './request.js';

/** §5.2.3 feature bits. */
export const BlkFeature = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** §5.2.4 struct virtio_blk_config offsets. */
export const BlkConfig = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  BLK_SIZE: 20,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  WRITE_ZEROES_MAY_UNMAP: 56,
  SIZE: 60,
} as const;

export interface VirtioBlkOptions {
  backend: BlockBackend;
  /** Expose the disk read-only even if the backend could write. */
  readOnly?: boolean;
  /** Serial returned by GET_ID (at most 20 bytes, ASCII). Default "pvm". */
  id?: string;
  /** Request queue size. Default 256. */
  queueSize?: number;
  /**
   * Runs a completion (used ring, interrupt) that arrives from the backend's promise, outside
   * the domain's run loop. A host gives the domain's guard, so a failure there ends this domain
   * instead of escaping as an unhandled rejection. Default: run it directly.
   */
  contain?: (what: string, fn: () => void) => void;
}

export interface BlkStats {
  reads: number;
  writes: number;
  flushes: number;
  bytesRead: number;
  bytesWritten: number;
  errors: number;
}

export class VirtioBlk implements VirtioDevice {
  readonly kind = 'blk';
  readonly deviceId = DeviceId.BLOCK;
  readonly queueSizes: readonly number[];
  readonly features: bigint;
  readonly config = new Uint8Array(BlkConfig.SIZE);
  readonly backend: BlockBackend;
  readonly readOnly: boolean;
  readonly sectors: number;
  readonly stats: BlkStats = { reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, errors: 0 };
  inFlight = 0;
  /** Last error message (guest or backend), for diagnostics. */
  lastError: string | null = null;
  private t!: VirtioTransport;
  private readonly id: Uint8Array;
  /** Writes started and not yet settled: a FLUSH waits for them. */
  private readonly writes = new Set<Promise<unknown>>();
  private readonly idle: (() => void)[] = [];
  private readonly contain: (what: string, fn: () => void) => void;

  constructor(opts: VirtioBlkOptions) {
    this.backend = opts.backend;
    this.contain = opts.contain ?? ((_what, fn) => fn());
    this.readOnly = opts.readOnly === true || opts.backend.readOnly;
    this.sectors = Math.floor(opts.backend.size / SECTOR);
    const qsize = opts.queueSize ?? 256;
    this.queueSizes = [qsize];
    this.id = new Uint8Array(ID_BYTES);
    const id = opts.id ?? 'pvm';
    for (let i = 0; i < Math.min(id.length, ID_BYTES); i++) this.id[i] = id.charCodeAt(i) & 0x7f;

    let f = bit(BlkFeature.SIZE_MAX) | bit(BlkFeature.SEG_MAX) | bit(BlkFeature.BLK_SIZE) | bit(BlkFeature.FLUSH);
    if (this.readOnly) f |= bit(BlkFeature.RO);
    if (!this.readOnly && this.backend.discard) f |= bit(BlkFeature.DISCARD);
    if (!this.readOnly && this.backend.writeZeroes) f |= bit(BlkFeature.WRITE_ZEROES);
    this.features = f;

    const v = new DataView(this.config.buffer);
    v.setUint32(BlkConfig.CAPACITY, this.sectors % 0x1_0000_0000, true);
    v.setUint32(BlkConfig.CAPACITY + 4, Math.floor(this.sectors / 0x1_0000_0000), true);
    v.setUint32(BlkConfig.SEG_MAX, qsize - 2, true); // header and status take two descriptors
    // seg_max * size_max stays within MAX_TRANSFER, so Linux never builds a request we refuse.
    v.setUint32(BlkConfig.SIZE_MAX, Math.max(4096, Math.floor(MAX_TRANSFER / (qsize - 2) / 4096) * 4096), true);
    v.setUint32(BlkConfig.BLK_SIZE, SECTOR, true);
    v.setUint32(BlkConfig.MAX_DISCARD_SECTORS, MAX_RANGE_SECTORS, true);
    v.setUint32(BlkConfig.MAX_DISCARD_SEG, 1, true);
    v.setUint32(BlkConfig.DISCARD_SECTOR_ALIGNMENT, 1, true);
    v.setUint32(BlkConfig.MAX_WRITE_ZEROES_SECTORS, MAX_RANGE_SECTORS, true);
    v.setUint32(BlkConfig.MAX_WRITE_ZEROES_SEG, 1, true);
  }

  attach(t: VirtioTransport): void {
    this.t = t;
  }

  activate(): string | null {
    return this.t.queue(0).active ? null : 'request queue not ready';
  }

  reset(): void {
    // In-flight backend operations finish on their own; their completions carry the old
    // epoch and are dropped by the transport.
  }

  notify(q: number): void {
    if (q !== 0) return;
    for (let c = this.t.pop(0); c !== null; c = this.t.pop(0)) this.start(c);
  }

  private start(chain: Chain): void {
    const { statusAddr, request } = parseRequest(this.t.ram, chain, {
      sectors: this.sectors,
      readOnly: this.readOnly,
      discard: this.t.hasFeature(BlkFeature.DISCARD),
      writeZeroes: this.t.hasFeature(BlkFeature.WRITE_ZEROES),
    });
    const epoch = this.t.epoch;
    if (statusAddr < 0) {
      // Nowhere to put a status: hand the buffers back with nothing written.
      this.error((request as { reason?: string }).reason ?? 'no status byte');
      this.t.complete(0, chain.head, 0, epoch);
      return;
    }
    const done = (status: number, data: Uint8Array | null = null, dataSegs = chain.writable) => {
      if (--this.inFlight === 0) for (const f of this.idle.splice(0)) f();
      if (!this.t.current(epoch)) return;
      this.contain('disk completion', () => {
        const n = data === null ? 0 : writeChain(this.t.ram, dataSegs, data);
        this.t.ram.u8[statusAddr - this.t.ram.base] = status;
        this.t.ram.dirty.mark(statusAddr - this.t.ram.base, 1);
        this.t.complete(0, chain.head, n + 1, epoch);
      });
    };
    const failed = (e: unknown) => {
      this.error(`backend: ${e instanceof Error ? e.message : String(e)}`);
      done(BlkStatus.IOERR);
    };
    this.inFlight++;
    try {
      this.run(request, done, failed);
    } catch (e) {
      failed(e); // a backend that throws synchronously
    }
  }

  private run(
    r: BlkRequest,
    done: (status: number, data?: Uint8Array | null, segs?: Chain['writable']) => void,
    failed: (e: unknown) => void,
  ): void {
    switch (r.op) {
      case 'fail':
        this.error(r.reason);
        done(r.status);
        return;
      case 'read': {
        const buf = new Uint8Array(r.length);
        this.stats.reads++;
        this.backend.read(r.offset, buf).then(() => {
          this.stats.bytesRead += r.length;
          done(BlkStatus.OK, buf, r.data);
        }, failed);
        return;
      }
      case 'write': {
        this.stats.writes++;
        const p = this.backend.write(r.offset, r.bytes).then(() => {
          this.stats.bytesWritten += r.bytes.length;
          done(BlkStatus.OK);
        }, failed);
        this.track(p);
        return;
      }
      case 'flush': {
        this.stats.flushes++;
        // Every write acknowledged before this FLUSH, and every write started before it,
        // is on stable storage before the FLUSH completes.
        Promise.allSettled([...this.writes])
          .then(() => this.backend.flush())
          .then(() => done(BlkStatus.OK), failed);
        return;
      }
      case 'get-id':
        done(BlkStatus.OK, this.id.subarray(0, r.length), r.data);
        return;
      case 'discard':
        this.track(this.backend.discard!(r.offset, r.length).then(() => done(BlkStatus.OK), failed));
        return;
      case 'write-zeroes':
        this.track(this.backend.writeZeroes!(r.offset, r.length).then(() => done(BlkStatus.OK), failed));
        return;
    }
  }

  private track(p: Promise<unknown>): void {
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
  }

  private error(reason: string): void {
    this.stats.errors++;
    this.lastError = reason;
  }

  /** Resolves when no request is in flight (before a snapshot or shutdown). */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

/**
 * virtio-9p (virtio 1.2 §5.10 "9P Transport"): one request queue; each chain carries
 * one 9P message in its device-readable part and room for the reply in its writable
 * part. The config space names the mount tag (VIRTIO_9P_MOUNT_TAG), which the guest
 * passes to `mount -t 9p -o trans=virtio TAG DIR`.
 *
 * Requests are served concurrently by `P9Server` and complete in the order they finish
 * (each chain is returned with its own head, so the driver matches them by tag).
 */
import { utf8Encode } from '../../../core/utf8.js';
import { readChain, writeChain } from '../chain.js';
import { bit, DeviceId } from '../constants.js';
import type { VirtioDevice, VirtioDeviceState, VirtioTransport } from '../device.js';
import type { P9Backend } from './backend.js';
import { P9Server, type P9SessionState, type P9Stats } from './server.js';
import { p9StateCodec } from './state.js';

/** §5.10.3 feature bits. */
export const P9Feature = { MOUNT_TAG: 0 } as const;

/** Longest mount tag accepted (QEMU's limit; Linux reads any tag_len). */
export const MAX_TAG_BYTES = 32;

export interface VirtioP9Options {
  /** Mount tag: 1..32 bytes of letters, digits, "_", "-", ".". */
  readonly tag: string;
  readonly backend: P9Backend;
  /** Request queue size: the most requests outstanding at once. Default 128 (Linux's ring). */
  readonly queueSize?: number;
  /** Limits (defaults in `P9Limits`). */
  readonly maxFids?: number;
  readonly maxOpen?: number;
}

/** A tag usable on a mount command line, or an error message. */
export function checkTag(tag: string): string | null {
  if (!/^[A-Za-z0-9_.-]+$/.test(tag)) return `9p tag "${tag}": use letters, digits, "_", "-" and "."`;
  if (tag.length > MAX_TAG_BYTES) return `9p tag "${tag}": at most ${MAX_TAG_BYTES} characters`;
  return null;
}

export class VirtioP9 implements VirtioDevice {
  readonly kind = '9p';
  readonly deviceId = DeviceId.P9;
  readonly queueSizes: readonly number[];
  readonly features = bit(P9Feature.MOUNT_TAG);
  readonly config: Uint8Array;
  readonly tag: string;
  readonly server: P9Server;
  inFlight = 0;
  private t!: VirtioTransport;
  private readonly idle: (() => void)[] = [];

  constructor(opts: VirtioP9Options) {
    const bad = checkTag(opts.tag);
    if (bad !== null) throw new Error(bad);
    this.tag = opts.tag;
    this.queueSizes = [opts.queueSize ?? 128];
    this.server = new P9Server({ backend: opts.backend, maxFids: opts.maxFids, maxOpen: opts.maxOpen });
    // §5.10.4: le16 tag_len, then the tag (not NUL-terminated).
    const tag = utf8Encode(opts.tag);
    this.config = new Uint8Array(2 + tag.length);
    new DataView(this.config.buffer).setUint16(0, tag.length, true);
    this.config.set(tag, 2);
  }

  get stats(): P9Stats {
    return this.server.stats;
  }

  get readOnly(): boolean {
    return this.server.backend.readOnly;
  }

  attach(t: VirtioTransport): void {
    this.t = t;
  }

  activate(): string | null {
    return this.t.queue(0).active ? null : 'request queue not ready';
  }

  reset(): void {
    // Fids belong to the driver that is gone; replies still in flight carry the old epoch.
    this.server.reset();
  }

  notify(q: number): void {
    if (q !== 0) return;
    for (let c = this.t.pop(0); c !== null; c = this.t.pop(0)) {
      const chain = c;
      const epoch = this.t.epoch;
      // Never more than msize bytes are read, whatever the chain claims.
      const msg = readChain(this.t.ram, chain.readable, 0, this.server.msize);
      this.inFlight++;
      void this.server.handle(msg, chain.writableLen).then((reply) => {
        if (--this.inFlight === 0) for (const f of this.idle.splice(0)) f();
        if (!this.t.current(epoch)) return;
        const n = writeChain(this.t.ram, chain.writable, reply);
        this.t.complete(0, chain.head, n, epoch);
      });
    }
  }

  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** After the domain ended: drop the fids and release the backend. */
  async close(): Promise<void> {
    await this.drain();
    this.server.reset();
    await this.server.backend.close();
  }

  /** Snapshot: the session and its fids (open files are opened again on first use). */
  readonly state: VirtioDeviceState<P9SessionState> = {
    codec: p9StateCodec,
    save: () => this.server.saveSession(),
    load: (s) => this.server.restoreSession(s),
  };
}

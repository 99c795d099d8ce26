/**
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one request queue of device-writable
 * buffers, filled from an `EntropySource` (the host's crypto RNG in Node, `src/host/entropy.ts`).
 */
import type { Chain } from '../chain.js';
import { writeChain } from '../chain.js';
import { DeviceId } from '../constants.js';
import type { VirtioDevice, VirtioTransport } from '../device.js';

export interface EntropySource {
  /** Fills `buf` with random bytes, at once or when the promise resolves. */
  fill(buf: Uint8Array): void | Promise<void>;
}

/** At most this many bytes per request; Linux asks for 16-64 bytes at a time. */
export const MAX_ENTROPY_REQUEST = 65536;

export interface RngStats {
  requests: number;
  bytes: number;
  errors: number;
}

export class VirtioRng implements VirtioDevice {
  readonly kind = 'rng';
  readonly deviceId = DeviceId.ENTROPY;
  readonly queueSizes: readonly number[];
  readonly features = 0n;
  readonly config = new Uint8Array(0);
  readonly stats: RngStats = { requests: 0, bytes: 0, errors: 0 };
  inFlight = 0;
  private t!: VirtioTransport;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly source: EntropySource,
    queueSize = 64,
  ) {
    this.queueSizes = [queueSize];
  }

  attach(t: VirtioTransport): void {
    this.t = t;
  }

  activate(): string | null {
    return this.t.queue(0).active ? null : 'request queue not ready';
  }

  reset(): void {}

  notify(q: number): void {
    if (q !== 0) return;
    for (let c = this.t.pop(0); c !== null; c = this.t.pop(0)) this.serve(c);
  }

  private serve(chain: Chain): void {
    const epoch = this.t.epoch;
    this.stats.requests++;
    // §5.4.6.1: the device fills device-writable buffers; readable ones carry nothing.
    const buf = new Uint8Array(Math.min(chain.writableLen, MAX_ENTROPY_REQUEST));
    const done = (ok: boolean) => {
      if (--this.inFlight === 0) for (const f of this.idle.splice(0)) f();
      if (!this.t.current(epoch)) return;
      const n = ok ? writeChain(this.t.ram, chain.writable, buf) : 0;
      this.stats.bytes += n;
      this.t.complete(0, chain.head, n, epoch);
    };
    const failed = () => {
      this.stats.errors++;
      done(false);
    };
    this.inFlight++;
    try {
      const r = this.source.fill(buf);
      if (r instanceof Promise) r.then(() => done(true), failed);
      else done(true);
    } catch {
      failed();
    }
  }

  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

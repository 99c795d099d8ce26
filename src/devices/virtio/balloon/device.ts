/**
 * virtio-balloon, the traditional memory balloon (virtio 1.2 §5.5). The host sets a
 * target (`num_pages`); the guest inflates (gives frames back) or deflates (takes them
 * again) and reports progress in `actual`. Each frame that changes hands is reported to
 * the host through `BalloonHooks`, so the host can stop backing it (and back it again).
 *
 * The device keeps its own set of ballooned frames: `ballooned` is what the guest really
 * gave back, whatever it writes into `actual`.
 */
import type { StateCodec } from '../../../core/state.js';
import type { Gpa } from '../../../core/types.js';
import { gpa } from '../../../core/types.js';
import { bit, DeviceId } from '../constants.js';
import type { VirtioDevice, VirtioDeviceState, VirtioTransport } from '../device.js';
import { BALLOON_PAGE, parsePageList, parseStats } from './request.js';

/** §5.5.3 feature bits. */
export const BalloonFeature = {
  MUST_TELL_HOST: 0,
  STATS_VQ: 1,
  DEFLATE_ON_OOM: 2,
  FREE_PAGE_HINT: 3,
  PAGE_POISON: 4,
  PAGE_REPORTING: 5,
} as const;

/** §5.5.4 struct virtio_balloon_config offsets. */
export const BalloonConfig = {
  NUM_PAGES: 0,
  ACTUAL: 4,
  FREE_PAGE_HINT_CMD_ID: 8,
  POISON_VAL: 12,
  SIZE: 16,
} as const;

export const INFLATE_QUEUE = 0;
export const DEFLATE_QUEUE = 1;
/** With VIRTIO_BALLOON_F_STATS_VQ (§5.5.2). */
export const STATS_QUEUE = 2;

export interface BalloonHooks {
  /** The guest gave these frames back: the host may drop their contents. */
  inflated?(pages: readonly Gpa[]): void;
  /** The guest takes these frames again: the host backs them (with zeroes or old contents). */
  deflated?(pages: readonly Gpa[]): void;
  /** The guest wrote `actual`. */
  actualChanged?(pages: number): void;
  /** New memory statistics from the guest (bytes / counts by name, e.g. freeMemory). */
  statistics?(stats: Readonly<Record<string, number>>): void;
}

export interface VirtioBalloonOptions extends BalloonHooks {
  /**
   * Offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM: the guest may deflate on its own when short of
   * memory. Off by default: Linux then takes ballooned pages out of MemTotal, so the
   * shrinking is visible in the guest.
   */
  deflateOnOom?: boolean;
  /** Offer the statistics queue (VIRTIO_BALLOON_F_STATS_VQ). Default true. */
  stats?: boolean;
  queueSize?: number;
}

export interface BalloonStats {
  inflatedPages: number;
  deflatedPages: number;
  invalidPages: number;
  errors: number;
}

export class VirtioBalloon implements VirtioDevice {
  readonly kind = 'balloon';
  readonly deviceId = DeviceId.BALLOON;
  readonly queueSizes: readonly number[];
  readonly features: bigint;
  readonly config = new Uint8Array(BalloonConfig.SIZE);
  readonly stats: BalloonStats = { inflatedPages: 0, deflatedPages: 0, invalidPages: 0, errors: 0 };
  readonly inFlight = 0;
  lastError: string | null = null;
  private t!: VirtioTransport;
  private readonly view = new DataView(this.config.buffer);
  /** Ballooned frames by frame number. */
  private readonly frames = new Set<number>();
  /** The statistics buffer the driver left with us, returned to ask for fresh numbers. */
  private statsHead: number | null = null;
  /** The latest statistics the guest sent (empty until the first report). */
  guestStats: Readonly<Record<string, number>> = {};

  constructor(private readonly opts: VirtioBalloonOptions = {}) {
    const n = opts.queueSize ?? 128;
    const stats = opts.stats ?? true;
    this.queueSizes = stats ? [n, n, n] : [n, n];
    this.features =
      bit(BalloonFeature.MUST_TELL_HOST) |
      (opts.deflateOnOom ? bit(BalloonFeature.DEFLATE_ON_OOM) : 0n) |
      (stats ? bit(BalloonFeature.STATS_VQ) : 0n);
  }

  attach(t: VirtioTransport): void {
    this.t = t;
  }

  activate(): string | null {
    return null;
  }

  /** Host: ask the guest to balloon `pages` 4 KiB frames in total. */
  setTarget(pages: number): void {
    const n = Math.max(0, Math.min(Math.floor(pages), 0xffff_ffff));
    if (n === this.target) return;
    this.view.setUint32(BalloonConfig.NUM_PAGES, n, true);
    this.t?.configChanged();
  }

  /** Host: target in bytes (rounded down to whole frames). */
  setTargetBytes(bytes: number): void {
    this.setTarget(Math.floor(bytes / BALLOON_PAGE));
  }

  get target(): number {
    return this.view.getUint32(BalloonConfig.NUM_PAGES, true);
  }

  /** What the driver reports in `actual`. */
  get actual(): number {
    return this.view.getUint32(BalloonConfig.ACTUAL, true);
  }

  /** Frames the guest has given back and not taken again. */
  get ballooned(): number {
    return this.frames.size;
  }

  /** Whether the frame at `page` is currently in the balloon. */
  has(page: Gpa): boolean {
    return this.frames.has(page / BALLOON_PAGE);
  }

  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    // Only `actual` is driver-writable (§5.5.4); it is a le32 written whole.
    if (offset !== BalloonConfig.ACTUAL || size !== 4) return;
    this.view.setUint32(BalloonConfig.ACTUAL, value, true);
    this.opts.actualChanged?.(value);
  }

  /**
   * Host: ask the guest for fresh statistics (§5.5.6.3: the device returns the buffer it
   * holds; the driver refills it and makes it available again). False when the driver
   * has no statistics buffer with the device (feature not negotiated, or a request is
   * already under way).
   */
  requestStats(): boolean {
    if (this.statsHead === null || !this.t?.running) return false;
    const head = this.statsHead;
    this.statsHead = null;
    this.t.complete(STATS_QUEUE, head, 0);
    return true;
  }

  private receiveStats(): void {
    for (let chain = this.t.pop(STATS_QUEUE); chain !== null; chain = this.t.pop(STATS_QUEUE)) {
      const stats = parseStats(this.t.ram, chain);
      if (typeof stats === 'string') {
        this.stats.errors++;
        this.lastError = stats;
      } else {
        this.guestStats = stats;
        this.opts.statistics?.(stats);
      }
      // Keep the newest buffer; an older one held (a driver that re-offered early) goes back.
      if (this.statsHead !== null) this.t.complete(STATS_QUEUE, this.statsHead, 0);
      this.statsHead = chain.head;
    }
  }

  notify(q: number): void {
    if (q === STATS_QUEUE && this.t.hasFeature(BalloonFeature.STATS_VQ)) this.receiveStats();
    if (q !== INFLATE_QUEUE && q !== DEFLATE_QUEUE) return;
    for (let chain = this.t.pop(q); chain !== null; chain = this.t.pop(q)) {
      const list = parsePageList(this.t.ram, chain);
      if (typeof list === 'string') {
        this.stats.errors++;
        this.lastError = list;
      } else {
        this.stats.invalidPages += list.invalid;
        if (q === INFLATE_QUEUE) this.inflate(list.pages);
        else this.deflate(list.pages);
      }
      // §5.5.6.1: with MUST_TELL_HOST the driver waits for this before reusing deflated pages.
      this.t.complete(q, chain.head, 0);
    }
  }

  private inflate(pages: readonly Gpa[]): void {
    const fresh: Gpa[] = [];
    for (const p of pages) {
      const f = p / BALLOON_PAGE;
      if (this.frames.has(f)) continue;
      this.frames.add(f);
      fresh.push(p);
    }
    this.stats.inflatedPages += fresh.length;
    if (fresh.length > 0) this.opts.inflated?.(fresh);
  }

  private deflate(pages: readonly Gpa[]): void {
    const back: Gpa[] = [];
    for (const p of pages) {
      if (this.frames.delete(p / BALLOON_PAGE)) back.push(p);
    }
    this.stats.deflatedPages += back.length;
    if (back.length > 0) this.opts.deflated?.(back);
  }

  /** A reset (guest reboot) gives every ballooned frame back to the guest. */
  reset(): void {
    this.statsHead = null;
    this.view.setUint32(BalloonConfig.ACTUAL, 0, true);
    if (this.frames.size === 0) return;
    const all = [...this.frames].sort((a, b) => a - b).map((f) => gpa(f * BALLOON_PAGE));
    this.frames.clear();
    this.stats.deflatedPages += all.length;
    this.opts.deflated?.(all);
  }

  /** Snapshot: target, actual, then the ballooned frame numbers in ascending order. */
  /** Snapshot: target, actual and the ballooned frames. */
  readonly state: VirtioDeviceState<BalloonState> = {
    codec: balloonStateCodec,
    save: () => ({ target: this.target, actual: this.actual, frames: [...this.frames].sort((a, b) => a - b) }),
    load: (s) => {
      this.view.setUint32(BalloonConfig.NUM_PAGES, s.target, true);
      this.view.setUint32(BalloonConfig.ACTUAL, s.actual, true);
      this.frames.clear();
      for (const f of s.frames) this.frames.add(f);
    },
  };
}

/** The balloon's own state: target and actual (config space, in 4 KiB frames) and the ballooned frame numbers. */
export interface BalloonState {
  readonly target: number;
  readonly actual: number;
  readonly frames: readonly number[];
}

export const balloonStateCodec: StateCodec<BalloonState> = {
  write(w, s) {
    w.u32(s.target)
      .u32(s.actual)
      .list(s.frames, (w, f) => w.u32(f));
  },
  read(r) {
    return {
      target: r.u32('target'),
      actual: r.u32('actual'),
      frames: r.list('frames', 0xffff_ffff, 4, (r) => r.u32('frame')),
    };
  },
};

import type { StateCodec } from '../../core/state.js';
import { SbiErr } from '../../sbi/consts.js';
import type { PvxMemoryCalls } from '../../sbi/pvx/calls.js';
import { PAGE_SIZE, PVX_MEMORY_BATCH_MAX, Reservation } from '../../sbi/pvx/consts.js';
import { below, ramOffset } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import type { PvxEnv } from './env.js';

/**
 * The memory reservation of one domain (docs/para-api-pvx.md §9): the frames
 * the guest gave back and the target the host asks for. Host memory is not
 * returned (a domain's RAM is one ArrayBuffer); the counts let the host see
 * the guest cooperate.
 */
export class Balloon implements PvxMemoryCalls {
  /** Released pages, by page index in RAM. */
  private readonly released = new Set<number>();
  /** Frames of RAM: the reservation's maximum. */
  readonly maxFrames: number;
  private targetFrames: number;

  constructor(
    private readonly env: PvxEnv,
    /** The page at RAM offset `off` (index `page`) may not be released: PVX state or peers' mappings live there. */
    private readonly pinned: (off: number, page: number) => boolean,
  ) {
    this.maxFrames = env.ram.size / PAGE_SIZE;
    this.targetFrames = this.maxFrames;
  }

  // ------------------------------------------------------------------ guest calls

  decrease(gpa: bigint, n: bigint): SbiRet {
    return this.change(gpa, n, true);
  }

  increase(gpa: bigint, n: bigint): SbiRet {
    return this.change(gpa, n, false);
  }

  reservation(which: bigint): SbiRet {
    switch (below(which, 3)) {
      case Reservation.CURRENT:
        return ok(this.maxFrames - this.released.size);
      case Reservation.MAXIMUM:
        return ok(this.maxFrames);
      case Reservation.TARGET:
        return ok(this.targetFrames);
    }
    return err(SbiErr.INVALID_PARAM);
  }

  /** Release (or repopulate) the listed frames in order, stopping at the first that cannot be. */
  private change(gpa: bigint, n: bigint, release: boolean): SbiRet {
    const count = n === 0n ? -1 : below(n, PVX_MEMORY_BATCH_MAX + 1);
    if (count < 1) return err(SbiErr.INVALID_PARAM);
    const ram = this.env.ram;
    const list = ramOffset(ram, gpa, 8 * count, 8);
    if (list < 0) return err(SbiErr.INVALID_ADDRESS);
    const stop = (error: number, i: number): SbiRet => ({ error, value: BigInt(i) });
    for (let i = 0; i < count; i++) {
      const gfn = ram.view.getBigUint64(list + 8 * i, true);
      const off = ramOffset(ram, gfn * BigInt(PAGE_SIZE), PAGE_SIZE, PAGE_SIZE);
      if (gfn >= 1n << 52n || off < 0) return stop(SbiErr.INVALID_ADDRESS, i);
      const page = off / PAGE_SIZE;
      if (this.released.has(page) === release) return stop(SbiErr.INVALID_STATE, i);
      if (release && this.pinned(off, page)) return stop(SbiErr.DENIED, i);
      ram.u8.fill(0, off, off + PAGE_SIZE);
      ram.dirty.mark(off, PAGE_SIZE);
      if (release) this.released.add(page);
      else this.released.delete(page);
    }
    return ok(count);
  }

  // ------------------------------------------------------------------ host side

  /** The balloon target in frames. */
  get target(): number {
    return this.targetFrames;
  }

  /** Set the target, clamped to 0..maxFrames; returns what was set. */
  setTarget(frames: number): number {
    this.targetFrames = Math.max(0, Math.min(this.maxFrames, Math.floor(frames)));
    return this.targetFrames;
  }

  /** Frames released and not repopulated. */
  get releasedFrames(): number {
    return this.released.size;
  }

  saveState(): BalloonState {
    return { released: [...this.released].sort((x, y) => x - y), target: this.targetFrames };
  }

  loadState(s: BalloonState): void {
    this.released.clear();
    for (const p of s.released) this.released.add(p);
    this.targetFrames = s.target;
  }

  /** Nothing released, the target at the maximum. */
  reset(): void {
    this.released.clear();
    this.targetFrames = this.maxFrames;
  }
}

/** The released pages (RAM page indexes, ascending) and the target in frames. */
export interface BalloonState {
  readonly released: readonly number[];
  readonly target: number;
}

export const balloonStateCodec: StateCodec<BalloonState, { frames: number }> = {
  write(w, s) {
    w.list(s.released, (w, p) => w.u32(p)).u32(s.target);
  },
  read(r, { frames }) {
    let last = -1;
    const released = r.list('released pages', frames, 4, (r) => {
      const p = r.u32('released page', frames - 1);
      if (p <= last) r.fail(`released page ${p} is out of order`);
      last = p;
      return p;
    });
    return { released, target: r.u32('balloon target', frames) };
  },
};

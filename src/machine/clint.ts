import type { StateCodec } from '../core/state.js';
import { IrqBit } from '../cpu/arch.js';
import type { MmioDevice } from './bus.js';
import type { IrqTarget } from './irq.js';
import type { TimeSource } from './time.js';

/** Register offsets of the SiFive CLINT (`riscv,clint0`), as QEMU virt lays them out. */
export const ClintReg = {
  MSIP: 0x0000, // 4 bytes per hart, bit 0
  MTIMECMP: 0x4000, // 8 bytes per hart
  MTIME: 0xbff8, // 8 bytes
} as const;

const TWO32 = 0x1_0000_0000;

/**
 * Core-local interruptor: per-hart software interrupt (MSIP) and timer
 * (mtimecmp vs mtime, MTIP). Follows QEMU's hw/intc/riscv_aclint.c:
 * - mtime = time source + a delta that guest writes to mtime adjust;
 * - a hart's MTIP is level `mtime >= mtimecmp`, but only once mtimecmp has
 *   been written (QEMU resets mtimecmp to 0 and raises nothing until the
 *   first write; the ACLINT spec leaves mtimecmp unknown at reset);
 * - MSIP keeps only bit 0.
 * The CLINT has no timer thread: the run loop calls `update()` between
 * slices, and `nextDeadline()` tells an idle loop how long it may sleep.
 */
export class Clint implements MmioDevice {
  readonly name = 'clint';
  private readonly msip: Uint8Array;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;
  /** mtimecmp as a number (exact below 2^53, and ordered correctly above). */
  private readonly cmp: Float64Array;
  private readonly armed: Uint8Array;
  private readonly mtip: Uint8Array;
  private delta = 0;
  /** mtime latched by a read of its low word, for the high word read that follows. */
  private latched = -1;

  constructor(
    private readonly harts: readonly IrqTarget[],
    private readonly time: TimeSource,
  ) {
    const n = harts.length;
    this.msip = new Uint8Array(n);
    this.cmpLo = new Uint32Array(n);
    this.cmpHi = new Uint32Array(n);
    this.cmp = new Float64Array(n);
    this.armed = new Uint8Array(n);
    this.mtip = new Uint8Array(n);
  }

  /** Current mtime in ticks (what harts should read through their `time` CSR). */
  mtime(): number {
    return this.time.now() + this.delta;
  }

  /** A TimeSource that includes guest writes to mtime: give it to the harts. */
  readonly timeSource: TimeSource = { now: () => this.mtime() };

  /** Re-evaluates MTIP of every hart against `now` (default: current mtime). */
  update(now: number = this.mtime()): void {
    for (let i = 0; i < this.harts.length; i++) this.evalTimer(i, now);
  }

  /** Earliest mtimecmp still in the future among armed harts, or Infinity. */
  nextDeadline(now: number = this.mtime()): number {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.harts.length; i++) {
      if (this.armed[i] && this.cmp[i]! > now && this.cmp[i]! < best) best = this.cmp[i]!;
    }
    return best;
  }

  /**
   * Device reset: mtime back to 0 (ACLINT spec), mtimecmp disarmed (QEMU
   * resets it to 0 and raises nothing), MSIP and MTIP lowered.
   */
  reset(): void {
    this.delta = -this.time.now();
    this.latched = -1;
    for (let i = 0; i < this.harts.length; i++) {
      this.msip[i] = 0;
      this.cmpLo[i] = 0;
      this.cmpHi[i] = 0;
      this.cmp[i] = 0;
      this.armed[i] = 0;
      this.mtip[i] = 0;
      this.harts[i]!.setIrq(IrqBit.MSIP, false);
      this.harts[i]!.setIrq(IrqBit.MTIP, false);
    }
  }

  /** Snapshots (src/machine/snapshot.ts). */
  saveState(): ClintState {
    const harts = [];
    for (let i = 0; i < this.harts.length; i++) {
      harts.push({
        msip: this.msip[i] === 1,
        cmpLo: this.cmpLo[i]!,
        cmpHi: this.cmpHi[i]!,
        armed: this.armed[i] === 1,
      });
    }
    return { delta: this.delta, harts };
  }

  /** Load a state read by clintStateCodec for this CLINT; MTIP follows from the restored time. */
  loadState(s: ClintState): void {
    this.delta = s.delta;
    this.latched = -1;
    s.harts.forEach((h, i) => {
      this.msip[i] = h.msip ? 1 : 0;
      this.cmpLo[i] = h.cmpLo;
      this.cmpHi[i] = h.cmpHi;
      this.cmp[i] = h.cmpHi * TWO32 + h.cmpLo;
      this.armed[i] = h.armed ? 1 : 0;
      this.harts[i]!.setIrq(IrqBit.MSIP, h.msip);
    });
    this.mtip.fill(0);
    for (let i = 0; i < this.harts.length; i++) this.harts[i]!.setIrq(IrqBit.MTIP, false);
    this.update();
  }

  /** Raw mtimecmp of hart `i` as a bigint (tests, diagnostics). */
  mtimecmp(i: number): bigint {
    return (BigInt(this.cmpHi[i]!) << 32n) | BigInt(this.cmpLo[i]!);
  }

  private evalTimer(i: number, now: number): void {
    const level = this.armed[i] === 1 && now >= this.cmp[i]! ? 1 : 0;
    if (level !== this.mtip[i]) {
      this.mtip[i] = level;
      this.harts[i]!.setIrq(IrqBit.MTIP, level === 1);
    }
  }

  read(offset: number, size: 1 | 2 | 4): number {
    const n = this.harts.length;
    if (offset < ClintReg.MTIMECMP) {
      const h = offset >>> 2;
      if (h < n && (offset & 3) === 0) return this.msip[h]!;
      return 0;
    }
    if (offset < ClintReg.MTIMECMP + 8 * n) {
      const rel = offset - ClintReg.MTIMECMP;
      const h = rel >>> 3;
      if ((rel & 7) === 0) return narrow(this.cmpLo[h]!, size);
      if ((rel & 7) === 4) return narrow(this.cmpHi[h]!, size);
      return 0;
    }
    if (offset === ClintReg.MTIME) {
      const t = this.mtime();
      this.latched = t;
      return narrow(t % TWO32, size);
    }
    if (offset === ClintReg.MTIME + 4) {
      // The bus splits a 64-bit read low word first: answer the high word of
      // the value latched by that low read so the pair is never torn.
      const t = this.latched >= 0 ? this.latched : this.mtime();
      this.latched = -1;
      return Math.floor(t / TWO32) >>> 0;
    }
    return 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    const n = this.harts.length;
    if (offset < ClintReg.MTIMECMP) {
      const h = offset >>> 2;
      if (h < n && (offset & 3) === 0) {
        const level = value & 1;
        this.msip[h] = level;
        this.harts[h]!.setIrq(IrqBit.MSIP, level === 1);
      }
      return;
    }
    if (offset < ClintReg.MTIMECMP + 8 * n) {
      if (size !== 4) return; // 32-bit halves only (64-bit stores arrive split)
      const rel = offset - ClintReg.MTIMECMP;
      const h = rel >>> 3;
      if ((rel & 7) === 0) this.cmpLo[h] = value >>> 0;
      else if ((rel & 7) === 4) this.cmpHi[h] = value >>> 0;
      else return;
      this.cmp[h] = this.cmpHi[h]! * TWO32 + this.cmpLo[h]!;
      this.armed[h] = 1;
      this.evalTimer(h, this.mtime());
      return;
    }
    if ((offset === ClintReg.MTIME || offset === ClintReg.MTIME + 4) && size === 4) {
      const raw = this.time.now();
      const cur = raw + this.delta;
      const lo = cur % TWO32;
      const hi = Math.floor(cur / TWO32);
      const next = offset === ClintReg.MTIME ? hi * TWO32 + (value >>> 0) : (value >>> 0) * TWO32 + lo;
      this.delta = next - raw;
      this.latched = -1;
      this.update(next);
    }
  }
}

function narrow(v: number, size: 1 | 2 | 4): number {
  return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

/**
 * The CLINT's saved state: the mtime offset (any integer: the guest may set mtime to any 64-bit
 * value), then per hart MSIP, mtimecmp and whether it was ever written.
 */
export interface ClintState {
  readonly delta: number;
  readonly harts: readonly {
    readonly msip: boolean;
    readonly cmpLo: number;
    readonly cmpHi: number;
    readonly armed: boolean;
  }[];
}

export const clintStateCodec: StateCodec<ClintState, { harts: number }> = {
  write(w, s) {
    w.f64int(s.delta).list(s.harts, (w, h) => w.bool(h.msip).u32(h.cmpLo).u32(h.cmpHi).bool(h.armed));
  },
  read(r, shape) {
    const delta = r.f64int('mtime offset');
    const harts = r.list('harts', shape.harts, 10, (r) => ({
      msip: r.bool('msip'),
      cmpLo: r.u32('mtimecmp low'),
      cmpHi: r.u32('mtimecmp high'),
      armed: r.bool('armed'),
    }));
    if (harts.length !== shape.harts) r.mismatch(`${harts.length} harts saved, the board has ${shape.harts}`);
    return { delta, harts };
  },
};

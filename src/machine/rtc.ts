import type { MmioDevice } from './bus.js';

/** Goldfish RTC registers (QEMU hw/rtc/goldfish_rtc.c, Linux drivers/rtc/rtc-goldfish.c). */
export const RtcReg = {
  TIME_LOW: 0x00,
  TIME_HIGH: 0x04,
  ALARM_LOW: 0x08,
  ALARM_HIGH: 0x0c,
  IRQ_ENABLED: 0x10,
  CLEAR_ALARM: 0x14,
  ALARM_STATUS: 0x18,
  CLEAR_INTERRUPT: 0x1c,
} as const;

const MASK32 = 0xffff_ffffn;

/**
 * `google,goldfish-rtc`: wall-clock time in nanoseconds since the Unix epoch.
 * Reading TIME_LOW latches the whole value so the TIME_HIGH read that follows
 * is consistent (the Linux driver reads low, then high). A write to TIME_LOW
 * or TIME_HIGH replaces that half of the current time, as QEMU does (Linux
 * writes high, then low); the clock is kept as an offset from the host's.
 * The alarm is not implemented: its registers read 0 and ignore writes.
 */
export class GoldfishRtc implements MmioDevice {
  readonly name = 'rtc';
  private offset = 0n;
  private latchedHigh = 0;

  /** `wallClockNs` returns host wall time in ns since the epoch (e.g. BigInt(Date.now()) * 1_000_000n). */
  constructor(private readonly wallClockNs: () => bigint) {}

  /** Snapshots: the guest's offset from the host wall clock in ns (the wall clock goes on, as on QEMU). */
  get wallOffsetNs(): bigint {
    return this.offset;
  }
  set wallOffsetNs(v: bigint) {
    this.offset = v;
  }

  /** Guest-visible time in ns. */
  nowNs(): bigint {
    return this.wallClockNs() + this.offset;
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 4) return 0;
    if (offset === RtcReg.TIME_LOW) {
      const t = this.nowNs();
      this.latchedHigh = Number((t >> 32n) & MASK32);
      return Number(t & MASK32);
    }
    if (offset === RtcReg.TIME_HIGH) return this.latchedHigh;
    return 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4) return;
    if (offset !== RtcReg.TIME_LOW && offset !== RtcReg.TIME_HIGH) return;
    const host = this.wallClockNs();
    const cur = host + this.offset;
    const v = BigInt(value >>> 0);
    const next = offset === RtcReg.TIME_LOW ? (cur & ~MASK32) | v : (v << 32n) | (cur & MASK32);
    this.offset = next - host;
  }
}

import type { StateCodec } from '../../core/state.js';
import { TIMEBASE_HZ } from '../../machine/memmap.js';
import { PAGE_SIZE, Shinfo } from '../../sbi/pvx/consts.js';
import type { PvxEnv } from './env.js';

const NS_PER_TICK = BigInt(1_000_000_000 / TIMEBASE_HZ);

/**
 * The shared info page of one domain (docs/para-api-pvx.md §4): where it is,
 * and every read and write the hypervisor makes in it. The pending and mask
 * bitmaps, the selectors and upcall_pending/upcall_mask are not copied: they
 * live in guest RAM, where the guest reads and writes them.
 *
 * Atomicity: the guest updates these words with AMOs from any vCPU; the
 * hypervisor runs between instructions, so a read-modify-write here is
 * atomic with respect to every vCPU.
 */
export class SharedInfo {
  /** RAM offset of the page, or -1 (none registered). */
  off = -1;

  constructor(private readonly env: PvxEnv) {}

  saveState(): SharedInfoState {
    return this.off >= 0 ? this.off : null;
  }

  loadState(s: SharedInfoState): void {
    this.off = s ?? -1;
  }

  get registered(): boolean {
    return this.off >= 0;
  }

  /** RAM offset of the 32-bit half of bitmap `base` (EVTCHN_PENDING or EVTCHN_MASK) that holds port `p`. */
  private wordOff(base: number, p: number): number {
    return this.off + base + 8 * (p >>> 6) + ((p & 63) >>> 5) * 4;
  }

  testBit(base: number, p: number): boolean {
    return ((this.env.ram.view.getUint32(this.wordOff(base, p), true) >>> (p & 31)) & 1) === 1;
  }

  /** Set (or clear) bit p; returns its old value. */
  setBit(base: number, p: number, set: boolean): boolean {
    const o = this.wordOff(base, p);
    const dv = this.env.ram.view;
    const w = dv.getUint32(o, true);
    const bit = 1 << (p & 31);
    dv.setUint32(o, (set ? w | bit : w & ~bit) >>> 0, true);
    this.env.ram.dirty.mark(o, 4);
    return (w & bit) !== 0;
  }

  /** RAM offset of vCPU `vcpu`'s vcpu_info. */
  viOff(vcpu: number): number {
    return this.off + Shinfo.VCPU_INFO + vcpu * Shinfo.VCPU_INFO_SIZE;
  }

  viByte(vcpu: number, field: number): number {
    return this.env.ram.view.getUint8(this.viOff(vcpu) + field);
  }

  /**
   * Time fields of §4.5 for every vCPU and the wall clock, each under its version counter.
   * `onlyIfChanged` (a restore): a vCPU's fields are left alone while they still give the
   * right system time (mtime goes on from the saved instant, so they do after a restore on
   * this host), and the wall clock while the boot time it gives is off by less than a second,
   * so a save restored at once keeps its page, and a save -> restore -> save its bytes; a
   * file restored later gets the wall clock moved on, as the RTC is.
   */
  writeTime(epochTick: number, onlyIfChanged = false): void {
    const dv = this.env.ram.view;
    const s = this.off;
    const now = this.env.now();
    const sysNs = BigInt(Math.max(0, now - epochTick)) * NS_PER_TICK;
    for (let v = 0; v < this.env.vcpuCount; v++) {
      const t = s + v * Shinfo.VCPU_INFO_SIZE + Shinfo.VI_TIME;
      if (onlyIfChanged && dv.getUint32(t + Shinfo.T_TICK_HZ, true) === TIMEBASE_HZ) {
        const stamp = dv.getBigUint64(t + Shinfo.T_TICK_STAMP, true);
        const sys = dv.getBigUint64(t + Shinfo.T_SYSTEM_TIME, true);
        if (
          (dv.getUint32(t + Shinfo.T_VERSION, true) & 1) === 0 &&
          sys + (BigInt(now) - stamp) * NS_PER_TICK === sysNs
        ) {
          continue;
        }
      }
      const ver = dv.getUint32(t + Shinfo.T_VERSION, true);
      dv.setUint32(t + Shinfo.T_VERSION, (ver | 1) >>> 0, true);
      dv.setUint32(t + Shinfo.T_TICK_HZ, TIMEBASE_HZ, true);
      dv.setBigUint64(t + Shinfo.T_TICK_STAMP, BigInt(now), true);
      dv.setBigUint64(t + Shinfo.T_SYSTEM_TIME, sysNs, true);
      dv.setUint32(t + Shinfo.T_VERSION, ((ver | 1) + 1) >>> 0, true);
      this.touched();
    }
    const boot = this.env.wallClockNs() - sysNs;
    const wv = dv.getUint32(s + Shinfo.WC_VERSION, true);
    if (onlyIfChanged && (wv & 1) === 0) {
      const was =
        dv.getBigUint64(s + Shinfo.WC_SEC, true) * 1_000_000_000n + BigInt(dv.getUint32(s + Shinfo.WC_NSEC, true));
      const off = boot - was;
      if (off > -1_000_000_000n && off < 1_000_000_000n) return;
    }
    dv.setUint32(s + Shinfo.WC_VERSION, (wv | 1) >>> 0, true);
    dv.setBigUint64(s + Shinfo.WC_SEC, boot / 1_000_000_000n, true);
    dv.setUint32(s + Shinfo.WC_NSEC, Number(boot % 1_000_000_000n), true);
    dv.setUint32(s + Shinfo.WC_VERSION, ((wv | 1) + 1) >>> 0, true);
    this.touched();
  }

  /** The page was written by pvm: live migration must send it again. */
  private touched(): void {
    if (this.off >= 0) this.env.ram.dirty.mark(this.off, PAGE_SIZE);
  }

  /** `shutdown_request` (§5.4), when a page is registered. */
  writeShutdownRequest(reason: number): void {
    if (this.off >= 0) this.env.ram.view.setUint32(this.off + Shinfo.SHUTDOWN_REQUEST, reason, true);
    this.touched();
  }

  /** `mem_target_frames` (§9), when a page is registered. */
  writeMemTarget(frames: number): void {
    if (this.off >= 0) this.env.ram.view.setBigUint64(this.off + Shinfo.MEM_TARGET, BigInt(frames), true);
    this.touched();
  }
}

/** The shared info page's saved state: its RAM offset, or null. */
export type SharedInfoState = number | null;

export const sharedInfoStateCodec: StateCodec<SharedInfoState, { ramSize: number }> = {
  write: (w, off) => void w.opt(off, (w, o) => w.uint(o)),
  read: (r, { ramSize }) =>
    r.opt('shared info page', (r) => {
      const off = r.uint('shared info page offset', ramSize - PAGE_SIZE);
      if (off % PAGE_SIZE !== 0) r.fail(`shared info page offset ${off} is not page-aligned`);
      return off;
    }),
};

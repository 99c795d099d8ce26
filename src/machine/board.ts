import { HART_STATE_BYTES } from '../cpu/jit/state.js';
import { GuestRam } from '../memory/ram.js';
import { Bus, type MmioDevice } from './bus.js';
import { Clint } from './clint.js';
import type { Fdt } from './fdt.js';
import type { IrqTarget } from './irq.js';
import { MemMap, PlicSource } from './memmap.js';
import { Plic, type PlicGateway } from './plic.js';
import { GoldfishRtc } from './rtc.js';
import { SifiveTest, type SysconEvent } from './syscon.js';
import { HostTimeSource, InstretTimeSource, ShiftedTimeSource, type TimeSource } from './time.js';
import { Uart16550 } from './uart.js';
import { buildVirtDt, type VirtDtOptions } from './virt-dt.js';

/** What the board needs from a hart (src/cpu Hart satisfies it). */
export interface BoardHart extends IrqTarget {
  /** Instructions retired so far. */
  readonly instret: number;
  run(budget: number): number;
  requestStop(): void;
  reset(pc: bigint, priv: number): void;
  setX(r: number, v: bigint): void;
  getPc(): bigint;
  /** CSR read without privilege checks (mip, mie ...). */
  getCsr(n: number): bigint;
  /** The hart's own timer (Sstc's stimecmp): raise what is due at mtime `now`. */
  updateTimer?(now: number): void;
  /** When the hart's own timer fires next (mtime), or Infinity. */
  timerDeadline?(): number;
  /** Call `onStore(pa, size)` on every store into the RAM page of `pa` (src/cpu Hart.watchStores); optional. */
  watchStores?(pa: number | null, onStore?: ((pa: number, size: number) => void) | null): void;
}

/** Builds hart `id` on the board's RAM and bus, reading `time` for its `time` CSR. */
export type HartFactory<H extends BoardHart = BoardHart> = (id: number, ram: GuestRam, bus: Bus, time: TimeSource) => H;

/** A device in a virtio slot: on the bus, and put back to its reset state with the board. */
export interface SlotDevice extends MmioDevice {
  /** Back to the reset state (a transport with a device has state; an empty slot has none). */
  reset?(): void;
}

/** Which devices the board has (all by default). PV mode leaves out the CLINT. */
export interface BoardDevices {
  clint?: boolean;
  plic?: boolean;
  uart?: boolean;
  test?: boolean;
  rtc?: boolean;
}

export interface VirtBoardOptions<H extends BoardHart = BoardHart> {
  /** Builds each hart (the CPU core's Hart). */
  createHart: HartFactory<H>;
  /** Number of harts (default 1). */
  harts?: number;
  /** RAM is a shared WebAssembly.Memory, for harts on other threads (GuestRamOptions.shared). */
  sharedRam?: boolean;
  /** RAM size in bytes (default 128 MiB), a multiple of 4 KiB. */
  memory?: number;
  /**
   * Where mtime comes from: 'host' (default: the host monotonic clock
   * `nowMs`, 10 MHz), 'instret' (deterministic: one tick per
   * `insnsPerTick` instructions retired over all harts, plus skipped idle
   * time), or any TimeSource.
   */
  time?: 'host' | 'instret' | TimeSource;
  /** Host monotonic clock in ms for time 'host' (default Date.now; pass performance.now). */
  nowMs?: () => number;
  /** Instructions per mtime tick for time 'instret' (default 100). */
  insnsPerTick?: number;
  /** Host wall clock in ns since the epoch, for the RTC (default from Date.now). */
  wallClockNs?: () => bigint;
  /** Each byte the guest writes to the UART. */
  onUartOutput?: (byte: number) => void;
  /** Poweroff / reboot / fail requests through the syscon. Harts are asked to stop as well. */
  onSyscon?: (e: SysconEvent) => void;
  /** A CLINT write raised hart `target`'s MSIP (an IPI); the run loop may switch to it. */
  onIpi?: (target: number) => void;
  devices?: BoardDevices;
  /**
   * The PLIC's gateway (default 'qemu': as QEMU 7.2's virt, which software written for QEMU
   * relies on; 'level' is the PLIC specification's, see `PlicGateway`).
   */
  plicGateway?: PlicGateway;
}

const MiB = 1024 * 1024;

/**
 * The QEMU-virt-compatible board: guest RAM at 0x8000_0000, the MMIO bus,
 * CLINT, PLIC, UART0, syscon and RTC at their MemMap addresses, and N harts
 * wired to them (CLINT -> MSIP/MTIP, PLIC contexts 2N/2N+1 -> MEIP/SEIP,
 * UART -> PLIC source 10). It runs nothing itself: run loops (bare runner,
 * hypervisor) drive the harts and call `tick()` between slices.
 */
export class VirtBoard<H extends BoardHart = BoardHart> {
  readonly ram: GuestRam;
  readonly bus = new Bus();
  readonly harts: H[] = [];
  readonly clint: Clint | undefined;
  readonly plic: Plic | undefined;
  readonly uart: Uart16550 | undefined;
  readonly test: SifiveTest | undefined;
  readonly rtc: GoldfishRtc | undefined;
  /** mtime as the guest sees it (the CLINT's view when there is one). */
  readonly time: TimeSource;
  /** The last syscon request, until `clearSyscon()`. */
  sysconEvent: SysconEvent | undefined;

  /** The time base; its `shift` is what snapshots move (restoreBaseTime). */
  private readonly baseTime: TimeSource & { shift: number };
  private readonly virtio = new Map<number, SlotDevice>();
  private readonly instretTime: InstretTimeSource | undefined;

  constructor(opts: VirtBoardOptions<H>) {
    const nHarts = opts.harts ?? 1;
    if (!Number.isInteger(nHarts) || nHarts < 1 || nHarts > 64) {
      throw new RangeError(`harts must be an integer from 1 to 64, got ${nHarts}`);
    }
    this.ram = new GuestRam(MemMap.RAM.base, opts.memory ?? 128 * MiB, nHarts * HART_STATE_BYTES, {
      shared: opts.sharedRam === true,
    });
    const want = { clint: true, plic: true, uart: true, test: true, rtc: true, ...opts.devices };

    const t = opts.time ?? 'host';
    // Snapshots move the time base (restoreBaseTime) so a restored guest's clock goes on from where it was saved.
    if (t === 'host') {
      this.baseTime = new HostTimeSource(opts.nowMs ?? (() => Date.now()));
    } else if (t === 'instret') {
      this.instretTime = new InstretTimeSource(() => this.instret(), opts.insnsPerTick);
      this.baseTime = this.instretTime;
    } else {
      this.baseTime = new ShiftedTimeSource(t);
    }
    // Harts read time through the CLINT, which adds guest writes to mtime; without one, the
    // base itself (one call for each read: the PVX timer reads it on every deadline it sets).
    this.time = want.clint
      ? { now: () => (this.clint !== undefined ? this.clint.mtime() : this.baseTime.now()) }
      : this.baseTime;

    for (let i = 0; i < nHarts; i++) this.harts.push(opts.createHart(i, this.ram, this.bus, this.time));

    if (want.clint) {
      this.clint = new Clint(this.harts, this.baseTime, opts.onIpi);
      this.bus.map(MemMap.CLINT.base, MemMap.CLINT.size, this.clint);
    }
    if (want.plic) {
      this.plic = new Plic(this.harts, PlicSource.PLIC_SOURCES, opts.plicGateway ?? 'qemu');
      this.bus.map(MemMap.PLIC.base, MemMap.PLIC.size, this.plic);
    }
    if (want.uart) {
      const out = opts.onUartOutput ?? (() => {});
      this.uart = new Uart16550({ onOutput: out, irq: this.plic, irqNum: PlicSource.UART0 });
      this.bus.map(MemMap.UART0.base, MemMap.UART0.size, this.uart);
    }
    if (want.test) {
      this.test = new SifiveTest((e) => {
        this.sysconEvent = e;
        for (const h of this.harts) h.requestStop();
        opts.onSyscon?.(e);
      });
      this.bus.map(MemMap.TEST.base, MemMap.TEST.size, this.test);
    }
    if (want.rtc) {
      this.rtc = new GoldfishRtc(opts.wallClockNs ?? (() => BigInt(Date.now()) * 1_000_000n));
      this.bus.map(MemMap.RTC.base, MemMap.RTC.size, this.rtc);
    }
  }

  /** mtime before the CLINT's guest-written offset (what a snapshot saves as the time base). */
  baseTimeNow(): number {
    return this.baseTime.now();
  }

  /** Snapshots: make the time base read `ticks` now (it keeps running from there). */
  restoreBaseTime(ticks: number): void {
    this.baseTime.shift += ticks - this.baseTime.now();
  }

  /** Instructions retired by all harts. */
  instret(): number {
    let n = 0;
    for (const h of this.harts) n += h.instret;
    return n;
  }

  /** Maps a device (e.g. virtio-mmio) into slot `n` (0..7), raising PLIC source 1+n; `reset` resets it too. */
  mapVirtio(n: number, dev: SlotDevice): { base: number; irq: number } {
    if (!Number.isInteger(n) || n < 0 || n >= MemMap.VIRTIO.count) throw new RangeError(`no virtio slot ${n}`);
    if (this.virtio.has(n)) throw new RangeError(`virtio slot ${n} is taken`);
    const base = MemMap.VIRTIO.base + n * MemMap.VIRTIO.size;
    this.bus.map(base, MemMap.VIRTIO.size, dev);
    this.virtio.set(n, dev);
    return { base, irq: PlicSource.VIRTIO_BASE + n };
  }

  /** The virtio slots nothing is mapped in yet, ascending. */
  freeVirtioSlots(): number[] {
    const free: number[] = [];
    for (let n = 0; n < MemMap.VIRTIO.count; n++) if (!this.virtio.has(n)) free.push(n);
    return free;
  }

  /** Re-evaluates time-driven interrupts (call between run slices). */
  tick(): void {
    this.updateTimers(this.time.now());
  }

  /** Re-evaluates the timers at mtime `now`: the CLINT's and the harts' own (Sstc). */
  updateTimers(now: number): void {
    this.clint?.update(now);
    for (const h of this.harts) h.updateTimer?.(now);
  }

  /** Earliest timer deadline after `now` (mtime ticks): the CLINT's and the harts' own; or Infinity. */
  nextDeadline(now: number): number {
    let next = this.clint === undefined ? Number.POSITIVE_INFINITY : this.clint.nextDeadline(now);
    for (const h of this.harts) {
      const d = h.timerDeadline?.() ?? Number.POSITIVE_INFINITY;
      if (d > now && d < next) next = d;
    }
    return next;
  }

  /** Host console input for the UART; returns the bytes accepted. */
  uartInput(bytes: Uint8Array): number {
    return this.uart === undefined ? 0 : this.uart.pushInput(bytes);
  }

  /** MMIO accesses per device since the board was built. */
  mmioCounts(): Record<string, number> {
    return this.bus.accessCounts();
  }

  /** Devices back to their reset state (guest reboot), virtio slots included. RAM and harts are the caller's. */
  reset(): void {
    this.clint?.reset();
    this.plic?.reset();
    this.uart?.reset();
    for (const d of this.virtio.values()) d.reset?.();
    this.sysconEvent = undefined;
  }

  /**
   * Raises the timers that are due and returns the mtime ticks until the
   * next deadline (CLINT or Sstc) (Infinity when none is armed ahead). Both use the
   * same instant, so a deadline cannot slip by between the check and the
   * wait: an idle loop may sleep this long.
   */
  ticksToNextTimer(): number {
    const now = this.time.now();
    this.updateTimers(now);
    const d = this.nextDeadline(now);
    return d === Number.POSITIVE_INFINITY ? d : d - now;
  }

  /** With time 'instret', moves time forward while the harts idle; false with other time sources. */
  skipTime(ticks: number): boolean {
    if (this.instretTime === undefined) return false;
    this.instretTime.skip(ticks);
    return true;
  }

  clearSyscon(): void {
    this.sysconEvent = undefined;
  }

  /**
   * The device tree of this board (harts, RAM and the devices present; the
   * virtio slots mapped, which are all eight once the empty ones are filled,
   * as on QEMU).
   * `opts` adds bootargs, an initrd, extra nodes, or overrides.
   */
  deviceTree(opts: Partial<VirtDtOptions> = {}): Fdt {
    return buildVirtDt({
      harts: this.harts.length,
      ramSize: this.ram.size,
      clint: this.clint !== undefined,
      plic: this.plic !== undefined,
      uart: this.uart !== undefined,
      test: this.test !== undefined,
      rtc: this.rtc !== undefined,
      virtio: [...this.virtio.keys()].sort((a, b) => a - b),
      ...opts,
    }).fdt;
  }
}

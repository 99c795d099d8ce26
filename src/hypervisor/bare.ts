import { PvmError } from '../core/errors.js';
import type { Gpa } from '../core/types.js';
import { Csr, Priv } from '../cpu/arch.js';
import { Exit } from '../cpu/exits.js';
import { Hart } from '../cpu/hart.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import type { VirtioMmio, VirtioRefusal } from '../devices/virtio/mmio.js';
import { mapVirtioDevices } from '../devices/virtio/slots.js';
import { type BoardHart, type HartFactory, VirtBoard } from '../machine/board.js';
import { loadElf, parseElf } from '../machine/elf.js';
import { flatImage, isElf } from '../machine/image.js';
import { MemMap, TIMEBASE_HZ } from '../machine/memmap.js';
import { DomainStats, type DomainStatsJson, jitStatsOf } from './stats.js';

/** What the bare runner needs from the host (Node adapters live in src/cli). */
export interface BareHost {
  /** Monotonic milliseconds (performance.now). */
  nowMs(): number;
  /** Resolve after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
  /** Guest console output (UART and HTIF console). */
  console(bytes: Uint8Array): void;
  /** Wall clock in ns since the epoch, for the RTC (default from Date.now). */
  wallClockNs?(): bigint;
  /** Host CPU time used by this process so far (ms), for the statistics, when the host can tell. */
  cpuMs?(): number;
  /**
   * Let pending host I/O run (a macrotask turn). With it, the run loop gives the host a turn
   * every few milliseconds, so disk completions and console input get in while the guest
   * computes; without it, only when every hart idles.
   */
  yield?(): Promise<void>;
}

/**
 * The host's handle on a bare run in progress: console input for the UART and a stop. Either
 * wakes a run idling with every hart in WFI.
 */
export class BareControl {
  /** Most input bytes held for the UART (which holds 64 KiB itself); more is dropped, as a full FIFO drops it. */
  static readonly INPUT_MAX = 64 * 1024;
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Input bytes dropped because the guest did not read them in time. */
  dropped = 0;
  private waker: (() => void) | null = null;
  /** Set by `stop`: the run ends with `{ kind: 'stopped', code }` at the end of the round. */
  stopCode: number | null = null;
  /** The host can still send input (a terminal or an open pipe): a WFI with no timer armed may yet end. */
  inputOpen = false;
  /** The RAM of the board running now (a reboot builds a new board), for device hooks such as the balloon's. */
  ram: { fill(at: number, length: number, value: number): void } | null = null;

  /** Host console input (a keyboard): fed to the UART's receive queue between slices. */
  input(bytes: Uint8Array): void {
    const room = BareControl.INPUT_MAX - this.pendingBytes;
    const take = Math.min(bytes.length, room);
    this.dropped += bytes.length - take;
    if (take === 0) return;
    this.pending.push(bytes.slice(0, take));
    this.pendingBytes += take;
    this.wake();
  }

  /** Ends the run (Ctrl-A x, a signal). */
  stop(code: number): void {
    this.stopCode ??= code;
    this.wake();
  }

  /** Cuts the current idle sleep short. */
  wake(): void {
    const w = this.waker;
    this.waker = null;
    w?.();
  }

  /** Sleeps through `sleep`, or until `wake`. */
  async idle(sleep: Promise<void>): Promise<void> {
    await Promise.race([sleep, new Promise<void>((resolve) => (this.waker = resolve))]);
    this.waker = null;
  }

  /** Moves pending input into the UART as far as it takes it; the rest waits. */
  feed(into: (bytes: Uint8Array) => number): void {
    while (this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const n = Math.max(0, Math.min(into(chunk), chunk.length));
      this.pendingBytes -= n;
      if (n === chunk.length) this.pending.shift();
      else {
        this.pending[0] = chunk.subarray(n);
        return;
      }
    }
  }
}

export interface BareOptions {
  /** Builds each hart (default: the CPU core's Hart, M-mode, not virtualized). */
  createHart?: HartFactory;
  /** RAM in bytes (default 128 MiB). */
  memory?: number;
  /** Stop after this many instructions (all harts together). */
  maxInstructions?: number;
  /** Harts (default 1). All start at the ELF entry in M-mode with a0 = hart id, as on QEMU -bios none. */
  harts?: number;
  /** Instructions per hart per slice (default 20 000). Timers are checked between slices; HTIF when tohost is written. */
  slice?: number;
  /** 'host' (default): mtime follows the host clock; 'instret': deterministic, follows instructions. */
  time?: 'host' | 'instret';
  /**
   * virtio devices in their slots (0..7), as `qemu-system-riscv64 -bios none -device
   * ...,bus=virtio-mmio-bus.N` gives them; the other slots are empty transports (DeviceID 0).
   * A guest reboot resets them with the board.
   */
  devices?: readonly { readonly slot: number; readonly device: VirtioDevice }[];
  /** VendorID of the virtio-mmio transports (default QEMU's). */
  virtioVendorId?: number;
  /** Where the transports report what they refuse (once per device and rule). */
  onVirtioRefusal?: (refusal: VirtioRefusal) => void;
  /** Console input and stop, from the host. */
  control?: BareControl;
  /** The default harts' translation tier (docs/cpu.md; default on). */
  jit?: boolean;
  /** RAM in shared memory, as a domain of the daemon's pool has (bench/cpu measures what it costs). */
  sharedRam?: boolean;
}

/** How a bare-metal run ended. */
export type BareEnd =
  /** HTIF tohost exit (value >> 1) or syscall exit. */
  | { kind: 'htif'; code: number }
  /** sifive,test0 poweroff (code 0) or fail (its code). */
  | { kind: 'syscon'; code: number }
  /** --max-instructions reached (instructions retired, plus full slices spent trapping). */
  | { kind: 'limit'; instructions: number }
  /** Every hart waits for an interrupt that nothing can raise. */
  | { kind: 'deadlock' }
  /** Every hart traps on the first instruction of its own M-mode trap vector, forever (not code, say). */
  | { kind: 'fault-loop'; pc: number; cause: number }
  /** The host stopped the run (BareControl.stop). */
  | { kind: 'stopped'; code: number };

export interface BareResult {
  end: BareEnd;
  /** Instructions retired by all harts. */
  instructions: number;
  /** Times the guest rebooted through the syscon. */
  reboots: number;
  /**
   * The hypervisor's statistics shape (mode 'bare'): instructions per hart, exits of Hart.run
   * (slice, wfi, stop), MMIO accesses per device, time in the guest, idle and in the runner.
   */
  stats: DomainStatsJson;
}

const MiB = 1024 * 1024;
const TICKS_PER_MS = TIMEBASE_HZ / 1000;
/** Longest single idle sleep; the loop re-checks timers after it. */
const MAX_SLEEP_MS = 50;
const SYS_WRITE = 64;
const SYS_EXIT = 93;
const ENOSYS = 38n;
const MASK48 = (1n << 48n) - 1n;

const hx = (n: number) => `0x${n.toString(16)}`;

/**
 * Runs a bare-metal RISC-V image (M-mode, no firmware) on the virt board until
 * it exits. The image is an ELF, or else a raw binary loaded at the start of RAM and entered
 * there, as QEMU's `-bios none -kernel` does. It exits through HTIF `tohost` (Spike convention: 1 = pass, else exit code
 * value >> 1; a pointer with bit 0 clear is a riscv-tests/pk "magic_mem"
 * syscall block, of which `write` (64) to fd 1/2 and `exit` (93) are served;
 * device 1 command 1 is the HTIF console putchar), through the sifive,test0
 * syscon (poweroff = 0, fail = its code; reboot reloads the image and starts
 * over), or when `maxInstructions` is reached.
 *
 * The harts run in slices; a store into `tohost` ends the slice of the hart
 * that made it (Hart.watchStores), and the loop serves the request after that
 * hart's slice, so an HTIF call costs a few instructions, not a slice.
 * Between rounds the loop updates the CLINT and flushes console output. When every hart sits in WFI the loop
 * sleeps until the next CLINT deadline (or skips time forward in 'instret'
 * mode) instead of spinning.
 *
 * A device tree of the board is placed 2 MiB-aligned near the top of RAM (as
 * QEMU does) when it does not overlap the image, and its address passed in a1.
 */
export async function runBare(image: Uint8Array, host: BareHost, opts: BareOptions): Promise<BareResult> {
  const elf = isElf(image) ? parseElf(image) : flatImage(image, MemMap.RAM.base);
  const memory = opts.memory ?? 128 * MiB;
  const slice = opts.slice ?? 20_000;
  const limit = opts.maxInstructions ?? Number.POSITIVE_INFINITY;
  const timeMode = opts.time ?? 'host';
  const out: number[] = [];
  let flushedAt = host.nowMs();
  const flush = () => {
    flushedAt = host.nowMs();
    if (out.length > 0) {
      host.console(Uint8Array.from(out));
      out.length = 0;
    }
  };
  // Console output is handed on in batches: with HTIF served at each call, a round can be a
  // single character, and a host write per character would cost more than the guest.
  const flushSoon = () => {
    if (out.length >= CONSOLE_BATCH || host.nowMs() - flushedAt >= CONSOLE_FLUSH_MS) flush();
  };

  const stats = new DomainStats();
  stats.startMs = host.nowMs();
  stats.startCpuMs = host.cpuMs?.() ?? 0;
  const nHarts = opts.harts ?? 1;
  const hartsBefore = new Array<number>(nHarts).fill(0); // per hart, of boards discarded by reboots
  let board: VirtBoard | undefined;
  const result = (end: BareEnd): BareResult => {
    flush();
    stats.endMs = host.nowMs();
    stats.endCpuMs = host.cpuMs?.() ?? 0;
    if (board !== undefined) {
      const now = board.mmioCounts();
      for (const k of Object.keys(now)) stats.mmio[k] = (stats.mmio[k] ?? 0) + now[k]!;
    }
    const perHart = hartsBefore.map((n, i) => n + (board?.harts[i]?.instret ?? 0));
    countRefusals();
    return {
      end,
      instructions: total(),
      reboots,
      stats: stats.toJSON(
        'bare',
        perHart,
        {},
        undefined,
        undefined,
        jitStatsOf((board?.harts ?? []) as readonly { jit?: Hart['jit'] }[]),
      ),
    };
  };
  // A run with devices gets a handle of its own when the host gave none: a completion ends an idle sleep.
  const control = opts.control ?? (opts.devices?.length ? new BareControl() : undefined);
  // With devices or a host handle, the host gets a turn every YIELD_MS of guest computing.
  const yieldToHost = host.yield !== undefined && (opts.devices?.length || control) ? host.yield : undefined;
  let yieldedAt = host.nowMs();
  let transports = new Map<number, VirtioMmio>();
  /** Adds the refusals of the current transports to the statistics (at the end, and before a reboot replaces them). */
  const countRefusals = () => {
    for (const t of transports.values()) {
      if (Object.keys(t.stats.refused).length === 0) continue;
      const into = (stats.virtioRefused[t.name] ??= {});
      for (const [rule, n] of Object.entries(t.stats.refused)) into[rule] = (into[rule] ?? 0) + n;
    }
    transports = new Map();
  };
  let retiredBefore = 0; // instructions of boards discarded by reboots
  // Budget used, for --max-instructions: retired instructions, except that a
  // slice that used its whole budget counts in full, so a guest stuck in a
  // trap loop (which retires nothing) is stopped too.
  let steps = 0;
  let reboots = 0;
  const total = () => retiredBefore + (board?.instret() ?? 0);
  for (;;) {
    board = new VirtBoard({
      createHart: opts.createHart ?? (opts.jit === false ? interpreterHart : defaultHart),
      harts: nHarts,
      memory,
      ...(opts.sharedRam === true && { sharedRam: true }),
      time: timeMode,
      nowMs: () => host.nowMs(),
      ...(host.wallClockNs ? { wallClockNs: () => host.wallClockNs!() } : {}),
      onUartOutput: (b) => out.push(b),
    });
    // QEMU's virt has its eight transports with -bios none too. A reboot gets new transports
    // on the new board; the old ones are reset first, so a completion in flight is dropped.
    for (const t of transports.values()) t.reset();
    countRefusals();
    transports = mapVirtioDevices(board, opts.devices ?? [], {
      ...(control ? { wake: () => control.wake() } : {}),
      ...(opts.virtioVendorId !== undefined ? { vendorId: opts.virtioVendorId } : {}),
      ...(opts.onVirtioRefusal ? { onRefusal: opts.onVirtioRefusal } : {}),
    });
    if (control) control.ram = board.ram;
    loadElf(elf, image, board.ram);
    const htif = htifAddresses(elf.symbol('tohost'), elf.symbol('fromhost'), board);
    const fdt = placeDeviceTree(board, elf.low, elf.high);
    board.harts.forEach((h, i) => {
      h.reset(BigInt(elf.entry), Priv.M);
      h.setX(10, BigInt(i));
      h.setX(11, BigInt(fdt));
      // A store into tohost ends the hart's slice, so the request is served when written.
      const tohost = htif?.tohost;
      if (tohost !== undefined) {
        h.watchStores?.(tohost, (pa, size) => {
          if (pa < tohost + 8 && pa + size > tohost) h.requestStop();
        });
      }
    });

    let spuriousWakeups = 0;
    let htifCode: number | undefined;
    for (;;) {
      let allWaiting = true;
      let allLooping = true;
      for (let i = 0; i < board.harts.length; i++) {
        const h = board.harts[i]!;
        const budget = Math.min(slice, limit - steps);
        if (budget <= 0) break;
        const before = h.instret;
        const t0 = host.nowMs();
        const exit = h.run(budget);
        stats.guestMs += host.nowMs() - t0;
        steps += exit === Exit.Budget ? budget : h.instret - before;
        if (exit === Exit.Budget) stats.exits.slice++;
        else if (exit === Exit.Wfi) stats.exits.wfi++;
        else if (exit === Exit.Stop) stats.exits.stop++;
        if (exit !== Exit.Wfi) allWaiting = false;
        if (exit !== Exit.Budget || !faultLoop(h)) allLooping = false;
        if (exit === Exit.MachineTrap) {
          throw new PvmError('internal', `hart ${i} returned a machine trap in bare mode`);
        }
        if (board.sysconEvent !== undefined) break;
        if (htif !== undefined) {
          htifCode = pollHtif(board, htif, out);
          if (htifCode !== undefined) break;
        }
      }
      flushSoon();
      if (control) {
        const b = board;
        control.feed((bytes) => b.uartInput(bytes));
        if (control.stopCode !== null) return result({ kind: 'stopped', code: control.stopCode });
      }
      if (yieldToHost && host.nowMs() - yieldedAt >= YIELD_MS) {
        await yieldToHost();
        yieldedAt = host.nowMs();
      }
      board.tick();

      const ev = board.sysconEvent;
      if (ev !== undefined) {
        if (ev.kind === 'reboot') break;
        return result({ kind: 'syscon', code: ev.kind === 'fail' ? ev.code : 0 });
      }
      if (htifCode !== undefined) return result({ kind: 'htif', code: htifCode });
      if (steps >= limit) return result({ kind: 'limit', instructions: steps });
      if (allLooping) {
        const h = board.harts[0]!;
        return result({ kind: 'fault-loop', pc: Number(h.getPc()), cause: Number(h.getCsr(Csr.mcause)) });
      }

      if (!allWaiting) continue;
      // Raises the timers due by now, and says how long until the next one.
      const ticks = board.ticksToNextTimer();
      // A hart whose WFI an interrupt can now end runs again at once.
      if (board.harts.some(wakeable)) continue;
      if (ticks === Number.POSITIVE_INFINITY && (opts.devices?.length || control?.inputOpen)) {
        // A device completion or console input may still come: wait for the host.
        flush();
        const t0 = host.nowMs();
        await (control ? control.idle(host.sleep(MAX_SLEEP_MS)) : host.sleep(MAX_SLEEP_MS));
        stats.idleMs += host.nowMs() - t0;
        yieldedAt = host.nowMs();
        continue;
      }
      if (ticks === Number.POSITIVE_INFINITY) {
        // Nothing can ever end these WFIs. The spec lets WFI complete for any
        // reason (privileged spec 3.3.3; Spike makes it a no-op, and riscv-tests'
        // rv64si-p-wfi relies on that), so resume a few times before calling
        // it a deadlock: a guest that only waits again ends here.
        if (++spuriousWakeups > SPURIOUS_WAKEUP_LIMIT) {
          return result({ kind: 'deadlock' });
        }
        continue;
      }
      spuriousWakeups = 0;
      flush();
      if (!board.skipTime(ticks)) {
        const t0 = host.nowMs();
        const sleep = host.sleep(Math.min(MAX_SLEEP_MS, ticks / TICKS_PER_MS));
        await (control ? control.idle(sleep) : sleep);
        stats.idleMs += host.nowMs() - t0;
        yieldedAt = host.nowMs();
      }
      board.tick();
    }
    // Reboot: start over with a fresh board and the image reloaded.
    retiredBefore += board.instret();
    board.harts.forEach((h, i) => {
      hartsBefore[i]! += h.instret;
    });
    const mmio = board.mmioCounts();
    for (const k of Object.keys(mmio)) stats.mmio[k] = (stats.mmio[k] ?? 0) + mmio[k]!;
    reboots++;
  }
}

/** Longest stretch of guest computing (ms) before the host gets a turn, with devices or input. */
const YIELD_MS = 8;

/** Console bytes held before they are handed to the host, and the longest they wait (ms). */
const CONSOLE_BATCH = 4096;
const CONSOLE_FLUSH_MS = 10;

/** Rounds in a row in which every hart waits with nothing able to wake it, before the run is a deadlock. */
const SPURIOUS_WAKEUP_LIMIT = 64;

/**
 * A hart at its trap vector with mepc there too and MPP = M took a synchronous trap on the
 * vector's first instruction, from M-mode: nothing it does changes, so it will again, forever.
 * That is what a file that is not code does (a raw image of text, a wrong file).
 */
function faultLoop(h: BoardHart): boolean {
  const base = h.getCsr(Csr.mtvec) & ~3n;
  const cause = h.getCsr(Csr.mcause);
  const mpp = (h.getCsr(Csr.mstatus) >> 11n) & 3n;
  return h.getPc() === base && h.getCsr(Csr.mepc) === base && cause >= 0n && cause < 1n << 63n && mpp === 3n;
}

/** WFI ends when an interrupt is pending and enabled in mie, whatever mstatus.MIE says (privileged spec 3.3.3). */
const wakeable = (h: BoardHart): boolean => (h.getCsr(Csr.mip) & h.getCsr(Csr.mie)) !== 0n;

const defaultHart: HartFactory = (id, ram, bus, time) => new Hart(ram, bus, { id, time });
const interpreterHart: HartFactory = (id, ram, bus, time) => new Hart(ram, bus, { id, time, jit: false });

interface Htif {
  tohost: number;
  fromhost: number | undefined;
}

function htifAddresses(tohost: number | undefined, fromhost: number | undefined, board: VirtBoard): Htif | undefined {
  if (tohost === undefined) return undefined;
  if (!board.ram.contains(tohost, 8)) {
    throw new PvmError('image', `the ELF's tohost symbol ${hx(tohost)} is outside RAM`);
  }
  const from = fromhost !== undefined && board.ram.contains(fromhost, 8) ? fromhost : undefined;
  return { tohost, fromhost: from };
}

/** Handles one pending tohost request; returns an exit code when the guest asked to exit. */
function pollHtif(board: VirtBoard, htif: Htif, out: number[]): number | undefined {
  const ram = board.ram;
  const v = ram.readBigU64(htif.tohost as Gpa);
  if (v === 0n) return undefined;
  ram.writeBigU64(htif.tohost as Gpa, 0n);
  const dev = Number(v >> 56n);
  const cmd = Number((v >> 48n) & 0xffn);
  const payload = v & MASK48;
  const respond = (value: bigint) => {
    if (htif.fromhost !== undefined) ram.writeBigU64(htif.fromhost as Gpa, value);
  };
  if (dev === 0 && cmd === 0) {
    if (payload & 1n) return Number(payload >> 1n);
    return syscall(board, Number(payload), out, respond);
  }
  if (dev === 1 && cmd === 1) {
    out.push(Number(payload & 0xffn));
    respond((1n << 56n) | (1n << 48n));
  }
  return undefined;
}

/** riscv-tests "magic_mem" syscall: [which, arg0, arg1, arg2, ...]; the result goes back in word 0. */
function syscall(board: VirtBoard, addr: number, out: number[], respond: (v: bigint) => void): number | undefined {
  const ram = board.ram;
  if (!ram.contains(addr, 32)) {
    respond(1n);
    return undefined;
  }
  const which = ram.readBigU64(addr as Gpa);
  const a0 = ram.readBigU64((addr + 8) as Gpa);
  const a1 = ram.readU64((addr + 16) as Gpa);
  const a2 = ram.readU64((addr + 24) as Gpa);
  let ret: bigint;
  if (which === BigInt(SYS_EXIT)) {
    return Number(a0 & 0xffff_ffffn);
  }
  if (which === BigInt(SYS_WRITE) && (a0 === 1n || a0 === 2n) && ram.contains(a1, a2)) {
    for (const b of ram.slice(a1 as Gpa, a2)) out.push(b);
    ret = BigInt(a2);
  } else {
    ret = BigInt.asUintN(64, -ENOSYS);
  }
  ram.writeBigU64(addr as Gpa, ret);
  respond(1n);
  return undefined;
}

/** Writes the board's device tree 2 MiB-aligned below the end of RAM; returns its address (0 if it does not fit). */
function placeDeviceTree(board: VirtBoard, imageLow: number, imageHigh: number): number {
  const blob = board.deviceTree().toBytes();
  const ram = board.ram;
  const end = ram.base + ram.size;
  const at = Math.floor((end - blob.length) / (2 * MiB)) * (2 * MiB);
  const free = at >= ram.base && (at + blob.length <= imageLow || at >= imageHigh);
  if (!free) return 0;
  ram.write(at as Gpa, blob);
  return at;
}

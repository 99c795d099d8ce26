import { PvmError } from '../core/errors.js';
import type { Gpa } from '../core/types.js';
import { Hart } from '../cpu/hart.js';
import { ALL_EXTENSIONS } from '../cpu/isa.js';
import { VirtioConsole } from '../devices/virtio/console/device.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import type { VirtioMmio, VirtioRefusal } from '../devices/virtio/mmio.js';
import { mapVirtioDevices } from '../devices/virtio/slots.js';
import { VirtBoard } from '../machine/board.js';
import { parseElf } from '../machine/elf.js';
import { kernelKind, parseLinuxImage } from '../machine/image.js';
import { LoadAddr } from '../machine/memmap.js';
import type { GuestRam } from '../memory/ram.js';
import { type BootPlan, type ConsoleInput, Domain, type DomainHost, type DomainMode, MAX_HARTS } from './domain.js';
import { computeLayout } from './layout.js';
import { attachPvx, GrantWindow, type PvxDomain, type PvxHost } from './pvx/index.js';
import { type HartThreadSpawner, HartThreads } from './threads.js';

/** The RISC-V Linux Image header (Documentation/arch/riscv/boot-image-header.rst). */
const LINUX_IMAGE_HEADER_BYTES = 64;

/**
 * A domain spec (src/api/spec.ts) with its files read: the machine createVm builds. This layer
 * does no I/O; the builder (src/host/builder.ts) reads the files and fills in the defaults.
 */
export interface LoadedSpec {
  mode: DomainMode;
  /** Number of harts, 1..MAX_HARTS. */
  harts: number;
  /** RAM in bytes (multiple of 4 KiB). */
  memory: number;
  /** RISC-V Linux Image, RV64 ELF executable, or raw binary (loaded at 0x8020_0000, as QEMU does). */
  kernel: Uint8Array;
  initrd?: Uint8Array;
  /** Kernel command line. */
  cmdline: string;
  /** Full mode: M-mode firmware (OpenSBI fw_jump.bin), loaded at 0x8000_0000. */
  firmware?: Uint8Array;
  /**
   * Sstc on the harts, as QEMU's `-cpu rv64,sstc=on|off`: `stimecmp` and `menvcfg.STCE`, listed
   * in the device tree's `riscv,isa`, so the guest kernel can program its timer itself instead
   * of asking the firmware. Full mode: the firmware finds and enables it (OpenSBI 1.x does).
   * PV mode: pvm, the firmware there, sets menvcfg.STCE and serves SBI set_timer through
   * stimecmp; without it, every timer is an SBI set_timer exit. Default: `SSTC_DEFAULT`.
   */
  sstc?: boolean;
  /** The harts' translation tier (src/cpu/jit/, docs/cpu.md); default JIT_DEFAULT. */
  jit?: boolean;
  /**
   * PV mode with several harts: every hart but hart 0 runs on a thread of its own, in parallel
   * (threads.ts, docs/scheduler.md "Harts on threads"); needs VmOptions.threads. Default false.
   */
  threads?: boolean;
}

/** Whether harts translate hot code to WebAssembly when a spec does not say (docs/cpu.md). */
export const JIT_DEFAULT = true;
/**
 * A domain's harts make their translation tier after this many instructions in one busy
 * stretch (HartOptions.jitAfter; docs/cpu.md): above the ~330 000 of a pvos boot, so an idle
 * domain never makes it, and ~2-5 ms of interpretation for a busy one.
 */
export const JIT_AFTER = 1 << 19;

/** How the built domain is wired to its host and run. */
export interface VmOptions {
  /** Host wall clock in ns since the epoch, for the RTC (default: the host's; with time 'instret': mtime since 1970). */
  wallClockNs?: () => bigint;
  /**
   * Guest time: 'host' (default) follows the host's monotonic clock; 'instret' follows
   * instructions retired (100 per 10 MHz tick) and skips idle time, so runs of the same
   * guest with the same input give the same output and instruction counts.
   */
  time?: 'host' | 'instret';
  /** PV mode: the PVX registry shared with the other domains of this process (a private one when absent). */
  pvxHost?: PvxHost<PvxDomain>;
  /** PV mode: the PVX domain id to take in `pvxHost` (free, 1..0x7FEF); the lowest free one when absent. */
  pvxDomid?: number;
  /**
   * virtio device models with their slots (0..7: window 0x1000_1000 + n*0x1000, PLIC source 1+n).
   * The host builds them with their backends (src/host/builder.ts); createVm maps a virtio-mmio
   * transport for each and an empty one (DeviceID 0) in every other slot, as QEMU's virt board has.
   */
  devices?: readonly { readonly slot: number; readonly device: VirtioDevice }[];
  /** End the domain after this many instructions (DomainEnd 'limit'). */
  maxInstructions?: number;
  /** VendorID of the virtio-mmio transports (default QEMU's 0x554d4551, which software written for QEMU checks). */
  virtioVendorId?: number;
  /** Where the transports report what they refuse (once per device and rule; see VirtioMmioOptions.onRefusal). */
  onVirtioRefusal?: (refusal: VirtioRefusal) => void;
  /** Starts the worker threads of LoadedSpec.threads (the host's: Node's worker_threads). */
  threads?: HartThreadSpawner;
  /**
   * RAM in shared memory even with every hart on this thread: a daemon's pool, where a domain on
   * another thread maps this one's granted pages (docs/pvx-implementation.md, "Across threads").
   */
  sharedRam?: boolean;
}

/**
 * Whether the harts have Sstc when LoadedSpec.sstc is not given: on in both modes, as on QEMU
 * 7.2's virt board. docs/hypervisor.md has the PV-mode measurement behind it.
 */
export const SSTC_DEFAULT: Readonly<Record<DomainMode, boolean>> = { pv: true, full: true };

/** The virtio-mmio transports createVm attached to each domain, by slot. */
const transportsOf = new WeakMap<Domain, ReadonlyMap<number, VirtioMmio>>();

/** The virtio transports of a domain built by createVm (empty when it has none), by slot. */
export function virtioTransports(domain: Domain): ReadonlyMap<number, VirtioMmio> {
  return transportsOf.get(domain) ?? new Map();
}

/** The device of the command line's last `console=` (Linux's /dev/console), without its options: `ttyS0`, `hvc1`. */
export function commandLineConsole(cmdline: string): string | undefined {
  return [...cmdline.matchAll(/(?:^|\s)console=([^\s,]+)/g)].pop()?.[1];
}

/**
 * Where console input goes, from the command line's last `console=` (Linux's /dev/console):
 * hvc0 is the SBI console, which pvm answers in PV mode and OpenSBI answers from the UART in
 * full mode; hvc1 is the virtio console (hvc0 is taken by the SBI console). Anything else: the UART.
 */
export function consoleInputFor(cmdline: string, mode: DomainMode, virtioConsole: boolean): ConsoleInput {
  const last = commandLineConsole(cmdline);
  if (last === 'hvc0') return mode === 'pv' ? 'sbi' : 'uart';
  if (last === 'hvc1' && virtioConsole) return 'virtio';
  return 'uart';
}

/** PVX version advertised in the PV device tree's /hypervisor node (docs/para-api-pvx.md §1.1). */
export const PVX_VERSION = 0x0001_0000;

/** Bytes kept after the FDT for fw_dynamic_info. */
const FW_DYNAMIC_INFO_ROOM = 64;

/**
 * OpenSBI's `struct fw_dynamic_info` (include/sbi/fw_dynamic.h, version 2),
 * passed in a2 to every hart in full mode: firmware built as fw_dynamic
 * (Debian ships fw_dynamic.bin next to fw_jump.bin) reads the next stage
 * from it; fw_jump ignores a2. Next stage: the kernel at 0x8020_0000 in
 * S-mode, boot hart 0.
 */
function writeFwDynamicInfo(ram: GuestRam, at: number): void {
  const words = [0x4942_534f, 2, LoadAddr.KERNEL, 1, 0, 0]; // magic "OSBI", version, next_addr, next_mode S, options, boot_hart
  words.forEach((w, i) => {
    ram.writeU64((at + 8 * i) as Gpa, w);
  });
}

/**
 * The kernel's footprint and entry point, from its ELF program headers or Image header; a raw
 * binary (neither) runs from its first byte at 0x8020_0000, where QEMU puts any image after
 * firmware below 2 MiB, so the same file boots in both modes and on QEMU.
 */
function kernelPlacement(kernel: Uint8Array): {
  start: number;
  end: number;
  entry: number;
  load: (ram: GuestRam) => void;
} {
  const kind = kernelKind(kernel);
  if (kind === 'elf') {
    const elf = parseElf(kernel);
    return {
      start: elf.low,
      end: elf.high,
      entry: elf.entry,
      load: (ram) => {
        for (const s of elf.segments) {
          if (!ram.contains(s.paddr, s.memsz)) {
            throw new PvmError('image', `kernel ELF segment at 0x${s.paddr.toString(16)} is outside RAM`);
          }
          ram.write(s.paddr as Gpa, kernel.subarray(s.offset, s.offset + s.filesz));
          ram.fill((s.paddr + s.filesz) as Gpa, s.memsz - s.filesz, 0);
        }
      },
    };
  }
  const start = LoadAddr.KERNEL;
  const imageSize = kind === 'linux-image' ? parseLinuxImage(kernel).imageSize : 0;
  if (kind === 'linux-image' && kernel.length <= LINUX_IMAGE_HEADER_BYTES) {
    // Its first instruction would be the header's branch to code that is not there.
    throw new PvmError('image', `Linux Image of ${kernel.length} bytes is only its header: no kernel follows it`);
  }
  return {
    start,
    end: start + Math.max(imageSize, kernel.length),
    entry: start,
    load: (ram) => ram.write(start as Gpa, kernel),
  };
}

/**
 * Build a domain: the virt board with its harts, the images in RAM, the
 * device tree (PV mode: no CLINT, a /hypervisor node; full mode: the whole
 * board for the firmware), and the run loop. Bad images and impossible
 * layouts are PvmErrors ('image' / 'usage').
 */
export function createVm(
  cfg: LoadedSpec,
  host: DomainHost & { nowMs(): number; wake?(): void },
  opts: VmOptions = {},
): Domain {
  if (!Number.isInteger(cfg.harts) || cfg.harts < 1 || cfg.harts > MAX_HARTS) {
    throw new PvmError('usage', `a domain has 1 to ${MAX_HARTS} vCPUs, got ${cfg.harts}`);
  }
  if (cfg.mode === 'full' && cfg.firmware === undefined) throw new PvmError('usage', 'full mode needs a firmware');
  const kernel = kernelPlacement(cfg.kernel);
  const pv = cfg.mode === 'pv';
  let domain: Domain | null = null;
  const grants = pv ? new GrantWindow() : null; // PVX grant window in front of the MMIO bus
  const out = (b: number) => host.consoleOut(Uint8Array.of(b));
  const wallClockNs: (() => bigint) | undefined =
    opts.wallClockNs ?? (opts.time === 'instret' ? (): bigint => BigInt(board.time.now()) * 100n : undefined);
  const extensions = { ...ALL_EXTENSIONS, sstc: cfg.sstc ?? SSTC_DEFAULT[cfg.mode] };
  if (cfg.threads === true) {
    if (!pv) throw new PvmError('usage', 'harts on threads need a PV-mode domain');
    if (opts.time === 'instret') throw new PvmError('usage', 'harts on threads cannot be deterministic');
    if (opts.threads === undefined) throw new PvmError('usage', 'this host cannot run harts on threads');
  }
  const threads = cfg.threads === true && cfg.harts > 1 ? new HartThreads(cfg.harts, () => host.wake?.()) : null;
  const board = new VirtBoard({
    harts: cfg.harts,
    sharedRam: threads !== null || opts.sharedRam === true,
    memory: cfg.memory,
    time: opts.time ?? 'host',
    nowMs: () => host.nowMs(),
    ...(wallClockNs ? { wallClockNs } : {}),
    onUartOutput: out,
    onSyscon: (e) => domain?.onSyscon(e),
    // Full mode: a CLINT IPI lets the domain switch to the target (see Domain.ipiRaised).
    onIpi: (target) => domain?.ipiRaised(target),
    // PV mode: timers and IPIs are hypercalls, so the guest gets no CLINT.
    devices: { clint: !pv },
    createHart: (id, ram, bus, time) =>
      threads !== null && id > 0
        ? threads.remoteHart(id, ram, grants ? grants.over(bus) : bus)
        : new Hart(ram, grants ? grants.over(bus) : bus, {
            id,
            time,
            virtualM: pv,
            extensions,
            jit: cfg.jit ?? JIT_DEFAULT,
            jitAfter: JIT_AFTER,
            // hart 0 of a domain with harts on threads: a spin-wait waits for them (pause-loop exiting)
            pauseExits: threads !== null,
            // the domain's run loop returns to the event loop every turn (workers' loops do not)
            jitAsync: true,
          }),
  });

  // virtio devices: mapped before the device tree is built (it lists the used slots). The
  // interrupt is level-triggered; a rising edge also wakes a host idling with every hart in WFI,
  // so an asynchronous completion (disk I/O) or a frame from another domain is taken at once.
  const devices = opts.devices ?? [];
  // The other slots answer as QEMU's empty transports (DeviceID 0); the tree lists all eight.
  const transports = mapVirtioDevices(board, devices, {
    ...(host.wake ? { wake: () => host.wake?.() } : {}),
    ...(opts.virtioVendorId !== undefined ? { vendorId: opts.virtioVendorId } : {}),
    ...(opts.onVirtioRefusal ? { onRefusal: opts.onVirtioRefusal } : {}),
  });

  // The FDT's size does not depend on where things go, so build it once to measure, then for real.
  const dt = (initrd?: { start: number; end: number }) =>
    board
      .deviceTree({
        bootargs: cfg.cmdline,
        extensions,
        ...(initrd ? { initrd } : {}),
        ...(pv
          ? {
              extend: (fdt) => {
                fdt.root.addNode('hypervisor').string('compatible', 'pvm,pvx').u32('pvx,version', PVX_VERSION);
              },
            }
          : {}),
      })
      .toBytes();
  const probe = cfg.initrd ? { start: 0x8000_0000, end: 0x8000_0000 + cfg.initrd.length } : undefined;
  // Room after the FDT for OpenSBI's fw_dynamic_info (full mode), 8-byte aligned.
  const fdtSize = dt(probe).length + FW_DYNAMIC_INFO_ROOM;
  const layout = computeLayout({
    ramSize: cfg.memory,
    kernel,
    ...(cfg.initrd ? { initrdSize: cfg.initrd.length } : {}),
    ...(cfg.firmware ? { firmwareSize: cfg.firmware.length } : {}),
    fdtSize,
  });
  const fdtBytes = dt(layout.initrd);
  let loaded = false;
  const dynInfo = layout.fdt + ((fdtBytes.length + 7) & ~7);
  const plan: BootPlan = {
    entry: pv ? kernel.entry : LoadAddr.FIRMWARE,
    fdt: layout.fdt,
    sstc: pv && extensions.sstc,
    ...(pv ? {} : { a2: dynInfo }),
    load: (ram) => {
      if (loaded) ram.u8.fill(0); // a reboot starts from clean RAM, like a power cycle
      loaded = true;
      if (cfg.firmware) ram.write(LoadAddr.FIRMWARE as Gpa, cfg.firmware);
      kernel.load(ram);
      if (cfg.initrd && layout.initrd) ram.write(layout.initrd.start as Gpa, cfg.initrd);
      ram.write(layout.fdt as Gpa, fdtBytes);
      if (!pv) writeFwDynamicInfo(ram, dynInfo);
    },
  };
  const virtioConsole = devices.find((d) => d.device instanceof VirtioConsole)?.device as VirtioConsole | undefined;
  domain = new Domain(cfg.mode, board, host, plan, {
    ...(opts.maxInstructions !== undefined ? { maxInstructions: opts.maxInstructions } : {}),
    // Deterministic time: a slice ends at the same instruction in every run, never by the clock.
    timedSlices: opts.time !== 'instret',
    ...(virtioConsole ? { virtioConsoleInput: (b: Uint8Array) => virtioConsole.input(b) } : {}),
    virtioRefused: () => {
      const out: Record<string, Record<string, number>> = Object.create(null);
      for (const t of transports.values()) {
        if (Object.keys(t.stats.refused).length) out[t.name] = { ...t.stats.refused };
      }
      return out;
    },
  });
  transportsOf.set(domain, transports);
  if (grants)
    attachPvx(domain, grants, {
      ...(opts.pvxHost ? { host: opts.pvxHost } : {}),
      ...(opts.pvxDomid !== undefined ? { domid: opts.pvxDomid } : {}),
      ...(wallClockNs ? { wallClockNs } : {}),
    });
  domain.inputTo = consoleInputFor(cfg.cmdline, cfg.mode, virtioConsole !== undefined);
  if (threads !== null) {
    domain.threads = threads;
    threads.prepare(
      domain,
      opts.threads!,
      {
        harts: cfg.harts,
        memory: board.ram.wasmMemory!,
        ramBase: board.ram.base,
        ramSize: board.ram.size,
        control: threads.control,
        saveArea: threads.saveArea,
        extensions,
        jit: cfg.jit ?? JIT_DEFAULT,
        jitAfter: JIT_AFTER,
        sstc: extensions.sstc,
        pauseExits: true,
      },
      () => board.time.now(),
    );
  }
  return domain;
}

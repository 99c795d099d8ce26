/**
 * The domain builder: the one place that turns a domain spec (src/api/spec.ts) into a running
 * domain with its devices, as Firecracker's builder.rs does with its VmResources. `pvm run`
 * (flags or a config file), the daemon and the library all end here, so a spec gives the same
 * domain whichever way it came: the same RAM, vCPUs, devices in the same slots, MACs and
 * console routing.
 *
 * It reads the images (the spec's kernel, or the embedded guest; initrd; firmware), opens the
 * disks, plugs the NICs into the process's switches, builds the virtio models in their slots and
 * hands everything to createVm (src/hypervisor/vm.ts), which does no I/O. If anything fails,
 * whatever was opened or plugged is released before the error is thrown.
 */

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { DeviceInfo, MachineInfo, NicStats } from '../api/domain.js';
import { ApiError } from '../api/errors.js';
import { DEFAULTS, type DomainDevice, type DomainSpec, defaultMac, USER_SWITCH } from '../api/spec.js';
import { PvmError } from '../core/errors.js';
import { announceFrame, formatMac, parseMac, type SwitchPort, VirtualSwitch } from '../devices/switch.js';
import { VirtioP9 } from '../devices/virtio/9p/device.js';
import { type BalloonHooks, VirtioBalloon } from '../devices/virtio/balloon/device.js';
import { VirtioBlk } from '../devices/virtio/blk/device.js';
import { VirtioConsole } from '../devices/virtio/console/device.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import type { VirtioMmio, VirtioRefusal } from '../devices/virtio/mmio.js';
import { VirtioNet } from '../devices/virtio/net/device.js';
import { VirtioRng } from '../devices/virtio/rng/device.js';
import type { Domain, DomainHost } from '../hypervisor/domain.js';
import { type PvxDomain, PvxHost } from '../hypervisor/pvx/index.js';
import { createVm, type LoadedSpec, virtioTransports } from '../hypervisor/vm.js';
import { HypercallPolicy } from '../sbi/policy.js';
import { type HostDisk, openDisk } from './disk.js';
import { hostEntropy } from './entropy.js';
import { nodeHartThreads } from './hart-threads.js';
import { HostFiles } from './host-files.js';
import { openShare } from './p9-fs.js';
import { PasstUplink } from './passt.js';
import { type UserNetworkOptions, UserNetworks } from './user-net.js';

/**
 * Reads a whole regular file: a missing, unreadable or special file (a FIFO, a device), or one
 * larger than `max` bytes, is a PvmError('io') with a one-line message. The open is O_NONBLOCK,
 * so a FIFO is refused at once instead of blocking until a writer comes (`pvm run --bare`).
 */
export function readImage(path: string, what = 'file', max = 2 ** 31): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new PvmError('io', `cannot read ${what} ${path}: ${why}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new PvmError('io', `cannot read ${what} ${path}: is a directory`);
    if (!st.isFile()) throw new PvmError('io', `cannot read ${what} ${path}: not a regular file`);
    if (st.size > max) throw new PvmError('io', `cannot read ${what} ${path}: ${st.size} bytes is more than ${max}`);
    const b = new Uint8Array(st.size);
    for (let o = 0; o < b.length; ) {
      const n = readSync(fd, b, o, b.length - o, o);
      if (n === 0) break;
      o += n;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

/** The virtual switches of one process, created on first use with their config options. */
export class SwitchRegistry {
  private readonly switches = new Map<string, VirtualSwitch>();
  constructor(private readonly config: Record<string, { enforceSourceMac: boolean }> = {}) {}

  get(name: string): VirtualSwitch {
    let sw = this.switches.get(name);
    if (sw === undefined) {
      sw = new VirtualSwitch(name, { enforceSourceMac: this.config[name]?.enforceSourceMac ?? true });
      this.switches.set(name, sw);
    }
    return sw;
  }

  list(): VirtualSwitch[] {
    return [...this.switches.values()];
  }
}

/**
 * What the domains built in one process share: the virtual switches (NICs on the same switch
 * name meet), their passt uplinks (one per switch that a NIC asks to reach the host network
 * through), and the PVX registry (each PV domain gets its own PVX domain id, and their guests
 * can open event channels, grants and vchans to each other).
 */
export class HostResources {
  readonly switches: SwitchRegistry;
  readonly userNets: UserNetworks;
  readonly pvx = new PvxHost<PvxDomain>();
  constructor(
    switches: Record<string, { enforceSourceMac: boolean }> = {},
    /** Which host files the domains may use (src/host/host-files.ts); default: any path. */
    readonly files: HostFiles = new HostFiles(),
    userNets: UserNetworkOptions = {},
  ) {
    this.switches = new SwitchRegistry(switches);
    this.userNets = new UserNetworks(userNets);
  }
}

export interface BuildOptions {
  /** Where the domain runs: clock, idle, console output (UART, SBI console and virtio console). */
  host: DomainHost & { nowMs(): number; wake?(): void };
  /** The domain's number for the MACs of NICs its spec names none for (`defaultMac(ordinal, nic)`). */
  ordinal?: number;
  /** PV mode: the PVX domain id to ask for when it is free; else the lowest free one. */
  pvxDomid?: number;
  /**
   * Open the disks without their image locks (a live migration's destination, while the source
   * still holds them); `BuiltDomain.takeBackDisks` takes them.
   */
  deferDiskLocks?: boolean;
  /** Guest time: the host's monotonic clock (default) or instructions retired (`--deterministic`). */
  time?: 'host' | 'instret';
  /** PV mode: RAM in shared memory, so domains on other threads can map its granted pages (VmOptions.sharedRam). */
  sharedRam?: boolean;
  /** End the domain after this many instructions (DomainEnd 'limit'). */
  maxInstructions?: number;
  /** What happens to pages the guest gives the balloon (default: they are zeroed). */
  balloonHooks?: BalloonHooks;
  /** Where the virtio transports report what they refuse (`pvm run --stats` prints it, the daemon logs it). */
  onVirtioRefusal?: (refusal: VirtioRefusal) => void;
  /**
   * Runs a call into this domain's devices that comes from outside its run loop (a frame another
   * domain or the uplink sends to its NIC); an exception ends this domain, not the caller
   * (the daemon's blast radius, docs/security.md). Default: the call runs as is.
   */
  contain?: (what: string, fn: () => void) => void;
}

/** One device of a built domain: its spec, the model and its virtio-mmio transport. */
export interface BuiltDevice {
  readonly spec: DomainDevice;
  readonly model: VirtioDevice;
  readonly transport: VirtioMmio;
}

/** A domain built from a spec, with its devices; `close` releases them once the domain has ended. */
export interface BuiltDomain {
  readonly spec: DomainSpec;
  readonly domain: Domain;
  /** In slot order. */
  readonly devices: readonly BuiltDevice[];
  /** The domain as the guest sees it now (vCPUs, RAM, devices with their MACs, where console input goes). */
  machine(): MachineInfo;
  /** Each NIC's switch port and its switch's uplink, counted so far, in slot order. */
  netStats(): NicStats[];
  /**
   * Sends one announcement (a RARP broadcast, `announceFrame`) from each NIC into its switch, so
   * every switch, here and across switch links, learns the NIC's MAC behind its port now (after
   * the domain moved here). The guest sees nothing. Returns the frames sent.
   */
  announce(): number;
  /** Unplugs the NICs (stopping a passt no other NIC uses), closes the image files and shares. Idempotent. */
  close(): Promise<void>;
  /**
   * Live migration (docs/migration.md): flushes every writable disk and releases its lock, for
   * the destination to take; `takeBackDisks` locks them again when the migration failed.
   */
  handOverDisks(): Promise<void>;
  takeBackDisks(): void;
  /** Each disk's path and the size and inode of the file open for it (in slot order). */
  diskIdentities(): Promise<{ path: string; size: number; ino: number }[]>;
}

/** A NIC's place on its switch. */
interface Plugged {
  readonly slot: number;
  readonly switchName: string;
  readonly sw: VirtualSwitch;
  readonly port: SwitchPort;
}

/**
 * The spec's images, read under the host files policy (regular files no larger than the RAM,
 * opened O_NONBLOCK, read asynchronously): the embedded guest when it names no kernel, Debian's
 * OpenSBI in full mode. An empty initrd is refused: it can only be a mistake.
 */
async function loadImages(spec: DomainSpec, files: HostFiles): Promise<LoadedSpec> {
  const max = spec.memory;
  const loaded: LoadedSpec = {
    mode: spec.mode,
    harts: spec.smp,
    memory: spec.memory,
    kernel: await files.readImage(spec.kernel ?? DEFAULTS.guest, 'kernel', max),
    cmdline: spec.append ?? '',
  };
  if (spec.jit !== undefined) loaded.jit = spec.jit;
  if (spec.threads === true) loaded.threads = true;
  if (spec.initrd !== undefined) {
    loaded.initrd = await files.readImage(spec.initrd, 'initrd', max);
    if (loaded.initrd.length === 0) throw new PvmError('image', `initrd ${spec.initrd} is empty`);
  }
  if (spec.mode === 'full') {
    loaded.firmware = await files.readImage(spec.firmware ?? DEFAULTS.firmware, 'firmware', max);
  }
  return loaded;
}

/** What the device models of a spec need from where they run. */
export interface DeviceHost {
  /** The virtio console's output (the domain's console). */
  consoleOut(bytes: Uint8Array): void;
  /** The domain's number for default MACs (`defaultMac(ordinal, nic)`). */
  ordinal?: number;
  /** Open the disks without their image locks (BuildOptions.deferDiskLocks). */
  deferDiskLocks?: boolean;
  /** What happens to pages the guest gives the balloon (default: zeroed in `ram()`). */
  balloonHooks?: BalloonHooks;
  /** Runs calls into the devices from outside the domain's run loop (BuildOptions.contain). */
  contain?: (what: string, fn: () => void) => void;
}

/** Device models of a spec, opened: `close` unplugs the NICs (and their passt) and closes the files and shares. */
export interface OpenedDevices {
  readonly devices: { spec: DomainDevice; model: VirtioDevice }[];
  /** Each NIC's place on its switch, in slot order. */
  readonly plugged: Plugged[];
  /** The disk images, open and locked. */
  readonly disks: readonly HostDisk[];
  close(): Promise<void>;
}

/**
 * Opens the disks and plugs the NICs of `spec` (in slot order) and builds their device models;
 * on failure nothing stays open or plugged. `ram` gives the RAM the balloon zeroes pages of.
 * buildDomain uses it, and so does `pvm run --bare`, whose devices are the same models.
 */
export async function openDevices(
  spec: DomainSpec,
  resources: HostResources,
  opts: DeviceHost,
  ram: () => { fill(at: number, length: number, value: number): void } | null,
): Promise<OpenedDevices> {
  const files: HostDisk[] = [];
  const shares: VirtioP9[] = [];
  const plugged: Plugged[] = [];
  const uplinks: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const p of plugged) p.port.detach();
    await Promise.allSettled([
      ...uplinks.splice(0).map((release) => release()),
      ...files.splice(0).map((f) => f.close()),
      ...shares.splice(0).map((s) => s.close()),
    ]);
  };
  const devices: { spec: DomainDevice; model: VirtioDevice }[] = [];
  let nic = 0;
  let disk = 0;
  try {
    for (const d of spec.devices) {
      let model: VirtioDevice;
      switch (d.kind) {
        case 'console':
          model = new VirtioConsole({ output: (b) => opts.consoleOut(b) });
          break;
        case 'blk': {
          const file = await openDisk(resources.files.check(d.path, 'disk', { write: !d.readonly }), {
            readonly: d.readonly,
            cache: d.cache,
            ...(opts.deferDiskLocks === true ? { lock: false } : {}),
          });
          files.push(file);
          // Completions arrive from the disk's promises, outside the run loop: through the guard.
          model = new VirtioBlk({
            backend: file,
            readOnly: d.readonly,
            id: `${spec.name}-vd${diskLetter(disk++)}`,
            ...(opts.contain ? { contain: opts.contain } : {}),
          });
          break;
        }
        case 'net': {
          const mac = d.mac ?? defaultMac(opts.ordinal ?? 0, nic);
          nic++;
          const bytes = parseMac(mac);
          if (bytes === null) throw new PvmError('usage', `bad MAC ${mac}`);
          // `--net user`: a switch of the NIC's own, as each QEMU `-nic user` is a network of its own.
          const sw = d.switch === USER_SWITCH ? new VirtualSwitch(USER_SWITCH) : resources.switches.get(d.switch);
          // Two NICs with one MAC on a switch: frames for it reach only one of them, and the
          // other's network is silently dead. Refused (a restored copy of a domain still running
          // is the usual way to get there: its guest already uses the saved MAC).
          if (sw.portStats().some((p) => p.mac === formatMac(bytes))) {
            throw new ApiError(
              'in-use',
              `MAC ${formatMac(bytes)} is already on switch ${d.switch} (give this NIC another mac=, or destroy the domain that has it)`,
            );
          }
          const net = new VirtioNet({ mac: bytes });
          const contain = opts.contain;
          // Frames come from other domains' run loops and from the uplink: delivered through the
          // domain's guard, so a failure in this NIC ends this domain, not the sender.
          const port = sw.attach(
            contain === undefined
              ? net
              : {
                  mac: net.mac,
                  deliver: (frame, offload) => contain(`network frame for ${mac}`, () => net.deliver(frame, offload)),
                  connect: (port) => net.connect(port),
                },
          );
          plugged.push({ slot: d.slot, switchName: d.switch, sw, port });
          if (d.uplink === 'user')
            uplinks.push(await resources.userNets.acquire(sw, d.publish ?? [], `domain ${spec.name}`));
          model = net;
          break;
        }
        case '9p': {
          // The host files policy (a daemon's --allow-dir) covers shared folders too.
          const dir = resources.files.check(d.path, 'share', { write: !d.readonly });
          const share = await openShare({ path: dir, tag: d.tag, readonly: d.readonly });
          shares.push(share);
          model = share;
          break;
        }
        case 'rng':
          model = new VirtioRng(hostEntropy);
          break;
        case 'balloon':
          model = new VirtioBalloon(
            opts.balloonHooks ?? {
              // An ArrayBuffer cannot be unmapped page by page: zeroing is as close to "given back" as Node allows.
              inflated: (pages) => {
                for (const p of pages) ram()?.fill(p, 4096, 0);
              },
            },
          );
          break;
      }
      devices.push({ spec: d, model });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { devices, plugged, disks: files, close };
}

/** The traffic of each plugged NIC and of its switch's uplink. */
function nicStats(plugged: readonly Plugged[]): NicStats[] {
  const traffic = (p: SwitchPort) => ({
    txFrames: p.stats.txFrames,
    txBytes: p.stats.txBytes,
    rxFrames: p.stats.rxFrames,
    rxBytes: p.stats.rxBytes,
  });
  return plugged.map((x) => {
    const up = x.sw.uplink;
    const passt = up?.endpoint instanceof PasstUplink ? up.endpoint.stats : null;
    return {
      slot: x.slot,
      mac: formatMac(x.port.endpoint.mac),
      switch: x.switchName,
      ...traffic(x.port),
      ...(up !== undefined && {
        uplink: { ...traffic(up), dropped: passt?.dropped ?? 0, malformed: passt?.malformed ?? 0 },
      }),
    };
  });
}

const diskLetter = (i: number): string => String.fromCharCode(97 + i);

/**
 * Builds the domain `spec` describes, on `resources` (the process's switches and PVX registry),
 * paused before its first instruction: call `domain.run()`. Errors name the domain
 * (`domain web: cannot read kernel /x/Image: no such file`); nothing stays open after one.
 */
export async function buildDomain(
  spec: DomainSpec,
  resources: HostResources,
  opts: BuildOptions,
): Promise<BuiltDomain> {
  const named = (e: unknown): unknown => {
    if (e instanceof ApiError) return new ApiError(e.code, `domain ${spec.name}: ${e.message}`);
    if (e instanceof PvmError) return new PvmError(e.kind, `domain ${spec.name}: ${e.message}`);
    if (e instanceof Error) return new PvmError('usage', `domain ${spec.name}: ${e.message}`);
    return e;
  };
  let domain: Domain | null = null;
  let opened: OpenedDevices;
  let loaded: LoadedSpec;
  try {
    loaded = await loadImages(spec, resources.files);
    opened = await openDevices(
      spec,
      resources,
      {
        consoleOut: (b) => opts.host.consoleOut(b),
        ...(opts.ordinal !== undefined ? { ordinal: opts.ordinal } : {}),
        ...(opts.balloonHooks ? { balloonHooks: opts.balloonHooks } : {}),
        ...(opts.contain ? { contain: opts.contain } : {}),
        ...(opts.deferDiskLocks === true ? { deferDiskLocks: true } : {}),
      },
      () => domain?.ram ?? null,
    );
  } catch (e) {
    throw named(e);
  }
  // --deterministic keeps every hart on one thread (instruction-counted time needs one order)
  if (opts.time === 'instret') delete loaded.threads;
  try {
    domain = createVm(loaded, opts.host, {
      devices: opened.devices.map((d) => ({ slot: d.spec.slot, device: d.model })),
      ...(opts.time === 'instret'
        ? { time: 'instret' as const }
        : { wallClockNs: () => BigInt(Date.now()) * 1_000_000n }),
      ...(spec.mode === 'pv' ? { pvxHost: resources.pvx } : {}),
      ...(opts.pvxDomid !== undefined && !resources.pvx.taken(opts.pvxDomid) ? { pvxDomid: opts.pvxDomid } : {}),
      ...(opts.maxInstructions !== undefined ? { maxInstructions: opts.maxInstructions } : {}),
      // full mode has no PVX, so no grants: its RAM stays private
      ...(opts.sharedRam === true && spec.mode === 'pv' ? { sharedRam: true } : {}),
      ...(opts.onVirtioRefusal ? { onVirtioRefusal: opts.onVirtioRefusal } : {}),
      ...(loaded.threads === true ? { threads: nodeHartThreads } : {}),
    });
  } catch (e) {
    await opened.close();
    throw named(e);
  }
  const built = domain;
  // The hypercall policy (docs/para-api.md): which SBI extensions and PVX calls the guest may make.
  if (spec.hypercalls !== undefined) built.sbi.policy = new HypercallPolicy(spec.hypercalls);
  const transports = virtioTransports(built);
  const devices: BuiltDevice[] = opened.devices.map((d) => ({ ...d, transport: transports.get(d.spec.slot)! }));
  let closed: Promise<void> | null = null;
  return {
    spec,
    domain: built,
    devices,
    machine: () => ({
      mode: built.mode,
      vcpus: built.hartCount,
      memoryBytes: built.ram.size,
      devices: devices.map(describeDevice),
      consoleInput: built.inputTo,
      cmdline: loaded.cmdline,
    }),
    netStats: () => nicStats(opened.plugged),
    handOverDisks: async () => {
      for (const d of opened.disks) await d.handOver?.();
    },
    takeBackDisks: () => {
      for (const d of opened.disks) d.takeBack?.();
    },
    diskIdentities: () =>
      Promise.all(
        opened.disks.map(async (d) => {
          const id = d.identity !== undefined ? await d.identity() : await stat(d.path);
          return { path: d.path, size: id.size, ino: id.ino };
        }),
      ),
    announce: () => {
      let sent = 0;
      for (const p of opened.plugged) {
        if (!p.port.attached) continue;
        p.port.transmit(announceFrame(p.port.endpoint.mac));
        sent++;
      }
      return sent;
    },
    close: () => {
      closed ??= opened.close();
      return closed;
    },
  };
}

/** A device as the guest finds it: read back from the model, not the spec. */
function describeDevice(d: BuiltDevice): DeviceInfo {
  const base = { slot: d.spec.slot, kind: d.spec.kind };
  if (d.model instanceof VirtioNet && d.spec.kind === 'net') {
    return {
      ...base,
      mac: formatMac(d.model.mac),
      switch: d.spec.switch,
      ...(d.spec.uplink !== undefined && { uplink: d.spec.uplink }),
    };
  }
  if (d.model instanceof VirtioP9 && d.spec.kind === '9p') {
    return { ...base, tag: d.model.tag, path: d.spec.path, readonly: d.model.readOnly };
  }
  if (d.model instanceof VirtioBlk && d.spec.kind === 'blk')
    return { ...base, path: d.spec.path, readonly: d.model.readOnly };
  return base;
}

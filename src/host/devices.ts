/**
 * From a validated domain spec to its virtio device models with Node
 * backends, in slot order: console (slot 0), disks, nets, entropy, balloon. The caller
 * (the domain builder) attaches each with `attachVirtio(bus, plic, ram, slot, device)`.
 */
import { PvmError } from '../core/errors.js';
import { parseMac, type SwitchPort, VirtualSwitch } from '../devices/switch.js';
import { type BalloonHooks, VirtioBalloon } from '../devices/virtio/balloon/device.js';
import { VirtioBlk } from '../devices/virtio/blk/device.js';
import { VirtioConsole } from '../devices/virtio/console/device.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import type { VirtioMmio } from '../devices/virtio/mmio.js';
import { VirtioNet } from '../devices/virtio/net/device.js';
import { VirtioRng } from '../devices/virtio/rng/device.js';
import type { Domain, DomainHost } from '../hypervisor/domain.js';
import { createVm, type VmConfig, virtioTransports } from '../hypervisor/vm.js';
import { type DiskCache, type HostDisk, openDisk } from './disk.js';
import { hostEntropy } from './entropy.js';

/**
 * The part of a domain spec (src/api/config.ts `DomainSpec`, which satisfies it) that
 * decides its devices. Declared here because host may not import api (layer rule).
 */
export interface DeviceSpec {
  readonly name: string;
  readonly disks: readonly { path: string; readonly: boolean; cache: DiskCache }[];
  readonly nets: readonly { switch: string; mac: string }[];
  readonly rng: boolean;
  readonly balloon: boolean;
}

/** The switches of one process, created on first use with their config options. */
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

export interface SlottedDevice {
  readonly slot: number;
  readonly device: VirtioDevice;
}

export interface DomainDevices {
  /** In slot order, slot = index. */
  readonly devices: readonly SlottedDevice[];
  readonly console: VirtioConsole;
  readonly disks: readonly VirtioBlk[];
  readonly nets: readonly VirtioNet[];
  readonly rng: VirtioRng | null;
  readonly balloon: VirtioBalloon | null;
  /** Unplugs the NICs and closes the image files. */
  close(): Promise<void>;
}

export interface BuildOptions {
  switches: SwitchRegistry;
  /** Guest output of hvc0. */
  consoleOutput: (bytes: Uint8Array) => void;
  balloonHooks?: BalloonHooks;
}

/** Opens the disks and builds the devices; on failure nothing stays open or plugged. */
export async function buildDomainDevices(spec: DeviceSpec, opts: BuildOptions): Promise<DomainDevices> {
  const files: HostDisk[] = [];
  const ports: SwitchPort[] = [];
  const close = async () => {
    for (const p of ports.splice(0)) p.detach();
    await Promise.allSettled(files.splice(0).map((f) => f.close()));
  };
  try {
    const console = new VirtioConsole({ output: opts.consoleOutput });
    const disks: VirtioBlk[] = [];
    for (const [i, d] of spec.disks.entries()) {
      const file = await openDisk(d.path, { readonly: d.readonly, cache: d.cache });
      files.push(file);
      disks.push(
        new VirtioBlk({ backend: file, readOnly: d.readonly, id: `${spec.name}-vd${String.fromCharCode(97 + i)}` }),
      );
    }
    const nets: VirtioNet[] = [];
    for (const n of spec.nets) {
      const mac = parseMac(n.mac);
      if (mac === null) throw new PvmError('usage', `${spec.name}: bad MAC ${n.mac}`);
      const nic = new VirtioNet({ mac });
      try {
        ports.push(opts.switches.get(n.switch).attach(nic));
      } catch (e) {
        throw new PvmError('usage', `${spec.name}: ${(e as Error).message}`);
      }
      nets.push(nic);
    }
    const rng = spec.rng ? new VirtioRng(hostEntropy) : null;
    const balloon = spec.balloon ? new VirtioBalloon(opts.balloonHooks ?? {}) : null;
    const list: VirtioDevice[] = [console, ...disks, ...nets];
    if (rng) list.push(rng);
    if (balloon) list.push(balloon);
    return {
      devices: list.map((device, slot) => ({ slot, device })),
      console,
      disks,
      nets,
      rng,
      balloon,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A domain built by `createVmWithDevices`: the VM, its devices, and the one call that releases them. */
export interface DomainWithDevices {
  readonly domain: Domain;
  readonly devices: DomainDevices;
  /** The virtio-mmio transports, slot = index (registers, `lastError`, statistics). */
  readonly transports: readonly VirtioMmio[];
  /** After the domain ended (or is destroyed): unplug the NICs, close the image files. Idempotent. */
  close(): Promise<void>;
}

/**
 * `createVm` with the devices `spec` names: opens the disks, plugs the NICs into
 * `opts.switches`, builds console/entropy/balloon, and hands them to createVm in slot order
 * (console 0, disks, nets, entropy, balloon). hvc output goes to `opts.consoleOutput` (default:
 * the host's console). Pages the guest gives to the balloon are zeroed (an ArrayBuffer cannot
 * be unmapped, so this is as close to "no longer backed" as Node allows) unless hooks are given.
 * If createVm fails, the devices are closed before the error is thrown.
 */
export async function createVmWithDevices(
  cfg: Omit<VmConfig, 'devices'>,
  spec: DeviceSpec,
  host: DomainHost & { nowMs(): number; wake?(): void },
  opts: Omit<BuildOptions, 'consoleOutput'> & {
    consoleOutput?: (bytes: Uint8Array) => void;
    /** false: attach nothing when the spec names no device (a bare domain, no virtio console). */
    withConsole?: boolean;
  },
): Promise<DomainWithDevices> {
  let domain: Domain | null = null;
  const devices = await buildDomainDevices(spec, {
    switches: opts.switches,
    consoleOutput: opts.consoleOutput ?? ((b) => host.consoleOut(b)),
    balloonHooks: opts.balloonHooks ?? {
      inflated: (pages) => {
        for (const p of pages) domain?.ram.fill(p, 4096, 0);
      },
    },
  });
  try {
    const none = opts.withConsole === false && devices.devices.length === 1;
    domain = createVm({ ...cfg, devices: none ? [] : devices.devices.map((d) => d.device) }, host);
  } catch (e) {
    await devices.close();
    throw e;
  }
  let closed: Promise<void> | null = null;
  return {
    domain,
    devices,
    transports: virtioTransports(domain),
    close: () => {
      closed ??= devices.close();
      return closed;
    },
  };
}

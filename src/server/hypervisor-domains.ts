import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { defaultMac, parseDiskSpec, parseMemory, parseNetSpec } from '../api/config.js';
import { ConsoleBuffer } from '../api/console-buffer.js';
import type { DomainConfig, DomainHandle, DomainInfo, DomainManager, DomainState, DomainStats } from '../api/domain.js';
import { DomainRegistry, requireEngine } from '../api/domain-registry.js';
import { ApiError } from '../api/errors.js';
import { PvmError } from '../core/errors.js';
import type { VirtioRefusal } from '../devices/virtio/mmio.js';
import { createVmWithDevices, type DeviceSpec, type DomainWithDevices, SwitchRegistry } from '../host/devices.js';
import type { Domain, DomainHost, DomainMode } from '../hypervisor/domain.js';
import { type PvxDomain, PvxHost, pvxStateDomid } from '../hypervisor/pvx/index.js';
import { type DomainSnapshot, isSnapshottable, type SnapshotDisk } from '../hypervisor/snapshot/index.js';
import { PVX_DOMID_MAX } from '../sbi/pvx/consts.js';

/** Debian's OpenSBI, the default firmware of full mode. */
export const DEFAULT_FIRMWARE = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
const DEFAULT_MEMORY = 128 * 1024 * 1024;
/** Written into META by this manager; restore refuses snapshots of other engines. */
export const HYPERVISOR_ENGINE = 'pvm-hypervisor/1';

/**
 * The DomainHost of a daemon-managed domain. Besides clock, idling and
 * console output it is the pause gate: the run loop calls `yield` or `idle`
 * between rounds, when every vCPU is at an instruction boundary, and a
 * requested pause parks it right there until unpause. The guest clock stands
 * still while paused, so a paused guest does not see time jump.
 */
export class ControlledHost implements DomainHost {
  private pausedTotal = 0;
  /** Closed while paused: the run loop waits on it at its next checkpoint. */
  private gate: { promise: Promise<void>; open: () => void; since: number } | null = null;
  private parkedWaiters: (() => void)[] = [];
  private parked = false;
  /** The run loop has returned: it will never park again. */
  private ended = false;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private out: number[] = [];

  /** The clock starts stopped (a domain built paused, or restored, sees no time pass until it first runs). */
  constructor(private readonly sink: (bytes: Uint8Array) => void) {
    this.closeGate();
  }

  nowMs(): number {
    const t = performance.now();
    return t - this.pausedTotal - (this.gate ? t - this.gate.since : 0);
  }

  async idle(ms: number): Promise<void> {
    this.flush();
    if (this.woken) this.woken = false;
    else {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.wakeUp = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.wakeUp = done;
      });
    }
    await this.checkpoint();
  }

  async yield(): Promise<void> {
    this.flush();
    await tick();
    await this.checkpoint();
  }

  consoleOut(bytes: Uint8Array): void {
    for (const b of bytes) this.out.push(b);
    if (this.out.length >= 4096) this.flush();
  }

  flush(): void {
    if (this.out.length === 0) return;
    const b = Uint8Array.from(this.out);
    this.out = [];
    this.sink(b);
  }

  /** Cuts an idle sleep short (input arrived, a pause or stop was asked). */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  private async checkpoint(): Promise<void> {
    if (!this.gate) return;
    this.flush();
    this.parked = true;
    for (const w of this.parkedWaiters.splice(0)) w();
    await this.gate.promise;
    this.parked = false;
  }

  private closeGate(): void {
    if (this.gate) return;
    let open!: () => void;
    const promise = new Promise<void>((r) => {
      open = r;
    });
    this.gate = { promise, open, since: performance.now() };
  }

  /** Resolves once the run loop is parked at the gate, or has ended. */
  pause(): Promise<void> {
    this.closeGate();
    if (this.parked || this.ended) return Promise.resolve();
    const parked = new Promise<void>((r) => this.parkedWaiters.push(r));
    this.wake();
    return parked;
  }

  /** Called when the run loop returns: a pause waiting for it to park (the guest ended first) goes on. */
  loopEnded(): void {
    this.ended = true;
    this.flush();
    for (const w of this.parkedWaiters.splice(0)) w();
  }

  unpause(): void {
    const g = this.gate;
    if (!g) return;
    this.pausedTotal += performance.now() - g.since;
    this.gate = null;
    g.open();
  }
}

interface VmParts {
  readonly mode: DomainMode;
  readonly harts: number;
  readonly memory: number;
  readonly kernel: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly firmware?: Uint8Array;
  readonly cmdline: string;
  readonly devices: DeviceSpec;
}

function readFile(path: unknown, what: string, name: string): Uint8Array {
  if (typeof path !== 'string' || path === '') throw new PvmError('usage', `domain ${name}: ${what} must be a path`);
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new PvmError('io', `domain ${name}: cannot read ${what} ${path}: ${why ?? String(e)}`);
  }
}

/** The files and numbers of a domain config, read from the host. */
export function loadVmParts(config: DomainConfig, domainNo = 0): VmParts {
  const name = config.name;
  const mode = config.mode ?? 'pv';
  if (mode !== 'pv' && mode !== 'full') throw new PvmError('usage', `domain ${name}: mode must be pv or full`);
  const harts = config.smp ?? 1;
  if (typeof harts !== 'number' || !Number.isInteger(harts) || harts < 1 || harts > 8) {
    throw new PvmError('usage', `domain ${name}: smp must be an integer from 1 to 8`);
  }
  if (config.kernel === undefined) throw new PvmError('usage', `domain ${name}: a kernel is required`);
  return {
    mode,
    harts,
    memory: parseMemory(config.memory, DEFAULT_MEMORY),
    kernel: readFile(config.kernel, 'kernel', name),
    ...(config.initrd !== undefined ? { initrd: readFile(config.initrd, 'initrd', name) } : {}),
    ...(mode === 'full' ? { firmware: readFile(config.firmware ?? DEFAULT_FIRMWARE, 'firmware', name) } : {}),
    cmdline: typeof config.append === 'string' ? config.append : '',
    devices: deviceSpec(config, domainNo),
  };
}

/**
 * The virtio devices a daemon domain's config names: disks (`path[,ro][,cache=..]` or
 * `{ path, readonly, cache }`), nets (`switch[,mac=..]` or `{ switch, mac }`), `rng: true`,
 * `balloon` (default on). Without disks and nets the domain gets no virtio device at all.
 */
function deviceSpec(config: DomainConfig, domainNo: number): DeviceSpec {
  const name = config.name;
  const list = (k: string): unknown[] => {
    const v = (config as Record<string, unknown>)[k];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new PvmError('usage', `domain ${name}: ${k} must be a list`);
    return v;
  };
  const disks = list('disks').map((d, i) => {
    const r =
      typeof d === 'string'
        ? parseDiskSpec(d)
        : typeof d === 'object' && d !== null && typeof (d as { path?: unknown }).path === 'string'
          ? {
              path: (d as { path: string }).path,
              readonly: (d as { readonly?: unknown }).readonly === true,
              cache: ((d as { cache?: unknown }).cache ?? 'writeback') as 'writeback',
            }
          : `expected "path[,ro][,cache=..]" or { path, readonly, cache }`;
    if (typeof r === 'string') throw new PvmError('usage', `domain ${name}: disks[${i}]: ${r}`);
    if (!['writeback', 'writethrough', 'unsafe'].includes(r.cache))
      throw new PvmError('usage', `domain ${name}: disks[${i}].cache: expected writeback, writethrough or unsafe`);
    return r;
  });
  const nets = list('nets').map((n, i) => {
    const r =
      typeof n === 'string'
        ? parseNetSpec(n)
        : typeof n === 'object' && n !== null && typeof (n as { switch?: unknown }).switch === 'string'
          ? (n as { switch: string; mac?: string })
          : `expected "switch[,mac=..]" or { switch, mac }`;
    if (typeof r === 'string') throw new PvmError('usage', `domain ${name}: nets[${i}]: ${r}`);
    // The control plane's normal form fills in the MAC of a one-domain document (domain 0):
    // give each daemon domain its own instead.
    const mac = r.mac === undefined || r.mac === defaultMac(0, i) ? defaultMac(domainNo, i) : r.mac;
    return { switch: r.switch, mac };
  });
  // rng and balloon default to true in the config's normal form; a domain gets virtio devices only
  // when it names disks or nets, so configs without them boot exactly as before (and stay snapshottable).
  if (disks.length === 0 && nets.length === 0) return { name, disks, nets, rng: false, balloon: false };
  const c = config as Record<string, unknown>;
  return { name, disks, nets, rng: c.rng !== false, balloon: c.balloon !== false };
}

/** Device-section entries of virtio transports: `virtio:SLOT:KIND` (e.g. `virtio:1:blk`), in slot order. */
const VIRTIO_PREFIX = 'virtio:';
const virtioEntry = (slot: number, kind: string): string => `${VIRTIO_PREFIX}${slot}:${kind}`;

class HvDomain {
  state: DomainState = 'paused';
  exitReason: string | undefined;
  startedAt = new Date();
  host!: ControlledHost;
  vm!: Domain;
  loop: Promise<void> = Promise.resolve();
  loopDone = false;
  started = false;
  /** The virtio devices of the current VM (closed when it halts). */
  devices: DomainWithDevices | null = null;
  readonly console: ConsoleBuffer;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly config: DomainConfig,
    private readonly changed: (d: HvDomain) => void,
    private readonly pvxHost: PvxHost<PvxDomain>,
    private readonly switches: SwitchRegistry,
    private readonly options: HypervisorDomainManagerOptions,
    /** The PVX domain id this domain asks for; after the first boot, the one it got (kept across reboots). */
    private pvxDomid: number = id,
  ) {
    this.console = new ConsoleBuffer((data) => {
      this.vm.input(data);
      this.host.wake();
    });
  }

  /** Builds a fresh VM from the config (opening its disks, plugging its NICs), waiting before its first instruction until `start`. */
  async boot(): Promise<void> {
    const { devices, ...parts } = loadVmParts(this.config, this.id);
    const host = new ControlledHost((b) => this.console.emit(b));
    const withDevices = await createVmWithDevices(
      {
        ...parts,
        wallClockNs: () => BigInt(Date.now()) * 1_000_000n,
        ...(this.options.onVirtioRefusal
          ? { onVirtioRefusal: (r: VirtioRefusal) => this.options.onVirtioRefusal?.(this.name, r) }
          : {}),
        // One PVX registry for the daemon, so PV guests can reach each other; the PVX domain id is
        // the daemon's id (or the saved one after a restore) when free, else the lowest free one.
        pvxHost: this.pvxHost,
        ...(this.pvxDomid <= PVX_DOMID_MAX && this.pvxHost.get(this.pvxDomid) === undefined
          ? { pvxDomid: this.pvxDomid }
          : {}),
      },
      devices,
      host,
      { switches: this.switches, withConsole: false },
    );
    const vm = withDevices.domain;
    this.devices = withDevices;
    if (vm.pvx) this.pvxDomid = vm.pvx.id;
    this.host = host;
    this.vm = vm;
    this.exitReason = undefined;
    this.startedAt = new Date();
    this.loopDone = false;
    this.started = false;
    this.loop = Promise.resolve();
    this.state = 'paused';
  }

  /** Starts the run loop of a VM that has not run yet. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { vm, host } = this;
    host.unpause();
    this.loop = vm.run().then(
      (end) => {
        this.loopDone = true;
        host.loopEnded();
        if (this.vm !== vm || end.kind === 'host-stop') return;
        if (end.kind === 'poweroff') this.set('shutoff', 'poweroff');
        else this.set('crashed', `${end.why} (code ${end.code})`);
      },
      (e: unknown) => {
        this.loopDone = true;
        host.loopEnded();
        if (this.vm !== vm) return;
        this.set('crashed', e instanceof Error ? e.message : String(e));
      },
    );
    this.set('running');
  }

  set(state: DomainState, reason?: string): void {
    this.state = state;
    if (reason !== undefined) this.exitReason = reason;
    this.changed(this);
  }

  /** Ends the current VM's loop and waits for it. */
  async halt(): Promise<void> {
    if (!this.started) {
      this.vm.pvx?.destroy(); // never ran: its run loop will not leave the PvxHost for it
      await this.devices?.close();
      return;
    }
    this.vm.stop(0);
    this.host.unpause();
    this.host.wake();
    await this.loop;
    await this.devices?.close(); // image files closed, NICs unplugged
  }
}

/**
 * DomainManager over the hypervisor's Domain run loop (src/hypervisor).
 * Each domain runs cooperatively in the daemon's event loop. PV domains share
 * one PvxHost. Save and restore go through Domain.saveState/loadState (the
 * run loop is parked at the pause gate, every hart at an instruction
 * boundary); shutdown asks PV guests that bound VIRQ_SHUTDOWN_REQUEST
 * (docs/control-plane.md).
 */
export interface HypervisorDomainManagerOptions {
  /** Where the virtio transports of every domain report what they refuse (the daemon logs it). */
  onVirtioRefusal?: (domain: string, refusal: VirtioRefusal) => void;
}

export class HypervisorDomainManager extends DomainRegistry<HvDomain> implements DomainManager {
  /** Every PV domain of this daemon registers here, so their guests can open event channels to each other. */
  private readonly pvxHost = new PvxHost<PvxDomain>();
  /** The virtual switches of this daemon: NICs of all its domains on the same switch name meet. */
  private readonly switches = new SwitchRegistry();

  constructor(private readonly options: HypervisorDomainManagerOptions = {}) {
    super();
  }

  protected halt(d: HvDomain): Promise<void> {
    return d.halt();
  }

  async create(config: DomainConfig, options: { paused: boolean }): Promise<DomainHandle> {
    const d = new HvDomain(this.nextId, config.name, config, this.changed, this.pvxHost, this.switches, this.options);
    await d.boot(); // throws (nothing registered) on a bad config or image
    this.register(d);
    if (options.paused) this.changed(d);
    else d.start();
    return this.handle(d);
  }

  info(id: number): DomainInfo {
    const d = this.get(id);
    return this.describe(d, {
      vcpus: d.vm.hartCount,
      memoryBytes: d.vm.ram.size,
      gracefulShutdown: d.vm.pvx?.shutdownListening === true,
    });
  }

  async pause(id: number): Promise<void> {
    const d = this.get(id);
    if (d.started) await d.host.pause();
    if (!d.loopDone) d.set('paused'); // else the guest ended while the pause waited: its state says how
  }

  async unpause(id: number): Promise<void> {
    const d = this.get(id);
    if (!d.started) return d.start();
    d.host.unpause();
    if (!d.loopDone) d.set('running');
  }

  async shutdown(id: number): Promise<boolean> {
    const d = this.get(id);
    // PV guests that bound PVX VIRQ_SHUTDOWN_REQUEST are asked; others (Linux: no ACPI power button
    // on virt) cannot be, and are left untouched (docs/control-plane.md).
    if (d.vm.pvx?.shutdownListening !== true || !d.vm.requestShutdown('poweroff')) return false;
    d.host.wake();
    if (!d.loopDone) d.set('shutting-down');
    return true;
  }

  async reboot(id: number): Promise<void> {
    const d = this.get(id);
    await d.halt();
    try {
      await d.boot();
      d.start();
    } catch (e) {
      // The old VM is gone and no new one could be built (an image vanished): say so.
      d.loopDone = true;
      d.set('crashed', `reboot failed: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
  }

  stats(id: number): DomainStats {
    const d = this.get(id);
    const s = d.vm.statistics();
    const exits: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.exits)) if (k !== 'slice') exits[k] = v;
    for (const [k, v] of Object.entries(s.mmio)) exits[`mmio:${k}`] = v;
    const hypercalls: Record<string, number> = {};
    for (const [ext, fns] of Object.entries(s.hypercalls)) {
      for (const [fn, n] of Object.entries(fns)) hypercalls[`${ext}/${fn}`] = n;
    }
    return {
      id: d.id,
      name: d.name,
      state: d.state,
      instructions: s.instructions,
      guestMs: s.time.guestMs,
      hypervisorMs: s.time.hypervisorMs,
      uptimeMs: d.started ? s.time.wallMs : 0,
      memoryBytes: d.vm.ram.size,
      vcpus: s.harts,
      exits,
      hypercalls,
    };
  }

  async snapshot(id: number): Promise<DomainSnapshot> {
    const d = this.get(id);
    if (!isSnapshottable(d.vm)) {
      throw new PvmError(
        'state',
        `cannot save domain ${d.name}: the hypervisor does not expose CPU and device state for snapshots yet`,
      );
    }
    if (d.state === 'running') throw new PvmError('state', `domain ${d.name} must be paused to be captured`);
    if (d.loopDone) throw new PvmError('state', `domain ${d.name} is ${d.state}: nothing to save`);
    // Requests a disk still has in flight complete (into guest RAM) before anything is captured.
    const transports = d.devices?.transports ?? [];
    await Promise.all(transports.map((t) => t.drain()));
    const machine = d.vm.saveState();
    const virtio = transports.map((t, slot) => ({ name: virtioEntry(slot, t.device.kind), state: t.saveState() }));
    // The disks as the config names them (strings or objects), parsed as at boot.
    const disks: SnapshotDisk[] = deviceSpec(d.config, d.id).disks.map((k, i) => ({
      device: `vd${String.fromCharCode(97 + i)}`,
      path: k.path,
      readOnly: k.readonly,
    }));
    return {
      meta: { name: d.name, engine: HYPERVISOR_ENGINE, config: d.config },
      ...machine,
      devices: [...machine.devices, ...virtio],
      disks,
    };
  }

  async restore(snapshot: DomainSnapshot, name: string): Promise<DomainHandle> {
    const meta = snapshot.meta as { engine?: unknown; config?: unknown };
    requireEngine(meta, HYPERVISOR_ENGINE);
    const config = { ...(meta.config as DomainConfig), name };
    const d = new HvDomain(
      this.nextId,
      name,
      config,
      this.changed,
      this.pvxHost,
      this.switches,
      this.options,
      pvxStateDomid(snapshot.para) ?? this.nextId, // the PVX id the guest knows itself by, when free
    );
    await d.boot();
    try {
      if (!isSnapshottable(d.vm)) {
        throw new ApiError(
          'bad-image',
          'this snapshot cannot be restored: the hypervisor cannot load domain state yet',
        );
      }
      // The saved virtio devices must be exactly the ones the config rebuilt (slot and kind):
      // checked before anything is loaded.
      const transports = d.devices?.transports ?? [];
      const saved = snapshot.devices.filter((e) => e.name.startsWith(VIRTIO_PREFIX));
      const want = transports.map((t, slot) => virtioEntry(slot, t.device.kind));
      const have = saved.map((e) => e.name);
      if (have.length !== want.length || have.some((n, i) => n !== want[i])) {
        throw new PvmError(
          'image',
          `snapshot does not fit this domain: virtio devices saved [${have.join(', ')}], the config builds [${want.join(', ')}]`,
        );
      }
      d.vm.loadState({ ...snapshot, devices: snapshot.devices.filter((e) => !e.name.startsWith(VIRTIO_PREFIX)) });
      // After RAM is in place (restoreState checks every active queue against it).
      saved.forEach((e, slot) => {
        const err = transports[slot]!.restoreState(e.state);
        if (err !== null) throw new PvmError('image', `virtio device state in the snapshot: ${err}`);
      });
    } catch (e) {
      d.vm.pvx?.destroy(); // not registered yet: leave nothing behind, the PVX id free
      await d.devices?.close();
      throw e;
    }
    this.register(d);
    this.changed(d);
    return this.handle(d);
  }
}

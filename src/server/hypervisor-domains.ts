import type { MigrateResult } from '../api/commands.js';
import { ConsoleBuffer } from '../api/console-buffer.js';
import type { DomainHandle, DomainInfo, DomainManager, DomainState, DomainStats } from '../api/domain.js';
import { DomainRegistry, requireEngine } from '../api/domain-registry.js';
import { ApiError } from '../api/errors.js';
import { type DomainSpec, type DomainSpecInput, toDocument, withMacs, withSched } from '../api/spec.js';
import { PvmError } from '../core/errors.js';
import type { VirtioRefusal } from '../devices/virtio/mmio.js';
import {
  type BuiltDevice,
  type BuiltDomain,
  buildDomain,
  HostResources,
  type SwitchRegistry,
} from '../host/builder.js';
import { type ConsoleSink, fileSink } from '../host/console-sink.js';
import { NodeDomainHost, nodeScheduler } from '../host/domain-host.js';
import { HostFiles } from '../host/host-files.js';
import type { Domain } from '../hypervisor/domain.js';
import { type PagesMessage, writePages } from '../hypervisor/migration/stream.js';
import { type PvxDomain, type PvxHost, pvxStateDomid } from '../hypervisor/pvx/index.js';
import { type CreditScheduler, SCHED_DEFAULTS, type SchedEntity } from '../hypervisor/scheduler.js';
import { type DomainSnapshot, isSnapshottable, type SnapshotDisk } from '../hypervisor/snapshot/index.js';
import type { GuestRam } from '../memory/ram.js';
import { PVX_DOMID_MAX } from '../sbi/pvx/consts.js';
import { type MigrationTuning, migrateDomain } from './migration.js';

/** Written into META by this manager; restore refuses snapshots of other engines. */
export const HYPERVISOR_ENGINE = 'pvm-hypervisor/1';

/** Device-section entries of virtio transports: `virtio:SLOT:KIND` (e.g. `virtio:1:blk`), in slot order. */
const VIRTIO_PREFIX = 'virtio:';
const virtioEntry = (slot: number, kind: string): string => `${VIRTIO_PREFIX}${slot}:${kind}`;
/** How many disks come before device `i` (vda, vdb, ... in slot order). */
const disksBefore = (devices: readonly BuiltDevice[], i: number): number =>
  devices.slice(0, i).filter((x) => x.spec.kind === 'blk').length;

class HvDomain {
  state: DomainState = 'paused';
  exitReason: string | undefined;
  startedAt = new Date();
  host!: NodeDomainHost;
  /** The current VM with its devices (rebuilt at reboot; its devices closed when it halts). */
  built!: BuiltDomain;
  loop: Promise<void> = Promise.resolve();
  loopDone = false;
  started = false;
  /** The current VM's place in the daemon's scheduler (a new one at every boot). */
  sched: SchedEntity | null = null;
  readonly console: ConsoleBuffer;

  constructor(
    readonly id: number,
    /** The domain's spec, every NIC with its MAC (so a reboot or a restore gives the guest the same ones). */
    public spec: DomainSpec,
    private readonly changed: (d: HvDomain) => void,
    private readonly resources: HostResources,
    /** `console: { file }`: the output is appended there too, for the domain's whole life. */
    private readonly file: ConsoleSink | null,
    private readonly options: HypervisorDomainManagerOptions,
    private readonly scheduler: CreditScheduler,
    /** The PVX domain id this domain asks for; after the first boot, the one it got (kept across reboots). */
    private pvxDomid: number = id,
  ) {
    this.console = new ConsoleBuffer((data) =>
      this.contain('console input', () => {
        this.vm.input(data);
        this.host.wake();
      }),
    );
  }

  /**
   * Runs a call into this domain's code that comes from outside its run loop (a console client's
   * bytes, a frame from another domain's NIC). An exception there ends this domain only: it is
   * `crashed` with the reason, its run loop stopped; the caller (a socket handler, another domain)
   * goes on. Calls after the crash are dropped.
   */
  contain(what: string, fn: () => void): void {
    if (this.state === 'crashed' && this.loopDone) return;
    try {
      fn();
    } catch (e) {
      this.crash(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Ends the domain from outside its run loop: `crashed` with `reason`, the loop stopped. */
  crash(reason: string): void {
    if (this.state === 'crashed') return;
    this.set('crashed', reason);
    if (!this.started) {
      this.loopDone = true;
      return;
    }
    const { vm, host } = this;
    this.loopDone = true; // the loop's own end (host-stop) must not change the state again
    vm.stop(0);
    host.unpause();
    host.wake();
  }

  get name(): string {
    return this.spec.name;
  }

  get vm(): Domain {
    return this.built.domain;
  }

  /**
   * Builds a fresh VM from the spec (opening its disks, plugging its NICs), waiting before its
   * first instruction until `start`. `deferDiskLocks`: a live migration's destination, whose
   * source still holds the image locks (`built.takeBackDisks` takes them).
   */
  async boot(deferDiskLocks = false): Promise<void> {
    this.sched?.remove();
    const sched = this.scheduler.add({
      weight: this.spec.weight ?? SCHED_DEFAULTS.weight,
      cap: this.spec.cap ?? SCHED_DEFAULTS.cap,
    });
    this.sched = sched;
    const host = new NodeDomainHost(
      (b) => {
        this.console.emit(b);
        this.file?.write(b);
      },
      { paused: true, sched },
    );
    // One PVX registry for the daemon, so PV guests can reach each other; the PVX domain id is
    // the daemon's id (or the saved one after a restore) when free, else the lowest free one.
    const built = await buildDomain(this.spec, this.resources, {
      host,
      ordinal: this.id,
      ...(deferDiskLocks ? { deferDiskLocks } : {}),
      ...(this.options.sharedRam === true ? { sharedRam: true } : {}),
      ...(this.pvxDomid <= PVX_DOMID_MAX ? { pvxDomid: this.pvxDomid } : {}),
      ...(this.options.onVirtioRefusal
        ? { onVirtioRefusal: (r: VirtioRefusal) => this.options.onVirtioRefusal?.(this.name, r) }
        : {}),
      contain: (what, fn) => this.contain(what, fn),
    });
    if (built.domain.pvx) this.pvxDomid = built.domain.pvx.id;
    this.built = built;
    if (built.domain.threads !== null) sched.set({ cap: this.capPart(this.spec.cap ?? SCHED_DEFAULTS.cap) });
    this.host = host;
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
        else if (end.kind === 'fail') this.set('crashed', `${end.why} (code ${end.code})`);
        else this.set('crashed', `stopped after ${end.instructions} instructions`);
      },
      (e: unknown) => {
        this.loopDone = true;
        host.loopEnded();
        if (this.vm !== vm || this.state === 'crashed') return;
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
    this.sched?.remove(); // a loop waiting for its turn goes on at once, to end
    if (!this.started) {
      this.vm.pvx?.destroy(); // never ran: its run loop will not leave the PvxHost for it
      await this.built.close();
      return;
    }
    this.vm.stop(0);
    this.host.unpause();
    this.host.wake();
    await this.loop;
    await this.built.close(); // image files closed, NICs unplugged
  }

  /** New scheduler parameters: for the running VM from its next turn, and in the spec for later boots. */
  setSched(params: { weight?: number; cap?: number }): void {
    this.spec = withSched(this.spec, params);
    this.sched?.set(params.cap === undefined ? params : { ...params, cap: this.capPart(params.cap) });
  }

  /**
   * The part of the domain's cap its scheduler entity (the owner's turns) gets: all of it, or for
   * a domain with harts on threads an equal part per hart, each hart on a thread holding itself
   * to its own (docs/scheduler.md, "Harts on threads").
   */
  private capPart(cap: number): number {
    return this.built?.domain.threads?.setCap(cap) ?? cap;
  }

  /** The domain is gone: its console file is closed. */
  async release(): Promise<void> {
    await this.file?.close();
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
  /** Where the daemon logs a passt that ended while NICs used it. */
  onNetworkEvent?: (message: string) => void;
  /**
   * Which host files domains may use (src/host/host-files.ts). Default: any absolute path (the
   * library's embedder decides); `pvm daemon` passes its `--allow-dir` policy.
   */
  files?: HostFiles;
  /** Live migration's tuning (rounds, when to stop and copy, timeouts), for tests and benchmarks. */
  migration?: MigrationTuning;
  /**
   * Every domain's RAM in shared memory: the pool's threads (pool-domains.ts), where domains on
   * other threads map granted pages from it (docs/pvx-implementation.md, "Across threads").
   */
  sharedRam?: boolean;
}

/** What live migration's source needs of a domain (HypervisorDomainManager.outgoing). */
export interface OutgoingDomain {
  readonly id: number;
  readonly name: string;
  /** The spec in its document form, MACs included. */
  readonly config: DomainSpecInput;
  readonly ram: GuestRam;
  /**
   * Some of its harts store into RAM where the dirty-page log does not look (harts on threads:
   * each worker's stores mark only its own thread's log), so the stop-and-copy round sends
   * every page.
   */
  readonly untrackedWrites: boolean;
  readonly pvxDomid: number | undefined;
  /** Each disk: its path, and the size and inode of the file the source has open (not what the path names now). */
  disks(): Promise<{ path: string; size: number; ino: number; readOnly: boolean }[]>;
  /** Why the domain cannot move (links to other domains), or null. */
  blocker(): string | null;
  /** The same VM still runs its loop (no reboot, crash or power-off since `outgoing`). */
  alive(): boolean;
  running(): boolean;
  pause(): Promise<void>;
  unpause(): Promise<void>;
  /** Its complete state; paused only. */
  snapshot(): Promise<DomainSnapshot>;
  handOverDisks(): Promise<void>;
  takeBackDisks(): void;
  crash(reason: string): void;
}

/**
 * A migrating domain on the destination: RAM to fill, then its state to load, or nothing. Its
 * RAM is filled through `write`, not a view: on a pool the domain is built on a worker thread
 * (pool-domains.ts), which applies the pages itself.
 */
export interface IncomingDomain {
  /** The id it will have once committed. */
  readonly id: number;
  readonly ram: { readonly base: number; readonly size: number };
  /** Copies a decoded PAGES message (checked against `ram`'s pages) into its RAM, in order. */
  write(m: PagesMessage): void;
  /** Resolves once every `write` so far is in its RAM (SYNC); rejects when one could not be. */
  applied(): Promise<void>;
  /** Takes the image locks, loads the state (its own RAM as the snapshot's), registers the domain paused. */
  commit(snapshot: DomainSnapshot): Promise<DomainHandle>;
  discard(): Promise<void>;
}

export class HypervisorDomainManager extends DomainRegistry<HvDomain> implements DomainManager {
  /**
   * What this daemon's domains share: the virtual switches (NICs on the same switch name meet)
   * and the PVX registry (their guests can open event channels and vchans to each other).
   */
  private readonly resources: HostResources;
  /** Grants the domains' run loops their turns on the daemon's thread, by weight and cap (docs/scheduler.md). */
  readonly scheduler: CreditScheduler;

  constructor(private readonly options: HypervisorDomainManagerOptions = {}) {
    super();
    this.scheduler = nodeScheduler();
    this.resources = new HostResources({}, options.files ?? new HostFiles(), {
      onExit: (sw, reason) => this.options.onNetworkEvent?.(`switch ${sw}: ${reason}`),
    });
  }

  /** The PVX registry of its domains (a pool links those of its threads, src/server/pvx-links.ts). */
  get pvx(): PvxHost<PvxDomain> {
    return this.resources.pvx;
  }

  /** The virtual switches its domains' NICs are plugged into (switch links join them to other daemons). */
  get switches(): SwitchRegistry {
    return this.resources.switches;
  }

  /** The host files policy of this manager's domains (save and restore paths obey it too). */
  get files(): HostFiles {
    return this.resources.files;
  }

  protected async halt(d: HvDomain): Promise<void> {
    await d.halt();
    await d.release();
  }

  /** The id of a domain about to be built: a create meanwhile (boot awaits) takes the next one. */
  private reserveId(): number {
    return this.nextId++;
  }

  /** Gives back a reserved id whose domain failed to build, when no later one was reserved. */
  private unreserveId(id: number): void {
    if (this.nextId === id + 1) this.nextId = id;
  }

  /** A domain (not registered yet, id `id`) with its console file open; `boot` builds its VM. */
  private make(spec: DomainSpec, pvxDomid?: number, id = this.nextId): HvDomain {
    const file =
      typeof spec.console === 'object'
        ? fileSink(this.resources.files.check(spec.console.file, 'console file', { mayCreate: true, write: true }))
        : null;
    return new HvDomain(id, spec, this.changed, this.resources, file, this.options, this.scheduler, pvxDomid);
  }

  async create(spec: DomainSpec, options: { paused: boolean }): Promise<DomainHandle> {
    const id = this.reserveId();
    const d = this.make(withMacs(spec, id), id, id);
    try {
      await d.boot(); // throws (nothing registered) on a bad spec or image
    } catch (e) {
      this.unreserveId(id);
      await d.release();
      throw e;
    }
    this.register(d);
    if (options.paused) this.changed(d);
    else d.start();
    return this.handle(d);
  }

  /**
   * Makes domain `id`'s NICs announce their MACs on their switches, as QEMU's announce-self does
   * after a migration: `rounds` RARP broadcasts per NIC (BuiltDomain.announce), the first at once,
   * then every `stepMs` (QEMU's defaults: 5 rounds, 100 ms apart). Call it on the destination
   * once the domain runs there: every switch, local or across switch links, then sends the MACs'
   * traffic to the new ports. Resolves with the frames sent once the last round is out (early,
   * with what was sent, if the domain is destroyed or rebooted meanwhile).
   */
  async announceMacs(id: number, options: { rounds?: number; stepMs?: number } = {}): Promise<number> {
    const d = this.get(id);
    const built = d.built;
    const rounds = options.rounds ?? 5;
    const step = options.stepMs ?? 100;
    let sent = 0;
    for (let i = 0; i < rounds; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, step));
      if (d.built !== built || !this.list().some((x) => x.id === id)) break;
      sent += built.announce();
    }
    return sent;
  }

  /** The VM a domain runs now (for tools and tests that look inside it). */
  vmOf(id: number): Domain {
    return this.get(id).vm;
  }

  info(id: number): DomainInfo {
    const d = this.get(id);
    return this.describe(d, d.built.machine(), d.vm.pvx?.shutdownListening === true);
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

  restrictHypercalls(id: number, allow: readonly string[]): void {
    const d = this.get(id);
    const policy = d.vm.sbi.policy.tighten(allow);
    d.vm.sbi.policy = policy;
    // The spec says it too, so info shows it and a reboot or a save keeps it.
    d.spec = { ...d.spec, hypercalls: [...(policy.entries ?? [])] };
  }

  setSched(id: number, params: { weight?: number; cap?: number }): void {
    this.get(id).setSched(params);
  }

  stats(id: number): DomainStats {
    const d = this.get(id);
    const s = d.vm.statistics();
    const exits: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.exits)) if (k !== 'slice') exits[k] = v;
    for (const [k, v] of Object.entries(s.mmio)) exits[`mmio:${k}`] = v;
    const nets = d.built.netStats();
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
      idleMs: s.time.idleMs,
      stealMs: Math.round(d.vm.vcpus.reduce((a, v) => a + v.stealNs, 0) / 1e5) / 10,
      uptimeMs: d.started ? s.time.wallMs : 0,
      memoryBytes: d.vm.ram.size,
      vcpus: s.harts,
      exits,
      hypercalls,
      virtio: Object.fromEntries(
        d.built.devices.map((x) => [
          `${x.spec.slot}:${x.model.kind}`,
          { fromGuest: x.transport.stats.bytesFromGuest, toGuest: x.transport.stats.bytesToGuest },
        ]),
      ),
      ...(nets.length > 0 && { nets }),
      consoleInputDropped: d.vm.consoleInputDropped,
      ...(s.threads !== undefined && { threads: s.threads }),
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
    // Nothing runs from here (harts on threads included: the pause held them, DomainHost.onPark,
    // or this holds them now if they did not stop in time then), and requests a disk still has
    // in flight complete (into guest RAM) before anything is captured.
    d.vm.holdThreads();
    const devices = d.built.devices;
    await Promise.all(devices.map((x) => x.transport.drain()));
    const machine = d.vm.saveState();
    const virtio = devices.map((x) => ({
      name: virtioEntry(x.spec.slot, x.model.kind),
      state: x.transport.saveState(),
    }));
    const disks: SnapshotDisk[] = devices.flatMap((x, i) =>
      x.spec.kind === 'blk'
        ? [
            {
              device: `vd${String.fromCharCode(97 + disksBefore(devices, i))}`,
              path: x.spec.path,
              readOnly: x.spec.readonly,
            },
          ]
        : [],
    );
    return {
      meta: { name: d.name, engine: HYPERVISOR_ENGINE, config: toDocument(d.spec) },
      ...machine,
      devices: [...machine.devices, ...virtio],
      disks,
    };
  }

  async restore(snapshot: DomainSnapshot, spec: DomainSpec): Promise<DomainHandle> {
    requireEngine(snapshot.meta as { engine?: unknown }, HYPERVISOR_ENGINE);
    // The saved spec names its MACs: the guest in the snapshot already uses them.
    const id = this.reserveId();
    const d = this.make(withMacs(spec, id), pvxStateDomid(snapshot.para) ?? id, id);
    try {
      await d.boot();
    } catch (e) {
      this.unreserveId(id);
      await d.release();
      throw e;
    }
    await this.load(d, snapshot);
    this.register(d);
    this.changed(d);
    return this.handle(d);
  }

  /** Loads a snapshot into a built domain that has not run; on failure the domain is discarded. */
  private async load(d: HvDomain, snapshot: DomainSnapshot): Promise<void> {
    try {
      if (!isSnapshottable(d.vm)) {
        throw new ApiError(
          'bad-image',
          'this snapshot cannot be restored: the hypervisor cannot load domain state yet',
        );
      }
      // The saved virtio devices must be exactly the ones the config rebuilt (slot and kind):
      // checked before anything is loaded.
      const devices = d.built.devices;
      const saved = snapshot.devices.filter((e) => e.name.startsWith(VIRTIO_PREFIX));
      const want = devices.map((x) => virtioEntry(x.spec.slot, x.model.kind));
      const have = saved.map((e) => e.name);
      if (have.length !== want.length || have.some((n, i) => n !== want[i])) {
        throw new PvmError(
          'image',
          `snapshot does not fit this domain: virtio devices saved [${have.join(', ')}], the config builds [${want.join(', ')}]`,
        );
      }
      d.vm.loadState({ ...snapshot, devices: snapshot.devices.filter((e) => !e.name.startsWith(VIRTIO_PREFIX)) });
      // After RAM is in place (restoreState checks every active queue against it).
      saved.forEach((e, i) => {
        const err = devices[i]!.transport.restoreState(e.state);
        if (err !== null) throw new PvmError('image', `virtio device state in the snapshot: ${err}`);
      });
    } catch (e) {
      await this.discard(d);
      throw e;
    }
  }

  /** Frees a built domain that was never registered: nothing left behind, its PVX id free. */
  private async discard(d: HvDomain): Promise<void> {
    d.vm.pvx?.destroy();
    await d.built.close();
    await d.release();
  }

  migrate(
    id: number,
    target: { readonly to: string; readonly token: string; readonly ca?: string; readonly maxRounds?: number },
    onProgress?: (p: { phase: string; done: number; total: number }) => void,
  ): Promise<MigrateResult> {
    return migrateDomain(
      this,
      id,
      { url: target.to, token: target.token, ...(target.ca !== undefined ? { ca: target.ca } : {}) },
      {
        ...(target.maxRounds !== undefined ? { maxRounds: target.maxRounds } : {}),
        ...(onProgress ? { onProgress } : {}),
        ...this.options.migration,
      },
    );
  }

  /**
   * Live migration, source side (src/server/migration.ts): the pieces of domain `id` the
   * pre-copy and the hand-over need.
   */
  outgoing(id: number): OutgoingDomain {
    const d = this.get(id);
    const vm = d.vm;
    const alive = () => this.domains.get(id) === d && d.vm === vm && !d.loopDone;
    return {
      id,
      name: d.name,
      config: toDocument(d.spec),
      ram: vm.ram,
      untrackedWrites: vm.threads !== null,
      pvxDomid: vm.pvx?.id,
      disks: async () => {
        const ids = await d.built.diskIdentities();
        const blks = d.built.devices.flatMap((x) => (x.spec.kind === 'blk' ? [x.spec] : []));
        return blks.map((x, i) => ({ path: x.path, size: ids[i]!.size, ino: ids[i]!.ino, readOnly: x.readonly }));
      },
      blocker: () => {
        const why = vm.pvx?.migrationBlocker() ?? null;
        return why === null ? null : `domain ${d.name} has ${why}`;
      },
      alive,
      running: () => d.state === 'running',
      pause: () => this.pause(id),
      unpause: () => this.unpause(id),
      snapshot: () => this.snapshot(id),
      handOverDisks: () => d.built.handOverDisks(),
      takeBackDisks: () => d.built.takeBackDisks(),
      crash: (reason) => d.crash(reason),
    };
  }

  /**
   * Live migration, destination side: builds `spec` paused, its disks open but not locked (the
   * source still holds them), its RAM ready for the pages. Not registered until `commit`.
   */
  async incoming(spec: DomainSpec, pvxDomid: number | undefined): Promise<IncomingDomain> {
    const id = this.reserveId();
    const d = this.make(withMacs(spec, id), pvxDomid ?? id, id);
    try {
      await d.boot(true);
    } catch (e) {
      await d.release();
      if (e instanceof RangeError) {
        throw new ApiError('bad-request', `out of memory: cannot allocate ${spec.memory} bytes of guest RAM`);
      }
      throw e;
    }
    let done = false;
    const ram = d.vm.ram;
    return {
      id,
      ram,
      write: (m) => writePages(m, ram.u8),
      applied: async () => {},
      commit: async (snapshot) => {
        if (done) throw new ApiError('bad-state', 'this incoming domain was already committed or discarded');
        done = true;
        try {
          d.built.takeBackDisks(); // the source released them before it sent its state
        } catch (e) {
          await this.discard(d);
          throw e;
        }
        // The RAM came as pages: the snapshot's own RAM section is a placeholder.
        await this.load(d, { ...snapshot, ram: { base: ram.base, bytes: ram.u8 } });
        this.register(d);
        this.changed(d);
        return this.handle(d);
      },
      discard: async () => {
        if (done) return;
        done = true;
        await this.discard(d);
      },
    };
  }
}

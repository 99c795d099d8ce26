import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MigrateResult } from '../api/commands.js';
import { ConsoleBuffer } from '../api/console-buffer.js';
import type {
  DomainConsole,
  DomainEvent,
  DomainHandle,
  DomainInfo,
  DomainManager,
  DomainState,
  DomainStats,
} from '../api/domain.js';
import { ApiError } from '../api/errors.js';
import { type DomainSpec, parseDomainSpec, withMacs } from '../api/spec.js';
import type { SwitchRegistry } from '../host/builder.js';
import { MSG } from '../hypervisor/migration/stream.js';
import { SCHED_DEFAULTS } from '../hypervisor/scheduler.js';
import type { DomainSnapshot } from '../hypervisor/snapshot/index.js';
import {
  HypervisorDomainManager,
  type HypervisorDomainManagerOptions,
  type IncomingDomain,
} from './hypervisor-domains.js';
import type { MigrationProgress, MigrationTuning } from './migration.js';
import { type BusyDomain, demand, planMove, type WorkerView } from './pool-balance.js';
import {
  type AsyncCall,
  type FromWorker,
  fromWire,
  type MovingDomain,
  type PoolWorkerData,
  progressOf,
  STATS_WATCH_MS,
  type SyncCall,
  type ToWorker,
  type WireError,
  type WorkerLoad,
} from './pool-protocol.js';
import { PvxLinks, type PvxLinksData, pvxLinksData } from './pvx-links.js';

/** How long the main thread waits for a worker's synchronous answer (a turn is ~4 ms). */
const SYNC_TIMEOUT_MS = 5000;
/** While it waits, the main thread serves the workers' PVX requests this often. */
const SYNC_SLICE_MS = 5;

/** One worker thread and what the main thread knows of it. */
class PoolWorker {
  readonly worker: Worker;
  private readonly flag: Int32Array;
  private readonly syncPort: MessagePort;
  /** Everything else the worker posts (FromWorker), in order. */
  private readonly port: MessagePort;
  private readonly onMessage: (m: FromWorker) => void;
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; progress?: (p: MigrationProgress) => void }
  >();
  /** Domains placed here (ids). */
  readonly domains = new Set<number>();
  /** Set once the thread has ended: every later call is refused. */
  gone: string | null = null;
  /** Synchronous calls made to it (PoolDomainManager.roundTrips). */
  roundTrips = 0;

  constructor(
    readonly index: number,
    allowDirs: readonly string[] | null,
    pvx: PvxLinksData,
    /** The main thread's PVX links: served while it waits for this worker (the worker may be asking it). */
    private readonly links: PvxLinks,
    onMessage: (w: PoolWorker, m: FromWorker) => void,
    onGone: (w: PoolWorker, why: string) => void,
    migration?: MigrationTuning,
  ) {
    const sync = new SharedArrayBuffer(4);
    this.flag = new Int32Array(sync);
    const syncChannel = new MessageChannel();
    const channel = new MessageChannel();
    this.syncPort = syncChannel.port1;
    this.port = channel.port1;
    const data: PoolWorkerData = {
      allowDirs,
      sync,
      syncPort: syncChannel.port2,
      port: channel.port2,
      pvx,
      ...(migration !== undefined && { migration }),
    };
    this.worker = new Worker(new URL('./domain-worker.js', import.meta.url), {
      workerData: data,
      transferList: [syncChannel.port2, channel.port2, ...pvx.ports.filter((p) => p !== null)],
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    this.onMessage = (m: FromWorker) => {
      if (m.kind === 'reply') {
        const p = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        if (m.error) p?.reject(fromWire(m.error));
        else p?.resolve(m.value);
      } else if (m.kind === 'progress') {
        const progress = progressOf(m);
        if (progress !== null) this.pending.get(m.seq)?.progress?.(progress);
      } else onMessage(this, m);
    };
    this.port.on('message', this.onMessage);
    this.port.unref();
    const end = (why: string): void => {
      if (this.gone !== null) return;
      // What it posted before it ended comes first: replies, events, a migration's last step.
      this.drain();
      this.gone = why;
      for (const p of this.pending.values()) p.reject(new ApiError('internal', `worker ${index} ended: ${why}`));
      this.pending.clear();
      onGone(this, why);
    };
    this.worker.on('error', (e) => end(e.message));
    this.worker.on('exit', (code) => end(`exit code ${code}`));
  }

  /** Handles, now, what the worker has posted so far (events, console output, replies). */
  drain(): void {
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
      this.onMessage(m.message as FromWorker);
    }
  }

  call(method: AsyncCall, args: unknown[], id?: number, progress?: (p: MigrationProgress) => void): Promise<unknown> {
    if (this.gone !== null) return Promise.reject(new ApiError('internal', `worker ${this.index} ended: ${this.gone}`));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, ...(progress !== undefined && { progress }) });
      const m: ToWorker = { kind: 'call', seq, method, args, ...(id !== undefined && { id }) };
      this.worker.postMessage(m);
    });
  }

  /**
   * A synchronous DomainManager call (info, stats, ...): the main thread blocks until the worker
   * answers between two of its turns (milliseconds), so the ControlPlane sees the same
   * synchronous interface as with domains on the main thread.
   */
  callSync(method: SyncCall, args: unknown[]): unknown {
    if (this.gone !== null) throw new ApiError('internal', `worker ${this.index} ended: ${this.gone}`);
    this.roundTrips++;
    const m: ToWorker = { kind: 'sync', method, args };
    this.worker.postMessage(m);
    // In slices: the worker may be in a guest's hypercall that waits for this thread's PVX answer.
    const end = performance.now() + SYNC_TIMEOUT_MS;
    let r: 'ok' | 'not-equal' | 'timed-out' = 'timed-out';
    for (let left = SYNC_TIMEOUT_MS; left > 0; left = end - performance.now()) {
      r = Atomics.wait(this.flag, 0, 0, Math.min(left, SYNC_SLICE_MS));
      if (r !== 'timed-out') break;
      this.links.serve();
    }
    Atomics.store(this.flag, 0, 0);
    const got = receiveMessageOnPort(this.syncPort);
    if (r === 'timed-out' || got === undefined) {
      throw new ApiError('internal', `worker ${this.index} did not answer ${method} within ${SYNC_TIMEOUT_MS} ms`);
    }
    const reply = got.message as { value?: unknown; error?: WireError };
    this.drain(); // the events posted before this answer
    if (reply.error) throw fromWire(reply.error);
    return reply.value;
  }

  input(id: number, data: Uint8Array): void {
    if (this.gone === null) this.worker.postMessage({ kind: 'input', id, data } satisfies ToWorker);
  }

  /** A PAGES message for arriving domain `id`, its buffer handed over (ToWorker 'pages'). */
  pages(id: number, bytes: Uint8Array): void {
    if (this.gone === null)
      this.worker.postMessage({ kind: 'pages', id, bytes } satisfies ToWorker, [bytes.buffer as ArrayBuffer]);
  }
}

/**
 * The young generation of a worker's heap, in MiB. V8 grows it to tens of MiB while a thread
 * allocates fast (building domains) and a worker keeps it resident: without this limit, two
 * workers with 100 idle domains were 15-23 MiB larger (bench/scale, docs/scheduler.md). The
 * CPU's hot path allocates nothing, so the smaller nursery costs guests nothing; building a
 * domain scavenges more often.
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** A domain running on a worker, as the main thread tracks it. */
interface Placed {
  readonly id: number;
  name: string;
  state: DomainState;
  /** Its worker; a new one when a domain whose worker ended is rebooted. */
  worker: PoolWorker;
  readonly console: ConsoleBuffer;
  /**
   * The last info the worker gave (with each state event, after a config change, at create):
   * what `info` answers without asking the worker, also once the worker has ended.
   */
  info: DomainInfo | null;
  /** Why the domain crashed with its worker. */
  reason?: string;
  /** The counters its worker posted last, since its last state event (statsOf). */
  stats?: DomainStats;
  /** Until when (performance.now()) its worker keeps posting its counters: it was asked before. */
  watchedUntil?: number;
  /** Its move to another worker, while one is in progress: every other command waits for it. */
  moving?: Promise<void>;
  /** Commands forwarded to its worker and not answered yet: no move starts meanwhile. */
  calls: number;
  /** Why no worker holds it any more: a move failed both ways (it is crashed). */
  lost?: string;
  /** Console input that came during a move: posted to its worker once the move ends. */
  held?: Uint8Array[];
  /** Set by `destroy`: no move starts any more. */
  destroying?: boolean;
  /** Until when (performance.now()) the rebalancer leaves it where it is: it moved, or could not. */
  holdUntil?: number;
  /** Host ms of its turns at the rebalancer's last look, and when that was (performance.now()). */
  usedMs?: number;
  seenAt?: number;
}

/** What one look of the rebalancer did (PoolDomainManager.rebalance). */
export interface RebalanceStep {
  /** Busy domains per worker (ids), from the host time their turns took since the last look. */
  readonly busy: readonly (readonly number[])[];
  readonly moved?: { readonly id: number; readonly from: number; readonly to: number };
  readonly refused?: { readonly id: number; readonly reason: string };
}

/** How often the rebalancer looks at the workers' busy domains (ms). */
export const REBALANCE_MS = 1000;
/** A domain whose turns took at least this share of the time since the last look is busy. */
export const BUSY_SHARE = 0.2;
/** How long a domain that moved (or could not) stays where it is: no ping-pong (ms). */
export const MOVE_HOLD_MS = 5000;

/** A domain as the rebalancer's decision sees it: weight and cap from its config, whether it may move now. */
function schedOf(p: Placed, now: number): BusyDomain {
  const config = p.info?.config;
  const cap = config?.cap ?? SCHED_DEFAULTS.cap;
  // Harts on threads: its worker runs the owner's turns, held to the owner's part of the cap.
  const harts = config?.threads === true ? (config.smp ?? 1) : 1;
  return {
    id: p.id,
    weight: config?.weight ?? SCHED_DEFAULTS.weight,
    cap: cap / harts,
    movable: (p.holdUntil ?? 0) <= now && p.calls === 0 && !p.destroying && p.lost === undefined,
  };
}

export interface PoolDomainManagerOptions extends HypervisorDomainManagerOptions {
  /** Worker threads; default one per host core (os.availableParallelism()). */
  workers?: number;
  /** How often the rebalancer looks (ms); 0: never on its own (tests call `rebalance`). Default REBALANCE_MS. */
  rebalanceMs?: number;
}

/**
 * DomainManager over a pool of worker threads (docs/scheduler.md, "Worker pool"): each domain
 * runs whole — vCPUs, devices, back ends — on one worker, so domains on different workers run
 * in parallel on different host cores. Domains with NICs stay on the main thread, where the
 * daemon's virtual switches and their passt uplinks live; every other domain goes to the worker
 * with the fewest domains, and the rebalancer moves busy domains later so that they share the
 * pool's cores by weight and cap (`move`, `rebalance`). The main thread keeps the API, the
 * consoles' history and the domain list; per-domain commands are forwarded to the domain's
 * worker.
 */
export class PoolDomainManager implements DomainManager {
  private readonly workers: PoolWorker[];
  /** Domains on the main thread: those with NICs. */
  private readonly local: HypervisorDomainManager & { useId(id: number): void };
  private readonly placed = new Map<number, Placed>();
  private readonly listeners = new Set<(e: DomainEvent) => void>();
  private nextId = 1;
  /** PVX between the threads: the main thread's end (its domains with NICs, and the directory's keeper). */
  private readonly links: PvxLinks;

  constructor(private readonly options: PoolDomainManagerOptions = {}) {
    const n = options.workers ?? availableParallelism();
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new ApiError('bad-request', `workers: 1 to 256, got ${n}`);
    const allowDirs = options.files?.allowDirs ?? null;
    // Thread 0 is this one, worker i is thread i + 1.
    const pvx = pvxLinksData(n + 1, () => {
      const c = new MessageChannel();
      return [c.port1, c.port2];
    });
    this.links = new PvxLinks(pvx[0]!);
    this.workers = Array.from(
      { length: n },
      (_, i) =>
        new PoolWorker(
          i,
          allowDirs,
          pvx[i + 1]!,
          this.links,
          (w, m) => this.fromWorker(w, m),
          (w, why) => this.workerGone(w, why),
          options.migration,
        ),
    );
    class Local extends HypervisorDomainManager {
      useId(id: number): void {
        this.nextId = id;
      }
    }
    // Shared RAM here too: a domain with NICs grants pages to domains on the workers.
    this.local = new Local({ ...options, sharedRam: true });
    this.links.attach(this.local.pvx);
    this.local.subscribe((e) => this.emit(e));
    const every = options.rebalanceMs ?? REBALANCE_MS;
    if (every > 0 && n > 1) {
      this.rebalancer = setInterval(() => {
        this.rebalance().catch(() => undefined);
      }, every);
      this.rebalancer.unref();
    }
  }

  private rebalancer: ReturnType<typeof setInterval> | undefined;
  /** Whether a look of the rebalancer is in progress (one at a time). */
  private balancing = false;

  /** The daemon's virtual switches: those of the main thread, where every domain with a NIC runs. */
  get switches(): SwitchRegistry {
    return this.local.switches;
  }

  /** Where a domain runs: 'main', or the index of its worker (for tools and tests). */
  placement(id: number): 'main' | number {
    const p = this.placed.get(id);
    if (p) return p.worker.index;
    this.local.info(id); // not-found when there is no such domain
    return 'main';
  }

  /** Synchronous calls made to the workers so far, each waiting for a worker's turn to end (for tests). */
  get roundTrips(): number {
    return this.workers.reduce((n, w) => n + w.roundTrips, 0);
  }

  /** The worker threads (tests end one to check what its domains become). */
  get threads(): readonly Worker[] {
    return this.workers.map((w) => w.worker);
  }

  private emit(e: DomainEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        this.listeners.delete(l);
      }
    }
  }

  private fromWorker(w: PoolWorker, m: FromWorker): void {
    if (m.kind === 'console') {
      this.placed.get(m.id)?.console.emit(m.data);
    } else if (m.kind === 'event') {
      const p = this.placed.get(m.event.id);
      if (m.event.type === 'state' && p) {
        p.state = m.event.state;
        delete p.stats; // counters from before the change are not shown after it
        if (m.info !== undefined) p.info = m.info;
      }
      if (m.event.type === 'removed' && p) this.forget(p);
      this.emit(m.event);
    } else if (m.kind === 'stats') {
      const p = this.placed.get(m.stats.id);
      if (p) p.stats = m.stats;
    } else if (m.kind === 'info') {
      const p = this.placed.get(m.info.id);
      if (p) p.info = m.info;
    } else if (m.kind === 'log') {
      const domain = typeof m.fields.domain === 'string' ? m.fields.domain : undefined;
      if (domain !== undefined && m.fields.rule !== undefined) {
        this.options.onVirtioRefusal?.(domain, m.fields as never);
      } else this.options.onNetworkEvent?.(`worker ${w.index}: ${m.message}`);
    }
  }

  /** A worker thread ended (it should not): its domains are crashed, the others go on. */
  private workerGone(w: PoolWorker, why: string): void {
    // Its domains' event channels go UNBOUND at their peers, as when a domain ends.
    this.links.threadGone(w.index + 1);
    for (const id of w.domains) {
      const p = this.placed.get(id);
      // Not described yet (being built, or arriving by migration): its builder fails and forgets it.
      if (!p || p.info === null || p.state === 'crashed' || p.state === 'shutoff') continue;
      p.state = 'crashed';
      p.reason = `worker thread ended: ${why}`;
      this.emit({ type: 'state', id, name: p.name, state: 'crashed', reason: `worker thread ended: ${why}` });
    }
  }

  /**
   * A worker's answer to a build: its info, unless the domain's state events, handled before
   * this continuation when the main thread drained them at once, gave a later one.
   */
  private described(p: Placed, info: DomainInfo): DomainHandle {
    if (p.info === null) {
      p.name = info.name;
      p.state = info.state;
      p.info = info;
    }
    return { id: p.id, name: p.name, state: p.state };
  }

  private forget(p: Placed): void {
    this.placed.delete(p.id);
    p.worker.domains.delete(p.id);
    p.console.close();
  }

  /** The worker with the fewest domains, or null for the main thread (a domain with NICs). */
  private place(spec: DomainSpec): PoolWorker | null {
    if (spec.devices.some((d) => d.kind === 'net')) return null;
    let best: PoolWorker | null = null;
    for (const w of this.workers) {
      if (w.gone !== null) continue;
      if (best === null || w.domains.size < best.domains.size) best = w;
    }
    return best;
  }

  /** Domain `id` placed on `w`, not described yet (not listed until its worker gives its info). */
  private track(id: number, spec: DomainSpec, w: PoolWorker): Placed {
    const console = new ConsoleBuffer((data) => {
      if (p.moving === undefined) p.worker.input(id, data);
      else (p.held ??= []).push(data); // no worker holds the domain now
    });
    const p: Placed = { id, name: spec.name, state: 'paused', worker: w, console, info: null, calls: 0 };
    // Known before the call: the events and console output it causes name this id.
    this.placed.set(id, p);
    w.domains.add(id);
    return p;
  }

  private async build(
    spec: DomainSpec,
    make: (w: PoolWorker | null, id: number) => Promise<DomainHandle>,
  ): Promise<DomainHandle> {
    const id = this.nextId++;
    const w = this.place(spec);
    if (w === null) {
      this.local.useId(id);
      return make(null, id);
    }
    const p = this.track(id, spec, w);
    try {
      return this.described(p, (await make(w, id)) as DomainInfo);
    } catch (e) {
      this.forget(p);
      throw e;
    }
  }

  create(spec: DomainSpec, options: { paused: boolean }): Promise<DomainHandle> {
    return this.build(spec, (w, id) =>
      w === null ? this.local.create(spec, options) : (w.call('create', [spec, options], id) as Promise<DomainHandle>),
    );
  }

  restore(snapshot: DomainSnapshot, spec: DomainSpec): Promise<DomainHandle> {
    return this.build(spec, (w, id) =>
      w === null
        ? this.local.restore(snapshot, spec)
        : (w.call('restore', [snapshot, spec], id) as Promise<DomainHandle>),
    );
  }

  list(): readonly DomainHandle[] {
    for (const w of this.workers) if (w.gone === null) w.drain();
    // A domain its worker has not described yet is still being built: not listed, as on the main thread.
    const remote: DomainHandle[] = [];
    for (const p of this.placed.values()) if (p.info !== null) remote.push({ id: p.id, name: p.name, state: p.state });
    return [...this.local.list(), ...remote].sort((a, b) => a.id - b.id);
  }

  /** A change of a domain's config: the worker answers with the domain's new info. */
  private configure(id: number, method: 'restrictHypercalls' | 'setSched', args: unknown[], local: () => void): void {
    const p = this.placed.get(id);
    if (p) this.notMoving(p);
    if (p) p.info = p.worker.callSync(method, [id, ...args]) as DomainInfo;
    else local();
  }

  private async forward<T>(id: number, method: AsyncCall, local: () => Promise<T>): Promise<T> {
    const p = this.placed.get(id);
    if (!p) return local();
    // Checked and counted in one continuation: no move starts in between.
    while (p.moving !== undefined) await p.moving;
    p.calls++;
    try {
      return (await p.worker.call(method, [id])) as T;
    } finally {
      p.calls--;
    }
  }

  /** Waits for a move of `p` in progress to end, however it ends. */
  private async settled(p: Placed): Promise<void> {
    while (p.moving !== undefined) await p.moving;
  }

  /** A synchronous call cannot wait for a move: refused while one is in progress. */
  private notMoving(p: Placed): void {
    if (p.moving !== undefined) {
      throw new ApiError('bad-state', `domain ${p.name} is moving between worker threads; try again`);
    }
  }

  /**
   * From the info the worker posted with the domain's last state event, config change or
   * create, so `info` and `list` never wait for a worker's turn.
   */
  info(id: number): DomainInfo {
    const p = this.placed.get(id);
    if (!p) return this.local.info(id);
    if (p.worker.gone === null) p.worker.drain(); // what it posted so far
    // Not described yet: still being built.
    if (p.info === null) throw new ApiError('not-found', `no domain with id ${id}`);
    if (p.info.state === p.state && p.reason === undefined) return p.info;
    return { ...p.info, state: p.state, ...(p.reason !== undefined && { exitReason: p.reason }) };
  }

  stats(id: number): DomainStats {
    const p = this.placed.get(id);
    if (p && p.worker.gone !== null) {
      throw new ApiError(
        'bad-state',
        `domain ${p.name} ran on worker ${p.worker.index}, which ended (${p.worker.gone}): its counters are gone; reboot or destroy it`,
      );
    }
    if (p) this.notMoving(p);
    if (p?.lost !== undefined) {
      throw new ApiError(
        'bad-state',
        `domain ${p.name} was lost in a move: its counters are gone; reboot or destroy it`,
      );
    }
    return p ? (p.worker.callSync('stats', [id]) as DomainStats) : this.local.stats(id);
  }

  /**
   * One call per worker, which answers between two turns and then keeps posting the counters of
   * those domains between its turns for a while (STATS_WATCH_MS). Domains with counters posted
   * since their last state change are answered at once from them: as of their worker's last
   * pause between turns, monotonic, never from before a pause or a reboot. The others wait for
   * the answer.
   */
  async statsOf(ids: readonly number[]): Promise<DomainStats[]> {
    const asked = new Map<PoolWorker, Placed[]>();
    for (const id of ids) {
      const p = this.placed.get(id);
      if (p !== undefined && p.worker.gone === null && p.moving === undefined) {
        const of = asked.get(p.worker);
        if (of) of.push(p);
        else asked.set(p.worker, [p]);
      }
    }
    await Promise.all(
      [...asked].map(async ([w, of]) => {
        // The counters come as messages before the reply, in order with the domains' events.
        const fresh = w.call('statsOf', [of.map((p) => p.id)]).then(
          () => undefined,
          () => undefined,
        );
        const now = performance.now();
        const current = of.every((p) => p.stats !== undefined && (p.watchedUntil ?? 0) > now);
        for (const p of of) p.watchedUntil = now + STATS_WATCH_MS;
        if (!current) await fresh;
      }),
    );
    const out: DomainStats[] = [];
    for (const id of ids) {
      const p = this.placed.get(id);
      let s: DomainStats | undefined;
      if (p !== undefined) s = p.worker.gone === null && p.moving === undefined ? p.stats : undefined;
      else {
        try {
          s = this.local.stats(id);
        } catch {
          // destroyed meanwhile
        }
      }
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  restrictHypercalls(id: number, allow: readonly string[]): void {
    this.configure(id, 'restrictHypercalls', [allow], () => this.local.restrictHypercalls(id, allow));
  }

  setSched(id: number, params: { weight?: number; cap?: number }): void {
    this.configure(id, 'setSched', [params], () => this.local.setSched(id, params));
  }

  pause(id: number): Promise<void> {
    return this.forward(id, 'pause', () => this.local.pause(id));
  }

  unpause(id: number): Promise<void> {
    return this.forward(id, 'unpause', () => this.local.unpause(id));
  }

  shutdown(id: number): Promise<boolean> {
    return this.forward(id, 'shutdown', () => this.local.shutdown(id));
  }

  async reboot(id: number): Promise<void> {
    const p = this.placed.get(id);
    if (p) await this.settled(p);
    if (p && (p.worker.gone !== null || p.lost !== undefined) && p.info !== null) {
      // Its worker ended (or a move lost it): it restarts from its configuration on a live worker.
      const w = this.place(parseDomainSpec(p.info.config));
      if (w === null) throw new ApiError('internal', 'no worker thread is left to run the domain on');
      p.worker.domains.delete(id);
      p.worker = w;
      w.domains.add(id);
      delete p.reason;
      delete p.lost;
      const info = (await w.call(
        'create',
        [withMacs(parseDomainSpec(p.info.config), id), { paused: false }],
        id,
      )) as DomainInfo;
      p.state = info.state;
      p.info = info;
      return;
    }
    return this.forward(id, 'reboot', () => this.local.reboot(id));
  }

  snapshot(id: number): Promise<DomainSnapshot> {
    return this.forward(id, 'snapshot', () => this.local.snapshot(id));
  }

  async destroy(id: number): Promise<void> {
    const p = this.placed.get(id);
    if (!p) return this.local.destroy(id);
    p.destroying = true;
    await this.settled(p);
    if (p.worker.gone === null && p.lost === undefined) await p.worker.call('destroy', [id]);
    else {
      this.forget(p);
      this.emit({ type: 'removed', id, name: p.name });
    }
    // The worker's 'removed' event, which came before its answer, forgot it.
  }

  /**
   * Live migration of domain `id` to another daemon (docs/migration.md, "Daemons with workers"):
   * a domain on a worker is sent by its worker, where its dirty-page log and vCPUs are, with the
   * same pre-copy as on the main thread; the progress comes back as messages. No move starts
   * meanwhile. A worker that ends during it fails the migration (its domains are crashed).
   */
  async migrate(
    id: number,
    target: { readonly to: string; readonly token: string; readonly ca?: string; readonly maxRounds?: number },
    onProgress?: (p: MigrationProgress) => void,
  ): Promise<MigrateResult> {
    const p = this.placed.get(id);
    if (!p) return this.local.migrate(id, target, onProgress);
    while (p.moving !== undefined) await p.moving;
    const w = p.worker;
    if (w.gone !== null || p.lost !== undefined) {
      throw new ApiError(
        'bad-state',
        `cannot migrate domain ${p.name}: ${p.reason ?? 'it is crashed'}; reboot or destroy it`,
      );
    }
    p.calls++;
    /** The worker's last step: from `go` on, GO may have been sent (the commit point). */
    let phase = '';
    try {
      return (await w.call('migrate', [id, target], undefined, (x) => {
        phase = x.phase;
        onProgress?.(x);
      })) as MigrateResult;
    } catch (e) {
      if (w.gone === null) throw e;
      throw new ApiError(
        'migration',
        phase === 'go'
          ? `cannot migrate domain ${p.name}: its worker thread ${w.index} ended at the commit point (${w.gone}): the domain runs on ${target.to} if GO reached it; look there`
          : `cannot migrate domain ${p.name}: its worker thread ${w.index} ended during the migration (${w.gone}); the destination discards its copy`,
      );
    } finally {
      p.calls--;
    }
  }

  /**
   * Live migration, destination side: the arriving domain is placed as a new one would be — on
   * the main thread when it has NICs, else built on the worker with the fewest domains, which
   * applies the pages posted to it and loads the state. Not listed until committed.
   */
  async incoming(spec: DomainSpec, pvxDomid: number | undefined): Promise<IncomingDomain> {
    const id = this.nextId++;
    const w = this.place(spec);
    if (w === null) {
      this.local.useId(id);
      return this.local.incoming(spec, pvxDomid);
    }
    const p = this.track(id, spec, w);
    let ram: { base: number; size: number };
    try {
      ram = (await w.call('incoming', [spec, pvxDomid], id)) as { base: number; size: number };
    } catch (e) {
      this.forget(p);
      throw e;
    }
    let done = false;
    /** A call about the arriving domain; a worker that ended is named as the reason. */
    const ask = async (method: AsyncCall, args: unknown[]): Promise<unknown> => {
      try {
        return await w.call(method, args, id);
      } catch (e) {
        if (w.gone === null) throw e;
        throw new ApiError(
          'internal',
          `the worker thread ${w.index} receiving domain ${spec.name} ended (${w.gone}); the domain is discarded`,
        );
      }
    };
    return {
      id,
      ram,
      write: (m) => {
        // The message whole, in a buffer of its own that is handed over (the received one may
        // be part of a larger one): the worker checks it again.
        const bytes = new Uint8Array(9 + m.records.length);
        const dv = new DataView(bytes.buffer);
        bytes[0] = MSG.pages;
        dv.setUint32(1, m.round, true);
        dv.setUint32(5, m.count, true);
        bytes.set(m.records, 9);
        w.pages(id, bytes);
      },
      applied: async () => {
        await ask('incomingApplied', [id]);
      },
      commit: async (snapshot) => {
        if (done) throw new ApiError('bad-state', 'this incoming domain was already committed or discarded');
        done = true;
        try {
          return this.described(p, (await ask('incomingCommit', [id, snapshot])) as DomainInfo);
        } catch (e) {
          // The worker discarded it, or ended (after listing it, maybe: then it goes from the list).
          this.forget(p);
          if (p.info !== null) this.emit({ type: 'removed', id, name: p.name });
          throw e;
        }
      },
      discard: async () => {
        if (done) return;
        done = true;
        this.forget(p);
        await w.call('incomingDiscard', [id]).catch(() => undefined); // a worker that ended has nothing left
      },
    };
  }

  /** Announces a migrated domain's NICs (MigrationHost): only domains on the main thread have NICs. */
  announceMacs(id: number): Promise<number> {
    return this.placed.has(id) ? Promise.resolve(0) : this.local.announceMacs(id);
  }

  /**
   * Moves domain `id` to worker `to` (docs/scheduler.md, "Moving a domain between workers"):
   * paused on its worker, its state taken as a save takes it and destroyed there, restored on
   * `to` under the same id, name and PVX id, running again if it ran. Its console and info go
   * on; its counters start again on the target. Refused, the domain left where it is, for a
   * domain with PVX links to other domains, one not running or paused, one
   * being destroyed or with a command in progress. If the target cannot restore it, it is
   * restored on its source again, or else crashed with the reason.
   */
  async move(id: number, to: number): Promise<void> {
    const p = this.placed.get(id);
    if (!p) {
      this.local.info(id); // not-found when there is no such domain
      throw new ApiError('bad-state', `domain ${id} runs on the main thread (it has NICs): it does not move`);
    }
    if (!Number.isInteger(to) || to < 0 || to >= this.workers.length) {
      throw new ApiError('bad-request', `worker: 0 to ${this.workers.length - 1}, got ${to}`);
    }
    const target = this.workers[to]!;
    const source = p.worker;
    const refuse = (why: string): never => {
      throw new ApiError('bad-state', `cannot move domain ${p.name}: ${why}`);
    };
    if (p.destroying) refuse('it is being destroyed');
    if (p.moving !== undefined) refuse('it is moving already');
    if (p.calls > 0) refuse('a command to it is in progress');
    if (source === target) refuse(`it is on worker ${to} already`);
    if (source.gone !== null) refuse(`its worker ${source.index} ended`);
    if (target.gone !== null) refuse(`worker ${to} ended`);
    let done!: () => void;
    p.moving = new Promise((r) => {
      done = r;
    });
    try {
      await this.carry(p, source, target);
    } finally {
      p.moving = undefined;
      p.holdUntil = performance.now() + MOVE_HOLD_MS;
      for (const data of p.held?.splice(0) ?? []) p.worker.input(id, data);
      done();
    }
  }

  private async carry(p: Placed, source: PoolWorker, target: PoolWorker): Promise<void> {
    const before = p.state;
    // On failure the source has put it back as it was (or its worker ended: crashed by workerGone).
    const out = (await source.call('moveOut', [p.id])) as MovingDomain;
    const onto = (w: PoolWorker): void => {
      p.worker.domains.delete(p.id);
      p.worker = w;
      w.domains.add(p.id);
      delete p.stats;
      delete p.watchedUntil;
      delete p.usedMs;
    };
    onto(target);
    let info: DomainInfo;
    try {
      info = (await target.call('moveIn', [out], p.id)) as DomainInfo;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      let back: string;
      try {
        if (source.gone !== null) throw new Error(`worker ${source.index} ended: ${source.gone}`);
        onto(source);
        info = (await source.call('moveIn', [out], p.id)) as DomainInfo;
        back = `it runs on worker ${source.index} again`;
      } catch (e2) {
        const reason = `move to worker ${target.index} failed (${why}), and back (${e2 instanceof Error ? e2.message : String(e2)})`;
        p.state = 'crashed';
        p.reason = reason;
        p.lost = reason;
        this.emit({ type: 'state', id: p.id, name: p.name, state: 'crashed', reason });
        throw new ApiError('internal', `domain ${p.name}: ${reason}`);
      }
      this.settle(p, info, before);
      throw new ApiError('internal', `cannot move domain ${p.name} to worker ${target.index}: ${why}; ${back}`);
    }
    this.settle(p, info, before);
  }

  /** A moved domain's info from its new worker; the change of state, if any, announced. */
  private settle(p: Placed, info: DomainInfo, before: DomainState): void {
    p.info = info;
    p.state = info.state;
    delete p.reason;
    if (info.state !== before) this.emit({ type: 'state', id: p.id, name: p.name, state: info.state });
  }

  /**
   * One look of the rebalancer (docs/scheduler.md, "Rebalancing"), as Xen's credit scheduler
   * moves vCPUs between pCPUs: each worker tells the host time its domains' turns took; a
   * domain whose turns took at least BUSY_SHARE of the time since the last look (of its cap,
   * when capped) is busy. `planMove` (pool-balance.ts) chooses the one move, if any, that brings
   * the busy domains' shares of the pool closest to their weights and caps; a domain that moved
   * or was refused in the last MOVE_HOLD_MS is no candidate. At most one move per look.
   */
  async rebalance(): Promise<RebalanceStep> {
    const busy: number[][] = this.workers.map(() => []);
    if (this.balancing) return { busy };
    this.balancing = true;
    try {
      const loads = await Promise.all(
        this.workers.map((w) =>
          w.gone === null ? (w.call('load', []) as Promise<WorkerLoad>).catch(() => null) : Promise.resolve(null),
        ),
      );
      const now = performance.now();
      const views: WorkerView[] = loads.map((load, i) => {
        const on: BusyDomain[] = [];
        for (const [id, usedMs] of load ?? []) {
          const p = this.placed.get(id);
          if (p === undefined || p.worker !== this.workers[i] || p.moving !== undefined) continue;
          const was = p.usedMs;
          const since = now - (p.seenAt ?? now);
          p.usedMs = usedMs;
          p.seenAt = now;
          const d = schedOf(p, now);
          // A reboot or a move starts the count again: no verdict from that look.
          if (was !== undefined && usedMs >= was && since > 0 && usedMs - was >= BUSY_SHARE * demand(d) * since) {
            busy[i]!.push(id);
            on.push(d);
          }
        }
        const w = this.workers[i]!;
        return { busy: on, domains: w.domains.size, live: w.gone === null && load !== null };
      });
      const plan = planMove(views);
      if (plan === null) return { busy };
      try {
        await this.move(plan.id, plan.to);
        return { busy, moved: { id: plan.id, from: plan.from, to: plan.to } };
      } catch (e) {
        return { busy, refused: { id: plan.id, reason: e instanceof Error ? e.message : String(e) } };
      }
    } finally {
      this.balancing = false;
    }
  }

  console(id: number): DomainConsole {
    const p = this.placed.get(id);
    return p ? p.console : this.local.console(id);
  }

  subscribe(listener: (event: DomainEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.rebalancer !== undefined) clearInterval(this.rebalancer);
    await this.local.close();
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.gone === null) await w.call('close', []).catch(() => undefined);
        await w.worker.terminate();
      }),
    );
  }
}

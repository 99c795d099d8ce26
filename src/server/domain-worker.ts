/**
 * A worker thread of the daemon's pool (src/server/pool-domains.ts): it runs whole domains —
 * their vCPUs, devices and back ends — under its own HypervisorDomainManager and credit
 * scheduler, and answers the main thread's DomainManager calls over messages
 * (docs/scheduler.md, "Worker pool"). Console output and domain events go to the main thread
 * as they happen; console input comes from it.
 */
import { accessSync, constants } from 'node:fs';
import { setPriority } from 'node:os';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { DomainEvent, DomainInfo, DomainStats } from '../api/domain.js';
import { ApiError } from '../api/errors.js';
import { type DomainSpec, parseDomainSpec } from '../api/spec.js';
import { HostFiles } from '../host/host-files.js';
import { MIGRATION_PAGE_SIZE } from '../hypervisor/migration/stream.js';
import type { DomainSnapshot } from '../hypervisor/snapshot/index.js';
import { HypervisorDomainManager, type IncomingDomain } from './hypervisor-domains.js';
import {
  checkedPages,
  type FromWorker,
  type MovingDomain,
  type PoolWorkerData,
  STATS_PUSH_MS,
  STATS_WATCH_MS,
  type ToWorker,
  toWire,
  WORKER_CALLS,
  type WorkerLoad,
} from './pool-protocol.js';
import { PvxLinks } from './pvx-links.js';

/** The worker's manager; the main thread chooses every domain's id, so ids are the daemon's. */
class WorkerDomainManager extends HypervisorDomainManager {
  useId(id: number): void {
    this.nextId = id;
  }

  /** Each domain's host ms of turns so far (the rebalancer's measure, pool-domains.ts). */
  usage(): WorkerLoad {
    return [...this.domains].map(([id, d]) => [id, d.sched?.usedMs ?? 0] as const);
  }

  /**
   * Why domain `id` cannot leave this thread (PVX links to other domains), or null. Harts on
   * threads move with it: the pause holds them, the save takes their state from their threads,
   * the destroy ends those threads, and the restore on the target starts new ones.
   */
  moveBlocker(id: number): string | null {
    const info = this.info(id);
    if (info.state !== 'running' && info.state !== 'paused') {
      return `domain ${info.name} is ${info.state}: only a running or paused domain moves`;
    }
    const gone = missingFile(parseDomainSpec(info.config));
    if (gone !== null) return `domain ${info.name} could not be rebuilt: ${gone}`;
    return this.outgoing(id).blocker();
  }

  /** Whether `shutdown` reaches the guest now: the one part of a domain's info no event announces. */
  graceful(id: number): boolean {
    try {
      return this.domains.get(id)?.vm.pvx?.shutdownListening === true;
    } catch {
      return false; // between two VMs (a reboot): its state event will carry the info
    }
  }
}

/**
 * The first host file the target reads to rebuild domain `spec` that cannot be read now, or
 * null: the source destroys the domain before the target builds it, so a file removed since
 * the domain booted would lose it.
 */
function missingFile(spec: DomainSpec): string | null {
  const files: [string, string | undefined][] = [
    ['kernel', spec.kernel],
    ['initrd', spec.initrd],
    ['firmware', spec.firmware],
    ...spec.devices.flatMap((d): [string, string][] =>
      d.kind === 'blk' ? [['disk', d.path]] : d.kind === '9p' ? [['shared folder', d.path]] : [],
    ),
  ];
  for (const [what, path] of files) {
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch {
      return `its ${what} ${path} cannot be read`;
    }
  }
  return null;
}

/** How often the domains whose guest did not listen for shutdown requests yet are looked at again. */
const GRACEFUL_POLL_MS = 500;

/**
 * Nice value of a worker thread (Linux: a thread's own). When guests keep every core busy, the
 * host then runs the main thread — the API, the consoles, the back ends — as soon as it wakes,
 * instead of after a worker's time slice; the workers share what the main thread leaves.
 */
const WORKER_NICE = 5;

if (process.platform === 'linux') {
  try {
    setPriority(0, WORKER_NICE); // 0: this thread only, on Linux; elsewhere the whole process
  } catch {
    // not allowed (a sandbox): the worker runs at the daemon's priority
  }
}

const init = workerData as PoolWorkerData;
const post = (m: FromWorker): void => init.port.postMessage(m);
const port = parentPort as MessagePort;
const flag = new Int32Array(init.sync);

const manager = new WorkerDomainManager({
  files: new HostFiles(init.allowDirs),
  sharedRam: true, // a domain on another thread maps granted pages from it
  ...(init.migration !== undefined && { migration: init.migration }),
  onVirtioRefusal: (domain, r) =>
    post({ kind: 'log', message: r.message, fields: { domain, device: r.device, rule: r.rule } }),
  onNetworkEvent: (message) => post({ kind: 'log', message, fields: {} }),
});
new PvxLinks(init.pvx).attach(manager.pvx);

/** Per domain, the `gracefulShutdown` of the info last posted to the main thread. */
const told = new Map<number, boolean>();

/** A domain's info, noted as told; undefined while the domain is not listed yet. */
function infoOf(id: number): DomainInfo | undefined {
  try {
    const info = manager.info(id);
    told.set(id, info.gracefulShutdown);
    return info;
  } catch {
    return undefined;
  }
}

/**
 * Domains moving in or out (moveOut, moveIn): their events (the pause, the destroy, the restore)
 * are not posted; the main thread learns the outcome from the answer.
 */
const quiet = new Set<number>();

// Each state event carries the domain's info: the main thread keeps it and answers `info`
// and `list` without a round trip, which would wait for this thread's current turn.
manager.subscribe((event: DomainEvent) => {
  if (quiet.has(event.id)) return;
  if (event.type === 'removed') {
    told.delete(event.id);
    post({ kind: 'event', event });
  } else post({ kind: 'event', event, info: infoOf(event.id) });
});
setInterval(() => {
  for (const [id, graceful] of told) {
    if (graceful || !manager.graceful(id)) continue;
    const info = infoOf(id);
    if (info !== undefined) post({ kind: 'info', info });
  }
}, GRACEFUL_POLL_MS).unref();

/** Forwards a new domain's console: what it printed so far, then every later chunk. */
function forwardConsole(id: number): void {
  const c = manager.console(id);
  const history = c.history();
  if (history.length > 0) post({ kind: 'console', id, data: history });
  c.subscribe((data) => post({ kind: 'console', id, data }));
}

/** Domains whose counters were asked for lately, until when (performance.now()). */
const watched = new Map<number, number>();
/** Whether a push is scheduled. */
let pushing = false;

/**
 * Keeps posting the counters of `ids` for STATS_WATCH_MS: the main thread then answers `stats`
 * at once, with counters as of this thread's last pause between turns, instead of waiting for
 * the turn in progress (which takes long when the host gives this thread no core). Every
 * STATS_PUSH_MS, or every n ms while n domains are watched (a scrape of every domain), so the
 * messages stay below about a thousand a second.
 */
function watch(ids: readonly number[]): void {
  const until = performance.now() + STATS_WATCH_MS;
  for (const id of ids) watched.set(id, until);
  if (!pushing) {
    pushing = true;
    setTimeout(push, STATS_PUSH_MS);
  }
}

function push(): void {
  const now = performance.now();
  for (const [id, end] of watched) {
    let stats: DomainStats | undefined;
    try {
      if (end >= now) stats = manager.stats(id);
    } catch {
      // destroyed
    }
    if (stats === undefined) watched.delete(id);
    else post({ kind: 'stats', stats });
  }
  pushing = watched.size > 0;
  if (pushing) setTimeout(push, Math.max(STATS_PUSH_MS, watched.size));
}

/**
 * Takes domain `id` off this thread for another worker: paused, its state taken, then
 * destroyed here (its disks' locks, console file and PVX id freed for the target). Refused,
 * with the domain as it was, when it cannot move or its state cannot be taken.
 */
async function moveOut(id: number): Promise<MovingDomain> {
  const why = manager.moveBlocker(id);
  if (why !== null) throw new ApiError('bad-state', `cannot move: ${why}`);
  const running = manager.info(id).state === 'running';
  quiet.add(id);
  try {
    let snapshot: DomainSnapshot;
    try {
      if (running) await manager.pause(id);
      snapshot = await manager.snapshot(id);
    } catch (e) {
      // Left as it was; the state it is in now (the guest may have ended meanwhile) is posted.
      if (running && manager.info(id).state === 'paused') await manager.unpause(id);
      quiet.delete(id);
      const info = infoOf(id);
      if (info !== undefined)
        post({ kind: 'event', event: { type: 'state', id, name: info.name, state: info.state }, info });
      throw e;
    }
    const config = manager.info(id).config;
    await manager.destroy(id);
    told.delete(id);
    watched.delete(id);
    return { snapshot, config, running };
  } finally {
    quiet.delete(id);
  }
}

/** Restores a domain another worker took out (moveOut) under the same id, running again if it ran. */
async function moveIn(id: number, d: MovingDomain): Promise<DomainInfo | undefined> {
  quiet.add(id);
  try {
    manager.useId(id);
    await manager.restore(d.snapshot, parseDomainSpec(d.config));
    forwardConsole(id);
    if (d.running) await manager.unpause(id);
  } finally {
    quiet.delete(id);
  }
  return infoOf(id);
}

/**
 * Domains arriving by live migration (`incoming`) until committed or discarded: the pages posted
 * for each, and the first that could not be applied (reported by the next `incomingApplied` or
 * `incomingCommit`, which fails the migration).
 */
const arriving = new Map<number, { readonly domain: IncomingDomain; error: ApiError | null }>();

/** A PAGES message for an arriving domain, checked again (checkedPages) before it is applied. */
function receivePages(id: unknown, bytes: unknown): void {
  const a = typeof id === 'number' ? arriving.get(id) : undefined;
  if (a === undefined || a.error !== null) return; // discarded meanwhile, or failed already
  try {
    a.domain.write(checkedPages(bytes, a.domain.ram.size / MIGRATION_PAGE_SIZE));
  } catch (e) {
    a.error = new ApiError(
      'bad-request',
      `malformed pages for arriving domain ${id}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** An arriving domain, or the reason it cannot go on. */
function arrivingDomain(id: unknown): IncomingDomain {
  const a = typeof id === 'number' ? arriving.get(id) : undefined;
  if (a === undefined) throw new ApiError('not-found', `no domain ${String(id)} is arriving on this worker`);
  if (a.error !== null) throw a.error;
  return a.domain;
}

async function call(m: Extract<ToWorker, { kind: 'call' }>): Promise<unknown> {
  const [a, b] = m.args as [never, never];
  switch (m.method) {
    case 'create':
    case 'restore': {
      manager.useId(m.id!);
      const h = m.method === 'create' ? await manager.create(a, b) : await manager.restore(a, b);
      forwardConsole(h.id);
      return infoOf(h.id); // the main thread's first copy of it
    }
    case 'statsOf':
      // Posted as messages, in order with the events, before the reply.
      watch(a as number[]);
      for (const id of a as number[]) {
        try {
          post({ kind: 'stats', stats: manager.stats(id) });
        } catch {
          // destroyed meanwhile
        }
      }
      return null;
    case 'moveOut':
      return moveOut(a as number);
    case 'moveIn':
      return moveIn(m.id!, a as MovingDomain);
    case 'load':
      return manager.usage();
    case 'migrate':
      return manager.migrate(a, b, (p) => post({ kind: 'progress', seq: m.seq, ...p }));
    case 'incoming': {
      if (typeof m.id !== 'number') throw new ApiError('bad-request', 'incoming: no domain id');
      if (arriving.has(m.id)) throw new ApiError('bad-state', `domain ${m.id} is arriving already`);
      manager.useId(m.id);
      const domain = await manager.incoming(a, b);
      arriving.set(m.id, { domain, error: null });
      return { base: domain.ram.base, size: domain.ram.size };
    }
    case 'incomingApplied':
      arrivingDomain(a); // the pages posted before this call were handled before it
      return null;
    case 'incomingCommit': {
      const x = typeof a === 'number' ? arriving.get(a) : undefined;
      if (x === undefined) return arrivingDomain(a); // not-found
      arriving.delete(a);
      if (x.error !== null) {
        await x.domain.discard();
        throw x.error;
      }
      const h = await x.domain.commit(b); // discarded if it fails
      forwardConsole(h.id);
      return infoOf(h.id);
    }
    case 'incomingDiscard': {
      const x = typeof a === 'number' ? arriving.get(a) : undefined;
      arriving.delete(a);
      await x?.domain.discard();
      return null;
    }
    case 'close':
      for (const [id, x] of arriving) {
        arriving.delete(id);
        await x.domain.discard();
      }
      await manager.close();
      return null;
    default:
      return (manager[m.method] as (...x: unknown[]) => unknown).call(manager, a, b);
  }
}

port.on('message', (m: ToWorker) => {
  if (m.kind === 'input') {
    try {
      manager.console(m.id).write(m.data);
    } catch {
      // the domain is gone: its input is dropped, as a closed console's
    }
    return;
  }
  if (m.kind === 'pages') {
    receivePages(m.id, m.bytes);
    return;
  }
  if (m.kind === 'sync') {
    // The main thread waits on `flag`: answer on the sync port, then wake it.
    let reply: { value?: unknown; error?: ReturnType<typeof toWire> };
    try {
      if (!WORKER_CALLS.sync.includes(m.method)) throw new Error(`not a synchronous call: ${m.method}`);
      let value: unknown;
      if (m.method === 'stats') value = manager.stats(m.args[0] as number);
      else {
        (manager[m.method] as (...x: unknown[]) => unknown).call(manager, ...m.args);
        value = infoOf(m.args[0] as number); // its config changed
      }
      reply = { value };
    } catch (e) {
      reply = { error: toWire(e) };
    }
    init.syncPort.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    return;
  }
  call(m).then(
    (value) => post({ kind: 'reply', seq: m.seq, value }),
    (e: unknown) => post({ kind: 'reply', seq: m.seq, error: toWire(e) }),
  );
});

// The last line of the blast radius, as in the daemon: a failure no domain guard caught is
// reported, and this worker's other domains go on.
process.on('uncaughtException', (e) =>
  post({ kind: 'log', message: `uncaught exception contained: ${e}`, fields: {} }),
);
process.on('unhandledRejection', (e) =>
  post({ kind: 'log', message: `unhandled rejection contained: ${String(e)}`, fields: {} }),
);

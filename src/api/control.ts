import { SCHED_DEFAULTS, schedParamsError } from '../hypervisor/scheduler.js';
import type { DomainSnapshot, SnapshotProgress } from '../hypervisor/snapshot/index.js';
import { policyEntryError } from '../sbi/policy.js';
import {
  ALLOWED_STATES,
  type Command,
  type CommandKind,
  type CommandOf,
  type ConsoleSession,
  type MigrateResult,
  type Progress,
  type ResultOf,
  type SaveResult,
  type SchedInfo,
} from './commands.js';
import type { DomainEvent, DomainHandle, DomainInfo, DomainManager, DomainState, DomainStats } from './domain.js';
import { ApiError, toApiError } from './errors.js';
import { DOMAIN_NAME, type DomainSpec, type DomainSpecInput, parseDomainSpec } from './spec.js';
import type { SwitchInfo, SwitchNetwork } from './switches.js';

/** Where save files go; the host supplies one backed by files (src/host/snapshot-file.ts). */
export interface SnapshotStore {
  save(
    path: string,
    snapshot: DomainSnapshot,
    onProgress?: (p: SnapshotProgress) => void,
    options?: { force?: boolean },
  ): Promise<{ bytes: number }>;
  load(path: string, onProgress?: (p: SnapshotProgress) => void): Promise<DomainSnapshot>;
}

export interface ControlPlaneOptions {
  readonly manager: DomainManager;
  readonly store: SnapshotStore;
  /** The switches and their links to other daemons (src/host/switch-links.ts); without it, switch commands are refused. */
  readonly network?: SwitchNetwork;
}

export interface ExecuteOptions {
  readonly onProgress?: (p: Progress) => void;
}

/**
 * Executes control-plane commands against a DomainManager: resolves domain
 * names, enforces each command's preconditions (ALLOWED_STATES), serialises
 * commands on one domain, owns console input, and moves save files through
 * the SnapshotStore. Failures are ApiError; a refused command changes nothing.
 */
export class ControlPlane {
  private readonly manager: DomainManager;
  private readonly store: SnapshotStore;
  /** The switches' links to other daemons, when the host has switches. */
  readonly network: SwitchNetwork | undefined;
  /** Console writer per domain id. */
  private readonly writers = new Map<number, symbol>();
  /** Tail of the command queue per domain id. */
  private readonly queues = new Map<number, Promise<unknown>>();
  /** Names held by domains being built (holdName). */
  private readonly held = new Set<string>();
  private readonly unsubscribe: () => void;
  /** Event iterators to end at close. */
  private readonly streams = new Set<() => void>();
  /** Told the id of a domain whose config a command changed without a state change (onConfigChange). */
  private readonly configListeners = new Set<(id: number) => void>();

  constructor(options: ControlPlaneOptions) {
    this.manager = options.manager;
    this.store = options.store;
    this.network = options.network;
    this.unsubscribe = this.manager.subscribe((ev) => {
      if (ev.type === 'removed') {
        this.writers.delete(ev.id);
        this.queues.delete(ev.id);
      }
    });
  }

  get domains(): DomainManager {
    return this.manager;
  }

  /** Runs one command. Every failure is thrown as an ApiError. */
  async execute<C extends Command>(cmd: C, options: ExecuteOptions = {}): Promise<ResultOf<C>> {
    try {
      return (await this.dispatch(cmd, options)) as ResultOf<C>;
    } catch (e) {
      throw toApiError(e);
    }
  }

  // Typed shorthands for library users.
  /** `config` is a domain document (src/api/spec.ts): `{ name: 'vm1', memory: '256M', disks: ['root.img'] }`. */
  create(config: DomainSpecInput, options: { paused?: boolean } = {}): Promise<DomainInfo> {
    return this.execute({ kind: 'create', config, ...options });
  }
  list(): Promise<DomainInfo[]> {
    return this.execute({ kind: 'list' });
  }
  info(domain: string): Promise<DomainInfo> {
    return this.execute({ kind: 'info', domain });
  }
  pause(domain: string): Promise<DomainInfo> {
    return this.execute({ kind: 'pause', domain });
  }
  unpause(domain: string): Promise<DomainInfo> {
    return this.execute({ kind: 'unpause', domain });
  }
  shutdown(domain: string): Promise<DomainInfo> {
    return this.execute({ kind: 'shutdown', domain });
  }
  reboot(domain: string): Promise<DomainInfo> {
    return this.execute({ kind: 'reboot', domain });
  }
  destroy(domain: string): Promise<ResultOf<CommandOf<'destroy'>>> {
    return this.execute({ kind: 'destroy', domain });
  }
  attachConsole(domain: string, write = false): Promise<ConsoleSession> {
    return this.execute({ kind: 'console-attach', domain, write });
  }
  stats(domain: string): Promise<DomainStats> {
    return this.execute({ kind: 'stats', domain });
  }
  save(
    domain: string,
    path: string,
    options: { keep?: boolean; force?: boolean } & ExecuteOptions = {},
  ): Promise<SaveResult> {
    return this.execute(
      { kind: 'save', domain, path, keep: options.keep ?? false, force: options.force ?? false },
      options,
    );
  }
  restore(
    path: string,
    options: { name?: string; paused?: boolean; threads?: boolean } & ExecuteOptions = {},
  ): Promise<DomainInfo> {
    const { onProgress, ...rest } = options;
    return this.execute({ kind: 'restore', path, ...rest }, { onProgress });
  }

  /**
   * Live migration of `domain` to the daemon listening at `to` (http://HOST:PORT), authenticated
   * with that daemon's `token` (docs/migration.md).
   */
  migrate(
    domain: string,
    to: string,
    options: { token: string; ca?: string; maxRounds?: number } & ExecuteOptions,
  ): Promise<MigrateResult> {
    const { onProgress, ...rest } = options;
    return this.execute({ kind: 'migrate', domain, to, ...rest }, { onProgress });
  }

  /** Tightens `domain`'s hypercall policy to what it and `allow` both permit (never widens it). */
  restrictHypercalls(domain: string, allow: readonly string[]): Promise<DomainInfo> {
    return this.execute({ kind: 'restrict-hypercalls', domain, allow });
  }

  /** `domain`'s scheduler weight and cap; sets those given first (`pvm sched`). */
  sched(domain: string, params: { weight?: number; cap?: number } = {}): Promise<SchedInfo> {
    return this.execute({ kind: 'sched', domain, ...params });
  }

  /** The virtual switches and their links to other daemons. */
  switches(): Promise<SwitchInfo[]> {
    return this.execute({ kind: 'switch-list' });
  }
  /** Joins switch `name` to the switch of that name on the daemon at `url` (docs/networking.md). */
  joinSwitch(name: string, url: string, token: string, options: { wait?: boolean } = {}): Promise<SwitchInfo> {
    return this.execute({ kind: 'switch-join', switch: name, url, token, ...options });
  }
  /** Ends the link `joinSwitch` made. */
  leaveSwitch(name: string, url: string): Promise<SwitchInfo> {
    return this.execute({ kind: 'switch-leave', switch: name, url });
  }

  /**
   * Domain events (state changes, removals) from now on, for `for await (const ev of cp.events())`.
   * The iteration ends when `signal` aborts, the loop breaks, or the control plane closes.
   */
  events(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<DomainEvent> {
    const queue: DomainEvent[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const unsubscribe = this.manager.subscribe((ev) => {
      queue.push(ev);
      wake?.();
    });
    const end = () => {
      if (done) return;
      done = true;
      unsubscribe();
      this.streams.delete(end);
      options.signal?.removeEventListener('abort', end);
      wake?.();
    };
    this.streams.add(end);
    options.signal?.addEventListener('abort', end);
    if (options.signal?.aborted) end();
    const next = async (): Promise<IteratorResult<DomainEvent>> => {
      while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
      wake = null;
      const ev = queue.shift();
      return ev !== undefined ? { value: ev, done: false } : { value: undefined, done: true };
    };
    return {
      next,
      return: async () => {
        end();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Resolves with the domain's info once it is in one of `states` (at once if it already is);
   * rejects (not-found) if it is destroyed first, or with the signal's reason when it aborts.
   */
  waitFor(
    domain: string,
    states: DomainState | readonly DomainState[],
    options: { signal?: AbortSignal } = {},
  ): Promise<DomainInfo> {
    const want: readonly DomainState[] = typeof states === 'string' ? [states] : states;
    let d: DomainHandle;
    try {
      d = this.resolve(domain);
    } catch (e) {
      return Promise.reject(e);
    }
    const m = this.manager;
    return new Promise<DomainInfo>((resolve, reject) => {
      const finish = (f: () => void) => {
        unsubscribe();
        options.signal?.removeEventListener('abort', abort);
        f();
      };
      const abort = () => finish(() => reject(options.signal?.reason ?? new ApiError('bad-state', 'aborted')));
      const unsubscribe = m.subscribe((ev) => {
        if (ev.id !== d.id) return;
        if (ev.type === 'removed') {
          finish(() =>
            reject(new ApiError('not-found', `domain ${d.name} was destroyed before it was ${want.join(' or ')}`)),
          );
        } else if (want.includes(ev.state)) finish(() => resolve(m.info(d.id)));
      });
      options.signal?.addEventListener('abort', abort);
      if (options.signal?.aborted) abort();
      else {
        const now = m.info(d.id);
        if (want.includes(now.state)) finish(() => resolve(now));
      }
    });
  }

  /** Destroys every domain; event iterations end. */
  async close(): Promise<void> {
    for (const end of [...this.streams]) end();
    this.unsubscribe();
    await this.network?.close();
    await this.manager.close();
  }

  /**
   * Calls `listener` with a domain's id after `sched` or `restrict-hypercalls` changed its
   * config (those change no state, so no domain event says it); returns a function that stops.
   */
  onConfigChange(listener: (id: number) => void): () => void {
    this.configListeners.add(listener);
    return () => this.configListeners.delete(listener);
  }

  private configChanged(id: number): void {
    for (const l of this.configListeners) l(id);
  }

  /** A domain by name, or by id when `ref` is all digits. */
  resolve(ref: string): DomainHandle {
    const all = this.manager.list();
    const found = /^\d+$/.test(ref) ? all.find((d) => d.id === Number(ref)) : all.find((d) => d.name === ref);
    if (!found) throw new ApiError('not-found', `no domain ${/^\d+$/.test(ref) ? 'with id' : 'named'} ${ref}`);
    return found;
  }

  private checkState(kind: keyof typeof ALLOWED_STATES, d: DomainHandle): void {
    const allowed = ALLOWED_STATES[kind];
    if (allowed === 'any' || allowed.includes(d.state)) return;
    throw new ApiError(
      'bad-state',
      `cannot ${kind} domain ${d.name}: it is ${d.state} (${kind} needs ${allowed.join(' or ')})`,
    );
  }

  private checkNameFree(name: string): void {
    if (!DOMAIN_NAME.test(name)) {
      throw new ApiError(
        'bad-request',
        `bad domain name ${JSON.stringify(name)}: use up to 63 letters, digits, '.', '_' or '-', not only digits`,
      );
    }
    if (this.nameInUse(name)) {
      throw new ApiError('name-taken', `a domain named ${name} already exists`);
    }
  }

  /** Whether a listed domain has `name`, or a domain being built holds it (holdName). */
  nameInUse(name: string): boolean {
    return this.held.has(name) || this.manager.list().some((d) => d.name === name);
  }

  /**
   * Holds `name` for a domain being built (create, restore, an incoming migration), so that
   * a second request for the name meanwhile is refused instead of listing two domains under
   * one name. False when the name is in use; `releaseName` lets it go once the domain is
   * listed or its build failed.
   */
  holdName(name: string): boolean {
    if (this.nameInUse(name)) return false;
    this.held.add(name);
    return true;
  }

  releaseName(name: string): void {
    this.held.delete(name);
  }

  /** Runs `fn` after every earlier command on the same domain, re-checking the state when its turn comes. */
  private serial<T>(ref: string, kind: keyof typeof ALLOWED_STATES, fn: (d: DomainHandle) => Promise<T>): Promise<T> {
    const first = this.resolve(ref);
    this.checkState(kind, first);
    const prev = this.queues.get(first.id) ?? Promise.resolve();
    const run = prev.then(
      () => this.runChecked(ref, first.id, kind, fn),
      () => this.runChecked(ref, first.id, kind, fn),
    );
    this.queues.set(
      first.id,
      run.catch(() => undefined),
    );
    return run;
  }

  private runChecked<T>(
    ref: string,
    id: number,
    kind: keyof typeof ALLOWED_STATES,
    fn: (d: DomainHandle) => Promise<T>,
  ): Promise<T> {
    const d = this.manager.list().find((x) => x.id === id);
    if (!d) throw new ApiError('not-found', `no domain named ${ref} (it was destroyed)`);
    this.checkState(kind, d);
    return fn(d);
  }

  private async dispatch(cmd: Command, options: ExecuteOptions): Promise<unknown> {
    const m = this.manager;
    switch (cmd.kind) {
      case 'create': {
        const spec = parseDomainSpec(cmd.config);
        this.checkNameFree(spec.name);
        this.held.add(spec.name);
        try {
          const h = await m.create(spec, { paused: cmd.paused ?? false });
          return m.info(h.id);
        } finally {
          this.releaseName(spec.name);
        }
      }
      case 'list':
        return m.list().map((d) => m.info(d.id));
      case 'info': {
        const d = this.resolve(cmd.domain);
        this.checkState('info', d);
        return m.info(d.id);
      }
      case 'stats': {
        const d = this.resolve(cmd.domain);
        this.checkState('stats', d);
        // Without holding the thread while a worker finishes its turn; stats says why not when it cannot.
        const [s] = m.statsOf === undefined ? [] : await m.statsOf([d.id]);
        return s ?? m.stats(d.id);
      }
      case 'pause':
      case 'unpause':
      case 'reboot':
        return this.serial(cmd.domain, cmd.kind, async (d) => {
          await m[cmd.kind](d.id);
          return m.info(d.id);
        });
      case 'shutdown':
        return this.serial(cmd.domain, 'shutdown', async (d) => {
          if (!(await m.shutdown(d.id))) {
            throw new ApiError(
              'bad-state',
              `domain ${d.name} has no way to be asked to shut down (its guest does not listen); use destroy`,
            );
          }
          return m.info(d.id);
        });
      case 'destroy':
        return this.serial(cmd.domain, 'destroy', async (d) => {
          await m.destroy(d.id);
          return { id: d.id, name: d.name, state: 'destroyed' as const };
        });
      case 'console-attach':
        return this.attach(cmd);
      case 'save':
        return this.serial(cmd.domain, 'save', (d) => this.saveDomain(d, cmd, options));
      case 'restore':
        return this.restoreDomain(cmd, options);
      case 'migrate':
        return this.serial(cmd.domain, 'migrate', async (d) => {
          if (m.migrate === undefined) throw new ApiError('bad-request', 'this daemon cannot migrate domains');
          const { to, token, ca, maxRounds } = cmd;
          return m.migrate(
            d.id,
            { to, token, ...(ca !== undefined ? { ca } : {}), ...(maxRounds !== undefined ? { maxRounds } : {}) },
            options.onProgress,
          );
        });
      case 'restrict-hypercalls':
        return this.serial(cmd.domain, 'restrict-hypercalls', async (d) => {
          const bad = cmd.allow.map(policyEntryError).filter((e) => e !== null);
          if (bad.length > 0) throw new ApiError('bad-request', `allow: ${bad.join('; ')}`);
          m.restrictHypercalls(d.id, cmd.allow);
          this.configChanged(d.id);
          return m.info(d.id);
        });
      case 'sched':
        return this.serial(cmd.domain, 'sched', async (d) => {
          const params = {
            ...(cmd.weight !== undefined && { weight: cmd.weight }),
            ...(cmd.cap !== undefined && { cap: cmd.cap }),
          };
          if (Object.keys(params).length > 0) {
            const bad = schedParamsError(params, m.info(d.id).config.smp ?? 1);
            if (bad !== null) throw new ApiError('bad-request', bad);
            m.setSched(d.id, params);
            this.configChanged(d.id);
          }
          const c = m.info(d.id).config;
          return {
            id: d.id,
            name: d.name,
            weight: c.weight ?? SCHED_DEFAULTS.weight,
            cap: c.cap ?? SCHED_DEFAULTS.cap,
          } satisfies SchedInfo;
        });
      case 'switch-list':
        return this.net().list();
      case 'switch-join':
        return this.net().join(cmd.switch, cmd.url, cmd.token, { wait: cmd.wait !== false });
      case 'switch-leave':
        return this.net().leave(cmd.switch, cmd.url);
      default: {
        const never: never = cmd;
        throw new ApiError('bad-request', `unknown command ${(never as { kind: string }).kind}`);
      }
    }
  }

  private net(): SwitchNetwork {
    if (this.network === undefined) throw new ApiError('not-found', 'this control plane has no virtual switches');
    return this.network;
  }

  private attach(cmd: CommandOf<'console-attach'>): ConsoleSession {
    const d = this.resolve(cmd.domain);
    this.checkState('console-attach', d);
    const con = this.manager.console(d.id);
    const token = Symbol(d.name);
    if (cmd.write) {
      if (this.writers.has(d.id)) {
        throw new ApiError(
          'console-busy',
          `another client holds the input of domain ${d.name}'s console; attach read-only or detach it first`,
        );
      }
      this.writers.set(d.id, token);
    }
    const unsubs: (() => void)[] = [];
    let attached = true;
    const writers = this.writers;
    return {
      domain: this.manager.info(d.id),
      history: con.history(),
      writable: cmd.write,
      onOutput(listener) {
        if (attached) unsubs.push(con.subscribe(listener));
      },
      write(data) {
        if (!attached || writers.get(d.id) !== token) {
          throw new ApiError('bad-state', `this console session of ${d.name} is read-only or detached`);
        }
        con.write(data);
      },
      detach() {
        attached = false;
        for (const u of unsubs.splice(0)) u();
        if (writers.get(d.id) === token) writers.delete(d.id);
      },
    };
  }

  private async saveDomain(d: DomainHandle, cmd: CommandOf<'save'>, options: ExecuteOptions): Promise<SaveResult> {
    const m = this.manager;
    const wasRunning = d.state === 'running';
    if (wasRunning) await m.pause(d.id);
    let bytes: number;
    try {
      const snap = await m.snapshot(d.id);
      ({ bytes } = await this.store.save(cmd.path, snap, (p) => options.onProgress?.({ ...p, phase: 'save' }), {
        force: cmd.force === true,
      }));
    } catch (e) {
      // A failed save leaves the domain as it found it.
      if (wasRunning) await m.unpause(d.id);
      throw e;
    }
    if (cmd.keep) {
      if (wasRunning) await m.unpause(d.id);
      return { name: d.name, path: cmd.path, bytes, state: m.info(d.id).state };
    }
    await m.destroy(d.id);
    return { name: d.name, path: cmd.path, bytes, state: 'destroyed' };
  }

  private async restoreDomain(cmd: CommandOf<'restore'>, options: ExecuteOptions): Promise<DomainInfo> {
    if (cmd.name !== undefined) this.checkNameFree(cmd.name);
    const snap = await this.store.load(cmd.path, (p) => options.onProgress?.({ ...p, phase: 'restore' }));
    const name = cmd.name ?? snap.meta.name;
    this.checkNameFree(name);
    // A save file is input like a request body: its config passes the same checks as create's.
    let spec: DomainSpec;
    try {
      const saved = snap.meta.config;
      spec = parseDomainSpec({
        ...(saved !== null && typeof saved === 'object' ? saved : {}),
        name,
        ...(cmd.threads !== undefined ? { threads: cmd.threads } : {}),
      });
    } catch (e) {
      throw new ApiError('bad-image', `${cmd.path}: ${toApiError(e).message}`);
    }
    this.checkNameFree(name); // again: the load above gave other requests their turn
    this.held.add(name);
    let h: DomainHandle;
    try {
      h = await this.manager.restore(snap, spec);
    } finally {
      this.releaseName(name);
    }
    if (!cmd.paused) await this.manager.unpause(h.id);
    return this.manager.info(h.id);
  }
}

export type { CommandKind };

import type { ConsoleBuffer } from './console-buffer.js';
import type {
  DomainConsole,
  DomainEvent,
  DomainHandle,
  DomainInfo,
  DomainManager,
  DomainState,
  MachineInfo,
} from './domain.js';
import { ApiError } from './errors.js';
import { type DomainSpec, toDocument } from './spec.js';

/** What a DomainRegistry needs of the domains it keeps. */
export interface RegisteredDomain {
  readonly id: number;
  readonly name: string;
  readonly spec: DomainSpec;
  readonly state: DomainState;
  readonly exitReason: string | undefined;
  readonly startedAt: Date;
  readonly console: ConsoleBuffer;
}

/**
 * The bookkeeping every DomainManager shares: ids, the id -> domain map,
 * state and removal events, handles, info, consoles, destroy and close. A
 * manager adds how its domains are built, run, stopped and saved.
 */
export abstract class DomainRegistry<D extends RegisteredDomain>
  implements Pick<DomainManager, 'list' | 'console' | 'destroy' | 'subscribe' | 'close'>
{
  protected readonly domains = new Map<number, D>();
  private readonly listeners = new Set<(e: DomainEvent) => void>();
  /** The id the next registered domain gets. */
  protected nextId = 1;

  /** Ends a domain's guest before destroy forgets it. */
  protected abstract halt(d: D): Promise<void> | void;

  /** Tell a domain to call this when its state changes. */
  protected readonly changed = (d: D): void =>
    this.emit({ type: 'state', id: d.id, name: d.name, state: d.state, reason: d.exitReason });

  /** Tells every listener; one that throws is dropped, so it can neither stop the others nor the domain that changed. */
  private emit(e: DomainEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        this.listeners.delete(l);
      }
    }
  }

  protected get(id: number): D {
    const d = this.domains.get(id);
    if (!d) throw new ApiError('not-found', `no domain with id ${id}`);
    return d;
  }

  protected handle(d: D): DomainHandle {
    return { id: d.id, name: d.name, state: d.state };
  }

  /** Lists a built domain (built with id `nextId`); call only once nothing can fail any more. */
  protected register(d: D): DomainHandle {
    this.nextId = Math.max(this.nextId, d.id + 1);
    this.domains.set(d.id, d);
    return this.handle(d);
  }

  protected describe(d: D, machine: MachineInfo, gracefulShutdown: boolean): DomainInfo {
    return {
      ...this.handle(d),
      config: toDocument(d.spec),
      ...machine,
      startedAt: d.startedAt.toISOString(),
      ...(d.exitReason !== undefined ? { exitReason: d.exitReason } : {}),
      gracefulShutdown,
    };
  }

  list(): readonly DomainHandle[] {
    return [...this.domains.values()].map((d) => this.handle(d));
  }

  console(id: number): DomainConsole {
    return this.get(id).console;
  }

  async destroy(id: number): Promise<void> {
    const d = this.get(id);
    await this.halt(d);
    d.console.close();
    this.domains.delete(id);
    this.emit({ type: 'removed', id, name: d.name });
  }

  subscribe(listener: (event: DomainEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const id of [...this.domains.keys()]) await this.destroy(id);
  }
}

/** Refuses a snapshot written by another engine (META `engine`), before anything is built. */
export function requireEngine(meta: { readonly engine?: unknown }, engine: string): void {
  if (meta.engine !== engine) {
    throw new ApiError(
      'bad-image',
      `snapshot was written by ${String(meta.engine ?? 'another engine')}, not ${engine}`,
    );
  }
}

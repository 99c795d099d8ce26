/**
 * What crosses between the daemon's main thread and a worker of its pool (docs/scheduler.md,
 * "Worker pool"). Messages are structured clones: specs, handles, info, statistics and
 * snapshots are plain data (typed arrays included). Errors cross as their kind and message and
 * are rebuilt as the same ApiError / PvmError on the other side.
 */
import type { MessagePort } from 'node:worker_threads';
import type { DomainEvent, DomainInfo, DomainStats } from '../api/domain.js';
import { ApiError, type ApiErrorCode } from '../api/errors.js';
import type { DomainSpecInput } from '../api/spec.js';
import { isPvmError, PvmError, type PvmErrorKind } from '../core/errors.js';
import {
  decodeMessage,
  MigrationStreamError,
  MSG,
  messageName,
  type PagesMessage,
} from '../hypervisor/migration/stream.js';
import type { DomainSnapshot } from '../hypervisor/snapshot/index.js';
import type { MigrationProgress, MigrationTuning } from './migration.js';
import type { PvxLinksData } from './pvx-links.js';

/** DomainManager methods a worker answers: asynchronous ones as messages, synchronous ones over the sync channel. */
export const WORKER_CALLS = {
  /** `statsOf`: posts the counters of the domain ids given that are there, then answers. */
  async: [
    'create',
    'restore',
    'pause',
    'unpause',
    'shutdown',
    'reboot',
    'destroy',
    'snapshot',
    'statsOf',
    'close',
    'moveOut',
    'moveIn',
    'load',
    // Live migration (docs/migration.md, "Daemons with workers"): the source side runs on the
    // domain's worker; the destination's stream stays on the main thread, which builds the
    // arriving domain on a worker (`incoming`), posts it the pages (ToWorker 'pages'), waits
    // for them (`incomingApplied`), then has it load the state or drop the domain.
    'migrate',
    'incoming',
    'incomingApplied',
    'incomingCommit',
    'incomingDiscard',
  ],
  /**
   * `restrictHypercalls` and `setSched` answer with the domain's new info. `info` is no call:
   * the worker posts each domain's info as it changes (FromWorker).
   */
  sync: ['stats', 'restrictHypercalls', 'setSched'],
} as const;
export type AsyncCall = (typeof WORKER_CALLS.async)[number];
export type SyncCall = (typeof WORKER_CALLS.sync)[number];

/**
 * A domain leaving its worker (`moveOut`): its state, taken paused, after which the source
 * destroyed it; `running` says whether the target starts it again (docs/scheduler.md, "Moving
 * a domain between workers").
 */
export interface MovingDomain {
  readonly snapshot: DomainSnapshot;
  /** Its spec in document form. */
  readonly config: DomainSpecInput;
  readonly running: boolean;
}

/** `load`'s answer: for each domain of the worker, its id and the host ms its turns took so far. */
export type WorkerLoad = readonly (readonly [id: number, usedMs: number])[];

/** How often a worker posts the counters of the domains whose counters were asked for lately. */
export const STATS_PUSH_MS = 10;
/** How long after a `statsOf` a worker keeps posting the counters of its domains. */
export const STATS_WATCH_MS = 2000;

export interface PoolWorkerData {
  /** The daemon's host files policy (null: any absolute path). */
  readonly allowDirs: readonly string[] | null;
  /** Int32 flag the worker sets (and notifies) once a synchronous answer is on `syncPort`. */
  readonly sync: SharedArrayBuffer;
  readonly syncPort: MessagePort;
  /**
   * Where the worker posts everything else (replies, events, console output, logs), in order:
   * the main thread reads it synchronously too (`receiveMessageOnPort`) before it answers from
   * its own view of the worker's domains, so that view is never behind an answer it has given.
   */
  readonly port: MessagePort;
  /** This worker's PVX links to the other threads (pvx-links.ts): event channels and grants across workers. */
  readonly pvx: PvxLinksData;
  /** Live migration's tuning for the domains it sends (HypervisorDomainManagerOptions.migration). */
  readonly migration?: MigrationTuning;
}

/**
 * The bytes of a ToWorker 'pages' message, as the worker checks them before it applies them:
 * a PAGES message whose pages lie inside the arriving domain's `ramPages`, or a
 * MigrationStreamError naming what is wrong.
 */
export function checkedPages(bytes: unknown, ramPages: number): PagesMessage {
  if (!(bytes instanceof Uint8Array)) throw new MigrationStreamError('not a byte array');
  const m = decodeMessage(bytes, ramPages);
  if (m.type !== MSG.pages) throw new MigrationStreamError(`${messageName(m.type)}, not PAGES`);
  return m;
}

/**
 * A `progress` message as the main thread passes it on: the phase (at most 64 characters) and
 * two counts, or null for anything else (a worker is trusted code, but a message it garbled
 * must not reach the client's progress stream).
 */
export function progressOf(m: unknown): MigrationProgress | null {
  if (typeof m !== 'object' || m === null) return null;
  const { phase, done, total } = m as Record<string, unknown>;
  if (typeof phase !== 'string' || phase.length === 0 || phase.length > 64) return null;
  const count = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!count(done) || !count(total) || done > total) return null;
  return { phase, done, total };
}

export type ToWorker =
  /** `id`: the id a created or restored domain gets (the main thread numbers every domain). */
  | {
      readonly kind: 'call';
      readonly seq: number;
      readonly method: AsyncCall;
      readonly args: unknown[];
      readonly id?: number;
    }
  | { readonly kind: 'sync'; readonly method: SyncCall; readonly args: unknown[] }
  | { readonly kind: 'input'; readonly id: number; readonly data: Uint8Array }
  /**
   * A PAGES message of the migration stream for arriving domain `id` (`incoming`), its bytes
   * whole (type byte included): the worker decodes and checks it again against the domain's RAM
   * before it copies the pages, and reports a bad one at the next `incomingApplied` or
   * `incomingCommit`.
   */
  | { readonly kind: 'pages'; readonly id: number; readonly bytes: Uint8Array };

export type WireError =
  | { readonly type: 'api'; readonly code: ApiErrorCode; readonly message: string }
  | { readonly type: 'pvm'; readonly kind: PvmErrorKind; readonly message: string }
  | { readonly type: 'other'; readonly message: string };

export type FromWorker =
  | { readonly kind: 'reply'; readonly seq: number; readonly value?: unknown; readonly error?: WireError }
  /**
   * `info`: the domain's info just after a state event, so the main thread answers `info`
   * without asking the worker (PoolDomainManager.info).
   */
  | { readonly kind: 'event'; readonly event: DomainEvent; readonly info?: DomainInfo }
  /** The domain's info changed without an event (its guest began listening for shutdown requests). */
  | { readonly kind: 'info'; readonly info: DomainInfo }
  /** The counters of a domain, in answer to `statsOf` and then between turns for a while (STATS_PUSH_MS). */
  | { readonly kind: 'stats'; readonly stats: DomainStats }
  /** How far the `migrate` call `seq` has come (MigrationProgress), before its reply. */
  | {
      readonly kind: 'progress';
      readonly seq: number;
      readonly phase: string;
      readonly done: number;
      readonly total: number;
    }
  | { readonly kind: 'console'; readonly id: number; readonly data: Uint8Array }
  | { readonly kind: 'log'; readonly message: string; readonly fields: Record<string, unknown> };

export function toWire(e: unknown): WireError {
  if (e instanceof ApiError) return { type: 'api', code: e.code, message: e.message };
  if (isPvmError(e)) return { type: 'pvm', kind: e.kind, message: e.message };
  return { type: 'other', message: e instanceof Error ? e.message : String(e) };
}

export function fromWire(w: WireError): Error {
  if (w.type === 'api') return new ApiError(w.code, w.message);
  if (w.type === 'pvm') return new PvmError(w.kind, w.message);
  return new PvmError('internal', w.message);
}

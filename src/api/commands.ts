import type { DomainInfo, DomainState, DomainStats } from './domain.js';
import type { DomainSpecInput } from './spec.js';
import type { SwitchInfo } from './switches.js';

/**
 * The control-plane commands, transport-agnostic. The daemon maps each HTTP
 * route to exactly one of these; the library API calls them directly.
 * A domain is named by its name or its numeric id (as a string).
 * Each comment says when the command is allowed; `ALLOWED_STATES` is the
 * same rule as data, checked before anything happens.
 */
export type Command =
  /** Always (the name must be free). Builds the domain and starts it, or leaves it paused if `paused`. */
  | { readonly kind: 'create'; readonly config: DomainSpecInput; readonly paused?: boolean }
  /** Always. */
  | { readonly kind: 'list' }
  /** Any state. */
  | { readonly kind: 'info'; readonly domain: string }
  /** Running. The vCPUs stop at an instruction boundary. */
  | { readonly kind: 'pause'; readonly domain: string }
  /** Paused. */
  | { readonly kind: 'unpause'; readonly domain: string }
  /** Running. Asks the guest to power off; refused (bad-state) when the guest cannot be asked. */
  | { readonly kind: 'shutdown'; readonly domain: string }
  /** Any state. Restarts the domain from its configuration (RAM cleared, images reloaded). */
  | { readonly kind: 'reboot'; readonly domain: string }
  /** Any state. Stops the domain and forgets it. */
  | { readonly kind: 'destroy'; readonly domain: string }
  /** Any state. Output is shared by every client; input belongs to one writer at a time. */
  | { readonly kind: 'console-attach'; readonly domain: string; readonly write: boolean }
  /** Any state. Counters since the domain started. */
  | { readonly kind: 'stats'; readonly domain: string }
  /**
   * Running or paused. Pauses at an instruction boundary, writes the file, then destroys
   * the domain, or with `keep` returns it to the state it was in.
   */
  | {
      readonly kind: 'save';
      readonly domain: string;
      readonly path: string;
      readonly keep?: boolean;
      /** Replace a regular file at `path` that is not a previous save file. */
      readonly force?: boolean;
    }
  /** Always (the name, from the file or `name`, must be free). The domain continues from where it was saved. */
  | {
      readonly kind: 'restore';
      readonly path: string;
      readonly name?: string;
      readonly paused?: boolean;
      /** Overrides the saved config's `threads` (a save file holds architectural state only). */
      readonly threads?: boolean;
    }
  /**
   * Running or paused. Tightens the domain's hypercall policy to what both it and `allow` permit
   * (docs/para-api.md, "Hypercall policy"); never widens it. Kept across reboot and save.
   */
  | { readonly kind: 'restrict-hypercalls'; readonly domain: string; readonly allow: readonly string[] }
  /**
   * Any state. The domain's credit scheduler parameters (docs/scheduler.md); with `weight` or
   * `cap`, sets them first: they apply from the domain's next turn and are kept across reboot
   * and save (as Xen's `xl sched-credit -d DOMAIN -w W -c C`).
   */
  | { readonly kind: 'sched'; readonly domain: string; readonly weight?: number; readonly cap?: number }
  /**
   * Running or paused. Live migration to the daemon at `to` (docs/migration.md): the domain keeps
   * running during the copy and ends up running (or paused, as it was) there, destroyed here.
   * Any failure before the destination took over leaves it as it was.
   */
  | {
      readonly kind: 'migrate';
      readonly domain: string;
      /** The destination daemon's listener: http://HOST:PORT (or https://). */
      readonly to: string;
      /** The destination's token. */
      readonly token: string;
      /** PEM certificates to trust for an https:// destination. */
      readonly ca?: string;
      /** Pre-copy rounds at most (default 30). */
      readonly maxRounds?: number;
    }
  /** Always. The virtual switches and their links to other daemons (docs/networking.md). */
  | { readonly kind: 'switch-list' }
  /**
   * Always. Joins switch `switch` (made when missing) to the switch of that name on the daemon at
   * `url` (its TCP or HTTP listener), whose bearer token is `token`; refused when the first
   * connection cannot be made (unless `wait` is false: then it is kept and dialed until up).
   * The link is redialed whenever it drops, until `switch-leave`.
   */
  | {
      readonly kind: 'switch-join';
      readonly switch: string;
      readonly url: string;
      readonly token: string;
      readonly wait?: boolean;
    }
  /** Always. Ends the link `switch-join` made. */
  | { readonly kind: 'switch-leave'; readonly switch: string; readonly url: string };

export type CommandKind = Command['kind'];
/** Commands on switches, not domains. */
export type SwitchCommandKind = 'switch-list' | 'switch-join' | 'switch-leave';
export type CommandOf<K extends CommandKind> = Extract<Command, { kind: K }>;

/** States in which a command naming an existing domain may run; 'any' for every state. */
export const ALLOWED_STATES: Readonly<
  Record<Exclude<CommandKind, 'create' | 'list' | 'restore' | SwitchCommandKind>, readonly DomainState[] | 'any'>
> = {
  info: 'any',
  pause: ['running'],
  unpause: ['paused'],
  shutdown: ['running'],
  reboot: 'any',
  destroy: 'any',
  'console-attach': 'any',
  stats: 'any',
  save: ['running', 'paused'],
  'restrict-hypercalls': ['running', 'paused'],
  sched: 'any',
  migrate: ['running', 'paused'],
};

/** A domain's credit scheduler parameters (`pvm sched`). */
export interface SchedInfo {
  readonly id: number;
  readonly name: string;
  /** Share of the host among busy domains, relative to the others' weights (default 256). */
  readonly weight: number;
  /** Most host time the domain may use, in % of one host core; 0 = no cap. */
  readonly cap: number;
}

/** One round of a live migration's copy: pre-copy rounds, then the stop-and-copy round. */
export interface MigrateRound {
  readonly round: number;
  readonly pages: number;
  readonly bytes: number;
  readonly ms: number;
}

export interface MigrateResult {
  readonly name: string;
  readonly to: string;
  /** From the last guest instruction on the source to the destination's word that it runs, host ms. */
  readonly downtimeMs: number;
  /**
   * Where the downtime went: waiting for the vCPUs to stop, the last pages and the state sent,
   * the destination loading it, GO to RESUMED.
   */
  readonly downtimeParts: {
    readonly pauseMs: number;
    readonly copyMs: number;
    readonly loadMs: number;
    readonly resumeMs: number;
  };
  readonly totalMs: number;
  readonly rounds: readonly MigrateRound[];
  /** Bytes sent (pages, state, framing). */
  readonly bytes: number;
  /** How the source learnt the domain runs there: its RESUMED message, or a query after a cut. */
  readonly confirmedBy: 'resumed' | 'query';
  readonly state: 'migrated';
}

export interface SaveResult {
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
  /** State of the domain after the save ('destroyed' unless `keep`). */
  readonly state: DomainState | 'destroyed';
}

/** The WebSocket subprotocol of a console attachment (the daemon's /console endpoint). */
export const CONSOLE_SUBPROTOCOL = 'pvm-console';

/** An attached console: output arrives through `onOutput`; `detach` ends the attachment. */
export interface ConsoleSession {
  readonly domain: DomainInfo;
  /** The recent output, to show first. */
  readonly history: Uint8Array;
  readonly writable: boolean;
  onOutput(listener: (data: Uint8Array) => void): void;
  /** Sends input to the guest; refused unless the session was attached with `write`. */
  write(data: Uint8Array): void;
  detach(): void;
}

export interface CommandResults {
  create: DomainInfo;
  list: DomainInfo[];
  info: DomainInfo;
  pause: DomainInfo;
  unpause: DomainInfo;
  shutdown: DomainInfo;
  reboot: DomainInfo;
  destroy: { readonly id: number; readonly name: string; readonly state: 'destroyed' };
  'console-attach': ConsoleSession;
  stats: DomainStats;
  save: SaveResult;
  restore: DomainInfo;
  'restrict-hypercalls': DomainInfo;
  sched: SchedInfo;
  migrate: MigrateResult;
  'switch-list': SwitchInfo[];
  'switch-join': SwitchInfo;
  'switch-leave': SwitchInfo;
}

export type ResultOf<C extends Command> = CommandResults[C['kind']];

/** Progress of a long command (save, restore), as a fraction of bytes. */
export interface Progress {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

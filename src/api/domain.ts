import type { ConsoleInput } from '../hypervisor/domain.js';
import type { DomainSnapshot } from '../hypervisor/snapshot/index.js';
import type { ThreadHartStats } from '../hypervisor/threads.js';
import type { MigrateResult } from './commands.js';
import type { DeviceKind, DomainSpec, DomainSpecInput } from './spec.js';

/**
 * The seam between the control plane and whatever runs domains. The daemon,
 * the library API and the CLI only ever see this interface; the hypervisor
 * supplies one implementation and FakeDomainManager another (for tests and
 * until the hypervisor runs real guests).
 *
 * Lifecycle:
 *
 *   create ──► running ◄──unpause── paused
 *      │          │ ──pause──────────►  │
 *      └(paused)──┼────────────────────►┘
 *                 ├─ shutdown ─► shutting-down ─► shutoff   (the guest powers off)
 *                 └─ guest fault ─────────────► crashed
 *   reboot: any state ─► running (the domain restarts from its configuration)
 *   destroy: any state ─► gone
 */
export type DomainState = 'running' | 'paused' | 'shutting-down' | 'shutoff' | 'crashed';

export const DOMAIN_STATES: readonly DomainState[] = ['running', 'paused', 'shutting-down', 'shutoff', 'crashed'];

/** One virtio device as the built domain has it: what the guest finds in that slot. */
export interface DeviceInfo {
  readonly slot: number;
  readonly kind: DeviceKind;
  /** net: the MAC in the device's config space, and the switch its port is on. */
  readonly mac?: string;
  readonly switch?: string;
  /** blk: the image file, and whether the guest sees a read-only disk; 9p: the host folder, read-only or not. */
  readonly path?: string;
  readonly readonly?: boolean;
  /** net: `user` when the switch reaches the host network through passt. */
  readonly uplink?: 'user';
  /** 9p: the mount tag. */
  readonly tag?: string;
}

/** Frames and bytes through one switch port; tx = from the endpoint into the switch, rx = out of it. */
export interface PortTraffic {
  readonly txFrames: number;
  readonly txBytes: number;
  readonly rxFrames: number;
  readonly rxBytes: number;
}

/** One NIC's switch port, and the switch's uplink when it has one (`pvm stats`, `pvm run --stats`). */
export interface NicStats extends PortTraffic {
  readonly slot: number;
  readonly mac: string;
  readonly switch: string;
  /** The uplink port (passt): its traffic, frames it dropped (queue full) and malformed ones from passt. */
  readonly uplink?: PortTraffic & { readonly dropped: number; readonly malformed: number };
}

/** A built domain as the guest sees it: the same for `pvm run --dry-run`, the daemon and the library. */
export interface MachineInfo {
  readonly mode: 'pv' | 'full';
  readonly vcpus: number;
  readonly memoryBytes: number;
  /** virtio devices in slot order. */
  readonly devices: readonly DeviceInfo[];
  /** Where console input goes now: the UART, the SBI console or the virtio console. */
  readonly consoleInput: ConsoleInput;
  /** The kernel command line (empty for the embedded guest). */
  readonly cmdline: string;
}

export interface DomainHandle {
  /** Small integer, unique for the life of the daemon (0 is the host). */
  readonly id: number;
  readonly name: string;
  readonly state: DomainState;
}

export interface DomainInfo extends DomainHandle, MachineInfo {
  /** The domain's spec in its document form (defaults filled in, memory as a size such as "128M"). */
  readonly config: DomainSpecInput;
  /** ISO-8601 time the domain was created or last rebooted. */
  readonly startedAt: string;
  /** Why the domain stopped, once it is shutoff or crashed. */
  readonly exitReason?: string;
  /** Whether `shutdown` reaches the guest (a PV guest with a shutdown virtual interrupt, or a fake). */
  readonly gracefulShutdown: boolean;
}

/** Counters of one domain, monotonic while it lives. */
export interface DomainStats {
  readonly id: number;
  readonly name: string;
  readonly state: DomainState;
  /** Instructions retired by all vCPUs. */
  readonly instructions: number;
  /** Milliseconds spent executing guest code, and handling exits in the hypervisor. */
  readonly guestMs: number;
  readonly hypervisorMs: number;
  /** Milliseconds every vCPU waited with nothing to do, and runnable vCPUs waited for the host (steal, summed over vCPUs). */
  readonly idleMs?: number;
  readonly stealMs?: number;
  /** Milliseconds since start, wall clock. */
  readonly uptimeMs: number;
  readonly memoryBytes: number;
  readonly vcpus: number;
  /** Exits by reason (hypercall, mmio, wfi, ...). */
  readonly exits: Readonly<Record<string, number>>;
  /** Hypercalls by "extension/function" name. */
  readonly hypercalls: Readonly<Record<string, number>>;
  /** Bytes through each virtio device, by "SLOT:KIND": driver buffers consumed, bytes written back. */
  readonly virtio?: Readonly<Record<string, { readonly fromGuest: number; readonly toGuest: number }>>;
  /** Each NIC's switch port and its switch's uplink, in slot order (absent: no NIC). */
  readonly nets?: readonly NicStats[];
  /** Bytes of console input dropped because the guest had not read the buffered 64 KiB yet. */
  readonly consoleInputDropped?: number;
  /**
   * Harts on threads (spec `threads`, docs/scheduler.md): what each hart but hart 0 is doing, as
   * its thread last published it (absent: every hart runs on the domain's thread).
   */
  readonly threads?: readonly ThreadHartStats[];
}

export type ConsoleListener = (data: Uint8Array) => void;

/** A domain's console: bytes out of the guest, bytes into it. */
export interface DomainConsole {
  /** Recent output (a bounded ring), so an attaching client sees the last screen. */
  history(): Uint8Array;
  /** Calls `listener` with every later output chunk; returns the unsubscribe function. */
  subscribe(listener: ConsoleListener): () => void;
  /** Queues input for the guest. */
  write(data: Uint8Array): void;
}

export type DomainEvent =
  | {
      readonly type: 'state';
      readonly id: number;
      readonly name: string;
      readonly state: DomainState;
      readonly reason?: string;
    }
  | { readonly type: 'removed'; readonly id: number; readonly name: string };

/**
 * Runs domains. Methods take a domain id; preconditions (which state allows
 * which operation) are checked by the ControlPlane before it calls here, but
 * implementations still refuse what they cannot do by throwing PvmError.
 */
export interface DomainManager {
  /** Builds a domain from its spec and starts it, or leaves it paused before its first instruction. */
  create(spec: DomainSpec, options: { paused: boolean }): Promise<DomainHandle>;
  list(): readonly DomainHandle[];
  info(id: number): DomainInfo;
  /** Stops every vCPU at an instruction boundary; resolves once none runs. */
  pause(id: number): Promise<void>;
  unpause(id: number): Promise<void>;
  /** Asks the guest to power off. Resolves `false` (and changes nothing) when the guest has no way to be asked. */
  shutdown(id: number): Promise<boolean>;
  /** Restarts the domain from its configuration: RAM cleared, images reloaded. */
  reboot(id: number): Promise<void>;
  /** Stops and forgets the domain; its resources are released. */
  destroy(id: number): Promise<void>;
  console(id: number): DomainConsole;
  stats(id: number): DomainStats;
  /**
   * Optional: the counters of the domains `ids` that can be read, in that order (those destroyed
   * meanwhile, or whose worker thread ended, are left out), without blocking the thread while
   * they are gathered: a pool of worker threads asks each worker once and answers when all have.
   */
  statsOf?(ids: readonly number[]): Promise<DomainStats[]>;
  /**
   * Tightens the domain's hypercall policy to what both it and `allow` permit (entries checked
   * by the caller, src/sbi/policy.ts); the spec (`info`, save files, reboot) says the result.
   */
  restrictHypercalls(id: number, allow: readonly string[]): void;
  /**
   * Sets the domain's scheduler weight and/or cap (checked by the caller): from its next turn,
   * and in its spec (`info`, save files, reboot).
   */
  setSched(id: number, params: { weight?: number; cap?: number }): void;
  /** Captures a paused domain's complete state. Changes nothing. */
  snapshot(id: number): Promise<DomainSnapshot>;
  /** Builds a new domain from a snapshot (`spec`: the one it was saved with, checked), paused where it was saved. */
  restore(snapshot: DomainSnapshot, spec: DomainSpec): Promise<DomainHandle>;
  /**
   * Live migration of domain `id` to another daemon (docs/migration.md); managers that cannot
   * move domains leave it out.
   */
  migrate?(
    id: number,
    target: { readonly to: string; readonly token: string; readonly ca?: string; readonly maxRounds?: number },
    onProgress?: (p: { phase: string; done: number; total: number }) => void,
  ): Promise<MigrateResult>;
  /** Domain events (state changes, removal); returns the unsubscribe function. */
  subscribe(listener: (event: DomainEvent) => void): () => void;
  /** Destroys every domain (daemon shutdown). */
  close(): Promise<void>;
}

/** Messages between the tab's page and its worker (the worker runs the whole machine). */
import type { ThreadHartStats } from '../../src/hypervisor/threads.js';

export interface BootRequest {
  readonly name: string;
  readonly mode: 'pv' | 'full';
  readonly memoryMiB: number;
  readonly smp: number;
  /** PV mode, smp >= 2: every hart but hart 0 on a Web Worker of its own (hart-threads.ts). */
  readonly threads?: boolean;
  /** Absent: the embedded guest (pvos). */
  readonly kernel?: Uint8Array;
  /** The file name the kernel came from, recorded in a snapshot's config. */
  readonly kernelName?: string;
  readonly initrd?: Uint8Array;
  readonly cmdline: string;
  /** Full mode: OpenSBI's fw_jump.bin. */
  readonly firmware?: Uint8Array;
}

export type ToWorker =
  | ({ readonly type: 'boot'; readonly embedded: Uint8Array } & BootRequest)
  | { readonly type: 'input'; readonly data: Uint8Array }
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'save' }
  | {
      readonly type: 'restore';
      readonly file: Uint8Array;
      readonly embedded: Uint8Array;
      /** Images the snapshot's config names that the user supplied (Linux, OpenSBI). */
      readonly kernel?: Uint8Array;
      readonly initrd?: Uint8Array;
      readonly firmware?: Uint8Array;
    }
  | { readonly type: 'stop' }
  /** Statistics now, not at the next second. */
  | { readonly type: 'stats' };

export interface WorkerStats {
  readonly mode: string;
  readonly instructions: number;
  readonly wallMs: number;
  readonly guestMs: number;
  readonly idleMs: number;
  readonly mips: number;
  readonly exits: Record<string, number>;
  readonly hypercalls: Record<string, number>;
  /** Harts on threads: what each is doing, as its worker last published it (DomainStatsJson.threads). */
  readonly threads?: readonly ThreadHartStats[];
}

export type FromWorker =
  | { readonly type: 'console'; readonly data: Uint8Array }
  | { readonly type: 'state'; readonly state: 'running' | 'paused' | 'shutoff' | 'crashed'; readonly reason?: string }
  | { readonly type: 'stats'; readonly stats: WorkerStats }
  | { readonly type: 'snapshot'; readonly file: Uint8Array; readonly name: string }
  | { readonly type: 'error'; readonly message: string };

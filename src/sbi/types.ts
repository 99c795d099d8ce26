import type { GuestRam } from '../memory/ram.js';
import type { HsmState } from './consts.js';

/** The pair an SBI call returns in a0 (error) and a1 (value). */
export interface SbiRet {
  error: number;
  value: bigint;
}

export const ok = (value: bigint | number = 0n): SbiRet => ({ error: 0, value: BigInt(value) });
export const err = (error: number): SbiRet => ({ error, value: 0n });

/**
 * The registers of the calling hart, as the dispatcher sees them. The CPU's
 * Hart satisfies it structurally (`getX`/`setX` are its slow accessors);
 * tests use a fake.
 */
export interface SbiHart {
  readonly id: number;
  getX(r: number): bigint;
  setX(r: number, v: bigint): void;
  /** The registers as int32 (low, high) pairs, where the hart has them: the numeric fast path reads them. */
  readonly x?: Int32Array;
}

/**
 * What the para-API acts on: the domain, implemented by the hypervisor.
 * Every method receives arguments already validated by the SBI layer (hart
 * ids in range, addresses inside RAM), so an implementation never has to
 * defend against guest input again.
 */
export interface SbiPlatform {
  /** Number of harts in the domain; valid hart ids are 0..hartCount-1. */
  readonly hartCount: number;
  /** Guest RAM: shared-memory arguments must lie entirely inside it. */
  readonly ram: GuestRam;

  /** TIME: program hart's S-mode timer (mtime ticks); clears its pending STIP. ALL_ONES disarms it. */
  setTimer(hart: number, stime: bigint): void;
  /** `setTimer` for `stime` below 2^53, where the platform has it without BigInts (the hypercall fast path). */
  setTimerNum?(hart: number, stime: number): void;
  /** IPI: raise the supervisor software interrupt (SSIP) on `hart`. */
  sendIpi(hart: number): void;
  /** Legacy clear_ipi: clear SSIP on `hart`. */
  clearIpi(hart: number): void;
  /** RFENCE: make `hart` re-fetch instructions (FENCE.I). */
  remoteFenceI(hart: number): void;
  /** RFENCE: SFENCE.VMA on `hart` for [start, start+size) (size ALL_ONES = everything); asid -1 = any. */
  remoteSfenceVma(hart: number, start: bigint, size: bigint, asid: number): void;

  /** HSM: current state of `hart`. */
  hartStatus(hart: number): HsmState;
  /** HSM: start a STOPPED hart in S-mode at `startAddr` with a0 = hart, a1 = opaque, satp = 0, SIE = 0. */
  hartStart(hart: number, startAddr: bigint, opaque: bigint): void;
  /** HSM: the calling hart stops (it is STARTED). */
  hartStop(hart: number): void;
  /**
   * HSM: the calling hart suspends until an interrupt is pending. Retentive: the call returns
   * SUCCESS afterwards; non-retentive: the hart resumes at `resumeAddr` with a0 = hart, a1 = opaque.
   */
  hartSuspend(hart: number, retentive: boolean, resumeAddr: bigint, opaque: bigint): void;

  /** SRST: end (type SHUTDOWN) or restart the domain once the current call returns. */
  systemReset(type: number, reason: number): void;

  /** DBCN / legacy putchar: write bytes to the console; returns how many were accepted. */
  consoleWrite(bytes: Uint8Array): number;
  /** DBCN / legacy getchar: up to `max` bytes of pending console input (possibly none). */
  consoleRead(max: number): Uint8Array;

  /**
   * Legacy v0.1 calls pass hart masks by pointer: read the 64-bit word at the
   * guest-virtual address `va` as the calling hart's S-mode would. null when
   * it cannot be read (unmapped, outside RAM).
   */
  readGuestU64(hart: number, va: bigint): bigint | null;

  /** STA: set (pa, a 64-byte block inside RAM, already zeroed) or clear (null) hart's steal-time record. */
  setStealTimeShmem(hart: number, pa: number | null): void;
}

/** The arguments of one call: a0..a5 as unsigned 64-bit values. */
export type SbiArgs = readonly [bigint, bigint, bigint, bigint, bigint, bigint];

/** One SBI extension: a number of functions behind one extension id (or a range of them). */
export interface SbiExtension {
  /** Short name used in statistics and docs ("TIME", "HSM", "legacy"). */
  readonly name: string;
  /**
   * Legacy v0.1 extensions return only a0 (a1 is left alone) and ignore a6.
   */
  readonly legacy?: boolean;
  /** Value probe_extension returns for it (nonzero: available). Default 1. */
  probe?(platform: SbiPlatform): number;
  /** Name of a function, for statistics ("set_timer"); undefined for an unknown fid. */
  functionName(eid: number, fid: number): string | undefined;
  /** Perform the call; `eid` is passed because one object may serve several ids. */
  call(platform: SbiPlatform, hart: number, eid: number, fid: number, a: SbiArgs): SbiRet;
  /**
   * The same call without BigInts, for the frequent ones that take one argument (a0, below
   * 2^53, a1-a5 ignored) and whose value is always 0 (a timer, an event channel send). Returns
   * the error, or undefined without doing anything when this call has no fast path.
   */
  callNum?(platform: SbiPlatform, hart: number, eid: number, fid: number, a0: number): number | undefined;
}

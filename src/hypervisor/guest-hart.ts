import type { JitStats } from '../cpu/jit/jit.js';
import type { SbiHart } from '../sbi/types.js';

/**
 * What the hypervisor uses of a hart (docs/cpu.md, "API"). The CPU's `Hart`
 * satisfies it structurally; unit tests drive the run loop with a fake.
 */
export interface VcpuHart extends SbiHart {
  /** 0 = U, 1 = S, 3 = M. */
  priv: number;
  /** PV mode: traps destined to M-mode end `run` with Exit.MachineTrap instead of being taken. */
  virtualM: boolean;
  readonly instret: number;
  /** Traps taken into (emulated) M-mode and instructions retired there (full mode; the CPU's statistics). */
  readonly mTraps?: number;
  readonly mInstret?: number;
  readonly exitCause: number;
  readonly exitIsInterrupt: boolean;
  readonly exitTval: number | bigint;
  run(budget: number): number;
  requestStop(): void;
  /** Drive bit number `bit` of mip (e.g. 5 = STIP). */
  setIrq(bit: number, level: boolean): void;
  getPc(): bigint;
  setPc(v: bigint): void;
  /** Step the pc over `bytes` (getPc/setPc do it where it is missing). */
  skip?(bytes: number): void;
  /** PV mode: hypercalls the hook handles (true) never leave `run` (the CPU's Hart has it). */
  ecallHook?: (() => boolean) | null;
  getCsr(n: number): bigint;
  setCsr(n: number, v: bigint): void;
  flushTlb(): void;
  /** Drop cached decoded instructions, if the CPU keeps any (FENCE.I on another hart). */
  flushIcache?(): void;
  /** The translation tier, for the statistics (src/cpu/jit/). */
  readonly jit?: { readonly stats: JitStats } | null;
  /** The vCPU waited (WFI, a blocking hypercall, HSM suspend): the tier is made only after a busy stretch. */
  woke?(): void;
  reset(pc: bigint, priv: number): void;
}

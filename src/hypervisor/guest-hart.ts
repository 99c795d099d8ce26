import type { SbiHart } from '../sbi/types.js';

/**
 * What the hypervisor uses of a hart (CPU-CONTRACT.md). The CPU's `Hart`
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
  getCsr(n: number): bigint;
  setCsr(n: number, v: bigint): void;
  flushTlb(): void;
  /** Drop cached decoded instructions, if the CPU keeps any (FENCE.I on another hart). */
  flushIcache?(): void;
  reset(pc: bigint, priv: number): void;
}

/** CSR numbers the hypervisor touches (privileged spec, "CSR Listing"). */
export const Csr = {
  SSTATUS: 0x100,
  SIE: 0x104,
  STVEC: 0x105,
  SEPC: 0x141,
  SCAUSE: 0x142,
  STVAL: 0x143,
  SIP: 0x144,
  SCOUNTEREN: 0x106,
  SATP: 0x180,
  MSTATUS: 0x300,
  MEDELEG: 0x302,
  MIDELEG: 0x303,
  MIE: 0x304,
  MCOUNTEREN: 0x306,
  MIP: 0x344,
  PMPCFG0: 0x3a0,
  PMPADDR0: 0x3b0,
} as const;

/** Privilege levels. */
export const Priv = { U: 0, S: 1, M: 3 } as const;

/** Exception causes (privileged spec, table "Machine cause register (mcause) values after trap"). */
export const Cause = {
  MISALIGNED_FETCH: 0,
  FETCH_ACCESS: 1,
  ILLEGAL_INSN: 2,
  BREAKPOINT: 3,
  MISALIGNED_LOAD: 4,
  LOAD_ACCESS: 5,
  MISALIGNED_STORE: 6,
  STORE_ACCESS: 7,
  ECALL_U: 8,
  ECALL_S: 9,
  ECALL_M: 11,
  FETCH_PAGE_FAULT: 12,
  LOAD_PAGE_FAULT: 13,
  STORE_PAGE_FAULT: 15,
} as const;

/**
 * RISC-V architectural names, defined once for the whole of pvm: privilege
 * levels, CSR numbers, exception causes, interrupt bits of mip/mie and the
 * fields of mstatus. The CPU, the board (CLINT, PLIC), the hypervisor and the
 * SBI layer all use these; nothing else spells the numbers.
 *
 * Sources: the RISC-V privileged specification 1.12, sections 2.2 (CSR
 * listing), 3.1.6 (mstatus), 3.1.9 (mip/mie), 3.1.15 (mcause), 4.1 (S-mode).
 */

/** Privilege levels (the encoding of mstatus.MPP and of `Hart.priv`). */
export const Priv = { U: 0, S: 1, M: 3 } as const;
export type Priv = (typeof Priv)[keyof typeof Priv];

/** CSR numbers (privileged spec tables 2.2-2.6). Ranges are named by their first member. */
export const Csr = {
  fflags: 0x001,
  frm: 0x002,
  fcsr: 0x003,
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
  /** hpmcounter3..31: 0xc03-0xc1f. */
  hpmcounter3: 0xc03,
  hpmcounter31: 0xc1f,
  sstatus: 0x100,
  sie: 0x104,
  stvec: 0x105,
  scounteren: 0x106,
  senvcfg: 0x10a,
  sscratch: 0x140,
  sepc: 0x141,
  scause: 0x142,
  stval: 0x143,
  sip: 0x144,
  /** Sstc: the S-mode timer compare. */
  stimecmp: 0x14d,
  satp: 0x180,
  mvendorid: 0xf11,
  marchid: 0xf12,
  mimpid: 0xf13,
  mhartid: 0xf14,
  mconfigptr: 0xf15,
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  menvcfg: 0x30a,
  mcountinhibit: 0x320,
  /** mhpmevent3..31: 0x323-0x33f. */
  mhpmevent3: 0x323,
  mhpmevent31: 0x33f,
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  /** pmpcfg0..15: 0x3a0-0x3af (only the even ones exist on RV64). */
  pmpcfg0: 0x3a0,
  pmpcfg15: 0x3af,
  /** pmpaddr0..63: 0x3b0-0x3ef. */
  pmpaddr0: 0x3b0,
  pmpaddr63: 0x3ef,
  /** tselect, tdata1..3: 0x7a0-0x7a3. */
  tselect: 0x7a0,
  tdata1: 0x7a1,
  tdata3: 0x7a3,
  mcycle: 0xb00,
  minstret: 0xb02,
  /** mhpmcounter3..31: 0xb03-0xb1f. */
  mhpmcounter3: 0xb03,
  mhpmcounter31: 0xb1f,
} as const;

/**
 * The CSRs that S-mode and M-mode each have a copy of, as offsets from the level's block
 * (S: 0x100, M: 0x300): sstatus/mstatus = block + status, and so on (privileged spec 2.2).
 */
export const LevelCsr = {
  status: 0x00,
  ie: 0x04,
  tvec: 0x05,
  counteren: 0x06,
  envcfg: 0x0a,
  scratch: 0x40,
  epc: 0x41,
  cause: 0x42,
  tval: 0x43,
  ip: 0x44,
} as const;

/** Exception causes: mcause/scause values with the interrupt bit clear (privileged spec table 3.6). */
export const Cause = {
  InstMisaligned: 0,
  InstAccess: 1,
  Illegal: 2,
  Breakpoint: 3,
  LoadMisaligned: 4,
  LoadAccess: 5,
  StoreMisaligned: 6,
  StoreAccess: 7,
  EcallU: 8,
  EcallS: 9,
  EcallM: 11,
  InstPage: 12,
  LoadPage: 13,
  StorePage: 15,
} as const;

/**
 * Interrupts: bit numbers of mip/mie, which are also the interrupt cause codes (mcause = interrupt
 * bit | IrqBit; privileged spec 3.1.9). The mask of one is `1 << IrqBit.X`.
 */
export const IrqBit = {
  SSIP: 1,
  MSIP: 3,
  STIP: 5,
  MTIP: 7,
  SEIP: 9,
  MEIP: 11,
} as const;

/** The same interrupts as masks of mip/mie (Spike's MIP_*), for code that combines several. */
export const MIP_SSIP = 1 << IrqBit.SSIP;
export const MIP_MSIP = 1 << IrqBit.MSIP;
export const MIP_STIP = 1 << IrqBit.STIP;
export const MIP_MTIP = 1 << IrqBit.MTIP;
export const MIP_SEIP = 1 << IrqBit.SEIP;
export const MIP_MEIP = 1 << IrqBit.MEIP;
/** Interrupts that exist: SSI MSI STI MTI SEI MEI. */
export const MIE_MASK = MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP;
/** The S-level interrupts: delegable to S (mideleg) and writable by M in mip. */
export const S_INTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
/** medeleg writable bits: causes 0-9, 12, 13, 15 (11, ecall from M, cannot be delegated). */
export const MEDELEG_MASK = 0xb3ff;

/** menvcfg.STCE (bit 63: the high word's bit 31): stimecmp enabled for S-mode and driving STIP (Sstc). */
export const MENVCFG_STCE_HI = 0x80000000 | 0;

/** Fields of mstatus (low word; privileged spec 3.1.6). The S-level ones are also sstatus's. */
export const MSTATUS_SIE = 1 << 1;
export const MSTATUS_MIE = 1 << 3;
export const MSTATUS_SPIE = 1 << 5;
export const MSTATUS_MPIE = 1 << 7;
export const MSTATUS_SPP = 1 << 8;
export const MSTATUS_MPP = 3 << 11;
export const MSTATUS_FS = 3 << 13;
export const MSTATUS_MPRV = 1 << 17;
export const MSTATUS_SUM = 1 << 18;
export const MSTATUS_MXR = 1 << 19;
export const MSTATUS_TVM = 1 << 20;
export const MSTATUS_TW = 1 << 21;
export const MSTATUS_TSR = 1 << 22;
/** Bits of mstatus writable by M-mode (low word; UXL/SXL are fixed at 2, SD is computed). */
export const MSTATUS_WMASK =
  MSTATUS_SIE |
  MSTATUS_MIE |
  MSTATUS_SPIE |
  MSTATUS_MPIE |
  MSTATUS_SPP |
  MSTATUS_MPP |
  MSTATUS_FS |
  MSTATUS_MPRV |
  MSTATUS_SUM |
  MSTATUS_MXR |
  MSTATUS_TVM |
  MSTATUS_TW |
  MSTATUS_TSR;
/** sstatus view: SIE SPIE UBE SPP VS FS XS SUM MXR (+ UXL, SD in the high word). */
export const SSTATUS_RMASK = 0x000de762;
export const SSTATUS_WMASK = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;

/** PAUSE (Zihintpause): FENCE with pred = W, succ = 0, fm = 0, rs1 = rd = x0. */
export const PAUSE = 0x0100_000f;

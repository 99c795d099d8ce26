/** CSR numbers (privileged spec, tables 2.2-2.6) and mstatus/mip bit masks (sections 3.1.6, 3.1.9). */
export const Csr = {
  fflags: 0x001,
  frm: 0x002,
  fcsr: 0x003,
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
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
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  pmpcfg0: 0x3a0,
  pmpaddr0: 0x3b0,
  mcycle: 0xb00,
  minstret: 0xb02,
} as const;

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

/** Interrupt bits of mip/mie (privileged spec 3.1.9). */
export const Irq = {
  SSI: 1,
  MSI: 3,
  STI: 5,
  MTI: 7,
  SEI: 9,
  MEI: 11,
} as const;
export const MIP_SSIP = 1 << 1;
export const MIP_MSIP = 1 << 3;
export const MIP_STIP = 1 << 5;
export const MIP_MTIP = 1 << 7;
export const MIP_SEIP = 1 << 9;
export const MIP_MEIP = 1 << 11;
/** Interrupts that exist: SSI MSI STI MTI SEI MEI. */
export const MIE_MASK = 0xaaa;
/** Delegable to S (mideleg) and writable by M in mip: the S-level ones. */
export const S_INTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
/** medeleg writable bits: causes 0-9, 12, 13, 15 (11, ecall from M, cannot be delegated). */
export const MEDELEG_MASK = 0xb3ff;

/** Exception causes (privileged spec table 3.6). */
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

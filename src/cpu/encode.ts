/**
 * RISC-V instruction encoders (base formats of the unprivileged spec, ch. 2.2-2.3).
 * Used to build the compressed-instruction expansion table and by tests to
 * assemble programs without a toolchain. Register arguments are numbers 0..31.
 */

export const encR = (op: number, f3: number, f7: number, rd: number, rs1: number, rs2: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;

export const encI = (op: number, f3: number, rd: number, rs1: number, imm: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;

export const encS = (op: number, f3: number, rs1: number, rs2: number, imm: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | op) >>> 0;

export const encB = (op: number, f3: number, rs1: number, rs2: number, imm: number): number =>
  ((((imm >> 12) & 1) << 31) |
    (((imm >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((imm >> 1) & 0xf) << 8) |
    (((imm >> 11) & 1) << 7) |
    op) >>>
  0;

export const encU = (op: number, rd: number, imm: number): number => ((imm & 0xfffff000) | (rd << 7) | op) >>> 0;

export const encJ = (op: number, rd: number, imm: number): number =>
  ((((imm >> 20) & 1) << 31) |
    (((imm >> 1) & 0x3ff) << 21) |
    (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) |
    (rd << 7) |
    op) >>>
  0;

/** Major opcodes (unprivileged spec, table 24.1). */
export const Op = {
  LOAD: 0x03,
  LOAD_FP: 0x07,
  MISC_MEM: 0x0f,
  OP_IMM: 0x13,
  AUIPC: 0x17,
  OP_IMM_32: 0x1b,
  STORE: 0x23,
  STORE_FP: 0x27,
  AMO: 0x2f,
  OP: 0x33,
  LUI: 0x37,
  OP_32: 0x3b,
  MADD: 0x43,
  MSUB: 0x47,
  NMSUB: 0x4b,
  NMADD: 0x4f,
  OP_FP: 0x53,
  BRANCH: 0x63,
  JALR: 0x67,
  JAL: 0x6f,
  SYSTEM: 0x73,
} as const;

/**
 * A tiny assembler for tests and benchmarks: one function per instruction,
 * returning the encoding. Compressed helpers return 16-bit values.
 * `Prog` lays instructions out in memory (mixing 16- and 32-bit ones).
 */
import { expandCompressed } from './compressed.js';
import { encB, encI, encJ, encR, encS, encU, Op } from './encode.js';

export const A = {
  // RV64I
  lui: (rd: number, imm: number) => encU(Op.LUI, rd, imm),
  auipc: (rd: number, imm: number) => encU(Op.AUIPC, rd, imm),
  jal: (rd: number, off: number) => encJ(Op.JAL, rd, off),
  jalr: (rd: number, rs1: number, imm: number) => encI(Op.JALR, 0, rd, rs1, imm),
  beq: (a: number, b: number, off: number) => encB(Op.BRANCH, 0, a, b, off),
  bne: (a: number, b: number, off: number) => encB(Op.BRANCH, 1, a, b, off),
  blt: (a: number, b: number, off: number) => encB(Op.BRANCH, 4, a, b, off),
  bge: (a: number, b: number, off: number) => encB(Op.BRANCH, 5, a, b, off),
  bltu: (a: number, b: number, off: number) => encB(Op.BRANCH, 6, a, b, off),
  bgeu: (a: number, b: number, off: number) => encB(Op.BRANCH, 7, a, b, off),
  lb: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 0, rd, rs1, imm),
  lh: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 1, rd, rs1, imm),
  lw: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 2, rd, rs1, imm),
  ld: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 3, rd, rs1, imm),
  lbu: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 4, rd, rs1, imm),
  lhu: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 5, rd, rs1, imm),
  lwu: (rd: number, rs1: number, imm: number) => encI(Op.LOAD, 6, rd, rs1, imm),
  sb: (rs2: number, rs1: number, imm: number) => encS(Op.STORE, 0, rs1, rs2, imm),
  sh: (rs2: number, rs1: number, imm: number) => encS(Op.STORE, 1, rs1, rs2, imm),
  sw: (rs2: number, rs1: number, imm: number) => encS(Op.STORE, 2, rs1, rs2, imm),
  sd: (rs2: number, rs1: number, imm: number) => encS(Op.STORE, 3, rs1, rs2, imm),
  addi: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM, 0, rd, rs1, imm),
  slti: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM, 2, rd, rs1, imm),
  sltiu: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM, 3, rd, rs1, imm),
  xori: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM, 4, rd, rs1, imm),
  ori: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM, 6, rd, rs1, imm),
  andi: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM, 7, rd, rs1, imm),
  slli: (rd: number, rs1: number, sh: number) => encI(Op.OP_IMM, 1, rd, rs1, sh),
  srli: (rd: number, rs1: number, sh: number) => encI(Op.OP_IMM, 5, rd, rs1, sh),
  srai: (rd: number, rs1: number, sh: number) => encI(Op.OP_IMM, 5, rd, rs1, sh | 0x400),
  add: (rd: number, a: number, b: number) => encR(Op.OP, 0, 0, rd, a, b),
  sub: (rd: number, a: number, b: number) => encR(Op.OP, 0, 0x20, rd, a, b),
  sll: (rd: number, a: number, b: number) => encR(Op.OP, 1, 0, rd, a, b),
  slt: (rd: number, a: number, b: number) => encR(Op.OP, 2, 0, rd, a, b),
  sltu: (rd: number, a: number, b: number) => encR(Op.OP, 3, 0, rd, a, b),
  xor: (rd: number, a: number, b: number) => encR(Op.OP, 4, 0, rd, a, b),
  srl: (rd: number, a: number, b: number) => encR(Op.OP, 5, 0, rd, a, b),
  sra: (rd: number, a: number, b: number) => encR(Op.OP, 5, 0x20, rd, a, b),
  or: (rd: number, a: number, b: number) => encR(Op.OP, 6, 0, rd, a, b),
  and: (rd: number, a: number, b: number) => encR(Op.OP, 7, 0, rd, a, b),
  addiw: (rd: number, rs1: number, imm: number) => encI(Op.OP_IMM_32, 0, rd, rs1, imm),
  slliw: (rd: number, rs1: number, sh: number) => encI(Op.OP_IMM_32, 1, rd, rs1, sh),
  srliw: (rd: number, rs1: number, sh: number) => encI(Op.OP_IMM_32, 5, rd, rs1, sh),
  sraiw: (rd: number, rs1: number, sh: number) => encI(Op.OP_IMM_32, 5, rd, rs1, sh | 0x400),
  addw: (rd: number, a: number, b: number) => encR(Op.OP_32, 0, 0, rd, a, b),
  subw: (rd: number, a: number, b: number) => encR(Op.OP_32, 0, 0x20, rd, a, b),
  sllw: (rd: number, a: number, b: number) => encR(Op.OP_32, 1, 0, rd, a, b),
  srlw: (rd: number, a: number, b: number) => encR(Op.OP_32, 5, 0, rd, a, b),
  sraw: (rd: number, a: number, b: number) => encR(Op.OP_32, 5, 0x20, rd, a, b),
  nop: () => 0x00000013,
  fence: () => 0x0ff0000f,
  fence_i: () => 0x0000100f,
  ecall: () => 0x00000073,
  ebreak: () => 0x00100073,
  // M
  mul: (rd: number, a: number, b: number) => encR(Op.OP, 0, 1, rd, a, b),
  mulh: (rd: number, a: number, b: number) => encR(Op.OP, 1, 1, rd, a, b),
  mulhsu: (rd: number, a: number, b: number) => encR(Op.OP, 2, 1, rd, a, b),
  mulhu: (rd: number, a: number, b: number) => encR(Op.OP, 3, 1, rd, a, b),
  div: (rd: number, a: number, b: number) => encR(Op.OP, 4, 1, rd, a, b),
  divu: (rd: number, a: number, b: number) => encR(Op.OP, 5, 1, rd, a, b),
  rem: (rd: number, a: number, b: number) => encR(Op.OP, 6, 1, rd, a, b),
  remu: (rd: number, a: number, b: number) => encR(Op.OP, 7, 1, rd, a, b),
  mulw: (rd: number, a: number, b: number) => encR(Op.OP_32, 0, 1, rd, a, b),
  divw: (rd: number, a: number, b: number) => encR(Op.OP_32, 4, 1, rd, a, b),
  divuw: (rd: number, a: number, b: number) => encR(Op.OP_32, 5, 1, rd, a, b),
  remw: (rd: number, a: number, b: number) => encR(Op.OP_32, 6, 1, rd, a, b),
  remuw: (rd: number, a: number, b: number) => encR(Op.OP_32, 7, 1, rd, a, b),
  // A: funct5, width 2 (W) or 3 (D)
  amo: (f5: number, w: number, rd: number, rs1: number, rs2: number, aq = 0, rl = 0) =>
    encR(Op.AMO, w, (f5 << 2) | (aq << 1) | rl, rd, rs1, rs2),
  // Zicsr
  csrrw: (rd: number, csr: number, rs1: number) => encI(Op.SYSTEM, 1, rd, rs1, csr),
  csrrs: (rd: number, csr: number, rs1: number) => encI(Op.SYSTEM, 2, rd, rs1, csr),
  csrrc: (rd: number, csr: number, rs1: number) => encI(Op.SYSTEM, 3, rd, rs1, csr),
  csrrwi: (rd: number, csr: number, uimm: number) => encI(Op.SYSTEM, 5, rd, uimm, csr),
  csrrsi: (rd: number, csr: number, uimm: number) => encI(Op.SYSTEM, 6, rd, uimm, csr),
  csrrci: (rd: number, csr: number, uimm: number) => encI(Op.SYSTEM, 7, rd, uimm, csr),
  // privileged
  mret: () => 0x30200073,
  sret: () => 0x10200073,
  wfi: () => 0x10500073,
  sfence_vma: (rs1 = 0, rs2 = 0) => encR(Op.SYSTEM, 0, 0x09, 0, rs1, rs2),
  // FP loads/stores
  flw: (rd: number, rs1: number, imm: number) => encI(Op.LOAD_FP, 2, rd, rs1, imm),
  fld: (rd: number, rs1: number, imm: number) => encI(Op.LOAD_FP, 3, rd, rs1, imm),
  fsw: (rs2: number, rs1: number, imm: number) => encS(Op.STORE_FP, 2, rs1, rs2, imm),
  fsd: (rs2: number, rs1: number, imm: number) => encS(Op.STORE_FP, 3, rs1, rs2, imm),
};

export const AMO = {
  add: 0x00,
  swap: 0x01,
  lr: 0x02,
  sc: 0x03,
  xor: 0x04,
  or: 0x08,
  and: 0x0c,
  min: 0x10,
  max: 0x14,
  minu: 0x18,
  maxu: 0x1c,
} as const;

const cr = (v: number): number => v & 0xffff;
const rp = (r: number): number => {
  if (r < 8 || r > 15) throw new Error(`x${r} is not a compressed register`);
  return r - 8;
};
const b = (v: number, i: number): number => (v >> i) & 1;
const bs = (v: number, hi: number, lo: number): number => (v >> lo) & ((1 << (hi - lo + 1)) - 1);

/** Compressed encoders (unprivileged spec ch. 16). */
export const C = {
  addi4spn: (rd: number, imm: number) =>
    cr((bs(imm, 5, 4) << 11) | (bs(imm, 9, 6) << 7) | (b(imm, 2) << 6) | (b(imm, 3) << 5) | (rp(rd) << 2)),
  fld: (rd: number, rs1: number, imm: number) =>
    cr((1 << 13) | (bs(imm, 5, 3) << 10) | (rp(rs1) << 7) | (bs(imm, 7, 6) << 5) | (rp(rd) << 2)),
  lw: (rd: number, rs1: number, imm: number) =>
    cr((2 << 13) | (bs(imm, 5, 3) << 10) | (rp(rs1) << 7) | (b(imm, 2) << 6) | (b(imm, 6) << 5) | (rp(rd) << 2)),
  ld: (rd: number, rs1: number, imm: number) =>
    cr((3 << 13) | (bs(imm, 5, 3) << 10) | (rp(rs1) << 7) | (bs(imm, 7, 6) << 5) | (rp(rd) << 2)),
  fsd: (rs2: number, rs1: number, imm: number) =>
    cr((5 << 13) | (bs(imm, 5, 3) << 10) | (rp(rs1) << 7) | (bs(imm, 7, 6) << 5) | (rp(rs2) << 2)),
  sw: (rs2: number, rs1: number, imm: number) =>
    cr((6 << 13) | (bs(imm, 5, 3) << 10) | (rp(rs1) << 7) | (b(imm, 2) << 6) | (b(imm, 6) << 5) | (rp(rs2) << 2)),
  sd: (rs2: number, rs1: number, imm: number) =>
    cr((7 << 13) | (bs(imm, 5, 3) << 10) | (rp(rs1) << 7) | (bs(imm, 7, 6) << 5) | (rp(rs2) << 2)),
  nop: () => 0x0001,
  addi: (rd: number, imm: number) => cr((0 << 13) | (b(imm, 5) << 12) | (rd << 7) | (bs(imm, 4, 0) << 2) | 1),
  addiw: (rd: number, imm: number) => cr((1 << 13) | (b(imm, 5) << 12) | (rd << 7) | (bs(imm, 4, 0) << 2) | 1),
  li: (rd: number, imm: number) => cr((2 << 13) | (b(imm, 5) << 12) | (rd << 7) | (bs(imm, 4, 0) << 2) | 1),
  addi16sp: (imm: number) =>
    cr(
      (3 << 13) |
        (b(imm, 9) << 12) |
        (2 << 7) |
        (b(imm, 4) << 6) |
        (b(imm, 6) << 5) |
        (bs(imm, 8, 7) << 3) |
        (b(imm, 5) << 2) |
        1,
    ),
  lui: (rd: number, imm: number) => cr((3 << 13) | (b(imm, 17) << 12) | (rd << 7) | (bs(imm, 16, 12) << 2) | 1),
  srli: (rd: number, sh: number) =>
    cr((4 << 13) | (b(sh, 5) << 12) | (0 << 10) | (rp(rd) << 7) | (bs(sh, 4, 0) << 2) | 1),
  srai: (rd: number, sh: number) =>
    cr((4 << 13) | (b(sh, 5) << 12) | (1 << 10) | (rp(rd) << 7) | (bs(sh, 4, 0) << 2) | 1),
  andi: (rd: number, imm: number) =>
    cr((4 << 13) | (b(imm, 5) << 12) | (2 << 10) | (rp(rd) << 7) | (bs(imm, 4, 0) << 2) | 1),
  sub: (rd: number, rs2: number) => cr((4 << 13) | (3 << 10) | (rp(rd) << 7) | (0 << 5) | (rp(rs2) << 2) | 1),
  xor: (rd: number, rs2: number) => cr((4 << 13) | (3 << 10) | (rp(rd) << 7) | (1 << 5) | (rp(rs2) << 2) | 1),
  or: (rd: number, rs2: number) => cr((4 << 13) | (3 << 10) | (rp(rd) << 7) | (2 << 5) | (rp(rs2) << 2) | 1),
  and: (rd: number, rs2: number) => cr((4 << 13) | (3 << 10) | (rp(rd) << 7) | (3 << 5) | (rp(rs2) << 2) | 1),
  subw: (rd: number, rs2: number) =>
    cr((4 << 13) | (1 << 12) | (3 << 10) | (rp(rd) << 7) | (0 << 5) | (rp(rs2) << 2) | 1),
  addw: (rd: number, rs2: number) =>
    cr((4 << 13) | (1 << 12) | (3 << 10) | (rp(rd) << 7) | (1 << 5) | (rp(rs2) << 2) | 1),
  j: (off: number) =>
    cr(
      (5 << 13) |
        (b(off, 11) << 12) |
        (b(off, 4) << 11) |
        (bs(off, 9, 8) << 9) |
        (b(off, 10) << 8) |
        (b(off, 6) << 7) |
        (b(off, 7) << 6) |
        (bs(off, 3, 1) << 3) |
        (b(off, 5) << 2) |
        1,
    ),
  beqz: (rs1: number, off: number) =>
    cr(
      (6 << 13) |
        (b(off, 8) << 12) |
        (bs(off, 4, 3) << 10) |
        (rp(rs1) << 7) |
        (bs(off, 7, 6) << 5) |
        (bs(off, 2, 1) << 3) |
        (b(off, 5) << 2) |
        1,
    ),
  bnez: (rs1: number, off: number) =>
    cr(
      (7 << 13) |
        (b(off, 8) << 12) |
        (bs(off, 4, 3) << 10) |
        (rp(rs1) << 7) |
        (bs(off, 7, 6) << 5) |
        (bs(off, 2, 1) << 3) |
        (b(off, 5) << 2) |
        1,
    ),
  slli: (rd: number, sh: number) => cr((0 << 13) | (b(sh, 5) << 12) | (rd << 7) | (bs(sh, 4, 0) << 2) | 2),
  fldsp: (rd: number, imm: number) =>
    cr((1 << 13) | (b(imm, 5) << 12) | (rd << 7) | (bs(imm, 4, 3) << 5) | (bs(imm, 8, 6) << 2) | 2),
  lwsp: (rd: number, imm: number) =>
    cr((2 << 13) | (b(imm, 5) << 12) | (rd << 7) | (bs(imm, 4, 2) << 4) | (bs(imm, 7, 6) << 2) | 2),
  ldsp: (rd: number, imm: number) =>
    cr((3 << 13) | (b(imm, 5) << 12) | (rd << 7) | (bs(imm, 4, 3) << 5) | (bs(imm, 8, 6) << 2) | 2),
  jr: (rs1: number) => cr((4 << 13) | (rs1 << 7) | 2),
  mv: (rd: number, rs2: number) => cr((4 << 13) | (rd << 7) | (rs2 << 2) | 2),
  ebreak: () => 0x9002,
  jalr: (rs1: number) => cr((4 << 13) | (1 << 12) | (rs1 << 7) | 2),
  add: (rd: number, rs2: number) => cr((4 << 13) | (1 << 12) | (rd << 7) | (rs2 << 2) | 2),
  fsdsp: (rs2: number, imm: number) => cr((5 << 13) | (bs(imm, 5, 3) << 10) | (bs(imm, 8, 6) << 7) | (rs2 << 2) | 2),
  swsp: (rs2: number, imm: number) => cr((6 << 13) | (bs(imm, 5, 2) << 9) | (bs(imm, 7, 6) << 7) | (rs2 << 2) | 2),
  sdsp: (rs2: number, imm: number) => cr((7 << 13) | (bs(imm, 5, 3) << 10) | (bs(imm, 8, 6) << 7) | (rs2 << 2) | 2),
};

/** Re-exported for tests that compare expansions. */
export { expandCompressed };

/** Sequence of instructions to lay out in memory: numbers > 0xffff (or with low bits 11) are 32-bit. */
export class Prog {
  readonly bytes: number[] = [];
  /** Append a 32-bit instruction. */
  i(...insns: number[]): this {
    for (const v of insns) this.bytes.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
    return this;
  }
  /** Append a 16-bit instruction. */
  c(...insns: number[]): this {
    for (const v of insns) this.bytes.push(v & 255, (v >>> 8) & 255);
    return this;
  }
  get size(): number {
    return this.bytes.length;
  }
  toBytes(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** Instructions that load a 64-bit constant into rd (lui/addiw/slli/addi chain; uses only rd). */
export function li64(rd: number, v: bigint): number[] {
  v = BigInt.asIntN(64, v);
  if (v >= -2048n && v < 2048n) return [A.addi(rd, 0, Number(v))];
  if (v >= -(2n ** 31n) && v < 2n ** 31n) {
    const n = Number(v);
    const lo = (n << 20) >> 20;
    const hi = (n - lo) | 0;
    const out = [A.lui(rd, hi)];
    if (lo !== 0) out.push(A.addiw(rd, rd, lo));
    return out;
  }
  // split: upper part, shift, then add 11-bit chunks
  const lo12 = BigInt.asIntN(12, v);
  const rest = (v - lo12) >> 12n;
  const out = li64(rd, rest);
  out.push(A.slli(rd, rd, 12));
  if (lo12 !== 0n) out.push(A.addi(rd, rd, Number(lo12)));
  return out;
}

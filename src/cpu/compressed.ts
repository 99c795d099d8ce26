/**
 * RV64C: every 16-bit instruction expands to one 32-bit instruction with the
 * same effect (unprivileged spec ch. 16, "C" extension; table 16.5-16.7 for
 * RV64 encodings). The hart looks the expansion up in a 64 Ki-entry table
 * built once; 0 marks a reserved or illegal encoding (raised with tval = the
 * 16-bit instruction). HINT encodings expand to instructions without effect.
 */
import { encB, encI, encJ, encR, encS, encU, Op } from './encode.js';

const bit = (v: number, i: number): number => (v >> i) & 1;
const bits = (v: number, hi: number, lo: number): number => (v >> lo) & ((1 << (hi - lo + 1)) - 1);
/** Sign-extend the low `n` bits of v. */
const sext = (v: number, n: number): number => (v << (32 - n)) >> (32 - n);

/** Expand one compressed instruction (low two bits != 3). Returns 0 when reserved/illegal. */
export function expandCompressed(c: number): number {
  const op = c & 3;
  const f3 = (c >> 13) & 7;
  const rdp = 8 + bits(c, 4, 2); // rd'/rs2'
  const rs1p = 8 + bits(c, 9, 7); // rs1'/rd'
  const rd = bits(c, 11, 7);
  const rs2 = bits(c, 6, 2);
  if (op === 0) {
    switch (f3) {
      case 0: {
        // C.ADDI4SPN: nzuimm[5:4|9:6|2|3] = c[12:11|10:7|6|5]
        const imm = (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bit(c, 6) << 2) | (bit(c, 5) << 3);
        if (imm === 0) return 0; // includes the all-zero illegal instruction
        return encI(Op.OP_IMM, 0, rdp, 2, imm);
      }
      case 1: // C.FLD
        return encI(Op.LOAD_FP, 3, rdp, rs1p, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      case 2: // C.LW
        return encI(Op.LOAD, 2, rdp, rs1p, (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6));
      case 3: // C.LD
        return encI(Op.LOAD, 3, rdp, rs1p, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      case 5: // C.FSD
        return encS(Op.STORE_FP, 3, rs1p, rdp, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      case 6: // C.SW
        return encS(Op.STORE, 2, rs1p, rdp, (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6));
      case 7: // C.SD
        return encS(Op.STORE, 3, rs1p, rdp, (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6));
      default:
        return 0; // f3 = 4 reserved
    }
  }
  if (op === 1) {
    const imm6 = sext((bit(c, 12) << 5) | bits(c, 6, 2), 6);
    switch (f3) {
      case 0: // C.ADDI (rd=0 or imm=0: HINT)
        return encI(Op.OP_IMM, 0, rd, rd, imm6);
      case 1: // C.ADDIW (RV64); rd=0 reserved
        if (rd === 0) return 0;
        return encI(Op.OP_IMM_32, 0, rd, rd, imm6);
      case 2: // C.LI
        return encI(Op.OP_IMM, 0, rd, 0, imm6);
      case 3: {
        if (rd === 2) {
          // C.ADDI16SP: nzimm[9|4|6|8:7|5] = c[12|6|5|4:3|2]
          const imm = sext(
            (bit(c, 12) << 9) | (bit(c, 6) << 4) | (bit(c, 5) << 6) | (bits(c, 4, 3) << 7) | (bit(c, 2) << 5),
            10,
          );
          if (imm === 0) return 0;
          return encI(Op.OP_IMM, 0, 2, 2, imm);
        }
        // C.LUI: nzimm[17|16:12]; imm=0 reserved
        if (imm6 === 0) return 0;
        return encU(Op.LUI, rd, imm6 << 12);
      }
      case 4: {
        const f2 = bits(c, 11, 10);
        const shamt = (bit(c, 12) << 5) | bits(c, 6, 2);
        if (f2 === 0) return encI(Op.OP_IMM, 5, rs1p, rs1p, shamt); // C.SRLI
        if (f2 === 1) return encI(Op.OP_IMM, 5, rs1p, rs1p, shamt | 0x400); // C.SRAI
        if (f2 === 2) return encI(Op.OP_IMM, 7, rs1p, rs1p, imm6); // C.ANDI
        const f = bits(c, 6, 5);
        if (bit(c, 12) === 0) {
          if (f === 0) return encR(Op.OP, 0, 0x20, rs1p, rs1p, rdp); // C.SUB
          if (f === 1) return encR(Op.OP, 4, 0, rs1p, rs1p, rdp); // C.XOR
          if (f === 2) return encR(Op.OP, 6, 0, rs1p, rs1p, rdp); // C.OR
          return encR(Op.OP, 7, 0, rs1p, rs1p, rdp); // C.AND
        }
        if (f === 0) return encR(Op.OP_32, 0, 0x20, rs1p, rs1p, rdp); // C.SUBW
        if (f === 1) return encR(Op.OP_32, 0, 0, rs1p, rs1p, rdp); // C.ADDW
        return 0;
      }
      case 5: {
        // C.J: offset[11|4|9:8|10|6|7|3:1|5] = c[12|11|10:9|8|7|6|5:3|2]
        const off = sext(
          (bit(c, 12) << 11) |
            (bit(c, 11) << 4) |
            (bits(c, 10, 9) << 8) |
            (bit(c, 8) << 10) |
            (bit(c, 7) << 6) |
            (bit(c, 6) << 7) |
            (bits(c, 5, 3) << 1) |
            (bit(c, 2) << 5),
          12,
        );
        return encJ(Op.JAL, 0, off);
      }
      default: {
        // C.BEQZ / C.BNEZ: offset[8|4:3|7:6|2:1|5] = c[12|11:10|6:5|4:3|2]
        const off = sext(
          (bit(c, 12) << 8) | (bits(c, 11, 10) << 3) | (bits(c, 6, 5) << 6) | (bits(c, 4, 3) << 1) | (bit(c, 2) << 5),
          9,
        );
        return encB(Op.BRANCH, f3 === 6 ? 0 : 1, rs1p, 0, off);
      }
    }
  }
  if (op === 2) {
    switch (f3) {
      case 0: // C.SLLI (rd=0: HINT)
        return encI(Op.OP_IMM, 1, rd, rd, (bit(c, 12) << 5) | bits(c, 6, 2));
      case 1: // C.FLDSP: uimm[5|4:3|8:6] = c[12|6:5|4:2]
        return encI(Op.LOAD_FP, 3, rd, 2, (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6));
      case 2: // C.LWSP: uimm[5|4:2|7:6] = c[12|6:4|3:2]; rd=0 reserved
        if (rd === 0) return 0;
        return encI(Op.LOAD, 2, rd, 2, (bit(c, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6));
      case 3: // C.LDSP; rd=0 reserved
        if (rd === 0) return 0;
        return encI(Op.LOAD, 3, rd, 2, (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6));
      case 4:
        if (bit(c, 12) === 0) {
          if (rs2 === 0) {
            if (rd === 0) return 0; // C.JR with rs1=0 reserved
            return encI(Op.JALR, 0, 0, rd, 0); // C.JR
          }
          return encR(Op.OP, 0, 0, rd, 0, rs2); // C.MV (rd=0: HINT)
        }
        if (rs2 === 0) {
          if (rd === 0) return 0x00100073; // C.EBREAK
          return encI(Op.JALR, 0, 1, rd, 0); // C.JALR
        }
        return encR(Op.OP, 0, 0, rd, rd, rs2); // C.ADD (rd=0: HINT)
      case 5: // C.FSDSP: uimm[5:3|8:6] = c[12:10|9:7]
        return encS(Op.STORE_FP, 3, 2, rs2, (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6));
      case 6: // C.SWSP: uimm[5:2|7:6] = c[12:9|8:7]
        return encS(Op.STORE, 2, 2, rs2, (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6));
      default: // C.SDSP
        return encS(Op.STORE, 3, 2, rs2, (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6));
    }
  }
  return 0;
}

let table: Int32Array | null = null;

/** The expansion table, indexed by the 16-bit instruction (entries with low bits 11 stay 0). */
export function compressedTable(): Int32Array {
  if (table === null) {
    table = new Int32Array(65536);
    for (let c = 0; c < 65536; c++) if ((c & 3) !== 3) table[c] = expandCompressed(c) | 0;
  }
  return table;
}

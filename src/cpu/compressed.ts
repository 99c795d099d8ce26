/**
 * RV64C: every 16-bit instruction expands to one 32-bit instruction with the
 * same effect (unprivileged spec ch. 16, "C" extension; table 16.5-16.7 for
 * RV64 encodings). The interpreter and the translator expand each one when
 * they meet it, by a switch on the quadrant and funct3 (no table: a 64 Ki-entry
 * one, 256 KiB, missed the host's caches in cold code; docs/cpu.md); 0 marks a
 * reserved or illegal encoding (raised with tval = the 16-bit instruction).
 * HINT encodings expand to instructions without effect.
 */
/** S-type: imm[11:5] to bits 31:25, imm[4:0] to 11:7. */
const sType = (op: number, f3: number, rs1: number, rs2: number, imm: number): number =>
  ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | op;

/** B-type from a sign-extended offset. */
const bType = (f3: number, rs1: number, off: number): number =>
  (((off >> 12) & 1) << 31) |
  (((off >> 5) & 0x3f) << 25) |
  (rs1 << 15) |
  (f3 << 12) |
  (((off >> 1) & 0xf) << 8) |
  (((off >> 11) & 1) << 7) |
  0x63;

/**
 * Expand one compressed instruction (low two bits != 3) to its 32-bit equivalent as an int32
 * (the interpreter's `insn` stays a small integer). Returns 0 when reserved/illegal. Each case
 * gathers its immediate's scattered bits with one shift and mask per run of bits (the comments
 * give the spec's order); the encodings are those of encode.ts, written out.
 */
export function expandCompressed(c: number): number {
  const rd = (c >> 7) & 31; // rd/rs1 (quadrants 1 and 2)
  const rs2 = (c >> 2) & 31;
  const rdp = 8 + ((c >> 2) & 7); // rd'/rs2'
  const rs1p = 8 + ((c >> 7) & 7); // rs1'/rd'
  // imm[5] = c[12], imm[4:0] = c[6:2], sign-extended (C.ADDI, C.LI, C.ANDI, ...)
  const imm6 = ((((c >> 7) & 0x20) | ((c >> 2) & 0x1f)) << 26) >> 26;
  // funct3 << 2 | quadrant
  switch (((c >> 11) & 0x1c) | (c & 3)) {
    case 0: {
      // C.ADDI4SPN: nzuimm[5:4|9:6|2|3] = c[12:11|10:7|6|5]
      const imm = ((c >> 7) & 0x30) | ((c >> 1) & 0x3c0) | ((c >> 4) & 4) | ((c >> 2) & 8);
      if (imm === 0) return 0; // includes the all-zero illegal instruction
      return (imm << 20) | (2 << 15) | (rdp << 7) | 0x13;
    }
    case 4: // C.FLD: uimm[5:3|7:6] = c[12:10|6:5]
      return ((((c >> 7) & 0x38) | ((c << 1) & 0xc0)) << 20) | (rs1p << 15) | (3 << 12) | (rdp << 7) | 0x07;
    case 8: // C.LW: uimm[5:3|2|6] = c[12:10|6|5]
      return (
        ((((c >> 7) & 0x38) | ((c >> 4) & 4) | ((c << 1) & 0x40)) << 20) | (rs1p << 15) | (2 << 12) | (rdp << 7) | 0x03
      );
    case 12: // C.LD
      return ((((c >> 7) & 0x38) | ((c << 1) & 0xc0)) << 20) | (rs1p << 15) | (3 << 12) | (rdp << 7) | 0x03;
    case 20: // C.FSD
      return sType(0x27, 3, rs1p, rdp, ((c >> 7) & 0x38) | ((c << 1) & 0xc0));
    case 24: // C.SW
      return sType(0x23, 2, rs1p, rdp, ((c >> 7) & 0x38) | ((c >> 4) & 4) | ((c << 1) & 0x40));
    case 28: // C.SD
      return sType(0x23, 3, rs1p, rdp, ((c >> 7) & 0x38) | ((c << 1) & 0xc0));
    case 1: // C.ADDI (rd=0 or imm=0: HINT)
      return (imm6 << 20) | (rd << 15) | (rd << 7) | 0x13;
    case 5: // C.ADDIW (RV64); rd=0 reserved
      if (rd === 0) return 0;
      return (imm6 << 20) | (rd << 15) | (rd << 7) | 0x1b;
    case 9: // C.LI
      return (imm6 << 20) | (rd << 7) | 0x13;
    case 13: {
      if (rd === 2) {
        // C.ADDI16SP: nzimm[9|4|6|8:7|5] = c[12|6|5|4:3|2]
        const imm =
          ((((c >> 3) & 0x200) | ((c >> 2) & 0x10) | ((c << 1) & 0x40) | ((c << 4) & 0x180) | ((c << 3) & 0x20)) <<
            22) >>
          22;
        if (imm === 0) return 0;
        return (imm << 20) | (2 << 15) | (2 << 7) | 0x13;
      }
      // C.LUI: nzimm[17|16:12]; imm=0 reserved
      if (imm6 === 0) return 0;
      return (imm6 << 12) | (rd << 7) | 0x37;
    }
    case 17: {
      const shamt = ((c >> 7) & 0x20) | ((c >> 2) & 0x1f);
      switch ((c >> 10) & 3) {
        case 0: // C.SRLI
          return (shamt << 20) | (rs1p << 15) | (5 << 12) | (rs1p << 7) | 0x13;
        case 1: // C.SRAI
          return ((shamt | 0x400) << 20) | (rs1p << 15) | (5 << 12) | (rs1p << 7) | 0x13;
        case 2: // C.ANDI
          return (imm6 << 20) | (rs1p << 15) | (7 << 12) | (rs1p << 7) | 0x13;
      }
      const r = (rdp << 20) | (rs1p << 15) | (rs1p << 7);
      switch (((c >> 10) & 4) | ((c >> 5) & 3)) {
        case 0: // C.SUB
          return 0x40000000 | r | 0x33;
        case 1: // C.XOR
          return r | (4 << 12) | 0x33;
        case 2: // C.OR
          return r | (6 << 12) | 0x33;
        case 3: // C.AND
          return r | (7 << 12) | 0x33;
        case 4: // C.SUBW
          return 0x40000000 | r | 0x3b;
        case 5: // C.ADDW
          return r | 0x3b;
        default:
          return 0;
      }
    }
    case 21: {
      // C.J: offset[11|4|9:8|10|6|7|3:1|5] = c[12|11|10:9|8|7|6|5:3|2]
      const off =
        ((((c >> 1) & 0xb40) |
          ((c >> 7) & 0x10) |
          ((c << 2) & 0x400) |
          ((c << 1) & 0x80) |
          ((c >> 2) & 0xe) |
          ((c << 3) & 0x20)) <<
          20) >>
        20;
      // JAL x0: imm[20|10:1|11|19:12] at bits 31|30:21|20|19:12
      return (
        (((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) | (off & 0xff000) | 0x6f
      );
    }
    case 25: // C.BEQZ
    case 29: {
      // C.BNEZ: offset[8|4:3|7:6|2:1|5] = c[12|11:10|6:5|4:3|2]
      const off =
        ((((c >> 4) & 0x100) | ((c >> 7) & 0x18) | ((c << 1) & 0xc0) | ((c >> 2) & 6) | ((c << 3) & 0x20)) << 23) >> 23;
      return bType((c >> 13) & 1, rs1p, off);
    }
    case 2: // C.SLLI (rd=0: HINT)
      return ((((c >> 7) & 0x20) | rs2) << 20) | (rd << 15) | (1 << 12) | (rd << 7) | 0x13;
    case 6: // C.FLDSP: uimm[5|4:3|8:6] = c[12|6:5|4:2]
      return (
        ((((c >> 7) & 0x20) | ((c >> 2) & 0x18) | ((c << 4) & 0x1c0)) << 20) | (2 << 15) | (3 << 12) | (rd << 7) | 0x07
      );
    case 10: // C.LWSP: uimm[5|4:2|7:6] = c[12|6:4|3:2]; rd=0 reserved
      if (rd === 0) return 0;
      return (
        ((((c >> 7) & 0x20) | ((c >> 2) & 0x1c) | ((c << 4) & 0xc0)) << 20) | (2 << 15) | (2 << 12) | (rd << 7) | 0x03
      );
    case 14: // C.LDSP; rd=0 reserved
      if (rd === 0) return 0;
      return (
        ((((c >> 7) & 0x20) | ((c >> 2) & 0x18) | ((c << 4) & 0x1c0)) << 20) | (2 << 15) | (3 << 12) | (rd << 7) | 0x03
      );
    case 18:
      if ((c & 0x1000) === 0) {
        if (rs2 === 0) {
          if (rd === 0) return 0; // C.JR with rs1=0 reserved
          return (rd << 15) | 0x67; // C.JR
        }
        return (rs2 << 20) | (rd << 7) | 0x33; // C.MV (rd=0: HINT)
      }
      if (rs2 === 0) {
        if (rd === 0) return 0x00100073; // C.EBREAK
        return (rd << 15) | (1 << 7) | 0x67; // C.JALR
      }
      return (rs2 << 20) | (rd << 15) | (rd << 7) | 0x33; // C.ADD (rd=0: HINT)
    case 22: // C.FSDSP: uimm[5:3|8:6] = c[12:10|9:7]
      return sType(0x27, 3, 2, rs2, ((c >> 7) & 0x38) | ((c >> 1) & 0x1c0));
    case 26: // C.SWSP: uimm[5:2|7:6] = c[12:9|8:7]
      return sType(0x23, 2, 2, rs2, ((c >> 7) & 0x3c) | ((c >> 1) & 0xc0));
    case 30: // C.SDSP
      return sType(0x23, 3, 2, rs2, ((c >> 7) & 0x38) | ((c >> 1) & 0x1c0));
    default:
      return 0; // Q0 funct3 4 (reserved), and 32-bit encodings
  }
}

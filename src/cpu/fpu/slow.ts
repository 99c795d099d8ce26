/**
 * Glue between register bits and the BigInt reference path (soft.ts): the rare cases of the FPU.
 * Each function decodes the instruction again, computes the result exactly and ORs the flags into fflags.
 */
import {
  F32,
  F64,
  type Fmt,
  soft,
  softAdd,
  softCvtFF,
  softCvtFromInt,
  softCvtToInt,
  softDiv,
  softFma,
  softMul,
  softSqrt,
  unpack,
  type Val,
} from './soft.js';
import type { FpState } from './state.js';

/** Canonical NaN of single precision, used for improperly NaN-boxed inputs (spec "NaN Boxing"). */
const CANON_S = 0x7fc00000n;

export function readD(h: FpState, r: number): bigint {
  return (BigInt(h.fi[2 * r + 1]! >>> 0) << 32n) | BigInt(h.fi[2 * r]! >>> 0);
}

export function readS(h: FpState, r: number): bigint {
  return h.fi[2 * r + 1] === -1 ? BigInt(h.fi[2 * r]! >>> 0) : CANON_S;
}

function writeF(h: FpState, fmt: Fmt, r: number, bits: bigint): void {
  if (fmt === F64) {
    h.fi[2 * r] = Number(bits & 0xffffffffn) | 0;
    h.fi[2 * r + 1] = Number(bits >> 32n) | 0;
  } else {
    h.fi[2 * r] = Number(bits) | 0;
    h.fi[2 * r + 1] = -1;
  }
}

function writeX(h: FpState, rd: number, v: bigint): void {
  if (rd === 0) return;
  h.x[2 * rd] = Number(BigInt.asIntN(32, v));
  h.x[2 * rd + 1] = Number(BigInt.asIntN(32, v >> 32n));
}

function operand(h: FpState, fmt: Fmt, r: number): Val {
  return unpack(fmt, fmt === F64 ? readD(h, r) : readS(h, r));
}

function readXU(h: FpState, r: number): bigint {
  return (BigInt(h.x[2 * r + 1]! >>> 0) << 32n) | BigInt(h.x[2 * r]! >>> 0);
}

/**
 * OP-FP instructions that round: FADD/FSUB/FMUL/FDIV/FSQRT, FCVT between formats and from/to integers.
 * `rm` is already resolved (0..4). The caller has validated the encoding.
 */
export function slowOp(h: FpState, insn: number, rm: number): void {
  const f7 = insn >>> 25;
  const rd = (insn >>> 7) & 31;
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  const fmt = f7 & 1 ? F64 : F32;
  soft.flags = 0;
  switch (f7 >>> 2) {
    case 0x00:
      writeF(h, fmt, rd, softAdd(fmt, operand(h, fmt, rs1), operand(h, fmt, rs2), rm));
      break;
    case 0x01: {
      const b = operand(h, fmt, rs2);
      b.neg = !b.neg;
      writeF(h, fmt, rd, softAdd(fmt, operand(h, fmt, rs1), b, rm));
      break;
    }
    case 0x02:
      writeF(h, fmt, rd, softMul(fmt, operand(h, fmt, rs1), operand(h, fmt, rs2), rm));
      break;
    case 0x03:
      writeF(h, fmt, rd, softDiv(fmt, operand(h, fmt, rs1), operand(h, fmt, rs2), rm));
      break;
    case 0x0b:
      writeF(h, fmt, rd, softSqrt(fmt, operand(h, fmt, rs1), rm));
      break;
    case 0x08: {
      // FCVT.S.D (f7 0x20) / FCVT.D.S (f7 0x21)
      const from = fmt === F64 ? F32 : F64;
      writeF(h, fmt, rd, softCvtFF(fmt, operand(h, from, rs1), rm));
      break;
    }
    case 0x18: {
      // FCVT.{W,WU,L,LU}.{S,D}
      const width = rs2 & 2 ? 64 : 32;
      const v = softCvtToInt(operand(h, fmt, rs1), width, (rs2 & 1) === 0, rm);
      writeX(h, rd, width === 32 ? BigInt.asIntN(32, v) : v);
      break;
    }
    case 0x1a: {
      // FCVT.{S,D}.{W,WU,L,LU}
      const u = readXU(h, rs1);
      let v: bigint;
      if (rs2 === 0) v = BigInt.asIntN(32, u);
      else if (rs2 === 1) v = BigInt.asUintN(32, u);
      else if (rs2 === 2) v = BigInt.asIntN(64, u);
      else v = u;
      writeF(h, fmt, rd, softCvtFromInt(fmt, v, rm));
      break;
    }
  }
  h.fflags |= soft.flags;
}

/** FMADD/FMSUB/FNMSUB/FNMADD through the exact path; rm already resolved. */
export function slowFma(h: FpState, insn: number, rm: number): void {
  const op = insn & 0x7f;
  const fmt = (insn >>> 25) & 1 ? F64 : F32;
  const rd = (insn >>> 7) & 31;
  soft.flags = 0;
  const a = operand(h, fmt, (insn >>> 15) & 31);
  const b = operand(h, fmt, (insn >>> 20) & 31);
  const c = operand(h, fmt, insn >>> 27);
  // 0x43 a*b+c, 0x47 a*b-c, 0x4b -(a*b)+c, 0x4f -(a*b)-c
  const negProd = op === 0x4b || op === 0x4f;
  const negC = op === 0x47 || op === 0x4f;
  writeF(h, fmt, rd, softFma(fmt, a, b, c, negProd, negC, rm));
  h.fflags |= soft.flags;
}

/**
 * The block translator: one block of guest code (RV64IMC integer instructions, up to the first
 * jump, the end of its 4 KiB page or MAX_BLOCK instructions; a conditional branch leaves the
 * block when taken and lets it go on when not, so a block is a superblock) to one WebAssembly
 * function body.
 *
 * The function is `(state: i32, tlb: i32, budget: i32) -> i32`: `state` is the byte offset of
 * the hart's state area (state.ts), `tlb` the byte address of the data TLB set the loads and
 * stores use (chosen by the caller from privilege, MPRV, SUM and MXR), `budget` how many
 * instructions it may retire. It returns how many it retired and leaves the pc of the next one
 * in the state area. The registers a block uses live in i64 locals; the ones it writes go back
 * to the state area at every exit.
 *
 * Exactness: anything the block cannot finish by itself ends it *before* that instruction, with
 * the pc of that instruction and the count of those before it, so the interpreter executes it
 * with the state it would have had: a load or store that misses the TLB, is misaligned, or
 * touches a page without a write mapping (MMIO, code pages, the HTIF mailbox) leaves at that
 * instruction (a side exit); the interpreter then fills the TLB, raises the fault or performs
 * the access exactly as it always does. Instructions the translator does not know (CSR, SYSTEM,
 * LR/SC, FP, FENCE.I, the B extensions) end the block the same way. So translated code
 * never raises a trap and never needs to undo anything.
 *
 * A block whose last instruction jumps back to its own start loops inside the function while
 * the budget allows another pass.
 */

import { MSTATUS_FS, MSTATUS_MXR, MSTATUS_SIE, MSTATUS_SUM, PAUSE, SSTATUS_RMASK, SSTATUS_WMASK } from '../arch.js';
import { expandCompressed } from '../compressed.js';
import {
  MSTATUS_OFF,
  PC_OFF,
  R_HI,
  R_OFF,
  R_TAG,
  RES_OFF,
  S_TRAP_OFF,
  STOP_CSR,
  STOP_ECALL,
  STOP_OFF,
  W_HI,
  W_OFF,
  W_TAG,
  X_OFF,
} from './state.js';
import { Atomic, Code, I32, I64, Op, VOID } from './wasm.js';

/** Longest block, in instructions. */
export const MAX_BLOCK = 64;

// locals: 0 state, 1 tlb, 2 budget, 3..33 x1..x31, then temporaries
const P_STATE = 0;
const P_TLB = 1;
const P_BUDGET = 2;
const REG0 = 2; // x[r] is local REG0 + r
const CNT = 34;
const T0 = 35;
const T1 = 36;
const VA = 37;
const E = 38;
const NPC = 39;
// i64 temporaries of MULH, MULHSU, MULHU
const MA = 40;
const MB = 41;
const MID = 42;

/** A translated block: the function body and how many instructions one pass through it retires. */
export interface Block {
  body: Code;
  length: number;
  /** Bytes of guest code it was made from (from its pc on). */
  bytes: number;
  /** Why it ends (`endReason`): a jump, its page's end, its length, or the instruction it does not translate. */
  end: string;
}

/** CSR names for the block-end statistic (the others are shown by number). */
const CSR_NAMES = new Map<number, string>([
  [0x100, 'sstatus'],
  [0x104, 'sie'],
  [0x105, 'stvec'],
  [0x140, 'sscratch'],
  [0x141, 'sepc'],
  [0x142, 'scause'],
  [0x143, 'stval'],
  [0x144, 'sip'],
  [0x180, 'satp'],
  [0x14d, 'stimecmp'],
  [0xc00, 'cycle'],
  [0xc01, 'time'],
  [0xc02, 'instret'],
  [0x001, 'fflags'],
  [0x002, 'frm'],
  [0x003, 'fcsr'],
]);

/** The class of an instruction the translator left to the interpreter, for the block-end statistic. */
export function endReason(insn: number): string {
  const f3 = (insn >> 12) & 7;
  switch (insn & 0x7f) {
    case 0x73: {
      if (f3 === 0) {
        if (insn === 0x10200073) return 'sret';
        if (insn === 0x30200073) return 'mret';
        if (insn === 0x10500073) return 'wfi';
        if (insn === 0x73) return 'ecall';
        if ((insn & 0xfe007fff) === 0x12000073) return 'sfence.vma';
        return 'system';
      }
      const csr = insn >>> 20;
      const op = ['', 'csrrw', 'csrrs', 'csrrc', '', 'csrrwi', 'csrrsi', 'csrrci'][f3];
      return `${op} ${CSR_NAMES.get(csr) ?? `0x${csr.toString(16)}`}`;
    }
    case 0x2f:
      return (insn >>> 27 === 2 ? 'lr' : insn >>> 27 === 3 ? 'sc' : 'amo') + (f3 === 2 ? '.w' : '.d');
    case 0x0f:
      return f3 === 1 ? 'fence.i' : 'misc-mem';
    case 0x07:
    case 0x27:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
    case 0x53:
      return 'fp';
    case 0x13:
    case 0x1b:
    case 0x33:
    case 0x3b:
      return 'zb';
    default:
      return 'other';
  }
}

const MASK64 = (1n << 64n) - 1n;

/** Guest code as the translator reads it: 16-bit parcels of one RAM page. */
export interface CodeSource {
  /** RAM as 16-bit parcels. */
  u16: Uint16Array;
  /** PAUSE ends the hart's run (HartOptions.pauseExits): left to the interpreter. */
  pauseExits?: boolean;
}

class Emitter {
  readonly c = new Code();
  /** The privilege the block is made for (blocks are keyed by it): CSR access rules depend on it. */
  constructor(
    readonly priv: number,
    readonly pauseExits: boolean,
  ) {}
  readonly used = new Uint8Array(32);
  readonly written = new Uint8Array(32);
  /** MULH* need three more i64 locals (MA, MB, MID): declared only then, as every local is zeroed at each call. */
  mulTemps = false;

  getR(r: number): void {
    if (r === 0) this.c.i64(0, 0);
    else {
      this.used[r] = 1;
      this.c.get(REG0 + r);
    }
  }
  /** Pop the value on the stack into x[r] (dropped for x0). */
  setR(r: number): void {
    if (r === 0) this.c.op(Op.drop);
    else {
      this.used[r] = 1;
      this.written[r] = 1;
      this.c.set(REG0 + r);
    }
  }
  pcConst(pc: bigint): void {
    this.c.i64(Number(BigInt.asIntN(32, pc)), Number(BigInt.asIntN(32, pc >> 32n)));
  }
  /** Leave the block before instruction k (at pc): `depth` is the br depth of the outer block. */
  exitAt(k: number, pc: bigint, depth: number): void {
    this.pcConst(pc);
    this.c.set(NPC);
    this.c.get(CNT).i32(k).op(Op.i32Add).set(CNT);
    this.c.byte(Op.br).u32(depth);
  }
  addCnt(n: number): void {
    this.c.get(CNT).i32(n).op(Op.i32Add).set(CNT);
  }
  /** Push the effective address rs1 + imm (i64) into T0, its low word into VA, and the TLB entry address into E. */
  address(rs1: number, imm: number): void {
    const c = this.c;
    this.getR(rs1);
    c.i64(imm, imm >> 31)
      .op(Op.i64Add)
      .set(T0);
    c.get(T0).op(Op.i32WrapI64).tee(VA);
    c.i32(12).op(Op.i32ShrU).i32(1023).op(Op.i32And).i32(2).op(Op.i32Shl).get(P_TLB).op(Op.i32Add).set(E);
  }
  /** Side exit unless the TLB (tag and high word at tagOff, hiOff) maps VA and the access of `size` bytes is aligned. */
  tlbCheck(tagOff: number, hiOff: number, size: number, k: number, pc: bigint): void {
    const c = this.c;
    c.get(E).mem(Op.i32Load, 2, tagOff).get(VA).i32(-4096).op(Op.i32And).op(Op.i32Ne);
    c.get(E).mem(Op.i32Load, 2, hiOff).get(T0).i64(32, 0).op(Op.i64ShrU).op(Op.i32WrapI64).op(Op.i32Ne);
    c.op(Op.i32Or);
    if (size > 1)
      c.get(VA)
        .i32(size - 1)
        .op(Op.i32And)
        .op(Op.i32Or);
    c.op(Op.if).byte(VOID);
    this.exitAt(k, pc, 2);
    c.op(Op.end);
    // the RAM offset (RAM sits at offset 0 of the memory)
    c.get(E)
      .mem(Op.i32Load, 2, tagOff === R_TAG ? R_OFF : W_OFF)
      .get(VA)
      .i32(4095)
      .op(Op.i32And)
      .op(Op.i32Add);
  }
}

const LOADS = [Op.i64Load8S, Op.i64Load16S, Op.i64Load32S, Op.i64Load, Op.i64Load8U, Op.i64Load16U, Op.i64Load32U];
const STORES = [Op.i64Store8, Op.i64Store16, Op.i64Store32, Op.i64Store];

/**
 * Emit one 32-bit (or expanded compressed) instruction. Returns 0 when it was emitted and the
 * block goes on, 1 when it was emitted and ended the block (a jump or branch), 2 when the block
 * ends before it with a stop (an ECALL), -1 when it cannot be translated (nothing emitted).
 */
function emitInsn(m: Emitter, insn: number, k: number, pc: bigint, ilen: number, start: bigint): number {
  const c = m.c;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const f3 = (insn >> 12) & 7;
  const next = (pc + BigInt(ilen)) & MASK64;
  switch (insn & 0x7f) {
    case 0x13: {
      // OP-IMM
      const imm = insn >> 20;
      let op: number;
      switch (f3) {
        case 0:
          op = Op.i64Add;
          break;
        case 2:
        case 3:
          if (rd === 0) return 0;
          m.getR(rs1);
          c.i64(imm, imm >> 31)
            .op(f3 === 2 ? Op.i64LtS : Op.i64LtU)
            .op(Op.i64ExtendI32U);
          m.setR(rd);
          return 0;
        case 4:
          op = Op.i64Xor;
          break;
        case 6:
          op = Op.i64Or;
          break;
        case 7:
          op = Op.i64And;
          break;
        case 1:
          if (insn >>> 26 !== 0) return -1; // SLLI only; the rest is Zbb/Zbs
          if (rd === 0) return 0;
          m.getR(rs1);
          c.i64(rs2 | (insn & (1 << 25) ? 32 : 0), 0).op(Op.i64Shl);
          m.setR(rd);
          return 0;
        default: {
          // 5: SRLI (funct6 0), SRAI (0x10)
          const f6 = insn >>> 26;
          if (f6 !== 0 && f6 !== 0x10) return -1;
          if (rd === 0) return 0;
          m.getR(rs1);
          c.i64((insn >> 20) & 63, 0).op(f6 === 0 ? Op.i64ShrU : Op.i64ShrS);
          m.setR(rd);
          return 0;
        }
      }
      if (rd === 0) return 0;
      m.getR(rs1);
      c.i64(imm, imm >> 31).op(op);
      m.setR(rd);
      return 0;
    }
    case 0x1b: {
      // OP-IMM-32
      let op: number;
      let b: number;
      if (f3 === 0) {
        op = Op.i32Add;
        b = insn >> 20;
      } else if (f3 === 1 && insn >>> 25 === 0) {
        op = Op.i32Shl;
        b = rs2;
      } else if (f3 === 5 && (insn >>> 25 === 0 || insn >>> 25 === 0x20)) {
        op = insn >>> 25 === 0 ? Op.i32ShrU : Op.i32ShrS;
        b = rs2;
      } else return -1;
      if (rd === 0) return 0;
      m.getR(rs1);
      c.op(Op.i32WrapI64).i32(b).op(op).op(Op.i64ExtendI32S);
      m.setR(rd);
      return 0;
    }
    case 0x33:
      return emitOp(m, insn, rd, rs1, rs2, f3);
    case 0x3b:
      return emitOp32(m, insn, rd, rs1, rs2, f3);
    case 0x37: // LUI
      if (rd === 0) return 0;
      c.i64(insn & -4096, (insn & -4096) >> 31);
      m.setR(rd);
      return 0;
    case 0x17: {
      // AUIPC
      if (rd === 0) return 0;
      m.pcConst((pc + BigInt(insn & -4096)) & MASK64);
      m.setR(rd);
      return 0;
    }
    case 0x03: {
      // LOAD
      if (f3 === 7) return -1;
      m.address(rs1, insn >> 20);
      m.tlbCheck(R_TAG, R_HI, 1 << (f3 & 3), k, pc);
      c.mem(LOADS[f3]!, 0, 0);
      m.setR(rd);
      return 0;
    }
    case 0x23: {
      // STORE
      if (f3 > 3) return -1;
      m.address(rs1, ((insn >> 20) & -32) | ((insn >> 7) & 31));
      m.tlbCheck(W_TAG, W_HI, 1 << f3, k, pc);
      m.getR(rs2);
      c.mem(STORES[f3]!, 0, 0);
      return 0;
    }
    case 0x2f:
      return emitAmo(m, insn, rd, rs1, rs2, f3, k, pc);
    case 0x73:
      if (insn === 0x73) {
        // ECALL in S-mode (a hypercall in PV mode): leave before it with the stop word saying so;
        // jit.ts offers it to the hypervisor's hook and goes on in translated code when it is made
        if (m.priv !== 1) return -1;
        c.get(P_STATE).i32(STOP_ECALL).mem(Op.i32Store, 2, STOP_OFF);
        m.pcConst(pc);
        c.set(NPC);
        m.addCnt(k);
        return 2;
      }
      return emitCsr(m, insn, rd, rs1, f3, k, next);
    case 0x0f: // MISC-MEM: FENCE is a no-op; FENCE.I (flushes translations) and the illegal ones go to the interpreter
      // (so does PAUSE on a hart whose PAUSE exits: HartOptions.pauseExits)
      return f3 === 0 && !(insn === PAUSE && m.pauseExits) ? 0 : -1;
    case 0x63: {
      // BRANCH
      let cmp: number;
      switch (f3) {
        case 0:
          cmp = Op.i64Eq;
          break;
        case 1:
          cmp = Op.i64Ne;
          break;
        case 4:
          cmp = Op.i64LtS;
          break;
        case 5:
          cmp = Op.i64GeS;
          break;
        case 6:
          cmp = Op.i64LtU;
          break;
        case 7:
          cmp = Op.i64GeU;
          break;
        default:
          return -1;
      }
      const imm = ((insn >> 31) << 12) | ((insn << 4) & 0x800) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
      const target = (pc + BigInt(imm)) & MASK64;
      // taken: leave (or go round again); not taken: the block goes on (a superblock)
      m.getR(rs1);
      m.getR(rs2);
      c.op(cmp).op(Op.if).byte(VOID);
      m.addCnt(k + 1);
      // the block's length is not known yet: another pass needs at most MAX_BLOCK
      if (target === start) loopAgain(m, MAX_BLOCK, 1);
      m.pcConst(target);
      c.set(NPC).byte(Op.br).u32(2);
      c.op(Op.end);
      return 0;
    }
    case 0x6f: {
      // JAL
      const imm = ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
      const target = (pc + BigInt(imm)) & MASK64;
      m.addCnt(k + 1);
      if (rd !== 0) {
        m.pcConst(next);
        m.setR(rd);
      }
      if (target === start) loopAgain(m, k + 1, 0);
      m.pcConst(target);
      c.set(NPC);
      return 1;
    }
    case 0x67: {
      // JALR
      if (f3 !== 0) return -1;
      m.addCnt(k + 1);
      const imm = insn >> 20;
      m.getR(rs1);
      c.i64(imm, imm >> 31)
        .op(Op.i64Add)
        .i64(-2, -1)
        .op(Op.i64And)
        .set(NPC);
      if (rd !== 0) {
        m.pcConst(next);
        m.setR(rd);
      }
      return 1;
    }
    default:
      return -1;
  }
}

/** The AMOs of this funct5 (LR and SC are not among them: their reservation stays with the interpreter). */
const AMO_OPS = new Set([0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c]);

/**
 * AMO*.W and AMO*.D (AMOSWAP, AMOADD, AMOXOR, AMOAND, AMOOR, AMOMIN[U], AMOMAX[U]): the write
 * TLB must map the address and it must be naturally aligned, as for a store; otherwise the
 * block leaves before it and the interpreter raises the misaligned or access fault, walks the
 * page table or finds no RAM, exactly as it always does (amo.ts). The old value (sign-extended
 * for .W) goes to rd; the result of the operation to memory, in one wasm atomic instruction
 * (MIN/MAX: a compare-and-swap loop), so harts on other threads never see a lost update.
 * Atomic instructions are sequentially consistent, so aq/rl need nothing more.
 */
function emitAmo(m: Emitter, insn: number, rd: number, rs1: number, rs2: number, f3: number, k: number, pc: bigint) {
  const f5 = insn >>> 27;
  if (f3 !== 2 && f3 !== 3) return -1;
  if (f5 === 2 || f5 === 3) return emitLrSc(m, f5 === 2, f3 === 2, rd, rs1, rs2, k, pc);
  if (!AMO_OPS.has(f5)) return -1;
  const c = m.c;
  const w = f3 === 2;
  const align = w ? 2 : 3;
  m.address(rs1, 0);
  m.tlbCheck(W_TAG, W_HI, w ? 4 : 8, k, pc);
  c.set(E); // the RAM offset
  const rmw =
    f5 === 0x01
      ? Atomic.xchg
      : f5 === 0x00
        ? Atomic.add
        : f5 === 0x04
          ? Atomic.xor
          : f5 === 0x0c
            ? Atomic.and
            : f5 === 0x08
              ? Atomic.or
              : -1;
  if (rmw >= 0) {
    c.get(E);
    m.getR(rs2);
    if (w) c.op(Op.i32WrapI64);
    c.atomic(w ? rmw : rmw + 1, align, 0);
    if (w) c.op(Op.i64ExtendI32S);
    m.setR(rd);
    return 0;
  }
  // AMOMIN (0x10), AMOMAX (0x14), AMOMINU (0x18), AMOMAXU (0x1c): T1 = select(old, rs2, old
  // wins), stored only if memory still holds old (otherwise again). rs2 is sign-extended for
  // .W: sign extension keeps both the signed and the unsigned order of 32-bit values.
  const b = () => {
    m.getR(rs2);
    if (w) c.op(Op.i32WrapI64).op(Op.i64ExtendI32S);
  };
  const lt = f5 === 0x10 || f5 === 0x14 ? Op.i64LtS : Op.i64LtU;
  c.op(Op.loop).byte(VOID);
  c.get(E);
  if (w) c.atomic(Atomic.i32Load, 2, 0).op(Op.i64ExtendI32S);
  else c.atomic(Atomic.i64Load, 3, 0);
  c.set(T0);
  c.get(T0);
  b();
  if (f5 === 0x10 || f5 === 0x18) {
    c.get(T0);
    b();
  } else {
    b();
    c.get(T0);
  }
  c.op(lt).op(Op.select).set(T1);
  c.get(E).get(T0);
  if (w) c.op(Op.i32WrapI64);
  c.get(T1);
  if (w) c.op(Op.i32WrapI64);
  c.atomic(w ? Atomic.cmpxchg : Atomic.cmpxchg + 1, align, 0);
  c.get(T0);
  if (w) c.op(Op.i32WrapI64).op(Op.i32Ne);
  else c.op(Op.i64Ne);
  c.byte(Op.brIf).u32(0);
  c.op(Op.end);
  c.get(T0);
  m.setR(rd);
  return 0;
}

/**
 * LR.W/D and SC.W/D with the reservation in the state area (amo.ts's rule: SC succeeds when a
 * reservation exists for the same RAM offset and size and memory still holds the value LR
 * read). LR checks the read TLB, SC the write TLB, both with natural alignment, as the
 * interpreter's atomicOffset does; otherwise the block leaves before them and the interpreter
 * faults or walks the page table. An SC without a reservation that would miss the TLB leaves
 * too: the interpreter then fails it without translating the address, as it always does.
 * SC is one compare-and-swap of the reserved value (QEMU's multi-threaded TCG does the same),
 * so the check and the store are one step for harts on other threads.
 */
function emitLrSc(m: Emitter, lr: boolean, w: boolean, rd: number, rs1: number, rs2: number, k: number, pc: bigint) {
  if (lr && rs2 !== 0) return -1; // reserved encoding: the interpreter raises the illegal instruction
  const c = m.c;
  const size = w ? 4 : 8;
  m.address(rs1, 0);
  m.tlbCheck(lr ? R_TAG : W_TAG, lr ? R_HI : W_HI, size, k, pc);
  c.set(E); // the RAM offset
  if (lr) {
    c.get(E);
    if (w) c.atomic(Atomic.i32Load, 2, 0).op(Op.i64ExtendI32S);
    else c.atomic(Atomic.i64Load, 3, 0);
    c.set(T0);
    c.get(P_STATE).i32(1).mem(Op.i32Store, 2, RES_OFF);
    c.get(P_STATE)
      .get(E)
      .mem(Op.i32Store, 2, RES_OFF + 4);
    c.get(P_STATE)
      .i32(size)
      .mem(Op.i32Store, 2, RES_OFF + 8);
    // lo, hi (hi = lo >> 31 for .W: the sign-extended value)
    c.get(P_STATE)
      .get(T0)
      .mem(Op.i64Store, 2, RES_OFF + 12);
    c.get(T0);
    m.setR(rd);
    return 0;
  }
  // ok = valid && offset and size match && cmpxchg(reserved value -> rs2) found the reserved
  // value; the reservation is gone either way
  c.get(P_STATE).mem(Op.i32Load, 2, RES_OFF).op(Op.if).byte(I32);
  c.get(P_STATE).i32(0).mem(Op.i32Store, 2, RES_OFF);
  c.get(P_STATE)
    .mem(Op.i32Load, 2, RES_OFF + 4)
    .get(E)
    .op(Op.i32Eq);
  c.get(P_STATE)
    .mem(Op.i32Load, 2, RES_OFF + 8)
    .i32(size)
    .op(Op.i32Eq)
    .op(Op.i32And);
  c.op(Op.if).byte(I32);
  const expected = () => c.get(P_STATE).mem(w ? Op.i32Load : Op.i64Load, 2, RES_OFF + 12);
  c.get(E);
  expected();
  m.getR(rs2);
  if (w) c.op(Op.i32WrapI64);
  c.atomic(w ? Atomic.cmpxchg : Atomic.cmpxchg + 1, w ? 2 : 3, 0);
  expected();
  c.op(w ? Op.i32Eq : Op.i64Eq);
  c.op(Op.else).i32(0).op(Op.end);
  c.op(Op.else).i32(0).op(Op.end);
  if (rd !== 0) {
    c.set(VA);
    c.i32(1).get(VA).op(Op.i32Sub).op(Op.i64ExtendI32U);
    m.setR(rd);
  } else c.op(Op.drop);
  return 0;
}

/** sstatus and where sscratch, sepc, scause and stval live in the state area (their CSR numbers). */
const CSR_SSTATUS = 0x100;
const S_TRAP_CSRS = new Map([
  [0x140, S_TRAP_OFF],
  [0x141, S_TRAP_OFF + 8],
  [0x142, S_TRAP_OFF + 16],
  [0x143, S_TRAP_OFF + 24],
]);

/**
 * CSRRW, CSRRS, CSRRC and their immediate forms on sstatus, sscratch, sepc, scause and stval,
 * in S-mode or M-mode (a U-mode block leaves them to the interpreter, which raises the illegal
 * instruction). With the state in the state area they are loads and stores, with csr.ts's WARL
 * rules: sstatus reads through SSTATUS_RMASK with SD and UXL in its high word and writes
 * SSTATUS_WMASK of mstatus; sepc clears bit 0; scause keeps bit 63 and the low word.
 *
 * A write to sstatus that sets SIE, or changes SUM or MXR, ends the block after it and stops the
 * dispatcher (STOP_OFF): the interpreter then takes a pending interrupt at the next instruction
 * and chooses the data TLB set again, exactly as after its own CSR write. Any other write cannot
 * make an interrupt deliverable or change a translation, so the block goes on.
 */
function emitCsr(m: Emitter, insn: number, rd: number, rs1: number, f3: number, k: number, next: bigint): number {
  const op = f3 & 3;
  const csr = insn >>> 20;
  if (op === 0 || m.priv < 1) return -1;
  const off = S_TRAP_CSRS.get(csr);
  if (csr !== CSR_SSTATUS && off === undefined) return -1;
  const c = m.c;
  const write = op === 1 || rs1 !== 0;
  // the old value into T0 (for sstatus, mstatus's low word into VA)
  if (off === undefined) {
    c.get(P_STATE).mem(Op.i32Load, 2, MSTATUS_OFF).tee(VA);
    c.i32(SSTATUS_RMASK).op(Op.i32And).op(Op.i64ExtendI32U).i64(0, 2).op(Op.i64Or);
    c.i64(0, 0x80000000 | 0).i64(0, 0);
    c.get(VA).i32(MSTATUS_FS).op(Op.i32And).i32(MSTATUS_FS).op(Op.i32Eq).op(Op.select);
    c.op(Op.i64Or).set(T0);
  } else c.get(P_STATE).mem(Op.i64Load, 3, off).set(T0);
  if (write) {
    // the value to write into T1
    if (f3 & 4) c.i64(rs1, 0);
    else m.getR(rs1);
    if (op === 2) c.get(T0).op(Op.i64Or);
    else if (op === 3) c.i64(-1, -1).op(Op.i64Xor).get(T0).op(Op.i64And);
    c.set(T1);
    if (off === undefined) {
      // new mstatus into E, stored; then leave if it sets SIE or changes SUM or MXR
      c.get(VA).i32(~SSTATUS_WMASK).op(Op.i32And);
      c.get(T1).op(Op.i32WrapI64).i32(SSTATUS_WMASK).op(Op.i32And).op(Op.i32Or).set(E);
      c.get(P_STATE).get(E).mem(Op.i32Store, 2, MSTATUS_OFF);
      if (rd !== 0) {
        c.get(T0);
        m.setR(rd);
      }
      c.get(E).get(VA).i32(-1).op(Op.i32Xor).op(Op.i32And).i32(MSTATUS_SIE).op(Op.i32And);
      c.get(E)
        .get(VA)
        .op(Op.i32Xor)
        .i32(MSTATUS_SUM | MSTATUS_MXR)
        .op(Op.i32And)
        .op(Op.i32Or);
      c.op(Op.if).byte(VOID);
      c.get(P_STATE).i32(STOP_CSR).mem(Op.i32Store, 2, STOP_OFF);
      m.exitAt(k + 1, next, 2);
      c.op(Op.end);
      return 0;
    }
    c.get(P_STATE).get(T1);
    if (csr === 0x141)
      c.i64(-2, -1).op(Op.i64And); // sepc: bit 0 is always zero (IALIGN 16)
    else if (csr === 0x142) c.i64(-1, 0x80000000 | 0).op(Op.i64And); // scause: the interrupt bit and the code
    c.mem(Op.i64Store, 3, off!);
  }
  if (rd !== 0) {
    c.get(T0);
    m.setR(rd);
  }
  return 0;
}

/** Go round the block again (br to the loop at `depth`) when the budget allows another pass of `len`. */
function loopAgain(m: Emitter, len: number, depth: number): void {
  m.c.get(P_BUDGET).get(CNT).op(Op.i32Sub).i32(len).op(Op.i32GeS).byte(Op.brIf).u32(depth);
}

/** OP (0x33): RV64I and M without MULH*. */
function emitOp(m: Emitter, insn: number, rd: number, rs1: number, rs2: number, f3: number): number {
  const f7 = insn >>> 25;
  let op = -1;
  if (f7 === 0) op = [Op.i64Add, Op.i64Shl, -2, -3, Op.i64Xor, Op.i64ShrU, Op.i64Or, Op.i64And][f3]!;
  else if (f7 === 0x20) op = f3 === 0 ? Op.i64Sub : f3 === 5 ? Op.i64ShrS : -1;
  else if (f7 === 1) {
    if (f3 === 0) op = Op.i64Mul;
    else if (f3 >= 4) {
      if (rd !== 0) divide(m, rs1, rs2, f3, false);
      if (rd !== 0) m.setR(rd);
      return 0;
    } else {
      if (rd !== 0) mulHigh(m, rs1, rs2, f3);
      if (rd !== 0) m.setR(rd);
      return 0;
    }
  }
  if (op === -1) return -1;
  if (rd === 0) return 0;
  m.getR(rs1);
  m.getR(rs2);
  if (op === -2 || op === -3) m.c.op(op === -2 ? Op.i64LtS : Op.i64LtU).op(Op.i64ExtendI32U);
  else m.c.op(op);
  m.setR(rd);
  return 0;
}

/** OP-32 (0x3b): the W forms of RV64I and M. */
function emitOp32(m: Emitter, insn: number, rd: number, rs1: number, rs2: number, f3: number): number {
  const f7 = insn >>> 25;
  let op = -1;
  if (f7 === 0) op = f3 === 0 ? Op.i32Add : f3 === 1 ? Op.i32Shl : f3 === 5 ? Op.i32ShrU : -1;
  else if (f7 === 0x20) op = f3 === 0 ? Op.i32Sub : f3 === 5 ? Op.i32ShrS : -1;
  else if (f7 === 1) {
    if (f3 === 0) op = Op.i32Mul;
    else if (f3 >= 4) {
      if (rd === 0) return 0;
      divide(m, rs1, rs2, f3, true);
      m.setR(rd);
      return 0;
    }
  }
  if (op === -1) return -1;
  if (rd === 0) return 0;
  m.getR(rs1);
  m.c.op(Op.i32WrapI64);
  m.getR(rs2);
  m.c.op(Op.i32WrapI64).op(op).op(Op.i64ExtendI32S);
  m.setR(rd);
  return 0;
}

/**
 * MULH (f3 1), MULHSU (2), MULHU (3): the high 64 bits of the 128-bit product, from four 32x32
 * partial products (wasm has no wider multiply); the signed forms subtract what the sign bits
 * add to the unsigned product. Leaves the i64 result on the stack.
 */
function mulHigh(m: Emitter, rs1: number, rs2: number, f3: number): void {
  const c = m.c;
  m.mulTemps = true;
  const lo = (r: number) => c.get(r).i64(-1, 0).op(Op.i64And);
  const hi = (r: number) => c.get(r).i64(32, 0).op(Op.i64ShrU);
  m.getR(rs1);
  c.set(MA);
  m.getR(rs2);
  c.set(MB);
  // MID = (lo a * lo b >>> 32) + lo(lo a * hi b) + lo(hi a * lo b): below 2^34
  lo(MA);
  lo(MB);
  c.op(Op.i64Mul).i64(32, 0).op(Op.i64ShrU);
  lo(MA);
  hi(MB);
  c.op(Op.i64Mul).i64(-1, 0).op(Op.i64And).op(Op.i64Add);
  hi(MA);
  lo(MB);
  c.op(Op.i64Mul).i64(-1, 0).op(Op.i64And).op(Op.i64Add).set(MID);
  // high = hi a * hi b + (lo a * hi b >>> 32) + (hi a * lo b >>> 32) + (MID >>> 32)
  hi(MA);
  hi(MB);
  c.op(Op.i64Mul);
  lo(MA);
  hi(MB);
  c.op(Op.i64Mul).i64(32, 0).op(Op.i64ShrU).op(Op.i64Add);
  hi(MA);
  lo(MB);
  c.op(Op.i64Mul).i64(32, 0).op(Op.i64ShrU).op(Op.i64Add);
  c.get(MID).i64(32, 0).op(Op.i64ShrU).op(Op.i64Add);
  // signed a (MULH, MULHSU): minus b when a < 0; signed b (MULH): minus a when b < 0
  const minusIfNeg = (v: number, sign: number) => {
    c.get(v).i64(0, 0).get(sign).i64(0, 0).op(Op.i64LtS).op(Op.select).op(Op.i64Sub);
  };
  if (f3 !== 3) minusIfNeg(MB, MA);
  if (f3 === 1) minusIfNeg(MA, MB);
}

/**
 * DIV, DIVU, REM, REMU (f3 4-7), or their W forms: the RISC-V results for a zero divisor
 * (all ones, or the dividend) and for the signed overflow (the dividend, or 0), where wasm
 * would trap. Leaves the i64 result on the stack.
 */
function divide(m: Emitter, rs1: number, rs2: number, f3: number, w: boolean): void {
  const c = m.c;
  const ty = w ? I32 : I64;
  const a = () => {
    m.getR(rs1);
    if (w) c.op(Op.i32WrapI64);
  };
  const b = () => {
    m.getR(rs2);
    if (w) c.op(Op.i32WrapI64);
  };
  const eqz = w ? Op.i32Eqz : Op.i64Eqz;
  const minusOne = () => (w ? c.i32(-1) : c.i64(-1, -1));
  b();
  c.op(eqz).op(Op.if).byte(ty);
  if (f3 <= 5) minusOne();
  else a();
  c.op(Op.else);
  if (f3 === 4) {
    // DIV: MIN / -1 = MIN (wasm traps)
    a();
    if (w) c.i32(-0x80000000).op(Op.i32Eq);
    else c.i64(0, -0x80000000).op(Op.i64Eq);
    b();
    minusOne();
    c.op(w ? Op.i32Eq : Op.i64Eq)
      .op(Op.i32And)
      .op(Op.if)
      .byte(ty);
    a();
    c.op(Op.else);
    a();
    b();
    c.op(w ? Op.i32DivS : Op.i64DivS);
    c.op(Op.end);
  } else {
    // DIVU, REM (MIN % -1 = 0 in wasm too), REMU
    a();
    b();
    const ops = w ? [Op.i32DivU, Op.i32RemS, Op.i32RemU] : [Op.i64DivU, Op.i64RemS, Op.i64RemU];
    c.op(ops[f3 - 5]!);
  }
  c.op(Op.end);
  if (w) c.op(Op.i64ExtendI32S);
}

/**
 * Translate the block at virtual pc (64 bits) whose page starts at RAM offset `pageOff`, for
 * privilege `priv`.
 * Returns null when its first instruction cannot be translated.
 */
export function translateBlock(src: CodeSource, pageOff: number, pc: bigint, priv: number): Block | null {
  const m = new Emitter(priv, src.pauseExits === true);
  const c = m.c;
  const start = pc;
  let k = 0;
  let ended = false;
  /** Ends at an ECALL: a pass needs budget for it too (the interpreter executes it with one left). */
  let stop = false;
  let end = 'length';
  while (k < MAX_BLOCK) {
    const po = Number(pc & 4095n);
    let insn = src.u16[(pageOff + po) >> 1]!;
    let ilen = 4;
    if ((insn & 3) === 3) {
      if (po === 4094) {
        end = 'page-crossing';
        break; // its upper half is on the next page: the interpreter fetches it
      }
      insn |= src.u16[((pageOff + po) >> 1) + 1]! << 16;
    } else {
      insn = expandCompressed(insn);
      ilen = 2;
      if (insn === 0) {
        end = 'illegal';
        break;
      }
    }
    const r = emitInsn(m, insn, k, pc, ilen, start);
    if (r < 0) {
      end = endReason(insn);
      break;
    }
    if (r === 2) {
      ended = true;
      stop = true;
      end = endReason(insn);
      break;
    }
    k++;
    pc = (pc + BigInt(ilen)) & MASK64;
    if (r === 1) {
      ended = true;
      end = 'jump';
      break;
    }
    if ((pc & 4095n) === 0n) {
      end = 'page';
      break; // blocks stay on their page
    }
  }
  if (k === 0 && !stop) return null;
  if (!ended) {
    m.addCnt(k);
    m.pcConst(pc);
    c.set(NPC);
  }
  // assemble: locals, prologue, block { loop { code } }, epilogue
  const f = new Code();
  f.u32(5)
    .u32(31)
    .byte(I64)
    .u32(1)
    .byte(I32)
    .u32(2)
    .byte(I64)
    .u32(2)
    .byte(I32)
    .u32(m.mulTemps ? 4 : 1)
    .byte(I64);
  for (let r = 1; r < 32; r++) {
    if (m.used[r])
      f.get(P_STATE)
        .mem(Op.i64Load, 3, X_OFF + 8 * r)
        .set(REG0 + r);
  }
  f.op(Op.block).byte(VOID).op(Op.loop).byte(VOID);
  f.append(c);
  f.op(Op.end).op(Op.end);
  for (let r = 1; r < 32; r++) {
    if (m.written[r])
      f.get(P_STATE)
        .get(REG0 + r)
        .mem(Op.i64Store, 3, X_OFF + 8 * r);
  }
  f.get(P_STATE).get(NPC).mem(Op.i64Store, 3, PC_OFF);
  f.get(CNT).op(Op.end);
  // an ECALL at the end is part of the code the block was made from (FENCE.I compares it)
  const last = Number(pc & 4095n) + (stop ? 4 : 0);
  return { body: f, length: stop ? k + 1 : k, bytes: (last === 0 ? 4096 : last) - Number(start & 4095n), end };
}

/**
 * The dispatcher: a small wasm module (one per hart) that chains translated blocks without
 * returning to JavaScript. Its one export, `run(state, tlb, budget, priv, gen) -> i32`, loops:
 * read the pc from the state area, find its slot, check that the slot holds a block for this pc,
 * high word and privilege, that the execute TLB maps the pc's page to the RAM page the block was
 * made from, that the block was made or checked in FENCE.I generation `gen`, and that the budget
 * allows a whole pass; then `call_indirect` the block through the shared table (every block sits
 * there at its slot) and add what it retired. It returns the total at the first check that fails
 * (or when a block retires nothing); jit.ts looks at why, in JavaScript, and does what is rare:
 * counting a new target, checking a block against memory after a fence, dropping a stale one.
 *
 * A block that stops at an S-mode ECALL (STOP_ECALL) is a hypercall: the dispatcher calls its
 * one import, "m"."ecall"(total, budget) (Jit's hypercall path), without returning to JavaScript
 * first. It answers the new total (the call made: go on at the next block) or its complement
 * (~total: return now, jit.ts knows why).
 */
import {
  JIT_MASK,
  PC_OFF,
  SLOT_GEN,
  SLOT_HI,
  SLOT_LEN,
  SLOT_OFF,
  SLOT_PC,
  SLOT_PRIV,
  STOP_ECALL,
  STOP_OFF,
  X_HI,
  X_OFFS,
  X_TAG,
} from './state.js';
import { Code, I32, memoryType, name, Op, section } from './wasm.js';

// params and locals of `run`
const STATE = 0;
const TLB = 1;
const BUDGET = 2;
const PRIV = 3;
const GEN = 4;
const TOTAL = 5;
const PC = 6;
const HI = 7;
const SLOT = 8; // state + slot * 4
const XE = 9; // state + execute TLB entry * 4
const K = 10;

/** The dispatcher module: imports memory "m"."mem" (at least `minPages`) and table "m"."tab" (`slots` funcrefs). */
export function buildDispatcher(minPages: number, slots: number, shared = false): Uint8Array {
  const out = new Code();
  for (const b of [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) out.byte(b);
  // type 0: the blocks' (i32 i32 i32) -> i32; type 1: run's (i32 x5) -> i32; type 2: ecall's (i32 i32) -> i32
  const type = new Code().u32(3);
  type.byte(0x60).u32(3).byte(I32).byte(I32).byte(I32).u32(1).byte(I32);
  type.byte(0x60).u32(5).byte(I32).byte(I32).byte(I32).byte(I32).byte(I32).u32(1).byte(I32);
  type.byte(0x60).u32(2).byte(I32).byte(I32).u32(1).byte(I32);
  section(out, 1, type);
  // function 0 is the import ecall, function 1 is run
  const imp = new Code().u32(3);
  name(imp, 'm');
  name(imp, 'ecall');
  imp.byte(0x00).u32(2);
  name(imp, 'm');
  name(imp, 'mem');
  memoryType(imp, minPages, shared);
  name(imp, 'm');
  name(imp, 'tab');
  imp.byte(0x01).byte(0x70).byte(0x00).u32(slots);
  section(out, 2, imp);
  section(out, 3, new Code().u32(1).u32(1));
  const exp = new Code().u32(1);
  name(exp, 'run');
  exp.byte(0x00).u32(1);
  section(out, 7, exp);

  const c = new Code();
  c.u32(1).u32(6).byte(I32); // TOTAL PC HI SLOT XE K
  const ld = (base: number, off: number) => c.get(base).mem(Op.i32Load, 2, off);
  c.op(Op.block).byte(0x40).op(Op.loop).byte(0x40);
  ld(STATE, PC_OFF).set(PC);
  ld(STATE, PC_OFF + 4).set(HI);
  // SLOT = state + (((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK) * 4
  c.get(PC).i32(1).op(Op.i32ShrU).get(PC).i32(15).op(Op.i32ShrU).op(Op.i32Xor);
  c.i32(JIT_MASK).op(Op.i32And).i32(2).op(Op.i32Shl).get(STATE).op(Op.i32Add).set(SLOT);
  const leaveIf = () => c.byte(Op.brIf).u32(1);
  ld(SLOT, SLOT_PC).get(PC).op(Op.i32Ne);
  leaveIf();
  // XE = state + ((priv << 10) + ((pc >>> 12) & 1023)) * 4
  c.get(PRIV).i32(10).op(Op.i32Shl).get(PC).i32(12).op(Op.i32ShrU).i32(1023).op(Op.i32And).op(Op.i32Add);
  c.i32(2).op(Op.i32Shl).get(STATE).op(Op.i32Add).set(XE);
  ld(XE, X_TAG).get(PC).i32(-4096).op(Op.i32And).op(Op.i32Ne);
  leaveIf();
  ld(XE, X_HI).get(HI).op(Op.i32Ne);
  leaveIf();
  ld(SLOT, SLOT_HI).get(HI).op(Op.i32Ne);
  leaveIf();
  ld(SLOT, SLOT_PRIV).get(PRIV).op(Op.i32Ne);
  leaveIf();
  ld(XE, X_OFFS);
  ld(SLOT, SLOT_OFF).op(Op.i32Ne);
  leaveIf();
  ld(SLOT, SLOT_GEN).get(GEN).op(Op.i32Ne);
  leaveIf();
  c.get(BUDGET).get(TOTAL).op(Op.i32Sub);
  ld(SLOT, SLOT_LEN).op(Op.i32LtS);
  leaveIf();
  // K = table[slot](state, tlb, budget - total); TOTAL += K; go on while K != 0
  c.get(STATE).get(TLB).get(BUDGET).get(TOTAL).op(Op.i32Sub);
  c.get(SLOT).get(STATE).op(Op.i32Sub).i32(2).op(Op.i32ShrU);
  c.byte(Op.callIndirect).u32(0).u32(0);
  c.tee(K).get(TOTAL).op(Op.i32Add).set(TOTAL);
  ld(STATE, STOP_OFF);
  c.op(Op.if).byte(0x40);
  // a block that wrote a CSR which may enable an interrupt: the interpreter checks before going on
  ld(STATE, STOP_OFF).i32(STOP_ECALL).op(Op.i32Ne).byte(Op.brIf).u32(2);
  // a hypercall: TOTAL = ecall(TOTAL, budget); go on while it is not negative
  c.get(TOTAL).get(BUDGET).byte(Op.call).u32(0).tee(TOTAL).i32(0).op(Op.i32GeS).byte(Op.brIf).u32(1);
  c.get(TOTAL).i32(-1).op(Op.i32Xor).set(TOTAL).byte(Op.br).u32(2);
  c.op(Op.end);
  c.get(K).byte(Op.brIf).u32(0);
  c.op(Op.end).op(Op.end);
  c.get(TOTAL).op(Op.end);
  section(out, 10, new Code().u32(1).u32(c.length).append(c));
  return out.bytes.slice(0, out.length);
}

export type Dispatcher = (state: number, tlb: number, budget: number, priv: number, gen: number) => number;

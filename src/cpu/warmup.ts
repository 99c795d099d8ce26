/**
 * JIT warm-up (opt-in: Hart.warmUpJit()). `Hart.run` is one large function; V8 optimizes it
 * once it is hot, and every path that had never run by then lacks type feedback, so reaching it
 * later throws the optimized code away ("insufficient type feedback") and the whole function is
 * compiled again (100-300 ms each time on the development machine; a Linux boot saw 34 such
 * compiles, 3 with the warm-up). Running a short program that takes every path once gives the
 * optimizer complete feedback, but the resulting code is larger and the steady state measured
 * ~20 % slower, so hosts choose: short runs gain, long runs lose.
 */
import { Exit } from './exits.js';
import { A, AMO, C, li64, Prog } from './test-asm.js';
import type { PhysBus, RamLike, TimeSource } from './types.js';

/** The part of Hart the warm-up drives (kept structural to avoid an import cycle). */
interface WarmHart {
  run(budget: number): number;
  reset(pc: bigint, priv: number): void;
  setX(r: number, v: bigint): void;
  setPc(v: bigint): void;
  getPc(): bigint;
  setCsr(n: number, v: bigint): void;
  setIrq(bit: number, level: boolean): void;
  requestStop(): void;
  priv: number;
  instret: number;
}
type HartCtor = new (
  ram: RamLike,
  bus: PhysBus,
  opts?: { id?: number; time?: TimeSource; virtualM?: boolean },
) => WarmHart;

const BASE = 0x8000_0000;
const HANDLER = BASE + 0x1000;
const S_HANDLER = BASE + 0x1400;
const CROSS = BASE + 0x1ffe; // a 32-bit instruction straddling a page boundary
const DATA = BASE + 0x1_0000;
const ROOT = BASE + 0x2_0000; // Sv39 root; L1 at +0x1000, L0 at +0x2000
const MMIO = 0x1000_0000;
const VPAGE = 0x4000_0000n; // mapped by a 4 KiB page to DATA
const HIGH = -0x8000_0000n; // 0xffffffff80000000: a second mapping of RAM, as Linux uses

const T0 = 5;
const T1 = 6;
const T2 = 7;
const A0 = 10;
const A7 = 17;
const S0 = 8;
const S1 = 9;

/** The main program: every instruction class, fast and slow memory paths, traps, both modes. */
function mainProgram(): Prog {
  const p = new Prog();
  const at = () => BASE + p.size;
  p.i(...li64(S0, BigInt(DATA)), ...li64(S1, BigInt(MMIO)), A.addi(2, S0, 0x400)); // sp
  p.i(...li64(T0, BigInt(HANDLER)), A.csrrw(0, 0x305, T0));
  p.i(...li64(T0, 1n << 13n), A.csrrs(0, 0x300, T0)); // FS = Initial
  p.i(...li64(28, 0x1234_5678_9abc_def0n), ...li64(29, -3n), ...li64(30, 40n), ...li64(31, 5n));
  p.i(...li64(27, 0x1234_5678_9abc_def5n), ...li64(26, 7n), ...li64(25, -7n), ...li64(24, -0x7654_3210_fedc_ba98n));
  // 53-bit operands (the exact double path of 64-bit division), low words above 2^31
  p.i(...li64(23, 0x000f_1234_9abc_def0n), ...li64(22, 0x1_8000_0003n), ...li64(21, -0x000f_1234_9678_9abcn));
  p.i(...li64(20, 3n));
  p.i(...li64(A0, 8n)); // loop counter
  const loop = at();
  // ---- integer ALU: every funct3/funct7, shift amounts 0, < 32 and >= 32 ----
  for (const s of [0, 31, 30]) {
    p.i(
      A.add(T0, 28, s),
      A.sub(T0, 28, s),
      A.sll(T0, 28, s),
      A.slt(T0, 29, s),
      A.sltu(T0, 29, s),
      A.xor(T0, 28, s),
      A.srl(T0, 28, s),
      A.sra(T0, 29, s),
      A.or(T0, 28, s),
      A.and(T0, 28, s),
      A.mul(T0, 28, 29),
      A.mulh(T0, 28, 29),
      A.mulhsu(T0, 28, 29),
      A.mulhu(T0, 28, 29),
      A.div(T0, 28, s),
      A.divu(T0, 28, s),
      A.rem(T0, 28, s),
      A.remu(T0, 28, s),
      A.addw(T0, 28, s),
      A.subw(T0, 28, s),
      A.sllw(T0, 28, s),
      A.srlw(T0, 28, s),
      A.sraw(T0, 29, s),
      A.mulw(T0, 28, s),
      A.divw(T0, 28, s),
      A.divuw(T0, 28, s),
      A.remw(T0, 28, s),
      A.remuw(T0, 28, s),
    );
  }
  // comparisons whose high words are equal (second half of the 64-bit compare), multiplies and
  // divides of every sign combination
  for (const [a, b] of [
    [28, 27],
    [27, 28],
    [26, 25],
    [25, 26],
    [29, 25],
    [24, 28],
    [28, 24],
    [24, 24],
    [26, 31],
    [31, 26],
    [25, 31],
    [23, 22],
    [23, 20],
    [21, 22],
    [21, 20],
    [23, 21],
    [22, 23],
  ] as const) {
    p.i(A.slt(T0, a, b), A.sltu(T0, a, b), A.mul(T0, a, b), A.mulh(T0, a, b), A.mulhsu(T0, a, b));
    p.i(A.mulhu(T0, a, b), A.div(T0, a, b), A.rem(T0, a, b), A.divu(T0, a, b), A.remu(T0, a, b));
    p.i(A.mulw(T0, a, b), A.divw(T0, a, b), A.remw(T0, a, b), A.divuw(T0, a, b), A.remuw(T0, a, b));
    p.i(A.beq(a, b, 8), A.nop(), A.bne(a, b, 8), A.nop(), A.blt(a, b, 8), A.nop());
    p.i(A.bge(a, b, 8), A.nop(), A.bltu(a, b, 8), A.nop(), A.bgeu(a, b, 8), A.nop());
    p.i(A.sd(a, S0, 128), A.amo(AMO.min, 3, T0, S0, b), A.amo(AMO.maxu, 3, T0, S0, b));
  }
  for (const r of [26, 25]) p.i(A.slti(T0, r, 3), A.sltiu(T0, r, 3), A.slti(T0, r, -9), A.sltiu(T0, r, -9));
  for (const sh of [0, 7, 40]) {
    p.i(A.slli(T0, 28, sh), A.srli(T0, 29, sh), A.srai(T0, 29, sh));
  }
  p.i(
    A.addi(T0, 28, -1),
    A.slti(T0, 29, 3),
    A.sltiu(T0, 29, -1),
    A.xori(T0, 28, -1),
    A.ori(T0, 28, 0x7f),
    A.andi(T0, 28, -16),
    A.addiw(T0, 28, 1),
    A.slliw(T0, 28, 3),
    A.srliw(T0, 29, 0),
    A.sraiw(T0, 29, 4),
    A.lui(T0, 0x80000000),
    A.auipc(T0, 0x1000),
    A.fence(),
    A.fence_i(),
  );
  // ---- branches taken and not taken, JAL/JALR ----
  for (const [a, b] of [
    [28, 29],
    [29, 28],
    [28, 28],
  ]) {
    p.i(A.beq(a!, b!, 8), A.nop(), A.bne(a!, b!, 8), A.nop(), A.blt(a!, b!, 8), A.nop());
    p.i(A.bge(a!, b!, 8), A.nop(), A.bltu(a!, b!, 8), A.nop(), A.bgeu(a!, b!, 8), A.nop());
  }
  p.i(A.jal(1, 8), A.nop(), A.auipc(T0, 0), A.jalr(1, T0, 12), A.nop());
  // ---- loads and stores: aligned (TLB), misaligned, MMIO ----
  for (const off of [0, 1, 8]) {
    p.i(A.sd(28, S0, off), A.sw(28, S0, off + 16), A.sh(28, S0, off + 32), A.sb(28, S0, off + 48));
    p.i(A.ld(T0, S0, off), A.lw(T0, S0, off), A.lwu(T0, S0, off), A.lh(T0, S0, off));
    p.i(A.lhu(T0, S0, off), A.lb(T0, S0, off), A.lbu(T0, S0, off));
  }
  p.i(A.lw(T0, S1, 0), A.lbu(T0, S1, 1), A.ld(T0, S1, 8), A.sw(T0, S1, 0), A.sd(T0, S1, 8), A.sb(T0, S1, 3));
  p.i(A.ld(T0, S0, 0xffd)); // crosses a page
  p.i(A.sd(T0, S0, 0xffd));
  // ---- AMOs, LR/SC ----
  for (const w of [2, 3]) {
    for (const f of [AMO.add, AMO.swap, AMO.xor, AMO.or, AMO.and, AMO.min, AMO.max, AMO.minu, AMO.maxu]) {
      p.i(A.amo(f, w, T0, S0, 29));
    }
    p.i(A.amo(AMO.lr, w, T0, S0, 0), A.amo(AMO.sc, w, T1, S0, 29), A.amo(AMO.sc, w, T1, S0, 29));
  }
  // ---- CSRs and counters ----
  p.i(
    A.csrrw(T0, 0x340, 28),
    A.csrrs(T0, 0x340, 29),
    A.csrrc(T0, 0x340, 31),
    A.csrrwi(T0, 0x340, 3),
    A.csrrsi(T0, 0x340, 4),
    A.csrrci(T0, 0x340, 1),
    A.csrrs(T0, 0xc00, 0),
    A.csrrs(T0, 0xc01, 0),
    A.csrrs(T0, 0xc02, 0),
    A.csrrs(T0, 0x300, 0),
    A.csrrs(T0, 0x003, 0),
    A.csrrs(T0, 0x3a0, 0),
  );
  // ---- FP: loads, stores, an OP-FP and an FMA (fadd.d f1,f1,f2; fmadd.d f3,f1,f2,f1) ----
  p.i(A.fld(1, S0, 0), A.flw(2, S0, 8), A.fsd(1, S0, 64), A.fsw(2, S0, 72));
  p.i(0x022080d3, 0x0a2081c3);
  // ---- traps: ECALL, EBREAK, an illegal instruction, a load access fault (handler skips 4 bytes) ----
  p.i(A.ecall(), A.ebreak(), 0xffffffff, ...li64(T1, 0x4000_0000n), A.ld(T0, T1, 0));
  // ---- compressed instructions ----
  p.c(
    C.addi(T0, 3),
    C.li(T1, -2),
    C.addiw(T1, 1),
    C.lui(T2, 0x1f000),
    C.slli(T0, 33),
    C.mv(T2, T0),
    C.add(T2, T0),
    C.addi16sp(-32),
    C.addi16sp(32),
    C.addi4spn(A0 + 2, 16),
    C.sdsp(28, 8),
    C.ldsp(T0, 8),
    C.swsp(28, 16),
    C.lwsp(T0, 16),
    C.sd(14, 8, 24),
    C.ld(14, 8, 24),
    C.sw(14, 8, 28),
    C.lw(14, 8, 28),
    C.fsd(9, 8, 32),
    C.fld(9, 8, 32),
    C.fsdsp(1, 40),
    C.fldsp(1, 40),
    C.srli(13, 3),
    C.srai(13, 3),
    C.andi(13, 7),
    C.sub(13, 14),
    C.xor(13, 14),
    C.or(13, 14),
    C.and(13, 14),
    C.subw(13, 14),
    C.addw(13, 14),
    C.beqz(13, 4),
    C.nop(),
    C.bnez(13, 4),
    C.nop(),
    C.j(4),
    C.nop(),
  );
  p.i(A.auipc(T0, 0));
  p.c(C.addi(T0, 10), C.jalr(T0), C.nop(), C.nop(), C.nop());
  // ---- a 32-bit instruction across a page boundary, then back ----
  p.i(...li64(T0, BigInt(CROSS)), A.jalr(1, T0, 0));
  // ---- WFI with a pending enabled interrupt (completes), then an interrupt taken at once ----
  p.i(A.csrrci(0, 0x300, 8), A.csrrsi(0, 0x304, 2), A.csrrsi(0, 0x344, 2), A.wfi(), A.csrrsi(0, 0x300, 8));
  p.i(A.nop(), A.nop(), A.csrrci(0, 0x300, 8), A.csrrci(0, 0x304, 2));
  // ---- S-mode under Sv39: walks, A/D updates, SUM, SFENCE, a delegated EBREAK, page fault, SRET ----
  p.i(...li64(T0, (8n << 60n) | BigInt(ROOT >>> 12)), A.csrrw(0, 0x180, T0));
  p.i(...li64(T0, BigInt(S_HANDLER)), A.csrrw(0, 0x105, T0), ...li64(T0, (1n << 13n) | 8n), A.csrrw(0, 0x302, T0));
  p.i(A.csrrsi(0, 0x303, 2), A.csrrsi(0, 0x304, 2)); // SSI delegated and enabled
  p.i(...li64(T0, 3n << 11n), A.csrrc(0, 0x300, T0), ...li64(T0, 1n << 11n), A.csrrs(0, 0x300, T0));
  p.i(A.auipc(T0, 0), A.addi(T0, T0, 16), A.csrrw(0, 0x341, T0), A.mret());
  // now in S-mode
  p.i(...li64(T1, VPAGE), A.ld(T0, T1, 0), A.sd(T0, T1, 8), A.lw(T0, T1, 3), A.amo(AMO.add, 3, T0, T1, 29));
  p.i(...li64(T2, 1n << 18n), A.csrrs(0, 0x100, T2), A.ld(T0, T1, 0), A.csrrc(0, 0x100, T2));
  p.i(A.sfence_vma(T1, 0), A.ld(T0, T1, 0), A.sfence_vma(), A.ebreak());
  // run a few instructions through the kernel-style alias at 0xffffffff80000000 (pc high word changes)
  p.i(...li64(T1, HIGH - BigInt(BASE)), A.auipc(T0, 0));
  p.i(A.add(T0, T0, T1), A.jalr(0, T0, 12), A.nop(), A.nop()); // -> the high alias of the next instruction
  p.i(A.addi(T2, 0, 1), A.auipc(T0, 0), A.sub(T0, T0, T1), A.jalr(0, T0, 12), A.nop()); // back low
  p.i(...li64(T1, 0x5000_0000n), A.ld(T0, T1, 0)); // delegated page fault: stval = 0x50000000
  p.i(A.csrrw(0, 0x140, 28), A.csrrsi(0, 0x100, 2), A.csrrsi(0, 0x144, 2), A.nop(), A.csrrci(0, 0x100, 2)); // S interrupt
  p.i(A.addi(A7, 0, 1), A.ecall(), A.addi(A7, 0, 0)); // back to M
  p.i(A.csrrwi(0, 0x180, 0), A.csrrwi(0, 0x302, 0), A.csrrwi(0, 0x303, 0), A.csrrwi(0, 0x304, 0));
  // ---- loop ----
  p.i(A.addi(A0, A0, -1), A.bne(A0, 0, loop - at()));
  p.i(A.csrrwi(0, 0x300, 0), A.wfi(), A.jal(0, -4)); // nothing pending: run() returns Exit.Wfi
  if (p.size > HANDLER - BASE) throw new Error('warm-up program overlaps its trap handler');
  return p;
}

/** M-mode handler: interrupts clear SSIP; exceptions skip 4 bytes; ECALL with a7 = 1 returns to M. */
function handler(): Prog {
  const p = new Prog();
  p.i(A.csrrs(T0, 0x342, 0), A.bge(T0, 0, 12), A.csrrci(0, 0x344, 2), A.mret());
  p.i(A.csrrs(T0, 0x341, 0), A.addi(T0, T0, 4), A.csrrw(0, 0x341, T0));
  const mppM = li64(T0, 3n << 11n);
  p.i(A.addi(T0, 0, 1), A.bne(A7, T0, 4 * mppM.length + 8), ...mppM, A.csrrs(0, 0x300, T0));
  p.i(A.mret());
  return p;
}

/** S-mode handler: interrupts clear SSIP; exceptions skip 4 bytes; SRET. */
function sHandler(): Prog {
  return new Prog()
    .i(A.csrrs(T0, 0x142, 0), A.bge(T0, 0, 12), A.csrrci(0, 0x144, 2), A.sret())
    .i(A.csrrs(T0, 0x141, 0), A.addi(T0, T0, 4), A.csrrw(0, 0x141, T0), A.sret());
}

class WarmRam implements RamLike {
  readonly base = BASE;
  readonly size = 0x4_0000;
  readonly buffer = new ArrayBuffer(0x4_0000);
  readonly view = new DataView(this.buffer);
  load(pa: number, p: Prog): void {
    new Uint8Array(this.buffer).set(p.toBytes(), pa - BASE);
  }
  w64(pa: number, v: bigint): void {
    this.view.setBigUint64(pa - BASE, v, true);
  }
}

/** Run the warm-up programs on throw-away harts built with `Ctor`; reports how far the main one got. */
export function warmUp(Ctor: HartCtor): { instructions: number; finished: boolean } {
  const ram = new WarmRam();
  let hart: WarmHart | null = null;
  const bus: PhysBus = {
    has: (pa) => pa >= MMIO && pa < MMIO + 0x1000,
    read: (pa) => (pa & 4 ? 0x1234_5678 : 0x0abc_def0),
    write: (pa) => {
      if ((pa & 0xfff) === 0x100) hart?.requestStop();
    },
  };
  ram.load(BASE, mainProgram());
  ram.load(HANDLER, handler());
  ram.load(S_HANDLER, sHandler());
  ram.load(CROSS - 4, new Prog().i(A.nop(), A.addi(5, 5, 1), A.jalr(0, 1, 0)));
  // Sv39: gigapage identity map of RAM; VPAGE -> DATA through two more levels
  const pte = (pa: number, flags: bigint) => ((BigInt(pa) >> 12n) << 10n) | flags;
  ram.w64(ROOT + 2 * 8, pte(BASE, 0xcfn)); // V R W X A D
  ram.w64(ROOT + 510 * 8, pte(BASE, 0xefn)); // the high alias, global
  ram.w64(ROOT + 1 * 8, pte(ROOT + 0x1000, 1n));
  ram.w64(ROOT + 0x1000, pte(ROOT + 0x2000, 1n));
  ram.w64(ROOT + 0x2000, pte(DATA, 0x07n)); // V R W, A/D set by the walker
  // Two different bus and time objects, and a large instret: the hart's fields see the variety
  // of values they will hold later, so V8 does not change their representation mid-run.
  const bus2: PhysBus = { has: (pa) => bus.has(pa), read: (pa, size) => bus.read(pa, size), write: bus.write };
  const time2 = new (class {
    now(): number {
      return 2 ** 40;
    }
  })();
  new Ctor(ram, bus2, { time: time2, id: 1 }).run(0);
  const h = new Ctor(ram, bus, { time: { now: () => 0 } });
  hart = h;
  h.reset(BigInt(BASE), 3);
  h.instret = 2 ** 40;
  let finished = false;
  for (let i = 0; i < 50 && !finished; i++) finished = h.run(20_000) === Exit.Wfi;
  const instructions = h.instret - 2 ** 40;
  // requestStop from a device, external interrupt lines, budget exits
  ram.load(DATA + 0x2000, new Prog().i(...li64(S1, BigInt(MMIO)), A.sw(0, S1, 0x100), A.jal(0, 0)));
  h.setPc(BigInt(DATA + 0x2000));
  h.run(100);
  h.setCsr(0x304, 1n << 7n);
  h.setCsr(0x300, 1n << 3n);
  h.setIrq(7, true);
  h.run(10);
  h.setIrq(7, false);
  // PV mode: ECALL from S and an M-level interrupt leave run() with Exit.MachineTrap
  const pv = new Ctor(ram, bus, { virtualM: true, time: { now: () => 0 } });
  hart = pv;
  ram.load(DATA + 0x3000, new Prog().i(A.ecall(), A.jal(0, -4)));
  pv.reset(BigInt(DATA + 0x3000), 1);
  for (let i = 0; i < 4; i++) {
    pv.run(100);
    pv.setPc(pv.getPc() + 4n);
  }
  pv.setCsr(0x304, 1n << 7n);
  pv.setIrq(7, true);
  pv.run(100);
  pv.setIrq(7, false);
  ram.load(DATA + 0x3000, new Prog().i(0xffffffff)); // illegal: exitTval = 0xffffffff
  pv.setPc(BigInt(DATA + 0x3000));
  pv.run(100);
  return { instructions, finished };
}

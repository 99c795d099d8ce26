/**
 * The translation tier against the interpreter, in lockstep: generated programs (fast-check:
 * random RV64IMC mixes with branches, loads and stores across a page end, misaligned ones,
 * faulting loads, MMIO, AMOs and LR/SC (aligned, misaligned, faulting, on MMIO), CSR accesses
 * (the translated sstatus, sscratch, sepc, scause, stval in every Zicsr form),
 * counters, FENCE/FENCE.I, compressed code) run on two
 * harts, one with the translator and one without, in the same slices; after every slice the
 * architectural state must be identical: exit code, pc, instret, registers, trap CSRs, the
 * data pages and the MMIO log.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Csr } from '../src/cpu/arch.js';
import { encI } from '../src/cpu/encode.js';
import { A, C } from '../src/cpu/test-asm.js';
import { boot, csrrs, csrrw, lockstep, lockstepYielding, machine, type Piece, program } from './support/jit-rig.js';

const reg = fc.integer({ min: 1, max: 20 });
const src = fc.integer({ min: 0, max: 20 });
const creg = fc.integer({ min: 8, max: 15 });
const imm12 = fc.integer({ min: -2048, max: 2047 });
const R_OPS = [
  A.add,
  A.sub,
  A.sll,
  A.slt,
  A.sltu,
  A.xor,
  A.srl,
  A.sra,
  A.or,
  A.and,
  A.mul,
  A.mulh,
  A.mulhsu,
  A.mulhu,
  A.div,
  A.divu,
  A.rem,
  A.remu,
  A.addw,
  A.subw,
  A.sllw,
  A.srlw,
  A.sraw,
  A.mulw,
  A.divw,
  A.divuw,
  A.remw,
  A.remuw,
];
const I_OPS = [A.addi, A.slti, A.sltiu, A.xori, A.ori, A.andi, A.addiw];
const SH_OPS = [A.slli, A.srli, A.srai];
const SHW_OPS = [A.slliw, A.srliw, A.sraiw];
const LOADS = [A.lb, A.lh, A.lw, A.ld, A.lbu, A.lhu, A.lwu];
const STORES = [A.sb, A.sh, A.sw, A.sd];
const BRANCHES = [A.beq, A.bne, A.blt, A.bge, A.bltu, A.bgeu];
/** The AMOs' funct5: SWAP, ADD, XOR, AND, OR, MIN, MAX, MINU, MAXU. */
const AMOS = [0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c];

const piece: fc.Arbitrary<Piece> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(fc.constantFrom(...R_OPS), reg, src, src).map(([f, d, a, b]) => ({ i: [f(d, a, b)] })),
  },
  {
    weight: 5,
    arbitrary: fc.tuple(fc.constantFrom(...I_OPS), reg, src, imm12).map(([f, d, a, v]) => ({ i: [f(d, a, v)] })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...SH_OPS), reg, src, fc.integer({ min: 0, max: 63 }))
      .map(([f, d, a, v]) => ({ i: [f(d, a, v)] })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...SHW_OPS), reg, src, fc.integer({ min: 0, max: 31 }))
      .map(([f, d, a, v]) => ({ i: [f(d, a, v)] })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(reg, fc.integer({ min: 0, max: 0xfffff }))
      .map(([d, v]) => ({ i: [A.lui(d, v << 12), A.auipc(d === 20 ? 19 : d + 1, v << 12)] })),
  },
  // loads and stores around the end of the first data page (x21 = its last 32 bytes), some misaligned
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...LOADS), reg, fc.integer({ min: -64, max: 64 }))
      .map(([f, d, o]) => ({ i: [f(d, 21, o)] })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...STORES), src, fc.integer({ min: -64, max: 64 }))
      .map(([f, s, o]) => ({ i: [f(s, 21, o)] })),
  },
  // a load that faults (access fault, the handler skips it), MMIO
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...LOADS), reg).map(([f, d]) => ({ i: [f(d, 23, 0)] })) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(A.lw, A.lbu, A.sw, A.sb), reg).map(([f, d]) => ({ i: [f(d, 24, 4)] })),
  },
  // AMOs (.W and .D) around the end of the first data page through x22, some misaligned; on
  // MMIO and on nothing (access faults); LR/SC pairs (left to the interpreter) between them
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...AMOS), fc.constantFrom(2, 3), reg, src, fc.integer({ min: -16, max: 16 }))
      .map(([f5, w, d, s, o]) => ({ i: [A.addi(22, 21, o * 4), A.amo(f5, w, d, 22, s)] })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...AMOS),
        fc.constantFrom(2, 3),
        reg,
        src,
        fc.constantFrom(23, 24),
        fc.integer({ min: 0, max: 7 }),
      )
      .map(([f5, w, d, s, base, o]) => ({ i: [A.addi(22, base, o), A.amo(f5, w, d, 22, s)] })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(2, 3), reg, src, fc.integer({ min: -4, max: 4 }))
      .map(([w, d, s, o]) => ({ i: [A.addi(22, 21, o * 8), A.amo(0x02, w, d, 22, 0), A.amo(0x03, w, d, 22, s)] })),
  },
  // a forward branch over one instruction
  {
    weight: 16,
    arbitrary: fc
      .tuple(fc.constantFrom(...BRANCHES), src, src, reg)
      .map(([f, a, b, d]) => ({ i: [f(a, b, 8), A.addi(d, d, 1)] })),
  },
  // CSRs and counters
  { weight: 1, arbitrary: reg.map((d) => ({ i: [csrrs(d, Csr.minstret, 0)] })) },
  { weight: 1, arbitrary: fc.tuple(reg, src).map(([d, s]) => ({ i: [csrrw(d, Csr.mscratch, s)] })) },
  // the CSRs translated code reads and writes (M-mode here: any sstatus bits may be written)
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(1, 2, 3, 5, 6, 7),
        fc.constantFrom(Csr.sstatus, Csr.sscratch, Csr.sepc, Csr.scause, Csr.stval),
        reg,
        src,
      )
      .map(([f3, csr, d, s]) => ({ i: [encI(0x73, f3, d, s, csr)] })),
  },
  { weight: 1, arbitrary: fc.constantFrom({ i: [A.fence()] }, { i: [A.fence_i()] }, { i: [A.mulh(1, 2, 3)] }) },
  // compressed
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(C.sub, C.xor, C.or, C.and, C.addw, C.subw), creg, creg)
      .map(([f, d, s]) => ({ c: f(d, s) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(C.addi, C.li), reg, fc.integer({ min: -32, max: 31 }))
      .map(([f, d, v]) => ({ c: f(d, v || 1) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(C.srli, C.srai), creg, fc.integer({ min: 1, max: 63 }))
      .map(([f, d, v]) => ({ c: f(d, v) })),
  },
);

const init = fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { minLength: 20, maxLength: 20 });

test('lockstep: generated programs give the same state with and without the translator', () => {
  const a = machine(false);
  const b = machine(true);
  let translated = 0;
  fc.assert(
    fc.property(
      init,
      fc.array(piece, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1100, max: 1500 }),
      fc.array(fc.integer({ min: 1, max: 6000 }), { minLength: 8, maxLength: 40 }),
      fc.uint8Array({ minLength: 0x2000, maxLength: 0x2000 }),
      (regs, body, iterations, slices, data) => {
        const prog = program(regs, body, iterations);
        boot(a, prog, data);
        boot(b, prog, data);
        translated += lockstep(a, b, slices);
      },
    ),
    { numRuns: 40 },
  );
  // the translator did run (not only the interpreter on both sides)
  process.stderr.write(`lockstep: ${translated} instructions translated\n`);
  assert.ok(translated > 100_000, `only ${translated} instructions ran translated`);
});

test('lockstep: the same with modules compiled off the thread and installed between slices', async () => {
  const a = machine(false);
  const b = machine(true, false, true);
  let translated = 0;
  await fc.assert(
    fc.asyncProperty(
      init,
      fc.array(piece, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1100, max: 1500 }),
      fc.array(fc.integer({ min: 1, max: 6000 }), { minLength: 8, maxLength: 40 }),
      fc.uint8Array({ minLength: 0x2000, maxLength: 0x2000 }),
      async (regs, body, iterations, slices, data) => {
        const prog = program(regs, body, iterations);
        // a reset between programs: modules still compiling for the last one are dropped at install
        boot(a, prog, data);
        boot(b, prog, data);
        translated += await lockstepYielding(a, b, slices);
      },
    ),
    { numRuns: 20 },
  );
  process.stderr.write(`lockstep, compiled off the thread: ${translated} instructions translated\n`);
  assert.ok(b.hart.jit!.stats.asyncModules > 0);
  assert.ok(translated > 10_000, `only ${translated} instructions ran translated`);
});

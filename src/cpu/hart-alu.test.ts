import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cause, Csr } from './arch.js';
import { Exit } from './exits.js';
import { A, C, li64, Prog } from './test-asm.js';
import { RAM_BASE, type Rig, restart, rig } from './test-util.js';

const M64 = (1n << 64n) - 1n;
const NONE = { zba: false, zbb: false, zbc: false, zbs: false, zicond: false, sstc: false };
const s64 = (v: bigint) => BigInt.asIntN(64, v);
const u64 = (v: bigint) => BigInt.asUintN(64, v);
const s32 = (v: bigint) => BigInt.asIntN(32, v);

/** One rig for every op2 case: creating a hart per case made the matrix below take ~20 s. */
let shared: Rig | undefined;

/** Run `insn` in M-mode with x5 = a, x6 = b on a freshly reset hart; returns x7 (signed). Ends on EBREAK. */
function op2(insn: number, a: bigint, b: bigint): bigint {
  const p = new Prog().i(...li64(5, a), ...li64(6, b), insn, A.ebreak());
  if (shared === undefined) shared = rig(p);
  else restart(shared, p);
  const { hart } = shared;
  hart.run(200);
  assert.equal(hart.getCsr(Csr.mcause), 3n, 'ended on ebreak');
  return hart.getX(7);
}

const EDGE = [
  0n,
  1n,
  -1n,
  2n,
  -2n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  -0x80000000n,
  0x7fffffffffffffffn,
  -0x8000000000000000n,
  0x123456789abcdef0n,
  -0x123456789abcdefn,
  0x1fffffffffffffn,
  0x20000000000000n,
  -0x20000000000000n,
  12345n,
  -7n,
];

/** Reference semantics from the unprivileged spec (ch. 2, 13). */
const REF: [string, (rd: number, a: number, b: number) => number, (a: bigint, b: bigint) => bigint][] = [
  ['add', A.add, (a, b) => s64(a + b)],
  ['sub', A.sub, (a, b) => s64(a - b)],
  ['sll', A.sll, (a, b) => s64(a << (u64(b) & 63n))],
  ['srl', A.srl, (a, b) => s64(u64(a) >> (u64(b) & 63n))],
  ['sra', A.sra, (a, b) => s64(a >> (u64(b) & 63n))],
  ['slt', A.slt, (a, b) => (a < b ? 1n : 0n)],
  ['sltu', A.sltu, (a, b) => (u64(a) < u64(b) ? 1n : 0n)],
  ['xor', A.xor, (a, b) => s64(a ^ b)],
  ['or', A.or, (a, b) => s64(a | b)],
  ['and', A.and, (a, b) => s64(a & b)],
  ['addw', A.addw, (a, b) => s32(a + b)],
  ['subw', A.subw, (a, b) => s32(a - b)],
  ['sllw', A.sllw, (a, b) => s32(a << (u64(b) & 31n))],
  ['srlw', A.srlw, (a, b) => s32(BigInt.asUintN(32, a) >> (u64(b) & 31n))],
  ['sraw', A.sraw, (a, b) => s32(s32(a) >> (u64(b) & 31n))],
  ['mul', A.mul, (a, b) => s64(a * b)],
  ['mulh', A.mulh, (a, b) => s64((a * b) >> 64n)],
  ['mulhu', A.mulhu, (a, b) => s64((u64(a) * u64(b)) >> 64n)],
  ['mulhsu', A.mulhsu, (a, b) => s64((a * u64(b)) >> 64n)],
  ['div', A.div, (a, b) => (b === 0n ? -1n : a === -(1n << 63n) && b === -1n ? a : s64(a / b))],
  ['divu', A.divu, (a, b) => (b === 0n ? -1n : s64(u64(a) / u64(b)))],
  ['rem', A.rem, (a, b) => (b === 0n ? a : a === -(1n << 63n) && b === -1n ? 0n : s64(a % b))],
  ['remu', A.remu, (a, b) => (b === 0n ? a : s64(u64(a) % u64(b)))],
  ['mulw', A.mulw, (a, b) => s32(a * b)],
  [
    'divw',
    A.divw,
    (a, b) => {
      const x = s32(a);
      const y = s32(b);
      return y === 0n ? -1n : x === -(1n << 31n) && y === -1n ? x : s32(x / y);
    },
  ],
  [
    'divuw',
    A.divuw,
    (a, b) => {
      const x = BigInt.asUintN(32, a);
      const y = BigInt.asUintN(32, b);
      return y === 0n ? -1n : s32(x / y);
    },
  ],
  [
    'remw',
    A.remw,
    (a, b) => {
      const x = s32(a);
      const y = s32(b);
      return y === 0n ? x : x === -(1n << 31n) && y === -1n ? 0n : s32(x % y);
    },
  ],
  [
    'remuw',
    A.remuw,
    (a, b) => {
      const x = BigInt.asUintN(32, a);
      const y = BigInt.asUintN(32, b);
      return y === 0n ? s32(x) : s32(x % y);
    },
  ],
];

/** Deterministic pseudo-random 64-bit values (xorshift). */
function* randoms(n: number): Generator<bigint> {
  let s = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < n; i++) {
    s ^= (s << 13n) & M64;
    s ^= s >> 7n;
    s ^= (s << 17n) & M64;
    const shift = BigInt(i % 64);
    yield s64(s >> shift);
  }
}

test('R-type ALU and M ops match the spec on edge and random operands', () => {
  const rnd = [...randoms(12)];
  const vals = [...EDGE, ...rnd];
  // one program per operation: all operand pairs, results stored in RAM
  for (const [name, enc, ref] of REF) {
    const pairs: [bigint, bigint][] = [];
    for (const a of vals) for (const b of [...EDGE, rnd[0]!, rnd[5]!, 63n, 64n, 31n, 32n]) pairs.push([a, b]);
    for (const [a, b] of pairs) {
      const got = op2(enc(7, 5, 6), a, b);
      assert.equal(got, ref(a, b), `${name} ${a} ${b}`);
    }
  }
});

test('I-type ALU: sign-extended immediates, shifts by 0..63, SLTIU with negative immediate', () => {
  const cases: [number, bigint, bigint][] = [
    [A.addi(7, 5, -1), 0n, -1n],
    [A.addi(7, 5, 1), 0xffffffffn, 0x100000000n],
    [A.addi(7, 5, -1), 0x100000000n, 0xffffffffn],
    [A.addi(7, 5, 2047), 0x7fffffffffffffffn, s64(0x7fffffffffffffffn + 2047n)],
    [A.slti(7, 5, -1), -2n, 1n],
    [A.slti(7, 5, -1), 0n, 0n],
    [A.sltiu(7, 5, -1), 5n, 1n], // -1 is 2^64-1 unsigned
    [A.sltiu(7, 5, -1), -1n, 0n],
    [A.xori(7, 5, -1), 0x0123n, ~0x0123n],
    [A.ori(7, 5, -2048), 1n, -2047n],
    [A.andi(7, 5, -16), -1n, -16n],
    [A.slli(7, 5, 63), 1n, -(1n << 63n)],
    [A.slli(7, 5, 32), 0x80000001n, 0x8000000100000000n - (1n << 64n)],
    [A.srli(7, 5, 63), -1n, 1n],
    [A.srli(7, 5, 0), -1n, -1n],
    [A.srai(7, 5, 63), -(1n << 63n), -1n],
    [A.srai(7, 5, 4), -256n, -16n],
    [A.addiw(7, 5, 1), 0x7fffffffn, -0x80000000n],
    [A.addiw(7, 5, 0), 0x123456789n, 0x23456789n],
    [A.slliw(7, 5, 31), 1n, -0x80000000n],
    [A.srliw(7, 5, 1), -1n, 0x7fffffffn],
    [A.srliw(7, 5, 0), 0x80000000n, -0x80000000n],
    [A.sraiw(7, 5, 31), 0x80000000n, -1n],
    [A.lui(7, 0x80000000), 0n, -0x80000000n],
    [A.lui(7, 0x7ffff000), 0n, 0x7ffff000n],
  ];
  for (const [insn, a, want] of cases) {
    assert.equal(op2(insn, a, 0n), s64(want), `insn ${insn.toString(16)} a=${a}`);
  }
});

test('x0 is hard-wired to zero', () => {
  const { hart } = rig([A.addi(0, 0, 5), A.lui(0, 0x12345000), A.add(1, 0, 0), A.ebreak()]);
  hart.run(10);
  assert.equal(hart.getX(0), 0n);
  assert.equal(hart.getX(1), 0n);
});

test('AUIPC, JAL, JALR and branches compute pc-relative targets and links', () => {
  const p = new Prog().i(
    A.auipc(1, 0x1000), // x1 = base + 0x1000
    A.jal(2, 8), // skip next
    A.addi(3, 0, 1), // skipped
    A.auipc(4, 0), // x4 = base + 12
    A.addi(4, 4, 16), // x4 = base + 28
    A.jalr(5, 4, 1), // to base + 28 (bit 0 cleared), x5 = base + 24
    A.addi(3, 0, 2), // skipped
    A.addi(6, 0, -1), // base + 28
    A.addi(7, 0, 1),
    A.blt(6, 7, 8), // taken (-1 < 1)
    A.addi(3, 0, 3), // skipped
    A.bltu(6, 7, 8), // not taken (2^64-1 > 1)
    A.bge(6, 6, 8), // taken
    A.addi(3, 0, 4), // skipped
    A.bgeu(6, 7, 8), // taken
    A.addi(3, 0, 5), // skipped
    A.beq(6, 7, 8), // not taken
    A.bne(6, 7, 8), // taken
    A.addi(3, 0, 6), // skipped
    A.ebreak(),
  );
  const { hart } = rig(p);
  hart.run(100);
  const base = BigInt(RAM_BASE);
  assert.equal(hart.getX(1), base + 0x1000n);
  assert.equal(hart.getX(2), base + 8n);
  assert.equal(hart.getX(3), 0n);
  assert.equal(hart.getX(5), base + 24n);
  assert.equal(hart.getCsr(Csr.mcause), 3n);
  assert.equal(hart.getCsr(Csr.mepc), base + BigInt(19 * 4));
});

test('backward branch loop and compressed branch offsets', () => {
  const p = new Prog().i(A.addi(8, 0, 10), A.addi(9, 0, 0));
  p.c(C.addi(9, 3), C.addi(8, -1), C.bnez(8, -4));
  p.i(A.ebreak());
  const { hart } = rig(p);
  const exit = hart.run(1000);
  assert.equal(exit, Exit.Wfi);
  assert.equal(hart.getX(9), 30n);
  assert.equal(hart.getCsr(Csr.mcause), 3n);
});

test('OP, OP-32, OP-IMM and OP-IMM-32: without the optional extensions exactly the RV64IM funct7/funct3 combinations are legal', () => {
  // With them, bitmanip.test.ts checks every encoding against QEMU.
  const OP = 0x33;
  const OP_32 = 0x3b;
  const OP_IMM = 0x13;
  const OP_IMM_32 = 0x1b;
  const legal = (op: number, f7: number, f3: number): boolean => {
    switch (op) {
      case OP:
        return f7 === 0 || f7 === 1 || (f7 === 0x20 && (f3 === 0 || f3 === 5));
      case OP_32:
        if (f7 === 0) return f3 === 0 || f3 === 1 || f3 === 5;
        if (f7 === 0x20) return f3 === 0 || f3 === 5;
        return f7 === 1 && f3 !== 1 && f3 !== 2 && f3 !== 3;
      case OP_IMM: // f7 here is funct6 << 1 | shamt[5]
        if (f3 === 1) return f7 >> 1 === 0;
        if (f3 === 5) return f7 >> 1 === 0 || f7 >> 1 === 0x10;
        return true;
      default: // OP_IMM_32
        if (f3 === 0) return true;
        if (f3 === 1) return f7 === 0;
        if (f3 === 5) return f7 === 0 || f7 === 0x20;
        return false;
    }
  };
  let r: Rig | undefined;
  const wrong: string[] = [];
  for (const op of [OP, OP_32, OP_IMM, OP_IMM_32]) {
    for (let f7 = 0; f7 < 128; f7++) {
      for (let f3 = 0; f3 < 8; f3++) {
        const insn = ((f7 << 25) | (6 << 20) | (5 << 15) | (f3 << 12) | (7 << 7) | op) >>> 0;
        const p = new Prog().i(insn, A.ebreak());
        if (r === undefined) r = rig(p, { extensions: NONE });
        else restart(r, p);
        r.hart.run(10);
        const cause = r.hart.getCsr(Csr.mcause);
        const want = legal(op, f7, f3) ? BigInt(Cause.Breakpoint) : BigInt(Cause.Illegal);
        if (cause !== want || (want === BigInt(Cause.Illegal) && r.hart.getCsr(Csr.mtval) !== BigInt(insn))) {
          wrong.push(`opcode 0x${op.toString(16)} funct7 0x${f7.toString(16)} funct3 ${f3}: cause ${cause}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { GuestRam } from '../memory/ram.js';
import { Cause, Csr } from './arch.js';
import { Exit } from './exits.js';
import { Hart } from './hart.js';
import type { HartExtensions } from './isa.js';
import { HART_STATE_BYTES } from './jit/state.js';
import { A, li64, Prog } from './test-asm.js';
import { LogBus, openPmp, RAM_BASE, type Rig, rig } from './test-util.js';

/**
 * The Zba/Zbb/Zbc/Zbs reference vectors (bitmanip-vectors/gen.sh: one line per instruction
 * executed under qemu-system-riscv64): `insn a b result`, result `x` for an illegal instruction.
 */
interface BitVector {
  insn: number;
  a: bigint;
  b: bigint;
  /** null: illegal instruction. */
  result: bigint | null;
  line: number;
}

const file = new URL('../../../src/cpu/bitmanip-vectors/bitvectors.txt.gz', import.meta.url);
const vectors: BitVector[] = gunzipSync(readFileSync(file))
  .toString('utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l, i) => {
    const [insn, a, b, r] = l.split(' ');
    return {
      insn: Number.parseInt(insn!, 16),
      a: BigInt(`0x${a}`),
      b: BigInt(`0x${b}`),
      result: r === 'x' ? null : BigInt(`0x${r}`),
      line: i + 1,
    };
  });

const NONE: HartExtensions = { zba: false, zbb: false, zbc: false, zbs: false, zicond: false, sstc: false };
/** QEMU 7.2's default CPU: the four bit-manipulation extensions, no Zicond. */
const QEMU_72: Partial<HartExtensions> = { zicond: false };

const CTZW = (0x601 << 20) | (10 << 15) | (1 << 12) | (10 << 7) | 0x1b;

/**
 * What the spec says where QEMU 7.2 does not (docs/cpu.md): QEMU's CTZW counts the trailing zeros
 * of the whole register when its low word is zero (0x3f for 0x8000000000000000); the spec counts
 * those of the low word only, 32 when it is zero.
 */
function specResult(v: BitVector): bigint | null {
  if (v.insn === CTZW && (v.a & 0xffffffffn) === 0n) return 32n;
  return v.result;
}

/** Which extension an instruction of the vectors belongs to (undefined: the base ISA or illegal). */
function extensionOf(insn: number): keyof HartExtensions | undefined {
  const op = insn & 0x7f;
  const f3 = (insn >>> 12) & 7;
  const f7 = insn >>> 25;
  const imm = insn >>> 20;
  switch (op) {
    case 0x33:
      if (f7 === 0x10 && (f3 === 2 || f3 === 4 || f3 === 6)) return 'zba';
      if (f7 === 0x20 && (f3 === 4 || f3 === 6 || f3 === 7)) return 'zbb';
      if (f7 === 0x05) return f3 >= 4 ? 'zbb' : f3 >= 1 ? 'zbc' : undefined;
      if (f7 === 0x30 && (f3 === 1 || f3 === 5)) return 'zbb';
      if ((f7 === 0x14 || f7 === 0x34) && f3 === 1) return 'zbs';
      if (f7 === 0x24 && (f3 === 1 || f3 === 5)) return 'zbs';
      if (f7 === 0x07 && (f3 === 5 || f3 === 7)) return 'zicond';
      return undefined;
    case 0x3b:
      if (f7 === 0x04 && f3 === 0) return 'zba';
      if (f7 === 0x10 && (f3 === 2 || f3 === 4 || f3 === 6)) return 'zba';
      if (f7 === 0x04 && f3 === 4 && ((insn >>> 20) & 31) === 0) return 'zbb';
      if (f7 === 0x30 && (f3 === 1 || f3 === 5)) return 'zbb';
      return undefined;
    case 0x13:
      if (f3 === 1 && [0x0a, 0x12, 0x1a].includes(imm >>> 6)) return 'zbs';
      if (f3 === 1 && [0x600, 0x601, 0x602, 0x604, 0x605].includes(imm)) return 'zbb';
      if (f3 === 5 && imm >>> 6 === 0x12) return 'zbs';
      if (f3 === 5 && (imm >>> 6 === 0x18 || imm === 0x287 || imm === 0x6b8)) return 'zbb';
      return undefined;
    case 0x1b:
      if (f3 === 1 && imm >>> 6 === 0x02) return 'zba';
      if (f3 === 1 && [0x600, 0x601, 0x602].includes(imm)) return 'zbb';
      if (f3 === 5 && imm >>> 5 === 0x30) return 'zbb';
      return undefined;
  }
  return undefined;
}

/**
 * Runs one instruction at RAM_BASE with x10 = a, x11 = b on `r` (M-mode; the rig's trap vector
 * halts in WFI). Returns x10, or null for an illegal instruction (mtval checked).
 */
function exec(r: Rig, insn: number, a: bigint, b: bigint): bigint | null {
  const { hart, ram } = r;
  ram.w32(RAM_BASE, insn);
  ram.w32(RAM_BASE + 4, A.ebreak());
  hart.setPc(BigInt(RAM_BASE));
  hart.setX(10, a);
  hart.setX(11, b);
  hart.run(2);
  const cause = hart.getCsr(Csr.mcause);
  if (cause === BigInt(Cause.Illegal)) {
    assert.equal(hart.getCsr(Csr.mtval), BigInt(insn), `mtval of 0x${insn.toString(16)}`);
    return null;
  }
  assert.equal(cause, BigInt(Cause.Breakpoint));
  return BigInt.asUintN(64, hart.getX(10));
}

test('the vector file covers every Zba, Zbb, Zbc and Zbs instruction and the legality walk', () => {
  assert.ok(vectors.length > 30000, `only ${vectors.length} vectors`);
  const seen = new Map<string, number>();
  for (const v of vectors) {
    const e = extensionOf(v.insn);
    if (e !== undefined && v.result !== null) seen.set(e, (seen.get(e) ?? 0) + 1);
  }
  // every executed instruction of the four is one extensionOf knows, and Zicond is illegal on QEMU 7.2
  assert.deepEqual([...seen.keys()].sort(), ['zba', 'zbb', 'zbc', 'zbs']);
  assert.ok(vectors.some((v) => extensionOf(v.insn) === 'zicond' && v.result === null));
});

test('the interpreter reproduces every QEMU vector (results, and which encodings are illegal)', () => {
  const r = rig([A.ebreak()], { extensions: QEMU_72 });
  const fails: string[] = [];
  let deviations = 0;
  for (const v of vectors) {
    const got = exec(r, v.insn, v.a, v.b);
    const want = specResult(v);
    if (want !== v.result) deviations++;
    if (got !== want) {
      fails.push(
        `line ${v.line}: insn 0x${v.insn.toString(16)} a 0x${v.a.toString(16)} b 0x${v.b.toString(16)}: ` +
          `got ${got === null ? 'illegal' : `0x${got.toString(16)}`}, QEMU ${v.result === null ? 'illegal' : `0x${v.result.toString(16)}`}`,
      );
    }
  }
  assert.deepEqual(fails.slice(0, 20), [], `${fails.length} of ${vectors.length} vectors differ`);
  assert.equal(deviations, 23, 'the CTZW vectors where QEMU 7.2 departs from the spec');
});

test('an extension left out makes exactly its own instructions illegal', () => {
  for (const ext of ['zba', 'zbb', 'zbc', 'zbs'] as const) {
    const r = rig([A.ebreak()], { extensions: { ...QEMU_72, [ext]: false } });
    const wrong: string[] = [];
    for (const v of vectors) {
      if (v.result === null) continue;
      const want = extensionOf(v.insn) === ext ? null : specResult(v);
      if (exec(r, v.insn, v.a, v.b) !== want) wrong.push(`0x${v.insn.toString(16)}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `without ${ext}: ${wrong.length} differ`);
  }
});

test('Zicond: czero.eqz and czero.nez on edge values, illegal when left out', () => {
  const czeroEqz = (0x07 << 25) | (11 << 20) | (10 << 15) | (5 << 12) | (10 << 7) | 0x33;
  const czeroNez = (0x07 << 25) | (11 << 20) | (10 << 15) | (7 << 12) | (10 << 7) | 0x33;
  const values = [0n, 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, 1n << 32n, 0xffffffffn];
  const r = rig([A.ebreak()]);
  for (const a of values) {
    for (const b of values) {
      assert.equal(exec(r, czeroEqz, a, b), b === 0n ? 0n : a, `czero.eqz ${a} ${b}`);
      assert.equal(exec(r, czeroNez, a, b), b !== 0n ? 0n : a, `czero.nez ${a} ${b}`);
    }
  }
  const off = rig([A.ebreak()], { extensions: { zicond: false } });
  assert.equal(exec(off, czeroEqz, 1n, 1n), null);
  assert.equal(exec(off, czeroNez, 1n, 0n), null);
});

test('rd = x0 discards the result and rd = rs1 = rs2 reads the operands first', () => {
  // clmul x0, x5, x5 then rev8 x5, x5 and sh3add x5, x5, x5
  const clmul = (0x05 << 25) | (5 << 20) | (5 << 15) | (1 << 12) | (0 << 7) | 0x33;
  const rev8 = (0x6b8 << 20) | (5 << 15) | (5 << 12) | (5 << 7) | 0x13;
  const sh3add = (0x10 << 25) | (5 << 20) | (5 << 15) | (6 << 12) | (5 << 7) | 0x33;
  const p = new Prog().i(...li64(5, 0x0102030405060708n), clmul, rev8, sh3add, A.ebreak());
  const { hart } = rig(p);
  assert.equal(hart.run(100), Exit.Wfi);
  assert.equal(hart.getX(0), 0n);
  assert.equal(hart.getX(5), BigInt.asIntN(64, 0x0807060504030201n * 9n));
});

test('PAUSE (Zihintpause) is a FENCE hint: it retires and does nothing else', () => {
  const pause = 0x0100000f;
  const { hart } = rig(new Prog().i(A.addi(5, 0, 7), pause, pause, A.addi(5, 5, 1), A.ebreak()));
  assert.equal(hart.run(100), Exit.Wfi);
  assert.equal(hart.getX(5), 8n);
  assert.equal(hart.getCsr(Csr.mepc), BigInt(RAM_BASE + 16));
  assert.equal(hart.getCsr(Csr.minstret), 5n); // the four, then the rig's halting WFI
});

test('PAUSE on a hart with pauseExits ends run with Exit.Pause after it retires, interpreted and translated', () => {
  const pause = 0x0100000f;
  const { hart } = rig(new Prog().i(A.addi(5, 0, 7), pause, pause, A.addi(5, 5, 1), A.ebreak()), {
    pauseExits: true,
  });
  assert.equal(hart.run(100), Exit.Pause);
  assert.deepEqual([hart.getPc(), hart.instret], [BigInt(RAM_BASE + 8), 2]);
  assert.equal(hart.run(100), Exit.Pause);
  assert.deepEqual([hart.getPc(), hart.instret], [BigInt(RAM_BASE + 12), 3]);
  assert.equal(hart.run(100), Exit.Wfi);
  assert.equal(hart.getX(5), 8n);
  // A hot spin loop (x5 += 1; pause) is translated up to the PAUSE, which stays the interpreter's.
  const ram = new GuestRam(RAM_BASE, 1 << 20, HART_STATE_BYTES);
  const spin = new Hart(ram, new LogBus(), { jit: true, jitAfter: 0, pauseExits: true });
  ram.u8.set(new Prog().i(A.addi(5, 5, 1), A.addi(6, 6, 2), pause, A.jal(0, -12)).toBytes(), 0);
  spin.reset(BigInt(RAM_BASE), 3);
  openPmp(spin);
  for (let i = 1; i <= 5000; i++) {
    assert.equal(spin.run(1_000_000), Exit.Pause);
    assert.deepEqual([spin.getX(5), spin.getPc()], [BigInt(i), BigInt(RAM_BASE + 12)]);
  }
  assert.equal(spin.instret, 3 + 4999 * 4);
  assert.ok(spin.jit !== null && spin.jit.stats.instructions > 0, 'translated');
});

test('with no optional extension the hart decodes exactly RV64IM in the four ALU opcodes', () => {
  // the legality walk of the vectors on a hart without the extensions: all of theirs are illegal
  const r = rig([A.ebreak()], { extensions: NONE });
  const wrong: string[] = [];
  for (const v of vectors) {
    if (v.result === null) continue;
    const want = extensionOf(v.insn) === undefined ? specResult(v) : null;
    if (exec(r, v.insn, v.a, v.b) !== want) wrong.push(`0x${v.insn.toString(16)}`);
  }
  assert.deepEqual(wrong.slice(0, 10), []);
});

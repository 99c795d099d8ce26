import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cause, Csr } from './arch.js';
import { A, C, expandCompressed, li64, Prog } from './test-asm.js';
import { RAM_BASE, rig } from './test-util.js';

test('every RV64C instruction expands to its 32-bit equivalent (spec ch. 16)', () => {
  const cases: [string, number, number][] = [
    ['c.addi4spn', C.addi4spn(8, 1020), A.addi(8, 2, 1020)],
    ['c.fld', C.fld(9, 10, 248), A.fld(9, 10, 248)],
    ['c.lw', C.lw(9, 10, 124), A.lw(9, 10, 124)],
    ['c.ld', C.ld(15, 8, 248), A.ld(15, 8, 248)],
    ['c.fsd', C.fsd(9, 10, 8), A.fsd(9, 10, 8)],
    ['c.sw', C.sw(9, 10, 68), A.sw(9, 10, 68)],
    ['c.sd', C.sd(9, 10, 136), A.sd(9, 10, 136)],
    ['c.nop', C.nop(), A.addi(0, 0, 0)],
    ['c.addi', C.addi(5, -32), A.addi(5, 5, -32)],
    ['c.addiw', C.addiw(5, 31), A.addiw(5, 5, 31)],
    ['c.li', C.li(7, -1), A.addi(7, 0, -1)],
    ['c.addi16sp', C.addi16sp(-512), A.addi(2, 2, -512)],
    ['c.addi16sp+', C.addi16sp(496), A.addi(2, 2, 496)],
    ['c.lui', C.lui(3, 0x1f000), A.lui(3, 0x1f000)],
    ['c.lui neg', C.lui(3, -0x20000 & 0x3ffff), A.lui(3, -0x20000)],
    ['c.srli', C.srli(8, 63), A.srli(8, 8, 63)],
    ['c.srai', C.srai(8, 33), A.srai(8, 8, 33)],
    ['c.andi', C.andi(8, -3), A.andi(8, 8, -3)],
    ['c.sub', C.sub(8, 9), A.sub(8, 8, 9)],
    ['c.xor', C.xor(8, 9), A.xor(8, 8, 9)],
    ['c.or', C.or(8, 9), A.or(8, 8, 9)],
    ['c.and', C.and(8, 9), A.and(8, 8, 9)],
    ['c.subw', C.subw(8, 9), A.subw(8, 8, 9)],
    ['c.addw', C.addw(8, 9), A.addw(8, 8, 9)],
    ['c.j', C.j(-2048), A.jal(0, -2048)],
    ['c.j+', C.j(2046), A.jal(0, 2046)],
    ['c.beqz', C.beqz(8, -256), A.beq(8, 0, -256)],
    ['c.bnez', C.bnez(8, 254), A.bne(8, 0, 254)],
    ['c.slli', C.slli(5, 63), A.slli(5, 5, 63)],
    ['c.fldsp', C.fldsp(5, 504), A.fld(5, 2, 504)],
    ['c.lwsp', C.lwsp(5, 252), A.lw(5, 2, 252)],
    ['c.ldsp', C.ldsp(5, 504), A.ld(5, 2, 504)],
    ['c.jr', C.jr(1), A.jalr(0, 1, 0)],
    ['c.mv', C.mv(5, 6), A.add(5, 0, 6)],
    ['c.ebreak', C.ebreak(), A.ebreak()],
    ['c.jalr', C.jalr(5), A.jalr(1, 5, 0)],
    ['c.add', C.add(5, 6), A.add(5, 5, 6)],
    ['c.fsdsp', C.fsdsp(5, 504), A.fsd(5, 2, 504)],
    ['c.swsp', C.swsp(5, 252), A.sw(5, 2, 252)],
    ['c.sdsp', C.sdsp(5, 504), A.sd(5, 2, 504)],
    ['c.lui', C.lui(9, -4096), A.lui(9, -4096)],
    ['c.srli', C.srli(9, 63), A.srli(9, 9, 63)],
    ['c.srai', C.srai(10, 33), A.srai(10, 10, 33)],
    ['c.andi', C.andi(11, -17), A.andi(11, 11, -17)],
    ['c.sub', C.sub(8, 15), A.sub(8, 8, 15)],
    ['c.xor', C.xor(8, 15), A.xor(8, 8, 15)],
    ['c.or', C.or(8, 15), A.or(8, 8, 15)],
    ['c.and', C.and(8, 15), A.and(8, 8, 15)],
    ['c.subw', C.subw(12, 13), A.subw(12, 12, 13)],
    ['c.addw', C.addw(12, 13), A.addw(12, 12, 13)],
    ['c.j forward', C.j(2046), A.jal(0, 2046)],
    ['c.j back', C.j(-2048), A.jal(0, -2048)],
    ['c.beqz back', C.beqz(8, -256), A.beq(8, 0, -256)],
    ['c.bnez forward', C.bnez(15, 254), A.bne(15, 0, 254)],
    ['c.slli', C.slli(31, 63), A.slli(31, 31, 63)],
    ['c.fldsp', C.fldsp(1, 504), A.fld(1, 2, 504)],
    ['c.lwsp', C.lwsp(31, 252), A.lw(31, 2, 252)],
  ];
  for (const [name, c, want] of cases) {
    const got = expandCompressed(c);
    assert.equal(got >>> 0, want >>> 0, name);
    // an int32, as the interpreter's decode expects (`insn` stays a small integer)
    assert.equal(got, got | 0, `${name} is an int32`);
  }
});

test('reserved compressed encodings are illegal; tval is the 16-bit instruction', () => {
  const reserved: [string, number][] = [
    ['all zero', 0x0000],
    ['c.addi4spn imm=0', 0x0004],
    ['op0 f3=4', 0x8000],
    ['c.addiw rd=0', 0x2001],
    ['c.addi16sp imm=0', 0x6101],
    ['c.lui imm=0', 0x6181],
    ['c.subw-space f=2', 0x9c41],
    ['c.lwsp rd=0', 0x4002],
    ['c.ldsp rd=0', 0x6002],
    ['c.jr rs1=0', 0x8002],
  ];
  for (const [name, c] of reserved) {
    assert.equal(expandCompressed(c), 0, name);
    const { hart } = rig(new Prog().c(c, C.nop()));
    hart.run(10);
    assert.equal(hart.getCsr(Csr.mcause), BigInt(Cause.Illegal), name);
    assert.equal(hart.getCsr(Csr.mtval), BigInt(c), `${name} tval`);
    assert.equal(hart.getCsr(Csr.mepc), BigInt(RAM_BASE), `${name} epc`);
  }
});

test('HINT encodings execute as no-ops', () => {
  const { hart } = rig(
    new Prog().c(C.addi(0, 5), C.li(0, 3), C.mv(0, 5), C.add(0, 5), C.slli(0, 3), 0x0005).i(A.ebreak()),
  );
  hart.run(20);
  assert.equal(hart.getCsr(Csr.mcause), 3n);
  assert.equal(hart.getX(0), 0n);
});

test('compressed programs run: stack ops, calls with c.jalr link = pc + 2, loads/stores', () => {
  const p = new Prog().i(...li64(2, BigInt(RAM_BASE + 0x8000)), ...li64(8, 0x1234n));
  p.c(
    C.addi16sp(-64),
    C.sdsp(8, 8),
    C.ldsp(9, 8),
    C.swsp(8, 16),
    C.lwsp(10, 16),
    C.addi4spn(11, 8),
    C.ld(12, 11, 0),
    C.sw(12, 11, 4),
    C.lw(13, 11, 4),
    C.li(14, -7),
    C.addiw(14, 1),
    C.lui(15, 0x3000),
    C.srai(15, 4),
  );
  // call through c.jalr: auipc x5 at X, target X + 12, link X + 10
  const callAt = RAM_BASE + p.size + 8;
  p.i(A.auipc(5, 0), A.addi(5, 5, 12));
  p.c(C.jalr(5), C.addi(6, 1)); // the c.addi is skipped
  p.i(A.ebreak());
  const { hart } = rig(p);
  hart.run(100);
  assert.equal(hart.getX(2), BigInt(RAM_BASE + 0x8000 - 64));
  assert.equal(hart.getX(9), 0x1234n);
  assert.equal(hart.getX(10), 0x1234n);
  assert.equal(hart.getX(12), 0x1234n);
  assert.equal(hart.getX(13), 0x1234n);
  assert.equal(hart.getX(14), -6n);
  assert.equal(hart.getX(15), 0x300n);
  assert.equal(hart.getX(1), BigInt(callAt + 2));
  assert.equal(hart.getX(6), 0n);
  assert.equal(hart.getCsr(Csr.mcause), 3n);
});

test('a 32-bit instruction straddling a page boundary is fetched from both pages', () => {
  const p = new Prog();
  // jump to RAM_BASE + 0xffe, where an addi straddles the page boundary
  p.i(...li64(5, BigInt(RAM_BASE + 0xffe)), A.jalr(0, 5, 0));
  const { hart, ram } = rig(p);
  ram.load(RAM_BASE + 0xffe, new Prog().i(A.addi(7, 0, 99), A.ebreak()).toBytes());
  hart.run(20);
  assert.equal(hart.getX(7), 99n);
  assert.equal(hart.getCsr(Csr.mcause), 3n);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr } from './arch.js';
import { TRAP_COST } from './hart.js';
import { A, Prog } from './test-asm.js';
import { openPmp, RAM_BASE, rig } from './test-util.js';

test('mTraps and mInstret count traps into M-mode and the instructions run there until MRET', () => {
  // S-mode code: ecall; ecall; then spin. M handler: mepc += 4; mret (4 instructions before MRET, plus
  // the ecall itself, which traps instead of retiring: 5 per call).
  const { hart, ram } = rig(new Prog().i(A.ecall(), A.ecall(), A.jal(0, 0)));
  const handler = RAM_BASE + 0x400;
  ram.load(
    handler,
    new Prog()
      .i(A.csrrs(5, Csr.mepc, 0), A.addi(5, 5, 4), A.csrrw(0, Csr.mepc, 5), A.addi(0, 0, 0), 0x30200073)
      .toBytes(),
  );
  hart.reset(BigInt(RAM_BASE), 1);
  openPmp(hart);
  hart.setCsr(Csr.mtvec, BigInt(handler));
  hart.run(20 + 2 * TRAP_COST); // each trap costs TRAP_COST of the budget
  assert.equal(hart.mTraps, 2);
  assert.equal(hart.mInstret, 10);
  hart.reset(BigInt(RAM_BASE), 3);
  assert.equal(hart.mTraps, 2, 'reset keeps the statistics');
});

test('a trap costs TRAP_COST of the run budget: a trap loop inside the hart ends its budget soon', () => {
  // S-mode: a handler that counts in x5, then ebreak, delegated to S-mode with the handler as
  // its vector: a trap loop that never leaves the hart.
  const { hart } = rig(new Prog().i(A.addi(5, 5, 1), A.ebreak()));
  hart.reset(BigInt(RAM_BASE), 1);
  openPmp(hart);
  hart.setCsr(Csr.medeleg, 1n << 3n);
  hart.setCsr(Csr.stvec, BigInt(RAM_BASE));
  assert.equal(hart.run(10 * (TRAP_COST + 1)), 0 /* Exit.Budget */);
  assert.equal(hart.getCsr(Csr.scause), 3n);
  // Each round: one addi (1) and one trap (TRAP_COST); counted as one instruction, 165 traps.
  assert.equal(hart.getX(5), 10n);
});

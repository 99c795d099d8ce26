import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr } from './arch.js';
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
  hart.run(20);
  assert.equal(hart.mTraps, 2);
  assert.equal(hart.mInstret, 10);
  hart.reset(BigInt(RAM_BASE), 3);
  assert.equal(hart.mTraps, 2, 'reset keeps the statistics');
});

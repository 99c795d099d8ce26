import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr, MIP_SEIP, MIP_STIP } from './arch.js';
import { A, Prog } from './test-asm.js';
import { rig } from './test-util.js';

// Regression (found booting Linux on OpenSBI with 2 harts): OpenSBI's timer handler does
// `csrs mip, STIP`; the CSRRS read-modify-write used the PLIC's SEIP signal too and latched it
// into the software bit, so SEIP stayed pending forever and Linux looped claiming nothing.
test('CSRRS/CSRRC on mip do not latch the external SEIP signal (privileged spec 3.1.9)', () => {
  const { hart } = rig(new Prog().i(A.addi(5, 0, MIP_STIP), A.csrrs(0, Csr.mip, 5), A.csrrc(0, Csr.mip, 0)));
  hart.setIrq(9, true);
  hart.run(3);
  assert.equal(Number(hart.getCsr(Csr.mip)) & (MIP_SEIP | MIP_STIP), MIP_SEIP | MIP_STIP);
  hart.setIrq(9, false);
  assert.equal(Number(hart.getCsr(Csr.mip)) & MIP_SEIP, 0, 'SEIP follows the PLIC once it drops');
  assert.equal(Number(hart.getCsr(Csr.mip)) & MIP_STIP, MIP_STIP);
});

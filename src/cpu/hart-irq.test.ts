import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr, MIP_MEIP, MIP_MSIP, MIP_MTIP, MIP_SEIP, MIP_SSIP, MIP_STIP } from './arch.js';
import { Exit } from './exits.js';
import { TRAP_COST } from './hart.js';
import { A, Prog } from './test-asm.js';
import { HALT, RAM_BASE, rig } from './test-util.js';

const INT = 1n << 63n;
const loop = () => new Prog().i(A.addi(5, 5, 1), A.jal(0, -4));

test('interrupt priority: MEI > MSI > MTI > SEI > SSI > STI (privileged spec 3.1.9)', () => {
  const order: bigint[] = [];
  const { hart } = rig(loop());
  hart.setCsr(Csr.mie, 0xaaan);
  for (const b of [11, 3, 7, 9]) hart.setIrq(b, true);
  hart.setCsr(Csr.mip, BigInt(MIP_SSIP | MIP_STIP));
  for (let i = 0; i < 6; i++) {
    hart.setPc(BigInt(RAM_BASE));
    hart.setCsr(Csr.mstatus, 1n << 3n); // MIE
    hart.run(5);
    const cause = hart.getCsr(Csr.mcause);
    assert.equal(cause & INT, INT);
    const code = Number(cause & 63n);
    order.push(BigInt(code));
    if (code === 1 || code === 5) hart.setCsr(Csr.mip, hart.getCsr(Csr.mip) & ~(1n << BigInt(code)));
    else hart.setIrq(code, false);
  }
  assert.deepEqual(order, [11n, 3n, 7n, 9n, 1n, 5n]);
  assert.ok([MIP_MEIP, MIP_MSIP, MIP_MTIP, MIP_SEIP].every((m) => (Number(hart.getCsr(Csr.mip)) & m) === 0));
});

test('interrupts: epc is the next instruction to run, MIE gates M-mode, vectored mtvec jumps to base + 4*cause', () => {
  const r = rig(loop());
  const vec = RAM_BASE + 0x2000;
  r.ram.load(vec + 4 * 7, new Prog().i(A.jal(0, 0)).toBytes()); // spin: MTIP stays pending
  r.hart.setCsr(Csr.mtvec, BigInt(vec) | 1n);
  r.hart.setCsr(Csr.mie, BigInt(MIP_MTIP));
  r.hart.run(10);
  r.hart.setIrq(7, true);
  assert.equal(r.hart.run(10), Exit.Budget, 'MIE = 0 in M: not taken');
  r.hart.setCsr(Csr.mstatus, 1n << 3n);
  const pcBefore = r.hart.getPc();
  assert.equal(r.hart.run(10), Exit.Budget);
  assert.equal(r.hart.getCsr(Csr.mcause), INT | 7n);
  assert.equal(r.hart.getCsr(Csr.mepc), pcBefore);
  assert.equal(r.hart.getPc(), BigInt(vec + 4 * 7));
  const st = r.hart.getCsr(Csr.mstatus);
  assert.equal((st >> 3n) & 1n, 0n, 'MIE cleared');
  assert.equal((st >> 7n) & 1n, 1n, 'MPIE set');
  // exceptions use the base even when vectored
  const e = rig(new Prog().i(A.ecall()));
  e.ram.load(RAM_BASE + 0x3000, new Prog().i(A.wfi()).toBytes());
  e.hart.setCsr(Csr.mtvec, BigInt(RAM_BASE + 0x3000) | 1n);
  assert.equal(e.hart.run(10 + TRAP_COST), Exit.Wfi);
  assert.equal(e.hart.getCsr(Csr.mcause), 11n);
});

test('delegated interrupts: taken in U regardless of SIE, in S only with SIE, never in M', () => {
  const setup = (priv: number, sie: boolean) => {
    const r = rig(loop());
    r.hart.setCsr(Csr.mideleg, 0x222n);
    r.hart.setCsr(Csr.mie, BigInt(MIP_SSIP));
    r.hart.setCsr(Csr.stvec, BigInt(HALT));
    r.hart.setCsr(Csr.mstatus, (sie ? 2n : 0n) | 8n);
    r.hart.setCsr(Csr.mip, BigInt(MIP_SSIP));
    r.hart.priv = priv;
    r.hart.run(10);
    return r.hart;
  };
  const u = setup(0, false);
  assert.equal(u.priv, 1);
  assert.equal(u.getCsr(Csr.scause), INT | 1n);
  assert.equal(setup(1, false).getCsr(Csr.scause), 0n);
  assert.equal(setup(1, true).getCsr(Csr.scause), INT | 1n);
  const m = setup(3, true);
  assert.equal(m.getCsr(Csr.scause), 0n);
  assert.equal(m.getCsr(Csr.mcause), 0n);
  assert.equal(m.priv, 3);
});

test('M-level interrupts preempt S-mode even with MIE = 0; S-level interrupts are ordered after M-level ones', () => {
  const r = rig(loop());
  r.hart.setCsr(Csr.mideleg, 0x222n);
  r.hart.setCsr(Csr.mie, BigInt(MIP_MTIP | MIP_SEIP));
  r.hart.setCsr(Csr.mstatus, 2n); // SIE only
  r.hart.setCsr(Csr.stvec, BigInt(HALT));
  r.hart.priv = 1;
  r.hart.setIrq(9, true); // SEI delegated
  r.hart.setIrq(7, true); // MTI not delegated
  r.hart.run(10);
  assert.equal(r.hart.getCsr(Csr.mcause), INT | 7n);
  assert.equal(r.hart.priv, 3);
  assert.equal(r.hart.getCsr(Csr.scause), 0n);
});

test('setIrq from a device during an MMIO store is seen at the next instruction boundary', () => {
  const p = new Prog().i(A.lui(6, 0x10000000), A.sw(0, 6, 0), A.addi(5, 0, 1), A.addi(5, 0, 2));
  const r = rig(p);
  r.hart.setCsr(Csr.mie, BigInt(MIP_MSIP));
  r.hart.setCsr(Csr.mstatus, 8n);
  r.bus.onWrite = () => r.hart.setIrq(3, true);
  r.hart.run(100);
  assert.equal(r.hart.getCsr(Csr.mcause), INT | 3n);
  assert.equal(r.hart.getCsr(Csr.mepc), BigInt(RAM_BASE + 8));
  assert.equal(r.hart.getX(5), 0n);
});

test('requestStop ends run() with Exit.Stop at the next boundary', () => {
  const p = new Prog().i(A.lui(6, 0x10000000), A.sw(0, 6, 0), A.addi(5, 0, 1));
  const r = rig(p);
  r.bus.onWrite = () => r.hart.requestStop();
  assert.equal(r.hart.run(100), Exit.Stop);
  assert.equal(r.hart.getPc(), BigInt(RAM_BASE + 8));
  assert.equal(r.hart.getX(5), 0n);
  assert.equal(r.hart.run(1), Exit.Budget);
  assert.equal(r.hart.getX(5), 1n);
});

test('PV mode (virtualM): ECALL from S exits with cause 9 and pc at the ecall; resuming after setPc continues', () => {
  const p = new Prog().i(A.addi(10, 0, 7), A.ecall(), A.addi(11, 10, 1), A.ebreak());
  const r = rig(p, { virtualM: true });
  r.hart.priv = 1;
  r.hart.setCsr(Csr.medeleg, 0n);
  assert.equal(r.hart.run(100), Exit.MachineTrap);
  assert.equal(r.hart.exitCause, 9);
  assert.equal(r.hart.exitIsInterrupt, false);
  assert.equal(r.hart.getPc(), BigInt(RAM_BASE + 4));
  assert.equal(r.hart.priv, 1, 'no mode change');
  assert.equal(r.hart.getCsr(Csr.mcause), 0n, 'no M-mode CSR written');
  r.hart.setX(10, 42n);
  r.hart.setPc(r.hart.getPc() + 4n);
  assert.equal(r.hart.run(100), Exit.MachineTrap);
  assert.equal(r.hart.getX(11), 43n);
  assert.equal(r.hart.exitCause, 3);
  assert.equal(r.hart.exitTval, RAM_BASE + 12);
  // an illegal instruction in S, not delegated: exit with tval = insn
  const q = rig(new Prog().i(A.csrrs(5, Csr.mstatus, 0)), { virtualM: true });
  q.hart.priv = 1;
  assert.equal(q.hart.run(10), Exit.MachineTrap);
  assert.equal(q.hart.exitCause, 2);
  assert.equal(q.hart.exitTval, A.csrrs(5, Csr.mstatus, 0));
  // M-level interrupt: exit flagged as interrupt, pc unchanged
  const i = rig(loop(), { virtualM: true });
  i.hart.priv = 1;
  i.hart.setCsr(Csr.mie, BigInt(MIP_MTIP));
  i.hart.run(3);
  const pc = i.hart.getPc();
  i.hart.setIrq(7, true);
  assert.equal(i.hart.run(10), Exit.MachineTrap);
  assert.equal(i.hart.exitIsInterrupt, true);
  assert.equal(i.hart.exitCause, 7);
  assert.equal(i.hart.getPc(), pc);
});

test("PV mode: the ecall hook handles a hypercall inside run(), with the exit path's instret and budget", () => {
  // a0 counts hypercalls the hook made; the loop runs 3 ECALLs then an EBREAK (not offered to the hook)
  const p = new Prog().i(A.addi(5, 0, 3), A.ecall(), A.addi(5, 5, -1), A.bne(5, 0, -8), A.ebreak());
  const r = rig(p, { virtualM: true });
  r.hart.priv = 1;
  r.hart.setCsr(Csr.medeleg, 0n);
  const seen: bigint[] = [];
  r.hart.ecallHook = () => {
    seen.push(r.hart.getPc());
    r.hart.setX(10, r.hart.getX(10) + 1n);
    r.hart.skip(4);
    return true;
  };
  assert.equal(r.hart.run(1000), Exit.MachineTrap);
  assert.equal(r.hart.exitCause, 3);
  assert.equal(r.hart.getX(10), 3n);
  assert.deepEqual(
    seen,
    [1, 2, 3].map(() => BigInt(RAM_BASE + 4)),
  );
  assert.equal(r.hart.instret, 1 + 3 * 2, 'ECALLs do not retire');
  // the same program through exits: the same instret; each trap costs TRAP_COST of the budget either way
  const q = rig(p, { virtualM: true });
  q.hart.priv = 1;
  q.hart.setCsr(Csr.medeleg, 0n);
  q.hart.ecallHook = () => false; // declines: the exit as before
  while (q.hart.run(1000) === Exit.MachineTrap && q.hart.exitCause === 9) q.hart.skip(4);
  assert.equal(q.hart.instret, r.hart.instret);
  const b = rig(p, { virtualM: true });
  b.hart.priv = 1;
  b.hart.setCsr(Csr.medeleg, 0n);
  b.hart.ecallHook = () => {
    b.hart.skip(4);
    return true;
  };
  // addi, ECALL (TRAP_COST), addi, bne: the budget ends at the second ECALL
  assert.equal(b.hart.run(1 + TRAP_COST + 2), Exit.Budget);
  assert.equal(b.hart.getPc(), BigInt(RAM_BASE + 4));
  assert.equal(b.hart.instret, 3);
});

test('PV mode: delegated exceptions and interrupts are still taken by S-mode', () => {
  const r = rig(new Prog().i(A.ecall()), { virtualM: true });
  r.hart.priv = 0;
  r.hart.setCsr(Csr.medeleg, 1n << 8n);
  r.hart.setCsr(Csr.stvec, BigInt(HALT));
  assert.equal(r.hart.run(10 + TRAP_COST), Exit.Wfi); // S runs the halt loop's WFI (legal in S)
  assert.equal(r.hart.getCsr(Csr.scause), 8n);
  assert.equal(r.hart.priv, 1);
});

test('interruptPending() reports mip & mie regardless of the global enables (what wakes WFI)', () => {
  const { hart } = rig(loop());
  assert.equal(hart.interruptPending(), false);
  hart.setIrq(9, true); // SEIP from the PLIC
  assert.equal(hart.interruptPending(), false, 'not enabled in mie');
  hart.setCsr(Csr.mie, BigInt(MIP_SEIP));
  assert.equal(hart.interruptPending(), true);
  assert.equal(hart.getCsr(Csr.mip), BigInt(MIP_SEIP), 'SEIP line visible in mip');
  hart.setCsr(Csr.mip, 0n);
  assert.equal(hart.getCsr(Csr.mip), BigInt(MIP_SEIP), 'software cannot clear the external SEIP line');
  hart.setIrq(9, false);
  assert.equal(hart.interruptPending(), false);
});

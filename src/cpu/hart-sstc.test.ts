import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cause, Csr, MIP_STIP, Priv } from './arch.js';
import { Exit } from './exits.js';
import { A, li64, Prog } from './test-asm.js';
import { RAM_BASE, rig } from './test-util.js';

const STCE = 1n << 63n;
const TM = 2n;

/** A rig whose `time` CSR reads `clock.now`. */
function timed(prog: Prog, opts: { sstc?: boolean } = {}) {
  const clock = { now: 1000 };
  const r = rig(prog, { time: { now: () => clock.now }, extensions: { sstc: opts.sstc ?? true } });
  return { ...r, clock };
}

/** Reads stimecmp in `priv` with menvcfg and mcounteren as given: the value, or 'illegal'. */
function readIn(priv: number, menvcfg: bigint, mcounteren: bigint, sstc = true): bigint | 'illegal' {
  const r = timed(new Prog().i(A.csrrs(5, Csr.stimecmp, 0), A.ebreak()), { sstc });
  r.hart.setCsr(Csr.menvcfg, menvcfg);
  r.hart.setCsr(Csr.mcounteren, mcounteren);
  if (sstc) r.hart.setCsr(Csr.stimecmp, 0x1234n);
  r.hart.priv = priv;
  r.hart.run(10);
  const cause = r.hart.getCsr(Csr.mcause);
  if (cause === BigInt(Cause.Illegal)) return 'illegal';
  assert.equal(cause, BigInt(Cause.Breakpoint));
  return r.hart.getX(5);
}

test('stimecmp: M always; S only with menvcfg.STCE and mcounteren.TM; U never', () => {
  assert.equal(readIn(Priv.M, 0n, 0n), 0x1234n);
  assert.equal(readIn(Priv.S, STCE, TM), 0x1234n);
  assert.equal(readIn(Priv.S, 0n, TM), 'illegal', 'STCE clear');
  assert.equal(readIn(Priv.S, STCE, 0n), 'illegal', 'TM clear');
  assert.equal(readIn(Priv.U, STCE, TM), 'illegal');
});

test('without Sstc: no stimecmp (illegal even in M) and menvcfg.STCE reads zero', () => {
  assert.equal(readIn(Priv.M, 0n, 0n, false), 'illegal');
  const { hart } = timed(new Prog().i(A.ebreak()), { sstc: false });
  hart.setCsr(Csr.menvcfg, STCE | 1n);
  assert.equal(hart.getCsr(Csr.menvcfg), 1n);
  assert.throws(() => hart.getCsr(Csr.stimecmp), /unknown CSR/);
  assert.equal(hart.timerDeadline(), Number.POSITIVE_INFINITY);
});

test('with STCE set, STIP is time >= stimecmp (unsigned) and M cannot write it', () => {
  const { hart, clock } = timed(new Prog().i(A.ebreak()));
  const stip = () => (hart.getCsr(Csr.mip) & BigInt(MIP_STIP)) !== 0n;
  hart.setCsr(Csr.stimecmp, 2000n);
  hart.setCsr(Csr.menvcfg, STCE);
  assert.equal(stip(), false);
  assert.equal(hart.timerDeadline(), 2000);
  hart.setCsr(Csr.mip, BigInt(MIP_STIP));
  assert.equal(stip(), false, 'mip.STIP is read-only');
  clock.now = 2000;
  assert.equal(stip(), true, 'a read sees the comparison at once');
  assert.equal(hart.timerDeadline(), Number.POSITIVE_INFINITY, 'nothing left to wait for');
  hart.setCsr(Csr.mip, 0n);
  assert.equal(stip(), true);
  hart.setCsr(Csr.stimecmp, 1n << 63n); // far in the future, unsigned
  assert.equal(stip(), false);
  hart.setCsr(Csr.stimecmp, 0n);
  assert.equal(stip(), true);
  // STCE cleared: STIP is the plain writable bit again, and stimecmp no longer drives it
  hart.setCsr(Csr.menvcfg, 0n);
  hart.setCsr(Csr.mip, 0n);
  assert.equal(stip(), false);
  hart.setCsr(Csr.stimecmp, 0n);
  assert.equal(stip(), false);
  hart.setCsr(Csr.mip, BigInt(MIP_STIP));
  assert.equal(stip(), true);
});

test('an S-mode timer interrupt from stimecmp: raised by updateTimer, taken through stvec', () => {
  // S-mode: arm stimecmp = time + 100, enable SIE, spin. stvec: ebreak (to M).
  const handler = RAM_BASE + 0x800;
  const p = new Prog().i(
    A.csrrs(5, Csr.time, 0),
    A.addi(5, 5, 100),
    A.csrrw(0, Csr.stimecmp, 5),
    ...li64(6, 2n),
    A.csrrs(0, Csr.sstatus, 6), // SIE
    A.jal(0, 0),
  );
  const { hart, ram, clock } = timed(p);
  ram.load(handler, new Prog().i(A.ebreak()).toBytes());
  hart.setCsr(Csr.menvcfg, STCE);
  hart.setCsr(Csr.mcounteren, TM);
  hart.setCsr(Csr.mideleg, BigInt(MIP_STIP));
  hart.setCsr(Csr.mie, BigInt(MIP_STIP));
  hart.setCsr(Csr.stvec, BigInt(handler));
  hart.priv = Priv.S;
  assert.equal(hart.run(100), Exit.Budget, 'spinning, timer not due');
  assert.equal(hart.timerDeadline(), 1100);
  clock.now = 1100;
  hart.updateTimer(clock.now);
  hart.run(100);
  assert.equal(hart.getCsr(Csr.scause), (1n << 63n) | 5n);
  assert.equal(hart.getCsr(Csr.mcause), BigInt(Cause.Breakpoint), 'the handler ran');
});

test('WFI waits for stimecmp and completes at once when it is already due', () => {
  const p = new Prog().i(0x10500073, A.addi(7, 0, 1), A.ebreak()); // wfi
  const { hart, clock } = timed(p);
  hart.setCsr(Csr.menvcfg, STCE);
  hart.setCsr(Csr.stimecmp, 1500n);
  hart.setCsr(Csr.mie, BigInt(MIP_STIP));
  assert.equal(hart.run(10), Exit.Wfi);
  assert.equal(hart.interruptPending(), false);
  clock.now = 1500;
  hart.updateTimer(clock.now);
  assert.equal(hart.interruptPending(), true, 'the run loop can wake it');
  // due before the WFI: it does not wait
  const b = timed(p);
  b.hart.setCsr(Csr.menvcfg, STCE);
  b.hart.setCsr(Csr.stimecmp, 1500n);
  b.hart.setCsr(Csr.mie, BigInt(MIP_STIP));
  b.clock.now = 2000;
  b.hart.run(10);
  assert.equal(b.hart.getX(7), 1n);
  assert.equal(b.hart.getCsr(Csr.mcause), BigInt(Cause.Breakpoint));
});

test('reset clears stimecmp and menvcfg.STCE', () => {
  const { hart } = timed(new Prog().i(A.ebreak()));
  hart.setCsr(Csr.menvcfg, STCE);
  hart.setCsr(Csr.stimecmp, 5n);
  hart.reset(BigInt(RAM_BASE), Priv.M);
  assert.equal(hart.getCsr(Csr.menvcfg), 0n);
  assert.equal(hart.getCsr(Csr.stimecmp), 0n);
});

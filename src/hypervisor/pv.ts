import { Cause, Csr, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, Priv, S_INTS } from '../cpu/arch.js';
import type { VcpuHart } from './guest-hart.js';

/**
 * Exceptions delegated to S-mode in PV mode: the set OpenSBI 1.x delegates
 * (lib/sbi/sbi_hart.c, delegate_traps): misaligned fetch, breakpoint, ecall
 * from U, and the three page faults.
 */
export const PV_MEDELEG =
  (1 << Cause.InstMisaligned) |
  (1 << Cause.Breakpoint) |
  (1 << Cause.EcallU) |
  (1 << Cause.InstPage) |
  (1 << Cause.LoadPage) |
  (1 << Cause.StorePage);

/** Interrupts delegated to S-mode: SSIP, STIP, SEIP (as OpenSBI). */
export const PV_MIDELEG = S_INTS;

const SSTATUS_SIE = BigInt(MSTATUS_SIE);
const SSTATUS_SPIE = BigInt(MSTATUS_SPIE);
const SSTATUS_SPP = BigInt(MSTATUS_SPP);

/**
 * Put a hart in the state OpenSBI leaves it in before entering S-mode:
 * delegation as above, counters (cycle, time, instret) readable from S-mode,
 * one PMP entry opening all of memory, Sstc enabled when `sstc` (menvcfg.STCE),
 * and pvm as the (virtual) M-mode. CSRs the CPU does not implement (PMP) are skipped.
 */
export function setupPvHart(h: VcpuHart, sstc = false): void {
  h.virtualM = true;
  h.setCsr(Csr.medeleg, BigInt(PV_MEDELEG));
  h.setCsr(Csr.mideleg, BigInt(PV_MIDELEG));
  h.setCsr(Csr.mcounteren, 7n);
  // OpenSBI also opens cycle, time and instret to U-mode (scounteren = 7): busybox reads `time` directly.
  h.setCsr(Csr.scounteren, 7n);
  try {
    // pmpaddr0 = all ones (NAPOT, whole address space), pmpcfg0 = NAPOT | X | W | R.
    h.setCsr(Csr.pmpaddr0, (1n << 54n) - 1n);
    h.setCsr(Csr.pmpcfg0, 0x1fn);
  } catch {
    // No PMP on this CPU: nothing to open.
  }
  if (sstc) h.setCsr(Csr.menvcfg, 1n << 63n);
}

/**
 * Enter S-mode on `h` at `pc` with a0 = `a0`, a1 = `a1`, satp = 0 and
 * sstatus.SIE = 0 (and Sstc enabled when `sstc`): the boot protocol and the HSM start/resume state
 * (SBI v2.0 §9.1, table "HSM Hart Start Register State").
 */
export function enterSupervisor(h: VcpuHart, pc: bigint, a0: bigint, a1: bigint, sstc = false): void {
  h.reset(pc, Priv.S);
  setupPvHart(h, sstc);
  h.setCsr(Csr.satp, 0n);
  h.setCsr(Csr.sstatus, h.getCsr(Csr.sstatus) & ~SSTATUS_SIE);
  h.setX(10, a0);
  h.setX(11, a1);
  h.flushTlb();
}

/**
 * Deliver an exception that was not delegated to S-mode the way a firmware
 * does (OpenSBI sbi_trap_redirect): as if medeleg had delegated it. Used for
 * illegal instructions, access faults and misaligned atomics from S or U
 * mode. Privileged spec §12.1.1-12.1.10 (sstatus, stvec, sepc, scause, stval).
 */
export function redirectToSupervisor(h: VcpuHart, cause: number, tval: bigint): void {
  const pc = h.getPc();
  let st = h.getCsr(Csr.sstatus);
  st = h.priv === Priv.S ? st | SSTATUS_SPP : st & ~SSTATUS_SPP;
  st = st & SSTATUS_SIE ? st | SSTATUS_SPIE : st & ~SSTATUS_SPIE;
  st &= ~SSTATUS_SIE;
  h.setCsr(Csr.sepc, pc);
  h.setCsr(Csr.scause, BigInt(cause));
  h.setCsr(Csr.stval, tval);
  h.setCsr(Csr.sstatus, st);
  h.priv = Priv.S;
  // Exceptions always go to stvec.BASE, even in vectored mode.
  h.setPc(h.getCsr(Csr.stvec) & ~3n);
  h.flushTlb();
}

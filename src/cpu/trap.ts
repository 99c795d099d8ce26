/**
 * Traps and interrupts: entering a trap handler (privileged spec 3.1.6.1, 3.1.8, 4.1.1), choosing
 * the interrupt to take (3.1.9) and leaving a handler with MRET/SRET (3.3.2).
 *
 * S-mode and M-mode share this code through their TrapCsrs records (csr.ts): the level a trap
 * goes to is picked by medeleg/mideleg, then the same steps write that level's epc, cause and
 * tval, stack its xIE/xPIE/xPP fields of mstatus and jump to its tvec.
 *
 * PV mode (`Hart.virtualM`): a trap destined to M-mode is not taken; the hart stays at the
 * trapping instruction and `run` returns Exit.MachineTrap with the exit fields set.
 */
import { IrqBit, MSTATUS_MIE, MSTATUS_MPRV, MSTATUS_SIE, Priv } from './arch.js';
import type { TrapCsrs } from './csr.js';
import type { Hart } from './hart.js';

const TWO32 = 4294967296;
/** The interrupt bit of mcause/scause (bit 63: the high word's sign bit). */
const INTERRUPT_HI = 0x80000000 | 0;
/** Interrupt priority (privileged spec 3.1.9): MEI, MSI, MTI, SEI, SSI, STI. */
const IRQ_ORDER = [IrqBit.MEIP, IrqBit.MSIP, IrqBit.MTIP, IrqBit.SEIP, IrqBit.SSIP, IrqBit.STIP];

/**
 * Take a trap at instruction (pcLo, pcHi). Returns true when, in PV mode, the trap is destined
 * to M-mode: then nothing changes but the exit fields (and the pc, set to the instruction).
 */
export function takeTrap(
  h: Hart,
  cause: number,
  isInt: boolean,
  tvalLo: number,
  tvalHi: number,
  pcLo: number,
  pcHi: number,
): boolean {
  const deleg = isInt ? h.mideleg : h.medeleg;
  const toS = h.priv <= Priv.S && cause < 32 && ((deleg >>> cause) & 1) !== 0;
  h.irqCheck = true;
  if (!toS && h.virtualM) {
    h.exitCause = cause;
    h.exitIsInterrupt = isInt;
    h.exitTval = tvalHi * TWO32 + (tvalLo >>> 0);
    h.pcLo = pcLo;
    h.pcHi = pcHi;
    return true;
  }
  h.res.valid = false;
  const l = toS ? h.s : h.m;
  if (!toS) {
    h.mTraps++;
    if (!h.inM) {
      h.inM = true;
      h.mEntry = h.instret;
    }
  }
  l.epcLo = pcLo;
  l.epcHi = pcHi;
  l.causeLo = cause;
  l.causeHi = isInt ? INTERRUPT_HI : 0;
  l.tvalLo = tvalLo;
  l.tvalHi = tvalHi;
  // xPIE = xIE, xIE = 0, xPP = the privilege the trap came from
  const ms = h.mstatus;
  let m = ms & ~(l.pie | l.ie | l.ppMask);
  if (ms & l.ie) m |= l.pie;
  h.mstatus = m | (h.priv << l.ppShift);
  h.priv = l.level;
  let base = l.tvecLo & -4;
  let baseHi = l.tvecHi;
  if (isInt && (l.tvecLo & 3) === 1) {
    // vectored: interrupts go to base + 4 * cause
    const t = (base >>> 0) + 4 * cause;
    base = t | 0;
    if (t >= TWO32) baseHi = (baseHi + 1) | 0;
  }
  h.jumpTo(base, baseHi);
  return false;
}

/**
 * MRET or SRET from level `l` (the privilege checks are the caller's): xIE = xPIE, xPIE = 1,
 * privilege = xPP, xPP = U; MPRV is cleared when the new privilege is below M; pc = xepc.
 */
export function trapReturn(h: Hart, l: TrapCsrs): void {
  const ms = h.mstatus;
  const pp = (ms & l.ppMask) >>> l.ppShift;
  let m = ms & ~(l.ie | l.ppMask);
  if (ms & l.pie) m |= l.ie;
  m |= l.pie;
  if (pp !== Priv.M) m &= ~MSTATUS_MPRV;
  h.mstatus = m;
  if (pp !== Priv.M && h.inM) {
    h.mInstret += h.instret - h.mEntry;
    h.inM = false;
  }
  h.priv = pp;
  h.res.valid = false;
  h.jumpTo(l.epcLo, l.epcHi);
  h.irqCheck = true;
}

/** Pending-and-enabled interrupt of highest priority (an IrqBit), or -1 (privileged spec 3.1.9). */
export function pendingInterrupt(h: Hart): number {
  const pend = (h.mip | h.seipHw) & h.mie;
  if (pend === 0) return -1;
  const m = pend & ~h.mideleg;
  if (m !== 0 && (h.priv < Priv.M || (h.mstatus & MSTATUS_MIE) !== 0)) {
    for (const i of IRQ_ORDER) if ((m >> i) & 1) return i;
  }
  const s = pend & h.mideleg;
  if (s !== 0 && (h.priv < Priv.S || (h.priv === Priv.S && (h.mstatus & MSTATUS_SIE) !== 0))) {
    for (const i of IRQ_ORDER) if ((s >> i) & 1) return i;
  }
  return -1;
}

/** Take the highest-priority pending interrupt, if any. True for a PV-mode exit. */
export function takeInterrupt(h: Hart): boolean {
  const i = pendingInterrupt(h);
  if (i < 0) return false;
  return takeTrap(h, i, true, 0, 0, h.pcLo, h.pcHi);
}

/**
 * The CSR file: reading and writing CSRs with their WARL rules, the access rules of the Zicsr
 * instructions (unprivileged spec ch. 9; privileged spec 2.1-2.3) and the CSRRW/CSRRS/CSRRC
 * instructions themselves. The state lives on the hart (hart.ts); the names in arch.ts.
 *
 * S-mode and M-mode each have a TrapCsrs record (Spike instantiates its epc/tvec/cause CSR
 * objects once per level the same way): the CSRs at the same offset of the S block (0x1xx)
 * and the M block (0x3xx) are one case below, reading or writing the record of their level.
 * sstatus, sie and sip are views of mstatus, mie and mip through the level's masks.
 */
import {
  Cause,
  Csr,
  LevelCsr,
  MEDELEG_MASK,
  MENVCFG_STCE_HI,
  MIE_MASK,
  MIP_SSIP,
  MIP_STIP,
  MSTATUS_FS,
  MSTATUS_MIE,
  MSTATUS_MPIE,
  MSTATUS_MPP,
  MSTATUS_SIE,
  MSTATUS_SPIE,
  MSTATUS_SPP,
  MSTATUS_TVM,
  MSTATUS_WMASK,
  Priv,
  S_INTS,
  SSTATUS_RMASK,
  SSTATUS_WMASK,
} from './arch.js';
import type { Hart } from './hart.js';
import { Ext } from './isa.js';

const TWO32 = 4294967296;
/** misa: MXL=2 (RV64), extensions A C D F I M S U. */
const MISA_LO = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
const MISA_HI = 0x80000000 | 0;
/** mstatus/sstatus high word: SD (FS dirty). */
const SD_HI = 0x80000000 | 0;

/**
 * The trap CSRs one privilege level has a copy of (tvec, epc, cause, tval, scratch, counteren,
 * envcfg), as lo/hi word pairs, and where that level's fields sit in mstatus, mie and mip.
 */
export class TrapCsrs {
  tvecLo = 0;
  tvecHi = 0;
  /**
   * xscratch, xepc, xcause, xtval as lo/hi words, in that order: part of the hart's state area
   * (jit/state.ts S_TRAP_OFF, M_TRAP_OFF) where translated code reads and writes them.
   */
  private readonly w: Int32Array;
  get scratchLo(): number {
    return this.w[0]!;
  }
  set scratchLo(v: number) {
    this.w[0] = v;
  }
  get scratchHi(): number {
    return this.w[1]!;
  }
  set scratchHi(v: number) {
    this.w[1] = v;
  }
  get epcLo(): number {
    return this.w[2]!;
  }
  set epcLo(v: number) {
    this.w[2] = v;
  }
  get epcHi(): number {
    return this.w[3]!;
  }
  set epcHi(v: number) {
    this.w[3] = v;
  }
  get causeLo(): number {
    return this.w[4]!;
  }
  set causeLo(v: number) {
    this.w[4] = v;
  }
  get causeHi(): number {
    return this.w[5]!;
  }
  set causeHi(v: number) {
    this.w[5] = v;
  }
  get tvalLo(): number {
    return this.w[6]!;
  }
  set tvalLo(v: number) {
    this.w[6] = v;
  }
  get tvalHi(): number {
    return this.w[7]!;
  }
  set tvalHi(v: number) {
    this.w[7] = v;
  }
  counteren = 0;
  envcfg = 0;
  /** High word of envcfg: menvcfg.STCE (Sstc); always 0 for senvcfg. */
  envcfgHi = 0;
  /** mstatus.xIE, xPIE and xPP of this level (xPP: mask and bit position). */
  readonly ie: number;
  readonly pie: number;
  readonly ppMask: number;
  readonly ppShift: number;
  /** Bits of mstatus this level's status CSR reads and writes; its high word (UXL, and SXL for M). */
  readonly statusRead: number;
  readonly statusWrite: number;
  readonly statusHi: number;
  /** Bits of mip this level's ip CSR may write (further limited to the delegated ones for S). */
  readonly ipWrite: number;

  /** `words`: the 8 words that hold xscratch, xepc, xcause and xtval. */
  constructor(
    readonly level: Priv,
    words: Int32Array,
  ) {
    this.w = words;
    const m = level === Priv.M;
    this.ie = m ? MSTATUS_MIE : MSTATUS_SIE;
    this.pie = m ? MSTATUS_MPIE : MSTATUS_SPIE;
    this.ppMask = m ? MSTATUS_MPP : MSTATUS_SPP;
    this.ppShift = m ? 11 : 8;
    this.statusRead = m ? -1 : SSTATUS_RMASK;
    this.statusWrite = m ? MSTATUS_WMASK : SSTATUS_WMASK;
    this.statusHi = m ? 0xa : 2;
    this.ipWrite = m ? S_INTS : MIP_SSIP;
  }

  reset(): void {
    this.tvecLo = this.tvecHi = 0;
    this.w.fill(0);
    this.counteren = this.envcfg = this.envcfgHi = 0;
  }
}

/** Value of the last readCsr (low, high word). */
const value = new Int32Array(2);

function ret(lo: number, hi: number): boolean {
  value[0] = lo;
  value[1] = hi;
  return true;
}

/** Interrupts a level sees in its ie/ip CSRs: all for M, the delegated ones for S. */
function visible(h: Hart, l: TrapCsrs): number {
  return l.level === Priv.M ? -1 : h.mideleg;
}

/** instret plus the 64-bit offset i (0 = cycle, 2 = instret). */
function counter(h: Hart, i: number): boolean {
  const n = h.instret;
  const nl = (n % TWO32) | 0;
  const nh = Math.floor(n / TWO32) | 0;
  const lo = (nl + h.counterOffset[i]!) | 0;
  return ret(lo, nh + h.counterOffset[i + 1]! + (lo >>> 0 < nl >>> 0 ? 1 : 0));
}

/** Read a CSR into `value`; false when it does not exist. */
function readCsr(h: Hart, csr: number): boolean {
  const block = csr >>> 8;
  if (block === 1 || block === 3) {
    const l = block === 3 ? h.m : h.s;
    switch (csr & 0xff) {
      case LevelCsr.status: {
        const ms = h.mstatus;
        return ret(ms & l.statusRead, ((ms & MSTATUS_FS) === MSTATUS_FS ? SD_HI : 0) | l.statusHi);
      }
      case LevelCsr.ie:
        return ret(h.mie & visible(h, l), 0);
      case LevelCsr.ip:
        if (h.m.envcfgHi & MENVCFG_STCE_HI) updateStimer(h, h.time.now());
        return ret((h.mip | h.seipHw) & visible(h, l), 0);
      case LevelCsr.tvec:
        return ret(l.tvecLo, l.tvecHi);
      case LevelCsr.counteren:
        return ret(l.counteren, 0);
      case LevelCsr.envcfg:
        return ret(l.envcfg, l.envcfgHi);
      case LevelCsr.scratch:
        return ret(l.scratchLo, l.scratchHi);
      case LevelCsr.epc:
        return ret(l.epcLo, l.epcHi);
      case LevelCsr.cause:
        return ret(l.causeLo, l.causeHi);
      case LevelCsr.tval:
        return ret(l.tvalLo, l.tvalHi);
    }
  }
  switch (csr) {
    case Csr.fflags:
      return ret(h.fflags, 0);
    case Csr.frm:
      return ret(h.frm, 0);
    case Csr.fcsr:
      return ret((h.frm << 5) | h.fflags, 0);
    case Csr.cycle:
    case Csr.mcycle:
      return counter(h, 0);
    case Csr.instret:
    case Csr.minstret:
      return counter(h, 2);
    case Csr.time: {
      const v = h.time.now();
      return ret(v, Math.floor(v / TWO32));
    }
    case Csr.satp:
      return ret(h.satpLo, h.satpHi);
    case Csr.stimecmp:
      return (h.ext & Ext.SSTC) !== 0 && ret(h.stimecmpLo, h.stimecmpHi);
    case Csr.mvendorid:
    case Csr.marchid:
    case Csr.mimpid:
    case Csr.mconfigptr:
      return ret(0, 0);
    case Csr.mhartid:
      return ret(h.id, 0);
    case Csr.misa:
      return ret(MISA_LO, MISA_HI);
    case Csr.medeleg:
      return ret(h.medeleg, 0);
    case Csr.mideleg:
      return ret(h.mideleg, 0);
    case Csr.mcountinhibit:
      return ret(h.mcountinhibit, 0);
  }
  // no triggers: tselect hard-wired to 0, tdata1 type 0; writes ignored
  if (csr >= Csr.tselect && csr <= Csr.tdata3) return ret(0, 0);
  // hpmcounter3..31 (user view), mhpmcounter3..31, mhpmevent3..31: read as zero
  if (
    (csr >= Csr.hpmcounter3 && csr <= Csr.hpmcounter31) ||
    (csr >= Csr.mhpmcounter3 && csr <= Csr.mhpmcounter31) ||
    (csr >= Csr.mhpmevent3 && csr <= Csr.mhpmevent31)
  ) {
    return ret(0, 0);
  }
  if (csr >= Csr.pmpcfg0 && csr <= Csr.pmpcfg15) {
    // only even numbers exist on RV64; 16 entries (pmpcfg0, pmpcfg2)
    if (csr & 1) return false;
    const i = (csr - Csr.pmpcfg0) >> 1;
    return i < 2 ? ret(h.pmpcfg[2 * i]!, h.pmpcfg[2 * i + 1]!) : ret(0, 0);
  }
  if (csr >= Csr.pmpaddr0 && csr <= Csr.pmpaddr63) {
    const i = csr - Csr.pmpaddr0;
    return i < 16 ? ret(h.pmpaddr[2 * i]!, h.pmpaddr[2 * i + 1]!) : ret(0, 0);
  }
  return false;
}

/** Write a CSR with its WARL rules (the CSR is known to exist). */
function writeCsr(h: Hart, csr: number, lo: number, hi: number): void {
  const block = csr >>> 8;
  if (block === 1 || block === 3) {
    const l = block === 3 ? h.m : h.s;
    switch (csr & 0xff) {
      case LevelCsr.status:
        setMstatus(h, (h.mstatus & ~l.statusWrite) | (lo & l.statusWrite));
        return;
      case LevelCsr.ie: {
        const m = visible(h, l) & MIE_MASK;
        h.mie = (h.mie & ~m) | (lo & m);
        h.irqCheck = true;
        return;
      }
      case LevelCsr.ip: {
        // M writes the S-level bits; S only SSIP, and only when delegated (SEIP/STIP are M's to drive).
        // With menvcfg.STCE set, STIP follows stimecmp and is read-only (Sstc).
        const m = visible(h, l) & l.ipWrite & (h.m.envcfgHi & MENVCFG_STCE_HI ? ~MIP_STIP : -1);
        h.mip = (h.mip & ~m) | (lo & m);
        h.irqCheck = true;
        return;
      }
      case LevelCsr.tvec:
        // MODE >= 2 is reserved: WARL to Direct
        l.tvecLo = (lo & 3) >= 2 ? lo & -4 : lo & -3;
        l.tvecHi = hi;
        return;
      case LevelCsr.counteren:
        l.counteren = lo;
        return;
      case LevelCsr.envcfg:
        l.envcfg = lo & 1; // FIOM, and for M with Sstc, STCE
        if (l.level === Priv.M && h.ext & Ext.SSTC) {
          l.envcfgHi = hi & MENVCFG_STCE_HI;
          updateStimer(h, h.time.now());
        }
        return;
      case LevelCsr.scratch:
        l.scratchLo = lo;
        l.scratchHi = hi;
        return;
      case LevelCsr.epc:
        l.epcLo = lo & -2;
        l.epcHi = hi;
        return;
      case LevelCsr.cause:
        l.causeLo = lo;
        l.causeHi = hi & (0x80000000 | 0);
        return;
      case LevelCsr.tval:
        l.tvalLo = lo;
        l.tvalHi = hi;
        return;
    }
  }
  switch (csr) {
    case Csr.fflags:
      h.fflags = lo & 31;
      h.mstatus |= MSTATUS_FS;
      return;
    case Csr.frm:
      h.frm = lo & 7;
      h.mstatus |= MSTATUS_FS;
      return;
    case Csr.fcsr:
      h.fflags = lo & 31;
      h.frm = (lo >> 5) & 7;
      h.mstatus |= MSTATUS_FS;
      return;
    case Csr.mcycle:
    case Csr.minstret: {
      // the next instruction reads the written value: the writing instruction's own
      // increment is suppressed (privileged spec 3.1.10, riscv-tests instret_overflow)
      const n = h.instret + 1;
      const nl = (n % TWO32) | 0;
      const nh = Math.floor(n / TWO32) | 0;
      const i = csr === Csr.mcycle ? 0 : 2;
      h.counterOffset[i] = (lo - nl) | 0;
      h.counterOffset[i + 1] = (hi - nh - (lo >>> 0 < nl >>> 0 ? 1 : 0)) | 0;
      return;
    }
    case Csr.stimecmp:
      h.stimecmpLo = lo;
      h.stimecmpHi = hi;
      updateStimer(h, h.time.now());
      return;
    case Csr.satp: {
      // WARL: an unsupported MODE makes the whole write have no effect (privileged spec 4.1.11)
      const mode = hi >>> 28;
      if (mode !== 0 && mode !== 8 && mode !== 9) return;
      h.satpLo = lo;
      h.satpHi = hi;
      h.mmu.flush();
      return;
    }
    case Csr.medeleg:
      h.medeleg = lo & MEDELEG_MASK;
      return;
    case Csr.mideleg:
      h.mideleg = lo & S_INTS;
      h.irqCheck = true;
      return;
    case Csr.mcountinhibit:
      h.mcountinhibit = lo & 5;
      return;
  }
  // PMP (pmp.ts: locking, WARL bits); the TLB only holds pages PMP treats alike, so it is flushed
  if (csr >= Csr.pmpcfg0 && csr <= Csr.pmpcfg15) {
    const i = (csr - Csr.pmpcfg0) >> 1;
    if (i < 2) {
      h.pmp.writeCfg(i, lo, hi);
      h.mmu.flush();
    }
    return;
  }
  if (csr >= Csr.pmpaddr0 && csr <= Csr.pmpaddr63) {
    const i = csr - Csr.pmpaddr0;
    if (i < 16) {
      h.pmp.writeAddr(i, lo, hi);
      h.mmu.flush();
    }
  }
  // read-only or read-as-zero: ignored
}

function setMstatus(h: Hart, v: number): void {
  // MPP is WARL: the reserved value 2 keeps the old mode
  if ((v & MSTATUS_MPP) === 2 << 11) v = (v & ~MSTATUS_MPP) | (h.mstatus & MSTATUS_MPP);
  h.mstatus = v;
  // no TLB flush: data TLB sets are indexed by effective privilege, SUM and MXR
  h.irqCheck = true;
}

/** Extra access rules beyond the privilege level encoded in the CSR number. */
function accessible(h: Hart, csr: number): boolean {
  if (csr >= Csr.cycle && csr <= Csr.hpmcounter31) {
    // counters: mcounteren / scounteren (privileged spec 3.1.11)
    const b = csr & 31;
    if (h.priv < Priv.M && ((h.m.counteren >>> b) & 1) === 0) return false;
    if (h.priv === Priv.U && ((h.s.counteren >>> b) & 1) === 0) return false;
    return true;
  }
  if (csr <= Csr.fcsr) return (h.mstatus & MSTATUS_FS) !== 0;
  if (csr === Csr.satp) return !(h.priv === Priv.S && h.mstatus & MSTATUS_TVM);
  // Sstc: S-mode needs mcounteren.TM and menvcfg.STCE
  if (csr === Csr.stimecmp)
    return h.priv === Priv.M || ((h.m.counteren & 2) !== 0 && (h.m.envcfgHi & MENVCFG_STCE_HI) !== 0);
  return true;
}

/**
 * Sstc (privileged spec ch. 7, "Sstc"): with menvcfg.STCE set, STIP is the comparison
 * `time >= stimecmp` (unsigned), re-evaluated at mtime `now`; with it clear, STIP is the
 * software-writable bit it is without Sstc, left as it was.
 */
export function updateStimer(h: Hart, now: number): void {
  if ((h.m.envcfgHi & MENVCFG_STCE_HI) === 0) return;
  const due = now >= (h.stimecmpHi >>> 0) * TWO32 + (h.stimecmpLo >>> 0);
  if (due === ((h.mip & MIP_STIP) !== 0)) return;
  h.mip = due ? h.mip | MIP_STIP : h.mip & ~MIP_STIP;
  h.irqCheck = true;
  h.attn = true;
}

/**
 * The mtime at which STIP rises (Sstc with STCE set and STIP low), or Infinity; also for a
 * stimecmp of 2^53 or more (28 years at 10 MHz), which is how software disarms it.
 */
export function stimerDeadline(h: Hart): number {
  if ((h.m.envcfgHi & MENVCFG_STCE_HI) === 0 || h.mip & MIP_STIP) return Number.POSITIVE_INFINITY;
  const t = (h.stimecmpHi >>> 0) * TWO32 + (h.stimecmpLo >>> 0);
  return t < 2 ** 53 ? t : Number.POSITIVE_INFINITY;
}

/**
 * CSRRW, CSRRS, CSRRC and their immediate forms (SYSTEM opcode, funct3 1-3 and 5-7). Raises an
 * illegal instruction for a CSR that does not exist, is above the current privilege, is
 * read-only and written, or is closed by mcounteren/scounteren, mstatus.FS or mstatus.TVM.
 */
export function csrInstruction(h: Hart, insn: number, raw: number): void {
  const f3 = (insn >> 12) & 7;
  const csr = insn >>> 20;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const op = f3 & 3;
  let srcLo: number;
  let srcHi: number;
  if (f3 & 4) {
    srcLo = rs1;
    srcHi = 0;
  } else {
    srcLo = h.x[2 * rs1]!;
    srcHi = h.x[2 * rs1 + 1]!;
  }
  // CSRRW always writes; CSRRS/CSRRC only with a nonzero source register or immediate
  const write = op === 1 || rs1 !== 0;
  if (((csr >> 8) & 3) > h.priv) h.fault(Cause.Illegal, raw, 0);
  if (write && csr >>> 10 === 3) h.fault(Cause.Illegal, raw, 0);
  if (!accessible(h, csr) || !readCsr(h, csr)) h.fault(Cause.Illegal, raw, 0);
  const oldLo = value[0]!;
  const oldHi = value[1]!;
  if (write) {
    let lo = srcLo;
    let hi = srcHi;
    // mip: only the software-writable SEIP bit takes part in a CSRRS/CSRRC read-modify-write, not the
    // PLIC's signal (privileged spec 3.1.9), or a set of STIP would latch SEIP on for good.
    const rmwLo = csr === Csr.mip ? h.mip : oldLo;
    if (op === 2) {
      lo |= rmwLo;
      hi |= oldHi;
    } else if (op === 3) {
      lo = rmwLo & ~srcLo;
      hi = oldHi & ~srcHi;
    }
    writeCsr(h, csr, lo, hi);
  }
  if (rd !== 0) {
    h.x[2 * rd] = oldLo;
    h.x[2 * rd + 1] = oldHi;
  }
}

/** Read a CSR without privilege checks. Throws on an unknown CSR. */
export function getCsr(h: Hart, n: number): bigint {
  if (!readCsr(h, n)) throw new Error(`unknown CSR 0x${n.toString(16)}`);
  return (BigInt(value[1]! >>> 0) << 32n) | BigInt(value[0]! >>> 0);
}

/** Write a CSR (WARL rules apply) without privilege checks. Throws on an unknown CSR. */
export function setCsr(h: Hart, n: number, v: bigint): void {
  if (!readCsr(h, n)) throw new Error(`unknown CSR 0x${n.toString(16)}`);
  writeCsr(h, n, Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
}

/**
 * One RV64IMAFDC hart with M/S/U privilege, Sv39/Sv48 and a software TLB.
 *
 * Registers are int32 pairs (x[2r] low word, x[2r+1] high word). The program
 * counter is kept as an int32 low word plus an int32 high word; the run loop
 * holds both in locals. Exceptions are thrown as a preallocated sentinel and
 * caught once per run-loop entry, so the hot path allocates nothing.
 *
 * Memory fast path: three TLBs (read, write, execute), 256 direct-mapped
 * entries for each privilege level, map a virtual page to an offset in RAM.
 * They hold only RAM pages: MMIO always goes through the slow path. The
 * write TLB only receives pages whose PTE already has D set, so A/D updates
 * stay exact. The whole TLB is flushed on SFENCE.VMA, satp writes and
 * changes of MPRV/MPP/SUM/MXR (flushing everything is always correct).
 */
import { div64, divu64, mul64, mulh64, mulhsu64, mulhu64, R, rem64, remu64 } from './alu64.js';
import { compressedTable } from './compressed.js';
import {
  Cause,
  MEDELEG_MASK,
  MIE_MASK,
  MIP_SEIP,
  MIP_SSIP,
  MSTATUS_FS,
  MSTATUS_MIE,
  MSTATUS_MPIE,
  MSTATUS_MPP,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SIE,
  MSTATUS_SPIE,
  MSTATUS_SPP,
  MSTATUS_SUM,
  MSTATUS_TSR,
  MSTATUS_TVM,
  MSTATUS_TW,
  MSTATUS_WMASK,
  S_INTS,
  SSTATUS_RMASK,
  SSTATUS_WMASK,
} from './csr.js';
import { Exit } from './exits.js';
import { fpFma, fpOp } from './fpu/index.js';
import type { PhysBus, RamLike, TimeSource } from './types.js';

const TWO32 = 4294967296;
/** TLB entries per privilege level (direct mapped on the low bits of the virtual page number). */
const TLB_BITS = 10;
const TLB_SIZE = 1 << TLB_BITS;
const TLB_MASK = TLB_SIZE - 1;
/** Data TLB sets: effective privilege (2 bits) x SUM x MXR, so toggling SUM or MXR needs no flush. */
const DATA_SETS = 16;
/** Superpage fragments remembered for SFENCE.VMA by address (more: the next one flushes everything). */
const MAX_FRAGS = 1024;
/** A tag no page-aligned address can equal. */
const NO_TAG = 1;

/** Thrown (never allocated per trap) when an instruction raises an exception; details are on the hart. */
const TRAP = { trap: true };

/** misa: MXL=2 (RV64), extensions A C D F I M S U. */
const MISA_LO = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
const MISA_HI = 0x80000000 | 0;

/** Access kinds for translation. */
const ACC_LOAD = 0;
const ACC_STORE = 1;
const ACC_FETCH = 2;

/** Interrupt priority (privileged spec 3.1.9): MEI, MSI, MTI, SEI, SSI, STI. */
const IRQ_ORDER = [11, 3, 7, 9, 1, 5];

export interface HartOptions {
  /** mhartid. */
  id?: number;
  /** Source of the time CSR; defaults to instret/100 (10 MHz at a nominal 1 GIPS... good enough for tests). */
  time?: TimeSource;
  /** PV mode: traps destined to M-mode return Exit.MachineTrap instead of being taken. */
  virtualM?: boolean;
}

export class Hart {
  readonly id: number;
  /** Integer registers as int32 pairs; a 64-entry view of a 66-entry array whose last pair absorbs writes to x0. */
  readonly x: Int32Array;
  private readonly xx: Int32Array;
  readonly f: Float64Array;
  readonly fi: Int32Array;
  fflags = 0;
  frm = 0;
  /** 0 = U, 1 = S, 3 = M. */
  priv = 3;
  pcLo = 0;
  pcHi = 0;
  virtualM: boolean;
  time: TimeSource;
  /** Retired instructions (cycle = instret). */
  instret = 0;
  /** Statistics for the hypervisor (full mode): traps taken into M-mode, and instructions retired in
   * M-mode from reset or trap entry to the MRET leaving it (an exception counts its own trapping
   * instruction, which does not retire, as one). Not architectural state. */
  mTraps = 0;
  mInstret = 0;
  private mEntry = 0;
  private inM = false;
  /** Set when run() returns Exit.MachineTrap. */
  exitCause = 0;
  exitIsInterrupt = false;
  /** tval of the M-mode trap as a number: the 64-bit value read as signed (exact for sign-extended addresses). */
  exitTval = 0;

  // --- CSR state (64-bit ones as lo/hi pairs) ---
  /** Low word of mstatus; the high word is UXL=SXL=2 plus SD, computed on read. */
  mstatus = 0;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-visible mip bits (incl. lines driven through setIrq except SEIP). */
  mip = 0;
  /** SEIP as driven by the external interrupt controller (ORed into mip on read). */
  seipHw = 0;
  mtvecLo = 0;
  mtvecHi = 0;
  stvecLo = 0;
  stvecHi = 0;
  mepcLo = 0;
  mepcHi = 0;
  sepcLo = 0;
  sepcHi = 0;
  mcauseLo = 0;
  mcauseHi = 0;
  scauseLo = 0;
  scauseHi = 0;
  mtvalLo = 0;
  mtvalHi = 0;
  stvalLo = 0;
  stvalHi = 0;
  mscratchLo = 0;
  mscratchHi = 0;
  sscratchLo = 0;
  sscratchHi = 0;
  mcounteren = 0;
  scounteren = 0;
  menvcfg = 0;
  senvcfg = 0;
  mcountinhibit = 0;
  satpLo = 0;
  satpHi = 0;
  /** Added (mod 2^64) to instret for mcycle / minstret reads; writes set them. lo/hi pairs. */
  private readonly counterOffset = new Int32Array(4);
  /** pmpcfg0, pmpcfg2 as lo/hi pairs; pmpaddr0..15 as lo/hi pairs (16 entries, not enforced). */
  readonly pmpcfg = new Int32Array(4);
  readonly pmpaddr = new Int32Array(32);

  // --- LR/SC reservation (physical address + value, compared at SC time as QEMU does) ---
  private resValid = false;
  private resPa = 0; // RAM offset
  private resSize = 0;
  private resLo = 0;
  private resHi = 0;

  // --- memory ---
  private readonly bus: PhysBus;
  private readonly ramBase: number;
  private readonly ramSize: number;
  private readonly u8: Uint8Array;
  private readonly i8: Int8Array;
  private readonly u16: Uint16Array;
  private readonly i16: Int16Array;
  private readonly i32: Int32Array;
  private readonly dv: DataView;
  private readonly rTag = new Int32Array(DATA_SETS * TLB_SIZE).fill(NO_TAG);
  private readonly rHi = new Int32Array(DATA_SETS * TLB_SIZE);
  private readonly rOff = new Int32Array(DATA_SETS * TLB_SIZE);
  private readonly wTag = new Int32Array(DATA_SETS * TLB_SIZE).fill(NO_TAG);
  private readonly wHi = new Int32Array(DATA_SETS * TLB_SIZE);
  private readonly wOff = new Int32Array(DATA_SETS * TLB_SIZE);
  /**
   * TLB entries holding 4 KiB pieces of superpages: SFENCE.VMA by address must drop the whole
   * superpage, so these are dropped too. Encoded as index (data) or ~index (execute).
   * Non-global and global ones apart: an SFENCE.VMA with an ASID keeps global mappings.
   */
  private readonly frags = new Int32Array(MAX_FRAGS);
  private nFrags = 0;
  private readonly gFrags = new Int32Array(MAX_FRAGS);
  private nGFrags = 0;
  /** Leaf level and global bit of the last page-table walk (0 and true for Bare). */
  private walkLevel = 0;
  private walkGlobal = true;
  private readonly xTag = new Int32Array(4 * TLB_SIZE).fill(NO_TAG);
  private readonly xHi = new Int32Array(4 * TLB_SIZE);
  private readonly xOff = new Int32Array(4 * TLB_SIZE);
  /** Fetch cache: virtual page of the pc (low word; the high word is pcHi) and its RAM offset. */
  private fetchTag = NO_TAG;
  private fetchOff = 0;

  /**
   * RAM offset of a page whose stores leave the fast path (-1: none): the store TLB never holds
   * it, so every store into it runs through physWrite/amoOff, which call `onWatchedStore`.
   */
  private watchOff = -1;
  private onWatchedStore: ((pa: number, size: number) => void) | null = null;

  // --- run-loop signalling ---
  /** Set when something may have made an interrupt pending/enabled. */
  private irqCheck = true;
  /** Set by setIrq/requestStop: the loop leaves its fast path after the current slow operation. */
  private attn = false;
  private stopReq = false;
  private readonly ctab: Int32Array;

  // --- pending exception (filled before TRAP is thrown) ---
  private excCause = 0;
  private excTvalLo = 0;
  private excTvalHi = 0;
  /** Scratch high word returned by slow loads. */
  private tHi = 0;

  constructor(ram: RamLike, bus: PhysBus, opts: HartOptions = {}) {
    this.id = opts.id ?? 0;
    this.virtualM = opts.virtualM ?? false;
    this.time = opts.time ?? { now: () => Math.floor(this.instret / 100) };
    const xb = new ArrayBuffer(66 * 4);
    this.xx = new Int32Array(xb);
    this.x = new Int32Array(xb, 0, 64);
    const fb = new ArrayBuffer(32 * 8);
    this.f = new Float64Array(fb);
    this.fi = new Int32Array(fb);
    this.bus = bus;
    this.ramBase = ram.base;
    this.ramSize = ram.size;
    const buf = ram.buffer;
    this.u8 = new Uint8Array(buf, 0, ram.size);
    this.i8 = new Int8Array(buf, 0, ram.size);
    this.u16 = new Uint16Array(buf, 0, Math.floor(ram.size / 2));
    this.i16 = new Int16Array(buf, 0, Math.floor(ram.size / 2));
    this.i32 = new Int32Array(buf, 0, Math.floor(ram.size / 4));
    this.dv = new DataView(buf, 0, ram.size);
    this.ctab = compressedTable();
  }

  // ------------------------------------------------------------------------------------------
  // Slow accessors (hypercall handlers, loaders, tests)

  getX(r: number): bigint {
    return BigInt.asIntN(64, (BigInt(this.x[2 * r + 1]!) << 32n) | BigInt(this.x[2 * r]! >>> 0));
  }
  setX(r: number, v: bigint): void {
    if (r === 0) return;
    this.x[2 * r] = Number(BigInt.asIntN(32, v));
    this.x[2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
  }
  /** Low 53 bits of x[r] as a non-negative number (addresses). */
  getXNum(r: number): number {
    return (this.x[2 * r + 1]! & 0x1fffff) * TWO32 + (this.x[2 * r]! >>> 0);
  }
  getPc(): bigint {
    return (BigInt(this.pcHi >>> 0) << 32n) | BigInt(this.pcLo >>> 0);
  }
  setPc(v: bigint): void {
    this.pcLo = Number(BigInt.asIntN(32, v));
    this.pcHi = Number(BigInt.asIntN(32, v >> 32n));
    this.fetchTag = NO_TAG;
  }
  /** Read a CSR without privilege checks. Throws on an unknown CSR. */
  getCsr(n: number): bigint {
    if (!this.readCsr(n)) throw new Error(`unknown CSR 0x${n.toString(16)}`);
    return (BigInt(this.csrHi >>> 0) << 32n) | BigInt(this.csrLo >>> 0);
  }
  /** Write a CSR (WARL rules apply) without privilege checks. Throws on an unknown CSR. */
  setCsr(n: number, v: bigint): void {
    if (!this.readCsr(n)) throw new Error(`unknown CSR 0x${n.toString(16)}`);
    this.writeCsr(n, Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
  }
  get cycle(): number {
    return this.instret;
  }

  /** Drive an interrupt line (a mip bit). Re-checks pending interrupts at the next instruction boundary. */
  setIrq(bit: number, level: boolean): void {
    const m = 1 << bit;
    if (m === MIP_SEIP) this.seipHw = level ? m : 0;
    else if (level) this.mip |= m;
    else this.mip &= ~m;
    this.irqCheck = true;
    this.attn = true;
  }

  /**
   * Snapshots (src/cpu/snapshot.ts): the private architectural state, as numbers: counter offsets
   * (4), LR/SC reservation (valid, pa, size, lo, hi), M-mode statistics bookkeeping (mEntry, inM).
   */
  saveHidden(): number[] {
    const r = [...this.counterOffset, this.resValid ? 1 : 0, this.resPa, this.resSize, this.resLo, this.resHi];
    return [...r, this.mEntry, this.inM ? 1 : 0];
  }
  /** Inverse of saveHidden (values already checked); drops cached translations and re-checks interrupts. */
  loadHidden(v: readonly number[]): void {
    for (let i = 0; i < 4; i++) this.counterOffset[i] = v[i]!;
    this.resValid = v[4] === 1;
    [this.resPa, this.resSize, this.resLo, this.resHi, this.mEntry] = [v[5]!, v[6]!, v[7]!, v[8]!, v[9]!];
    this.inM = v[10] === 1;
    this.irqCheck = true;
    this.attn = true;
    this.flushTlb();
  }

  /**
   * Stores into the 4 KiB physical page of `pa` (in RAM) call `onStore(pa, size)` with the
   * address they write, so a host can answer a mailbox at once (the bare runner's HTIF tohost:
   * `requestStop`, then serve it; the store has landed when the hart stops). The page simply
   * never enters the store TLB: the fast path is unchanged, and only stores to that page take
   * the slow one. `null` stops watching.
   */
  watchStores(pa: number | null, onStore: ((pa: number, size: number) => void) | null = null): void {
    const o = pa === null ? -1 : this.ramOff(pa, 1);
    this.watchOff = o < 0 ? -1 : o - (o % 4096);
    this.onWatchedStore = this.watchOff < 0 ? null : onStore;
    this.flushTlb();
  }

  /** Make run() return Exit.Stop at the next instruction boundary. */
  requestStop(): void {
    this.stopReq = true;
    this.attn = true;
  }

  flushTlb(): void {
    this.rTag.fill(NO_TAG);
    this.wTag.fill(NO_TAG);
    this.xTag.fill(NO_TAG);
    this.fetchTag = NO_TAG;
    this.nFrags = 0;
    this.nGFrags = 0;
  }

  /**
   * SFENCE.VMA with rs1 != x0 (privileged spec 4.2.1): drop every cached translation of the page
   * of va (any high word), whatever the ASID (a superset is allowed), plus every superpage fragment; with an
   * ASID (rs2 != x0) global superpage fragments may stay.
   */
  private flushPage(va: number, withAsid: boolean): void {
    if (this.nFrags === MAX_FRAGS || this.nGFrags === MAX_FRAGS) {
      this.flushTlb();
      return;
    }
    const i = (va >>> 12) & TLB_MASK;
    for (let s = 0; s < DATA_SETS; s++) {
      this.rTag[(s << TLB_BITS) + i] = NO_TAG;
      this.wTag[(s << TLB_BITS) + i] = NO_TAG;
    }
    for (let s = 0; s < 4; s++) this.xTag[(s << TLB_BITS) + i] = NO_TAG;
    this.dropFrags(this.frags, this.nFrags);
    this.nFrags = 0;
    if (!withAsid) {
      this.dropFrags(this.gFrags, this.nGFrags);
      this.nGFrags = 0;
    }
    this.fetchTag = NO_TAG;
  }

  private dropFrags(list: Int32Array, n: number): void {
    for (let k = 0; k < n; k++) {
      const e = list[k]!;
      if (e >= 0) {
        this.rTag[e] = NO_TAG;
        this.wTag[e] = NO_TAG;
      } else this.xTag[~e] = NO_TAG;
    }
  }

  /** Reset registers and CSRs; start at `pc` in privilege `priv`. */
  reset(pc: bigint, priv: number): void {
    this.inM = priv === 3;
    this.mEntry = this.instret;
    this.xx.fill(0);
    this.fi.fill(0);
    this.fflags = 0;
    this.frm = 0;
    this.priv = priv;
    this.mstatus = 0;
    this.medeleg = 0;
    this.mideleg = 0;
    this.mie = 0;
    this.mip = 0;
    this.seipHw = 0;
    this.mtvecLo = this.mtvecHi = this.stvecLo = this.stvecHi = 0;
    this.mepcLo = this.mepcHi = this.sepcLo = this.sepcHi = 0;
    this.mcauseLo = this.mcauseHi = this.scauseLo = this.scauseHi = 0;
    this.mtvalLo = this.mtvalHi = this.stvalLo = this.stvalHi = 0;
    this.mscratchLo = this.mscratchHi = this.sscratchLo = this.sscratchHi = 0;
    this.mcounteren = this.scounteren = this.menvcfg = this.senvcfg = this.mcountinhibit = 0;
    this.counterOffset.fill(0);
    this.satpLo = this.satpHi = 0;
    this.pmpcfg.fill(0);
    this.pmpaddr.fill(0);
    this.resValid = false;
    this.stopReq = false;
    this.irqCheck = true;
    this.flushTlb();
    this.setPc(pc);
  }

  // ------------------------------------------------------------------------------------------
  // The interpreter

  /** Execute up to `budget` instructions; returns an Exit code. */
  run(budget: number): number {
    const x = this.xx;
    const u8 = this.u8;
    const i8 = this.i8;
    const u16 = this.u16;
    const i16 = this.i16;
    const i32 = this.i32;
    const rTag = this.rTag;
    const rHi = this.rHi;
    const rOff = this.rOff;
    const wTag = this.wTag;
    const wHi = this.wHi;
    const wOff = this.wOff;
    const ctab = this.ctab;
    const fi = this.fi;
    let n = 0;
    let pc = this.pcLo;
    let pcHi = this.pcHi;
    // priv or pc may have been changed from outside since the last run: look the fetch page up again
    this.fetchTag = NO_TAG;
    outer: for (;;) {
      // Re-synchronise with the hart state (after a trap, a CSR write, xRET, MMIO ...).
      this.instret += n;
      budget -= n;
      n = 0;
      this.attn = false;
      if (this.stopReq) {
        this.stopReq = false;
        return Exit.Stop;
      }
      if (this.irqCheck) {
        this.irqCheck = false;
        const r = this.takeInterrupt();
        if (r === 1) return Exit.MachineTrap;
      }
      if (budget <= 0) return Exit.Budget;
      pc = this.pcLo;
      pcHi = this.pcHi;
      let fetchTag = this.fetchTag;
      let fetchOff = this.fetchOff;
      const tb = this.dataSet() << TLB_BITS;
      try {
        while (n < budget) {
          n++;
          // ---- fetch ----
          let insn: number;
          if ((pc & -4096) === fetchTag) {
            const o = (fetchOff + (pc & 4095)) >> 1;
            insn = u16[o]!;
            if ((insn & 3) === 3) {
              if ((pc & 4095) !== 4094) insn |= u16[o + 1]! << 16;
              else insn = this.fetchCross(pc, pcHi, insn);
            }
          } else {
            insn = this.fetchMiss(pc, pcHi, fetchTag);
            pcHi = this.pcHi;
            fetchTag = this.fetchTag;
            fetchOff = this.fetchOff;
          }
          const raw = insn;
          let ilen = 4;
          if ((insn & 3) !== 3) {
            insn = ctab[insn]!;
            ilen = 2;
            if (insn === 0) this.fault(Cause.Illegal, raw, 0);
          }
          // ---- execute ----
          // dispatch on opcode[6:2] (dense: V8 emits a jump table); opcode[1:0] is 11 here
          switch ((insn >> 2) & 31) {
            case 4: {
              // OP-IMM
              const d = (insn >> 6) & 62 || 64;
              const s = (insn >> 14) & 62;
              const imm = insn >> 20;
              const a = x[s]!;
              switch ((insn >> 12) & 7) {
                case 0: {
                  const lo = (a + imm) | 0;
                  x[d + 1] = (x[s + 1]! + (imm >> 31) + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
                  x[d] = lo;
                  break;
                }
                case 1: {
                  if (insn >>> 26 !== 0) this.fault(Cause.Illegal, raw, 0);
                  const sh = imm & 63;
                  const hi = x[s + 1]!;
                  if (sh & 32) {
                    x[d + 1] = a << (sh & 31);
                    x[d] = 0;
                  } else if (sh !== 0) {
                    x[d + 1] = (hi << sh) | (a >>> (32 - sh));
                    x[d] = a << sh;
                  } else {
                    x[d + 1] = hi;
                    x[d] = a;
                  }
                  break;
                }
                case 2: {
                  const hi = x[s + 1]!;
                  const ih = imm >> 31;
                  x[d] = hi < ih || (hi === ih && a >>> 0 < imm >>> 0) ? 1 : 0;
                  x[d + 1] = 0;
                  break;
                }
                case 3: {
                  const hi = x[s + 1]! >>> 0;
                  const ih = (imm >> 31) >>> 0;
                  x[d] = hi < ih || (hi === ih && a >>> 0 < imm >>> 0) ? 1 : 0;
                  x[d + 1] = 0;
                  break;
                }
                case 4:
                  x[d + 1] = x[s + 1]! ^ (imm >> 31);
                  x[d] = a ^ imm;
                  break;
                case 5: {
                  const f6 = insn >>> 26;
                  const sh = imm & 63;
                  const hi = x[s + 1]!;
                  if (f6 === 0) {
                    if (sh & 32) {
                      x[d] = hi >>> (sh & 31);
                      x[d + 1] = 0;
                    } else if (sh !== 0) {
                      x[d] = (a >>> sh) | (hi << (32 - sh));
                      x[d + 1] = hi >>> sh;
                    } else {
                      x[d] = a;
                      x[d + 1] = hi;
                    }
                  } else if (f6 === 0x10) {
                    if (sh & 32) {
                      x[d] = hi >> (sh & 31);
                      x[d + 1] = hi >> 31;
                    } else if (sh !== 0) {
                      x[d] = (a >>> sh) | (hi << (32 - sh));
                      x[d + 1] = hi >> sh;
                    } else {
                      x[d] = a;
                      x[d + 1] = hi;
                    }
                  } else this.fault(Cause.Illegal, raw, 0);
                  break;
                }
                case 6:
                  x[d + 1] = x[s + 1]! | (imm >> 31);
                  x[d] = a | imm;
                  break;
                default:
                  x[d + 1] = x[s + 1]! & (imm >> 31);
                  x[d] = a & imm;
                  break;
              }
              break;
            }
            case 12: {
              // OP
              const d = (insn >> 6) & 62 || 64;
              const s1 = (insn >> 14) & 62;
              const s2 = (insn >> 19) & 62;
              const a = x[s1]!;
              const ah = x[s1 + 1]!;
              const b = x[s2]!;
              const bh = x[s2 + 1]!;
              if ((insn >>> 25) & ~0x21) this.fault(Cause.Illegal, raw, 0);
              // key: funct3 | funct7[5] << 3 | funct7[0] << 4 (dense)
              switch (((insn >> 12) & 7) | ((insn >> 27) & 8) | ((insn >> 21) & 16)) {
                case 0: {
                  const lo = (a + b) | 0;
                  x[d + 1] = (ah + bh + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
                  x[d] = lo;
                  break;
                }
                case 8: {
                  x[d + 1] = (ah - bh - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
                  x[d] = (a - b) | 0;
                  break;
                }
                case 1: {
                  const sh = b & 63;
                  if (sh & 32) {
                    x[d + 1] = a << (sh & 31);
                    x[d] = 0;
                  } else if (sh !== 0) {
                    x[d + 1] = (ah << sh) | (a >>> (32 - sh));
                    x[d] = a << sh;
                  } else {
                    x[d + 1] = ah;
                    x[d] = a;
                  }
                  break;
                }
                case 2:
                  x[d] = ah < bh || (ah === bh && a >>> 0 < b >>> 0) ? 1 : 0;
                  x[d + 1] = 0;
                  break;
                case 3:
                  x[d] = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0) ? 1 : 0;
                  x[d + 1] = 0;
                  break;
                case 4:
                  x[d] = a ^ b;
                  x[d + 1] = ah ^ bh;
                  break;
                case 5: {
                  const sh = b & 63;
                  if (sh & 32) {
                    x[d] = ah >>> (sh & 31);
                    x[d + 1] = 0;
                  } else if (sh !== 0) {
                    x[d] = (a >>> sh) | (ah << (32 - sh));
                    x[d + 1] = ah >>> sh;
                  } else {
                    x[d] = a;
                    x[d + 1] = ah;
                  }
                  break;
                }
                case 13: {
                  const sh = b & 63;
                  if (sh & 32) {
                    x[d] = ah >> (sh & 31);
                    x[d + 1] = ah >> 31;
                  } else if (sh !== 0) {
                    x[d] = (a >>> sh) | (ah << (32 - sh));
                    x[d + 1] = ah >> sh;
                  } else {
                    x[d] = a;
                    x[d + 1] = ah;
                  }
                  break;
                }
                case 6:
                  x[d] = a | b;
                  x[d + 1] = ah | bh;
                  break;
                case 7:
                  x[d] = a & b;
                  x[d + 1] = ah & bh;
                  break;
                case 16:
                  mul64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 17:
                  mulh64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 18:
                  mulhsu64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 19:
                  mulhu64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 20:
                  div64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 21:
                  divu64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 22:
                  rem64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                case 23:
                  remu64(a, ah, b, bh);
                  x[d] = R[0]!;
                  x[d + 1] = R[1]!;
                  break;
                default:
                  this.fault(Cause.Illegal, raw, 0);
              }
              break;
            }
            case 0: {
              // LOAD
              const d = (insn >> 6) & 62 || 64;
              const s = (insn >> 14) & 62;
              const t = (x[s]! >>> 0) + (insn >> 20);
              const va = t | 0;
              const vh = (x[s + 1]! + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              const e = tb + ((va >>> 12) & TLB_MASK);
              const f3 = (insn >> 12) & 7;
              if (rTag[e] === (va & -4096) && rHi[e] === vh) {
                const o = rOff[e]! + (va & 4095);
                switch (f3) {
                  case 0: {
                    const v = i8[o]!;
                    x[d] = v;
                    x[d + 1] = v >> 31;
                    break;
                  }
                  case 1:
                    if ((o & 1) === 0) {
                      const v = i16[o >> 1]!;
                      x[d] = v;
                      x[d + 1] = v >> 31;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 2:
                    if ((o & 3) === 0) {
                      const v = i32[o >> 2]!;
                      x[d] = v;
                      x[d + 1] = v >> 31;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 3:
                    if ((o & 7) === 0) {
                      x[d] = i32[o >> 2]!;
                      x[d + 1] = i32[(o >> 2) + 1]!;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 4:
                    x[d] = u8[o]!;
                    x[d + 1] = 0;
                    break;
                  case 5:
                    if ((o & 1) === 0) {
                      x[d] = u16[o >> 1]!;
                      x[d + 1] = 0;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 6:
                    if ((o & 3) === 0) {
                      x[d] = i32[o >> 2]!;
                      x[d + 1] = 0;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  default:
                    this.fault(Cause.Illegal, raw, 0);
                }
              } else {
                if (f3 === 7) this.fault(Cause.Illegal, raw, 0);
                this.loadSlowTo(d, va, vh, f3);
                if (this.attn) {
                  this.pcLo = (pc + ilen) | 0;
                  this.pcHi = pcHi;
                  continue outer;
                }
              }
              break;
            }
            case 8: {
              // STORE
              const s = (insn >> 14) & 62;
              const s2 = (insn >> 19) & 62;
              const t = (x[s]! >>> 0) + (((insn >> 20) & -32) | ((insn >> 7) & 31));
              const va = t | 0;
              const vh = (x[s + 1]! + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              const e = tb + ((va >>> 12) & TLB_MASK);
              const f3 = (insn >> 12) & 7;
              if (f3 > 3) this.fault(Cause.Illegal, raw, 0);
              if (wTag[e] === (va & -4096) && wHi[e] === vh && (va & ((1 << f3) - 1)) === 0) {
                const o = wOff[e]! + (va & 4095);
                switch (f3) {
                  case 0:
                    u8[o] = x[s2]!;
                    break;
                  case 1:
                    u16[o >> 1] = x[s2]!;
                    break;
                  case 2:
                    i32[o >> 2] = x[s2]!;
                    break;
                  default:
                    i32[o >> 2] = x[s2]!;
                    i32[(o >> 2) + 1] = x[s2 + 1]!;
                    break;
                }
              } else {
                this.storeSlow(va, vh, f3, x[s2]!, x[s2 + 1]!);
                if (this.attn) {
                  this.pcLo = (pc + ilen) | 0;
                  this.pcHi = pcHi;
                  continue outer;
                }
              }
              break;
            }
            case 24: {
              // BRANCH
              const s1 = (insn >> 14) & 62;
              const s2 = (insn >> 19) & 62;
              const a = x[s1]!;
              const ah = x[s1 + 1]!;
              const b = x[s2]!;
              const bh = x[s2 + 1]!;
              let taken: boolean;
              switch ((insn >> 12) & 7) {
                case 0:
                  taken = a === b && ah === bh;
                  break;
                case 1:
                  taken = a !== b || ah !== bh;
                  break;
                case 4:
                  taken = ah < bh || (ah === bh && a >>> 0 < b >>> 0);
                  break;
                case 5:
                  taken = !(ah < bh || (ah === bh && a >>> 0 < b >>> 0));
                  break;
                case 6:
                  taken = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0);
                  break;
                case 7:
                  taken = !(ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0));
                  break;
                default:
                  this.fault(Cause.Illegal, raw, 0);
              }
              if (taken) {
                const imm =
                  ((insn >> 31) << 12) | ((insn << 4) & 0x800) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
                const t = (pc >>> 0) + imm;
                pc = t | 0;
                if (t < 0 || t >= TWO32) {
                  pcHi = (pcHi + (t < 0 ? -1 : 1)) | 0;
                  fetchTag = this.fetchTag = NO_TAG;
                }
                continue;
              }
              break;
            }
            case 27: {
              // JAL
              const d = (insn >> 6) & 62 || 64;
              const link = (pc + ilen) | 0;
              x[d + 1] = link >>> 0 < pc >>> 0 ? (pcHi + 1) | 0 : pcHi;
              x[d] = link;
              const imm = ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
              const t = (pc >>> 0) + imm;
              pc = t | 0;
              if (t < 0 || t >= TWO32) {
                pcHi = (pcHi + (t < 0 ? -1 : 1)) | 0;
                fetchTag = this.fetchTag = NO_TAG;
              }
              continue;
            }
            case 25: {
              // JALR
              if ((insn >> 12) & 7) this.fault(Cause.Illegal, raw, 0);
              const d = (insn >> 6) & 62 || 64;
              const s = (insn >> 14) & 62;
              const t = (x[s]! >>> 0) + (insn >> 20);
              const th = (x[s + 1]! + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              const link = (pc + ilen) | 0;
              x[d + 1] = link >>> 0 < pc >>> 0 ? (pcHi + 1) | 0 : pcHi;
              x[d] = link;
              pc = t & -2;
              if (th !== pcHi) {
                pcHi = th;
                fetchTag = this.fetchTag = NO_TAG;
              }
              continue;
            }
            case 13: {
              // LUI
              const d = (insn >> 6) & 62 || 64;
              const v = insn & -4096;
              x[d] = v;
              x[d + 1] = v >> 31;
              break;
            }
            case 5: {
              // AUIPC
              const d = (insn >> 6) & 62 || 64;
              const t = (pc >>> 0) + (insn & -4096);
              x[d] = t | 0;
              x[d + 1] = (pcHi + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              break;
            }
            case 6: {
              // OP-IMM-32
              const d = (insn >> 6) & 62 || 64;
              const a = x[(insn >> 14) & 62]!;
              const f3 = (insn >> 12) & 7;
              let v: number;
              if (f3 === 0) v = (a + (insn >> 20)) | 0;
              else if (f3 === 1) {
                if (insn >>> 25 !== 0) this.fault(Cause.Illegal, raw, 0);
                v = a << ((insn >> 20) & 31);
              } else if (f3 === 5) {
                const f7 = insn >>> 25;
                if (f7 === 0) v = (a >>> ((insn >> 20) & 31)) | 0;
                else if (f7 === 0x20) v = a >> ((insn >> 20) & 31);
                else this.fault(Cause.Illegal, raw, 0);
              } else this.fault(Cause.Illegal, raw, 0);
              x[d] = v;
              x[d + 1] = v >> 31;
              break;
            }
            case 14: {
              // OP-32
              const d = (insn >> 6) & 62 || 64;
              const a = x[(insn >> 14) & 62]!;
              const b = x[(insn >> 19) & 62]!;
              let v: number;
              if ((insn >>> 25) & ~0x21) this.fault(Cause.Illegal, raw, 0);
              switch (((insn >> 12) & 7) | ((insn >> 27) & 8) | ((insn >> 21) & 16)) {
                case 0:
                  v = (a + b) | 0;
                  break;
                case 8:
                  v = (a - b) | 0;
                  break;
                case 1:
                  v = a << (b & 31);
                  break;
                case 5:
                  v = (a >>> (b & 31)) | 0;
                  break;
                case 13:
                  v = a >> (b & 31);
                  break;
                case 16:
                  v = Math.imul(a, b);
                  break;
                case 20:
                  v = b === 0 ? -1 : a === -0x80000000 && b === -1 ? a : (a / b) | 0;
                  break;
                case 21:
                  v = b === 0 ? -1 : ((a >>> 0) / (b >>> 0)) | 0;
                  break;
                case 22:
                  v = b === 0 ? a : b === -1 ? 0 : (a % b) | 0;
                  break;
                case 23:
                  v = b === 0 ? a : ((a >>> 0) % (b >>> 0)) | 0;
                  break;
                default:
                  this.fault(Cause.Illegal, raw, 0);
              }
              x[d] = v;
              x[d + 1] = v >> 31;
              break;
            }
            case 3: {
              // MISC-MEM: FENCE, FENCE.I (memory is coherent; nothing is cached by instruction)
              if ((insn >> 12) & 6) this.fault(Cause.Illegal, raw, 0);
              break;
            }
            case 11: {
              // AMO
              this.amo(insn, raw);
              break;
            }
            case 28: {
              // SYSTEM: counters read here must see every earlier instruction
              this.instret += n - 1;
              budget -= n - 1;
              n = 1;
              this.pcLo = pc;
              this.pcHi = pcHi;
              const r = this.system(insn, raw, ilen);
              if (r >= 0) {
                this.instret += n;
                return r;
              }
              continue outer;
            }
            case 1: {
              // LOAD-FP: FLW, FLD
              if ((this.mstatus & MSTATUS_FS) === 0) this.fault(Cause.Illegal, raw, 0);
              const f3 = (insn >> 12) & 7;
              if (f3 !== 2 && f3 !== 3) this.fault(Cause.Illegal, raw, 0);
              const s = (insn >> 14) & 62;
              const t = (x[s]! >>> 0) + (insn >> 20);
              const va = t | 0;
              const vh = (x[s + 1]! + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              const fd = (insn >> 6) & 62;
              const e = tb + ((va >>> 12) & TLB_MASK);
              this.mstatus |= MSTATUS_FS;
              if (rTag[e] === (va & -4096) && rHi[e] === vh && (va & ((1 << f3) - 1)) === 0) {
                // TLB hit, naturally aligned (glibc's setjmp and prologues save FP registers often)
                const w = (rOff[e]! + (va & 4095)) >> 2;
                fi[fd] = i32[w]!;
                fi[fd + 1] = f3 === 2 ? -1 : i32[w + 1]!; // FLW NaN-boxes
                break;
              }
              const lo = this.loadSlow(va, vh, f3 === 2 ? 6 : 3);
              fi[fd] = lo;
              fi[fd + 1] = f3 === 2 ? -1 : this.tHi;
              if (this.attn) {
                this.pcLo = (pc + ilen) | 0;
                this.pcHi = pcHi;
                continue outer;
              }
              break;
            }
            case 9: {
              // STORE-FP: FSW, FSD
              if ((this.mstatus & MSTATUS_FS) === 0) this.fault(Cause.Illegal, raw, 0);
              const f3 = (insn >> 12) & 7;
              if (f3 !== 2 && f3 !== 3) this.fault(Cause.Illegal, raw, 0);
              const s = (insn >> 14) & 62;
              const t = (x[s]! >>> 0) + (((insn >> 20) & -32) | ((insn >> 7) & 31));
              const va = t | 0;
              const vh = (x[s + 1]! + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              const fs = (insn >> 19) & 62;
              const e = tb + ((va >>> 12) & TLB_MASK);
              this.mstatus |= MSTATUS_FS;
              if (wTag[e] === (va & -4096) && wHi[e] === vh && (va & ((1 << f3) - 1)) === 0) {
                const w = (wOff[e]! + (va & 4095)) >> 2;
                i32[w] = fi[fs]!;
                if (f3 === 3) i32[w + 1] = fi[fs + 1]!;
                break;
              }
              this.storeSlow(va, vh, f3, fi[fs]!, fi[fs + 1]!);
              if (this.attn) {
                this.pcLo = (pc + ilen) | 0;
                this.pcHi = pcHi;
                continue outer;
              }
              break;
            }
            case 20: {
              if ((this.mstatus & MSTATUS_FS) === 0 || fpOp(this, insn) !== 0) this.fault(Cause.Illegal, raw, 0);
              this.mstatus |= MSTATUS_FS;
              break;
            }
            case 16:
            case 17:
            case 18:
            case 19: {
              if ((this.mstatus & MSTATUS_FS) === 0 || fpFma(this, insn) !== 0) this.fault(Cause.Illegal, raw, 0);
              this.mstatus |= MSTATUS_FS;
              break;
            }
            default:
              this.fault(Cause.Illegal, raw, 0);
          }
          pc = (pc + ilen) | 0;
        }
        this.pcLo = pc;
        this.pcHi = pcHi;
        this.fetchTag = fetchTag;
        this.fetchOff = fetchOff;
      } catch (err) {
        if (err !== TRAP) {
          this.pcLo = pc;
          this.pcHi = pcHi;
          throw err;
        }
        // The trapping instruction does not retire (it still counts against the budget).
        this.instret--;
        if (this.trap(this.excCause, false, this.excTvalLo, this.excTvalHi, pc, pcHi)) {
          this.instret += n;
          return Exit.MachineTrap;
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Exceptions and interrupts

  /** Raise an exception from inside the run loop. */
  private fault(cause: number, tvalLo: number, tvalHi: number): never {
    this.excCause = cause;
    this.excTvalLo = tvalLo;
    this.excTvalHi = tvalHi;
    throw TRAP;
  }

  /**
   * Take a trap at instruction (pcLo, pcHi) (privileged spec 3.1.6.1, 3.1.8, 4.1.1).
   * Returns true when, in PV mode, the trap is destined to M-mode: nothing changes but the exit fields.
   */
  private trap(cause: number, isInt: boolean, tvalLo: number, tvalHi: number, pcLo: number, pcHi: number): boolean {
    const deleg = isInt ? this.mideleg : this.medeleg;
    const toS = this.priv <= 1 && cause < 32 && ((deleg >>> cause) & 1) !== 0;
    this.irqCheck = true;
    if (!toS && this.virtualM) {
      this.exitCause = cause;
      this.exitIsInterrupt = isInt;
      this.exitTval = tvalHi * TWO32 + (tvalLo >>> 0);
      this.pcLo = pcLo;
      this.pcHi = pcHi;
      return true;
    }
    this.resValid = false;
    const ms = this.mstatus;
    let base: number;
    let baseHi: number;
    let vectored: boolean;
    if (toS) {
      this.sepcLo = pcLo;
      this.sepcHi = pcHi;
      this.scauseLo = cause;
      this.scauseHi = isInt ? 0x80000000 | 0 : 0;
      this.stvalLo = tvalLo;
      this.stvalHi = tvalHi;
      let m = ms & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP);
      if (ms & MSTATUS_SIE) m |= MSTATUS_SPIE;
      if (this.priv === 1) m |= MSTATUS_SPP;
      this.mstatus = m;
      this.priv = 1;
      base = this.stvecLo & -4;
      baseHi = this.stvecHi;
      vectored = (this.stvecLo & 3) === 1;
    } else {
      this.mTraps++;
      if (!this.inM) {
        this.inM = true;
        this.mEntry = this.instret;
      }
      this.mepcLo = pcLo;
      this.mepcHi = pcHi;
      this.mcauseLo = cause;
      this.mcauseHi = isInt ? 0x80000000 | 0 : 0;
      this.mtvalLo = tvalLo;
      this.mtvalHi = tvalHi;
      let m = ms & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP);
      if (ms & MSTATUS_MIE) m |= MSTATUS_MPIE;
      m |= this.priv << 11;
      this.mstatus = m;
      this.priv = 3;
      base = this.mtvecLo & -4;
      baseHi = this.mtvecHi;
      vectored = (this.mtvecLo & 3) === 1;
    }
    if (isInt && vectored) {
      const t = (base >>> 0) + 4 * cause;
      base = t | 0;
      if (t >= TWO32) baseHi = (baseHi + 1) | 0;
    }
    this.pcLo = base;
    this.pcHi = baseHi;
    this.fetchTag = NO_TAG;
    return false;
  }

  /** Pending-and-enabled interrupt of highest priority, or -1 (privileged spec 3.1.9). */
  pendingInterrupt(): number {
    const pend = (this.mip | this.seipHw) & this.mie;
    if (pend === 0) return -1;
    const m = pend & ~this.mideleg;
    if (m !== 0 && (this.priv < 3 || (this.mstatus & MSTATUS_MIE) !== 0)) {
      for (const i of IRQ_ORDER) if ((m >> i) & 1) return i;
    }
    const s = pend & this.mideleg;
    if (s !== 0 && (this.priv < 1 || (this.priv === 1 && (this.mstatus & MSTATUS_SIE) !== 0))) {
      for (const i of IRQ_ORDER) if ((s >> i) & 1) return i;
    }
    return -1;
  }

  /** Take the highest-priority pending interrupt, if any. Returns 1 for a PV-mode exit, 0 otherwise. */
  private takeInterrupt(): number {
    const i = this.pendingInterrupt();
    if (i < 0) return 0;
    return this.trap(i, true, 0, 0, this.pcLo, this.pcHi) ? 1 : 0;
  }

  // ------------------------------------------------------------------------------------------
  // SYSTEM: ECALL, EBREAK, xRET, WFI, SFENCE.VMA, CSR instructions

  /** Returns an Exit code to return from run(), or -1 to continue (pc already updated in this.pcLo/pcHi). */
  private system(insn: number, raw: number, ilen: number): number {
    const f3 = (insn >> 12) & 7;
    const pc = this.pcLo;
    if (f3 === 0) {
      switch (insn) {
        case 0x00000073: // ECALL
          this.fault(this.priv === 0 ? Cause.EcallU : this.priv === 1 ? Cause.EcallS : Cause.EcallM, 0, 0);
          break;
        case 0x00100073: // EBREAK: tval = pc (as Spike)
          this.fault(Cause.Breakpoint, pc, this.pcHi);
          break;
        case 0x30200073: {
          // MRET (privileged spec 3.3.2)
          if (this.priv !== 3) this.fault(Cause.Illegal, raw, 0);
          const ms = this.mstatus;
          const mpp = (ms >> 11) & 3;
          let m = ms & ~(MSTATUS_MIE | MSTATUS_MPP);
          if (ms & MSTATUS_MPIE) m |= MSTATUS_MIE;
          m |= MSTATUS_MPIE;
          if (mpp !== 3) m &= ~MSTATUS_MPRV;
          this.mstatus = m;
          if (mpp !== 3 && this.inM) {
            this.mInstret += this.instret - this.mEntry;
            this.inM = false;
          }
          this.priv = mpp;
          this.resValid = false;
          this.jumpTo(this.mepcLo, this.mepcHi);
          this.irqCheck = true;
          return -1;
        }
        case 0x10200073: {
          // SRET
          if (this.priv === 0 || (this.priv === 1 && this.mstatus & MSTATUS_TSR)) this.fault(Cause.Illegal, raw, 0);
          const ms = this.mstatus;
          const spp = (ms >> 8) & 1;
          let m = ms & ~(MSTATUS_SIE | MSTATUS_SPP);
          if (ms & MSTATUS_SPIE) m |= MSTATUS_SIE;
          m |= MSTATUS_SPIE;
          m &= ~MSTATUS_MPRV; // SRET always returns to a mode below M
          this.mstatus = m;
          this.priv = spp;
          this.resValid = false;
          this.jumpTo(this.sepcLo, this.sepcHi);
          this.irqCheck = true;
          return -1;
        }
        case 0x10500073: {
          // WFI (privileged spec 3.3.3): illegal in U, and in S when TW=1
          if (this.priv === 0 || (this.priv === 1 && this.mstatus & MSTATUS_TW)) this.fault(Cause.Illegal, raw, 0);
          this.advance(ilen);
          this.irqCheck = true;
          if (this.interruptPending()) return -1;
          return Exit.Wfi;
        }
        default:
          if ((insn & 0xfe007fff) === 0x12000073) {
            // SFENCE.VMA
            if (this.priv === 0 || (this.priv === 1 && this.mstatus & MSTATUS_TVM)) this.fault(Cause.Illegal, raw, 0);
            const rs1 = (insn >> 15) & 31;
            if (rs1 === 0) this.flushTlb();
            else this.flushPage(this.x[2 * rs1]!, ((insn >> 20) & 31) !== 0);
            this.advance(ilen);
            return -1;
          }
          this.fault(Cause.Illegal, raw, 0);
      }
    }
    if (f3 === 4) this.fault(Cause.Illegal, raw, 0);
    // CSR instructions (Zicsr, unprivileged spec ch. 9; privileged spec 2.1 for access rules)
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
      srcLo = this.x[2 * rs1]!;
      srcHi = this.x[2 * rs1 + 1]!;
    }
    const write = op === 1 || rs1 !== 0;
    if (((csr >> 8) & 3) > this.priv) this.fault(Cause.Illegal, raw, 0);
    if (write && csr >>> 10 === 3) this.fault(Cause.Illegal, raw, 0);
    if (!this.csrAllowed(csr) || !this.readCsr(csr)) this.fault(Cause.Illegal, raw, 0);
    const oldLo = this.csrLo;
    const oldHi = this.csrHi;
    if (write) {
      let lo = srcLo;
      let hi = srcHi;
      // mip: only the software-writable SEIP bit takes part in a CSRRS/CSRRC read-modify-write, not the
      // PLIC's signal (privileged spec 3.1.9), or a set of STIP would latch SEIP on for good.
      const rmwLo = csr === 0x344 ? this.mip : oldLo;
      if (op === 2) {
        lo |= rmwLo;
        hi |= oldHi;
      } else if (op === 3) {
        lo = rmwLo & ~srcLo;
        hi = oldHi & ~srcHi;
      }
      this.writeCsr(csr, lo, hi);
    }
    if (rd !== 0) {
      this.x[2 * rd] = oldLo;
      this.x[2 * rd + 1] = oldHi;
    }
    this.advance(ilen);
    return -1;
  }

  private advance(ilen: number): void {
    const t = (this.pcLo >>> 0) + ilen;
    this.pcLo = t | 0;
    if (t >= TWO32) {
      this.pcHi = (this.pcHi + 1) | 0;
      this.fetchTag = NO_TAG;
    }
  }

  private jumpTo(lo: number, hi: number): void {
    this.pcLo = lo;
    this.pcHi = hi;
    this.fetchTag = NO_TAG;
  }

  /** Extra access rules beyond the privilege level encoded in the CSR number. */
  private csrAllowed(csr: number): boolean {
    if (csr >= 0xc00 && csr <= 0xc1f) {
      // counters: mcounteren / scounteren (privileged spec 3.1.11)
      const b = csr & 31;
      if (this.priv < 3 && ((this.mcounteren >>> b) & 1) === 0) return false;
      if (this.priv === 0 && ((this.scounteren >>> b) & 1) === 0) return false;
      return true;
    }
    if (csr <= 3) return (this.mstatus & MSTATUS_FS) !== 0;
    if (csr === 0x180) return !(this.priv === 1 && this.mstatus & MSTATUS_TVM);
    return true;
  }

  /** instret plus the 64-bit offset i (0 = cycle, 2 = instret), into csrLo/csrHi. */
  private counter(i: number): boolean {
    const n = this.instret;
    const nl = (n % TWO32) | 0;
    const nh = Math.floor(n / TWO32) | 0;
    const ol = this.counterOffset[i]!;
    const lo = (nl + ol) | 0;
    return this.ret(lo, nh + this.counterOffset[i + 1]! + (lo >>> 0 < nl >>> 0 ? 1 : 0));
  }

  /** True when an interrupt is pending and enabled in mie (what wakes WFI, whatever the global enables). */
  interruptPending(): boolean {
    return ((this.mip | this.seipHw) & this.mie) !== 0;
  }

  /** Value of the last readCsr. */
  private csrLo = 0;
  private csrHi = 0;

  private ret(lo: number, hi: number): boolean {
    this.csrLo = lo | 0;
    this.csrHi = hi | 0;
    return true;
  }

  /** Read a CSR into csrLo/csrHi; false when it does not exist. */
  private readCsr(csr: number): boolean {
    switch (csr) {
      case 0x001:
        return this.ret(this.fflags, 0);
      case 0x002:
        return this.ret(this.frm, 0);
      case 0x003:
        return this.ret((this.frm << 5) | this.fflags, 0);
      case 0xc00:
      case 0xb00:
        return this.counter(0);
      case 0xc02:
      case 0xb02:
        return this.counter(2);
      case 0xc01: {
        const v = this.time.now();
        return this.ret(v, Math.floor(v / TWO32));
      }
      case 0x100: {
        const lo = this.mstatus & SSTATUS_RMASK;
        return this.ret(lo, ((this.mstatus & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0) | 2);
      }
      case 0x104:
        return this.ret(this.mie & this.mideleg, 0);
      case 0x105:
        return this.ret(this.stvecLo, this.stvecHi);
      case 0x106:
        return this.ret(this.scounteren, 0);
      case 0x10a:
        return this.ret(this.senvcfg, 0);
      case 0x140:
        return this.ret(this.sscratchLo, this.sscratchHi);
      case 0x141:
        return this.ret(this.sepcLo, this.sepcHi);
      case 0x142:
        return this.ret(this.scauseLo, this.scauseHi);
      case 0x143:
        return this.ret(this.stvalLo, this.stvalHi);
      case 0x144:
        return this.ret((this.mip | this.seipHw) & this.mideleg, 0);
      case 0x180:
        return this.ret(this.satpLo, this.satpHi);
      case 0xf11:
      case 0xf12:
      case 0xf13:
      case 0xf15:
        return this.ret(0, 0);
      case 0xf14:
        return this.ret(this.id, 0);
      case 0x300:
        return this.ret(this.mstatus, ((this.mstatus & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0) | 0xa);
      case 0x301:
        return this.ret(MISA_LO, MISA_HI);
      case 0x302:
        return this.ret(this.medeleg, 0);
      case 0x303:
        return this.ret(this.mideleg, 0);
      case 0x304:
        return this.ret(this.mie, 0);
      case 0x305:
        return this.ret(this.mtvecLo, this.mtvecHi);
      case 0x306:
        return this.ret(this.mcounteren, 0);
      case 0x30a:
        return this.ret(this.menvcfg, 0);
      case 0x320:
        return this.ret(this.mcountinhibit, 0);
      case 0x340:
        return this.ret(this.mscratchLo, this.mscratchHi);
      case 0x341:
        return this.ret(this.mepcLo, this.mepcHi);
      case 0x342:
        return this.ret(this.mcauseLo, this.mcauseHi);
      case 0x343:
        return this.ret(this.mtvalLo, this.mtvalHi);
      case 0x344:
        return this.ret(this.mip | this.seipHw, 0);
      default:
        // tselect/tdata1-3: no triggers (tselect hard-wired to 0, tdata1 type 0); writes ignored
        if (csr >= 0x7a0 && csr <= 0x7a3) return this.ret(0, 0);
        // hpmcounter3..31 (user view), mhpmcounter3..31, mhpmevent3..31: read as zero
        if ((csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) {
          return this.ret(0, 0);
        }
        if (csr >= 0x3a0 && csr <= 0x3af) {
          // pmpcfg: only even numbers exist on RV64; 16 entries (pmpcfg0, pmpcfg2)
          if (csr & 1) return false;
          const i = (csr - 0x3a0) >> 1;
          return i < 2 ? this.ret(this.pmpcfg[2 * i]!, this.pmpcfg[2 * i + 1]!) : this.ret(0, 0);
        }
        if (csr >= 0x3b0 && csr <= 0x3ef) {
          const i = csr - 0x3b0;
          return i < 16 ? this.ret(this.pmpaddr[2 * i]!, this.pmpaddr[2 * i + 1]!) : this.ret(0, 0);
        }
        return false;
    }
  }

  /** Write a CSR with its WARL rules (the CSR is known to exist). */
  private writeCsr(csr: number, lo: number, hi: number): void {
    switch (csr) {
      case 0x001:
        this.fflags = lo & 31;
        this.mstatus |= MSTATUS_FS;
        return;
      case 0x002:
        this.frm = lo & 7;
        this.mstatus |= MSTATUS_FS;
        return;
      case 0x003:
        this.fflags = lo & 31;
        this.frm = (lo >> 5) & 7;
        this.mstatus |= MSTATUS_FS;
        return;
      case 0xb00:
      case 0xb02: {
        // the next instruction reads the written value: the writing instruction's own
        // increment is suppressed (privileged spec 3.1.10, riscv-tests instret_overflow)
        const n = this.instret + 1;
        const nl = (n % TWO32) | 0;
        const nh = Math.floor(n / TWO32) | 0;
        const i = csr === 0xb00 ? 0 : 2;
        this.counterOffset[i] = (lo - nl) | 0;
        this.counterOffset[i + 1] = (hi - nh - (lo >>> 0 < nl >>> 0 ? 1 : 0)) | 0;
        return;
      }
      case 0x100:
        this.setMstatus((this.mstatus & ~SSTATUS_WMASK) | (lo & SSTATUS_WMASK));
        return;
      case 0x104: {
        const m = this.mideleg & MIE_MASK;
        this.mie = (this.mie & ~m) | (lo & m);
        this.irqCheck = true;
        return;
      }
      case 0x105:
        this.stvecLo = (lo & 3) >= 2 ? lo & -4 : lo & -3;
        this.stvecHi = hi;
        return;
      case 0x106:
        this.scounteren = lo;
        return;
      case 0x10a:
        this.senvcfg = lo & 1;
        return;
      case 0x140:
        this.sscratchLo = lo;
        this.sscratchHi = hi;
        return;
      case 0x141:
        this.sepcLo = lo & -2;
        this.sepcHi = hi;
        return;
      case 0x142:
        this.scauseLo = lo;
        this.scauseHi = hi & (0x80000000 | 0);
        return;
      case 0x143:
        this.stvalLo = lo;
        this.stvalHi = hi;
        return;
      case 0x144: {
        // only SSIP is writable through sip, and only when delegated
        const m = this.mideleg & MIP_SSIP;
        this.mip = (this.mip & ~m) | (lo & m);
        this.irqCheck = true;
        return;
      }
      case 0x180: {
        // WARL: an unsupported MODE makes the whole write have no effect (privileged spec 4.1.11)
        const mode = hi >>> 28;
        if (mode !== 0 && mode !== 8 && mode !== 9) return;
        this.satpLo = lo;
        this.satpHi = hi;
        this.flushTlb();
        return;
      }
      case 0x300:
        this.setMstatus((this.mstatus & ~MSTATUS_WMASK) | (lo & MSTATUS_WMASK));
        return;
      case 0x302:
        this.medeleg = lo & MEDELEG_MASK;
        return;
      case 0x303:
        this.mideleg = lo & S_INTS;
        this.irqCheck = true;
        return;
      case 0x304:
        this.mie = lo & MIE_MASK;
        this.irqCheck = true;
        return;
      case 0x305:
        this.mtvecLo = (lo & 3) >= 2 ? lo & -4 : lo & -3;
        this.mtvecHi = hi;
        return;
      case 0x306:
        this.mcounteren = lo;
        return;
      case 0x30a:
        this.menvcfg = lo & 1;
        return;
      case 0x320:
        this.mcountinhibit = lo & 5;
        return;
      case 0x340:
        this.mscratchLo = lo;
        this.mscratchHi = hi;
        return;
      case 0x341:
        this.mepcLo = lo & -2;
        this.mepcHi = hi;
        return;
      case 0x342:
        this.mcauseLo = lo;
        this.mcauseHi = hi & (0x80000000 | 0);
        return;
      case 0x343:
        this.mtvalLo = lo;
        this.mtvalHi = hi;
        return;
      case 0x344:
        this.mip = (this.mip & ~S_INTS) | (lo & S_INTS);
        this.irqCheck = true;
        return;
      default:
        if (csr >= 0x3a0 && csr <= 0x3af) {
          const i = (csr - 0x3a0) >> 1;
          if (i < 2) {
            // R W X A L kept (bits 5-6 of each byte are reserved and read as zero)
            this.pmpcfg[2 * i] = lo & 0x9f9f9f9f;
            this.pmpcfg[2 * i + 1] = hi & 0x9f9f9f9f;
          }
          return;
        }
        if (csr >= 0x3b0 && csr <= 0x3ef) {
          const i = csr - 0x3b0;
          if (i < 16) {
            this.pmpaddr[2 * i] = lo;
            this.pmpaddr[2 * i + 1] = hi & 0x3fffff; // bits 53:0
          }
          return;
        }
      // read-only or read-as-zero: ignored
    }
  }

  private setMstatus(v: number): void {
    const old = this.mstatus;
    // MPP is WARL: the reserved value 2 keeps the old mode
    if ((v & MSTATUS_MPP) === 2 << 11) v = (v & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
    this.mstatus = v;
    // no TLB flush: data TLB sets are indexed by effective privilege, SUM and MXR
    this.irqCheck = true;
  }

  // ------------------------------------------------------------------------------------------
  // Memory: translation (privileged spec 4.3.2 / 4.4 / 4.5) and slow paths

  /** Translate (va, vh) for an access; returns the physical address (a number). Throws page faults. */
  private translate(va: number, vh: number, acc: number): number {
    const ep =
      acc === ACC_FETCH
        ? this.priv
        : (this.mstatus & MSTATUS_MPRV) !== 0 && this.priv === 3
          ? (this.mstatus >> 11) & 3
          : this.priv;
    const mode = this.satpHi >>> 28;
    this.walkLevel = 0;
    this.walkGlobal = true;
    if (ep === 3 || mode === 0) {
      // Bare: physical addresses are 56 bits; anything above is an access fault
      if (vh < 0 || vh >= 0x1000000) this.fault(acc === ACC_FETCH ? 1 : acc === ACC_LOAD ? 5 : 7, va, vh);
      return vh * TWO32 + (va >>> 0);
    }
    const pageFault = acc === ACC_FETCH ? Cause.InstPage : acc === ACC_LOAD ? Cause.LoadPage : Cause.StorePage;
    const levels = mode === 8 ? 3 : 4;
    // the address must be sign-extended from bit 38 (Sv39) or 47 (Sv48)
    const top = mode === 8 ? vh >> 6 : vh >> 15;
    if (top !== 0 && top !== -1) this.fault(pageFault, va, vh);
    const vpn = (vh & 0xffff) * 1048576 + (va >>> 12); // up to 36 bits
    let a = ((this.satpHi & 0xfff) * TWO32 + (this.satpLo >>> 0)) * 4096;
    const i32 = this.i32;
    let global = false;
    for (let i = levels - 1; i >= 0; i--) {
      const idx = Math.floor(vpn / 2 ** (9 * i)) & 511;
      const pa = a + idx * 8;
      const o = this.ramOff(pa, 8);
      if (o < 0) this.fault(acc === ACC_FETCH ? 1 : acc === ACC_LOAD ? 5 : 7, va, vh);
      let lo = i32[o / 4]!;
      const hi = i32[o / 4 + 1]!;
      // V=0, W without R, or reserved/PBMT/N bits set (no Svpbmt/Svnapot): page fault
      if ((lo & 1) === 0 || (lo & 6) === 4 || (hi & 0xffc00000) !== 0) this.fault(pageFault, va, vh);
      const ppn = (hi & 0x3fffff) * 4194304 + (lo >>> 10);
      if (lo & 32) global = true;
      if ((lo & 0xa) === 0) {
        // pointer to the next level
        a = ppn * 4096;
        continue;
      }
      // leaf: permissions
      const u = (lo & 16) !== 0;
      if (ep === 0 ? !u : u && (acc === ACC_FETCH || (this.mstatus & MSTATUS_SUM) === 0)) this.fault(pageFault, va, vh);
      if (acc === ACC_FETCH) {
        if ((lo & 8) === 0) this.fault(pageFault, va, vh);
      } else if (acc === ACC_LOAD) {
        if ((lo & 2) === 0 && !((this.mstatus & MSTATUS_MXR) !== 0 && (lo & 8) !== 0)) this.fault(pageFault, va, vh);
      } else if ((lo & 4) === 0) this.fault(pageFault, va, vh);
      // misaligned superpage
      const span = 2 ** (9 * i);
      if (ppn % span !== 0) this.fault(pageFault, va, vh);
      // A/D update by the hardware (Svadu behaviour, as QEMU): written back atomically (single-threaded)
      const need = acc === ACC_STORE ? 0xc0 : 0x40;
      if ((lo & need) !== need) {
        lo |= need;
        i32[o / 4] = lo;
      }
      this.walkLevel = i;
      this.walkGlobal = global;
      return (ppn + (vpn % span)) * 4096 + (va & 4095);
    }
    return this.fault(pageFault, va, vh);
  }

  /** Data TLB set for the current state: effective privilege (MPRV/MPP), SUM, MXR. */
  private dataSet(): number {
    const m = this.mstatus;
    const ep = (m & MSTATUS_MPRV) !== 0 && this.priv === 3 ? (m >> 11) & 3 : this.priv;
    return ep | ((m & MSTATUS_SUM) >> 16) | ((m & MSTATUS_MXR) >> 16);
  }

  /** RAM offset of [pa, pa+len), or -1 when not entirely in RAM. */
  private ramOff(pa: number, len: number): number {
    const o = pa - this.ramBase;
    return o >= 0 && o + len <= this.ramSize ? o : -1;
  }

  /** Put a translated RAM page into the TLB of `acc` (data TLB index uses the effective privilege). */
  private fill(acc: number, va: number, vh: number, pa: number): void {
    const o = pa - (pa % 4096) - this.ramBase;
    if (o < 0 || o + 4096 > this.ramSize || o > 0x7fffe000) return;
    const set = acc === ACC_FETCH ? this.priv : this.dataSet();
    const e = (set << TLB_BITS) + ((va >>> 12) & TLB_MASK);
    const tag = va & -4096;
    if (this.walkLevel > 0) {
      // a piece of a superpage: remember it for SFENCE.VMA by address
      if (this.walkGlobal) {
        if (this.nGFrags < MAX_FRAGS) this.gFrags[this.nGFrags++] = acc === ACC_FETCH ? ~e : e;
      } else if (this.nFrags < MAX_FRAGS) this.frags[this.nFrags++] = acc === ACC_FETCH ? ~e : e;
    }
    if (acc === ACC_FETCH) {
      this.xTag[e] = tag;
      this.xHi[e] = vh;
      this.xOff[e] = o;
      return;
    }
    this.rTag[e] = tag;
    this.rHi[e] = vh;
    this.rOff[e] = o;
    if (acc === ACC_STORE && o !== this.watchOff) {
      this.wTag[e] = tag;
      this.wHi[e] = vh;
      this.wOff[e] = o;
    }
  }

  /**
   * Fetch-cache miss: find the page of pc in the execute TLB or walk the page table, refresh the
   * fetch cache, and return the instruction at pc (16 or 32 bits). Pages the TLB cannot hold
   * (RAM beyond 2 GiB) are fetched through this path every time.
   */
  private fetchMiss(pc: number, pcHi: number, oldTag: number): number {
    if (oldTag === -4096 && pc >>> 0 < 4) {
      // sequential execution carried out of the top page of a 4 GiB region: propagate into the high word
      pcHi = (pcHi + 1) | 0;
    }
    this.pcHi = pcHi;
    const e = (this.priv << TLB_BITS) + ((pc >>> 12) & TLB_MASK);
    let o: number;
    if (this.xTag[e] === (pc & -4096) && this.xHi[e] === pcHi) {
      this.fetchTag = pc & -4096;
      this.fetchOff = this.xOff[e]!;
      o = this.fetchOff + (pc & 4095);
    } else {
      const pa = this.translate(pc, pcHi, ACC_FETCH);
      o = this.ramOff(pa, 2);
      if (o < 0) this.fault(Cause.InstAccess, pc, pcHi);
      this.fill(ACC_FETCH, pc, pcHi, pa);
      if (this.xTag[e] === (pc & -4096) && this.xHi[e] === pcHi) {
        this.fetchTag = pc & -4096;
        this.fetchOff = this.xOff[e]!;
      } else this.fetchTag = NO_TAG;
    }
    const lo = this.dv.getUint16(o, true);
    if ((lo & 3) !== 3) return lo;
    if ((pc & 4095) === 4094) return this.fetchCross(pc, pcHi, lo);
    return lo | (this.dv.getUint16(o + 2, true) << 16);
  }

  /** A 32-bit instruction whose upper half lies on the next page. */
  private fetchCross(pc: number, pcHi: number, low: number): number {
    const t = (pc >>> 0) + 2;
    const va = t | 0;
    const vh = t >= TWO32 ? (pcHi + 1) | 0 : pcHi;
    const pa = this.translate(va, vh, ACC_FETCH);
    const o = this.ramOff(pa, 2);
    if (o < 0) this.fault(Cause.InstAccess, va, vh);
    return low | (this.dv.getUint16(o, true) << 16);
  }

  /** Physical read of 1, 2, 4 or 8 bytes (8: high word to tHi). Returns -1-free value; faults with `cause`. */
  private physRead(pa: number, size: number, cause: number, va: number, vh: number): number {
    const o = this.ramOff(pa, size);
    if (o >= 0) {
      const dv = this.dv;
      switch (size) {
        case 1:
          return this.u8[o]!;
        case 2:
          return dv.getUint16(o, true);
        case 4:
          return dv.getInt32(o, true);
        default:
          this.tHi = dv.getInt32(o + 4, true);
          return dv.getInt32(o, true);
      }
    }
    if (!this.bus.has(pa)) this.fault(cause, va, vh);
    this.attn = true;
    if ((pa & (size - 1)) !== 0 && size > 1) {
      // misaligned MMIO: byte by byte
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < size; i++) {
        const b = this.bus.read(pa + i, 1) & 255;
        if (i < 4) lo |= b << (8 * i);
        else hi |= b << (8 * (i - 4));
      }
      this.tHi = hi;
      return lo;
    }
    if (size === 8) {
      const lo = this.bus.read(pa, 4);
      this.tHi = this.bus.read(pa + 4, 4) | 0;
      return lo | 0;
    }
    return this.bus.read(pa, size as 1 | 2 | 4);
  }

  /** A store to non-RAM address `pa` reaches something (PhysBus.writable when the bus has it, else has). */
  private storable(pa: number): boolean {
    return this.bus.writable !== undefined ? this.bus.writable(pa) : this.bus.has(pa);
  }

  private physWrite(pa: number, size: number, lo: number, hi: number, va: number, vh: number): void {
    const o = this.ramOff(pa, size);
    if (o >= 0) {
      if (o - (o % 4096) === this.watchOff) this.onWatchedStore?.(pa, size);
      const dv = this.dv;
      switch (size) {
        case 1:
          this.u8[o] = lo;
          return;
        case 2:
          dv.setUint16(o, lo, true);
          return;
        case 4:
          dv.setInt32(o, lo, true);
          return;
        default:
          dv.setInt32(o, lo, true);
          dv.setInt32(o + 4, hi, true);
          return;
      }
    }
    if (!this.storable(pa)) this.fault(Cause.StoreAccess, va, vh);
    this.attn = true;
    if ((pa & (size - 1)) !== 0 && size > 1) {
      for (let i = 0; i < size; i++) this.bus.write(pa + i, 1, (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 255);
      return;
    }
    if (size === 8) {
      this.bus.write(pa, 4, lo);
      this.bus.write(pa + 4, 4, hi);
      return;
    }
    this.bus.write(pa, size as 1 | 2 | 4, lo);
  }

  /** Slow load of kind f3 (LB..LWU) into register pair index d. */
  private loadSlowTo(d: number, va: number, vh: number, f3: number): void {
    const lo = this.loadSlow(va, vh, f3);
    this.xx[d] = lo;
    this.xx[d + 1] = this.tHi;
  }

  /** Load with any alignment; returns the low word, high word in tHi (already sign/zero-extended per f3). */
  private loadSlow(va: number, vh: number, f3: number): number {
    const size = 1 << (f3 & 3);
    let lo: number;
    let hi = 0;
    const pg = va & 4095;
    if (pg + size > 4096) {
      // crosses a page: translate both pages first, then read byte by byte
      const pa0 = this.translate(va, vh, ACC_LOAD);
      const t = (va >>> 0) + size - 1;
      const pa1 = this.translate(t | 0, t >= TWO32 ? (vh + 1) | 0 : vh, ACC_LOAD);
      const split = 4096 - pg;
      lo = 0;
      for (let i = 0; i < size; i++) {
        const pa = i < split ? pa0 + i : pa1 - (size - 1) + i;
        const b = this.physRead(pa, 1, Cause.LoadAccess, va, vh);
        if (i < 4) lo |= b << (8 * i);
        else hi |= b << (8 * (i - 4));
      }
    } else {
      const pa = this.translate(va, vh, ACC_LOAD);
      this.fill(ACC_LOAD, va, vh, pa);
      lo = this.physRead(pa, size, Cause.LoadAccess, va, vh);
      if (size === 8) hi = this.tHi;
    }
    switch (f3) {
      case 0:
        lo = (lo << 24) >> 24;
        hi = lo >> 31;
        break;
      case 1:
        lo = (lo << 16) >> 16;
        hi = lo >> 31;
        break;
      case 2:
        lo |= 0;
        hi = lo >> 31;
        break;
      case 4:
        lo &= 255;
        hi = 0;
        break;
      case 5:
        lo &= 0xffff;
        hi = 0;
        break;
      case 6:
        lo |= 0;
        hi = 0;
        break;
    }
    this.tHi = hi;
    return lo;
  }

  /** Store of 1 << f3 bytes with any alignment. */
  private storeSlow(va: number, vh: number, f3: number, lo: number, hi: number): void {
    const size = 1 << f3;
    const pg = va & 4095;
    if (pg + size > 4096) {
      const pa0 = this.translate(va, vh, ACC_STORE);
      const t = (va >>> 0) + size - 1;
      const pa1 = this.translate(t | 0, t >= TWO32 ? (vh + 1) | 0 : vh, ACC_STORE);
      const split = 4096 - pg;
      // check both ends exist before writing anything
      if (this.ramOff(pa0, 1) < 0 && !this.storable(pa0)) this.fault(Cause.StoreAccess, va, vh);
      if (this.ramOff(pa1, 1) < 0 && !this.storable(pa1)) this.fault(Cause.StoreAccess, va, vh);
      for (let i = 0; i < size; i++) {
        const pa = i < split ? pa0 + i : pa1 - (size - 1) + i;
        const b = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 255;
        this.physWrite(pa, 1, b, 0, va, vh);
      }
      return;
    }
    const pa = this.translate(va, vh, ACC_STORE);
    this.fill(ACC_STORE, va, vh, pa);
    this.physWrite(pa, size, lo, hi, va, vh);
  }

  /** RAM offset for an atomic access: the TLB first, then a walk; outside RAM, an access fault. */
  private amoOff(va: number, vh: number, acc: number, size: number): number {
    const e = (this.dataSet() << TLB_BITS) + ((va >>> 12) & TLB_MASK);
    const tag = va & -4096;
    if (acc === ACC_LOAD) {
      if (this.rTag[e] === tag && this.rHi[e] === vh) return this.rOff[e]! + (va & 4095);
    } else if (this.wTag[e] === tag && this.wHi[e] === vh) return this.wOff[e]! + (va & 4095);
    const pa = this.translate(va, vh, acc);
    const o = this.ramOff(pa, size);
    if (o < 0) this.fault(acc === ACC_LOAD ? Cause.LoadAccess : Cause.StoreAccess, va, vh);
    if (acc !== ACC_LOAD && o - (o % 4096) === this.watchOff) this.onWatchedStore?.(pa, size);
    this.fill(acc, va, vh, pa);
    return o;
  }

  /** LR/SC and AMOs (unprivileged spec ch. 14). RAM only; misaligned addresses trap. */
  private amo(insn: number, raw: number): void {
    const f3 = (insn >> 12) & 7;
    if (f3 !== 2 && f3 !== 3) this.fault(Cause.Illegal, raw, 0);
    const f5 = insn >>> 27;
    const x = this.xx;
    const d = (insn >> 6) & 62 || 64;
    const s1 = (insn >> 14) & 62;
    const s2 = (insn >> 19) & 62;
    const va = x[s1]!;
    const vh = x[s1 + 1]!;
    const size = f3 === 2 ? 4 : 8;
    const isLr = f5 === 2;
    if (isLr && s2 !== 0) this.fault(Cause.Illegal, raw, 0);
    if (f5 !== 0 && f5 !== 1 && f5 !== 2 && f5 !== 3 && (f5 & 3) !== 0) this.fault(Cause.Illegal, raw, 0);
    if (f5 > 0x1c) this.fault(Cause.Illegal, raw, 0);
    if (va & (size - 1)) this.fault(isLr ? Cause.LoadMisaligned : Cause.StoreMisaligned, va, vh);
    if (isLr) {
      const o = this.amoOff(va, vh, ACC_LOAD, size);
      const lo = this.i32[o / 4]!;
      const hi = size === 8 ? this.i32[o / 4 + 1]! : lo >> 31;
      this.resValid = true;
      this.resPa = o;
      this.resSize = size;
      this.resLo = lo;
      this.resHi = hi;
      x[d] = lo;
      x[d + 1] = hi;
      return;
    }
    if (f5 === 3) {
      // SC: fails without touching memory when there is no reservation
      if (!this.resValid) {
        x[d] = 1;
        x[d + 1] = 0;
        return;
      }
      this.resValid = false;
      const o = this.amoOff(va, vh, ACC_STORE, size);
      const w = o / 4;
      const cur = this.i32[w]!;
      const ok =
        o === this.resPa &&
        size === this.resSize &&
        cur === this.resLo &&
        (size === 4 || this.i32[w + 1] === this.resHi);
      if (ok) {
        this.i32[w] = x[s2]!;
        if (size === 8) this.i32[w + 1] = x[s2 + 1]!;
      }
      x[d] = ok ? 0 : 1;
      x[d + 1] = 0;
      return;
    }
    const w = this.amoOff(va, vh, ACC_STORE, size) / 4;
    const i32 = this.i32;
    const a = i32[w]!;
    const ah = size === 8 ? i32[w + 1]! : a >> 31;
    const b = x[s2]!;
    const bh = size === 8 ? x[s2 + 1]! : b >> 31;
    let rl: number;
    let rh: number;
    switch (f5) {
      case 0x01: // AMOSWAP
        rl = b;
        rh = bh;
        break;
      case 0x00: {
        // AMOADD
        rl = (a + b) | 0;
        rh = (ah + bh + (rl >>> 0 < a >>> 0 ? 1 : 0)) | 0;
        break;
      }
      case 0x04:
        rl = a ^ b;
        rh = ah ^ bh;
        break;
      case 0x0c:
        rl = a & b;
        rh = ah & bh;
        break;
      case 0x08:
        rl = a | b;
        rh = ah | bh;
        break;
      case 0x10: // MIN
      case 0x14: {
        // MAX
        const lt = ah < bh || (ah === bh && a >>> 0 < b >>> 0);
        const pickA = f5 === 0x10 ? lt : !lt;
        rl = pickA ? a : b;
        rh = pickA ? ah : bh;
        break;
      }
      case 0x18: // MINU
      case 0x1c: {
        // MAXU
        const lt = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0);
        const pickA = f5 === 0x18 ? lt : !lt;
        rl = pickA ? a : b;
        rh = pickA ? ah : bh;
        break;
      }
      default:
        this.fault(Cause.Illegal, raw, 0);
    }
    i32[w] = rl;
    if (size === 8) i32[w + 1] = rh;
    x[d] = a;
    x[d + 1] = ah;
  }
}

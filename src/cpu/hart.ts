/**
 * One RV64IMAFDC hart with M/S/U privilege: its architectural state and the interpreter (`run`).
 *
 * Registers are int32 pairs (x[2r] low word, x[2r+1] high word). The program counter is kept as
 * an int32 low word plus an int32 high word; the run loop holds both in locals. Exceptions are
 * thrown as a preallocated sentinel and caught once per run-loop entry, so the hot path
 * allocates nothing.
 *
 * `run` is one function with one `switch` on opcode[6:2]; the frequent instructions (integer
 * ALU, loads and stores that hit the TLB, branches and jumps) execute inline, and it calls out
 * for everything else. The other concerns have their own files:
 *
 * - mmu.ts: RAM views, the TLBs, the Sv39/Sv48 walk, slow loads, stores and fetches
 * - csr.ts: the CSR file (S/M trap CSRs as one TrapCsrs record per level) and the Zicsr instructions
 * - trap.ts: trap entry, interrupt selection, MRET/SRET
 * - amo.ts: LR/SC and the AMOs
 * - fpu/: the F and D computations; compressed.ts: the RVC expansion; alu64.ts: 64-bit M ops
 * - arch.ts: the architectural names (Csr, Cause, Priv, IrqBit, mstatus fields)
 *
 * Fields marked "internal" are shared with those files and are not part of the hart's API.
 */
import { div64, divu64, mul64, mulh64, mulhsu64, mulhu64, R, rem64, remu64 } from './alu64.js';
import { amo, Reservation } from './amo.js';
import { Cause, Csr, MIP_SEIP, MSTATUS_FS, MSTATUS_TSR, MSTATUS_TVM, MSTATUS_TW, PAUSE, Priv } from './arch.js';
import * as B from './bitmanip.js';
import { expandCompressed } from './compressed.js';
import { csrInstruction, getCsr, setCsr, stimerDeadline, TrapCsrs, updateStimer } from './csr.js';
import { encB, encI, encJ, encR, encS, encU, Op } from './encode.js';
import { Exit } from './exits.js';
import { fpFma, fpOp } from './fpu/index.js';
import { ALL_EXTENSIONS, Ext, extMask, type HartExtensions } from './isa.js';
import { HOT_STEP, JIT_MASK, Jit } from './jit/jit.js';
import { CSR_WORDS, HART_STATE_BYTES, M_TRAP_OFF, MSTATUS_OFF, RES_OFF, S_TRAP_OFF, X_OFF } from './jit/state.js';
import { Mmu, NO_TAG, TLB_BITS, TLB_MASK } from './mmu.js';
import { Pmp } from './pmp.js';
import { pendingInterrupt, takeInterrupt, takeTrap, trapReturn } from './trap.js';
import type { PhysBus, RamLike, TimeSource } from './types.js';

const TWO32 = 4294967296;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Thrown (never allocated per trap) when an instruction raises an exception; details are on the hart. */
const TRAP = { trap: true };
/** The ECALL's cause by privilege (Priv.U, S, M: 0, 1, 3). */
const ECALL_CAUSE = Int32Array.of(Cause.EcallU, Cause.EcallS, 0, Cause.EcallM);
/**
 * run()'s block slots and hotness counters for a hart without the translation tier: slots hold
 * an odd pc, which a guest's pc never is (an odd one set from outside matches but finds no tier);
 * the counts land in one array all such harts share and are never read.
 */
const NO_JIT_PC = new Int32Array(JIT_MASK + 1).fill(1);
const NO_JIT_HOT = new Int32Array(JIT_MASK + 1);
/**
 * What a trap taken inside run() costs against its budget, in instructions: a trap is a thrown
 * exception and a CSR update (microseconds), so a guest that traps in a loop without leaving
 * the hart (a trap vector that faults, delegated to itself) still ends its budget, and its
 * host time slice, soon (docs/hypervisor.md, "Fairness").
 */
export const TRAP_COST = 32;

export interface HartOptions {
  /** mhartid. */
  id?: number;
  /** Source of the time CSR; defaults to instret/100 (10 MHz at a nominal 1 GIPS... good enough for tests). */
  time?: TimeSource;
  /** PV mode: traps destined to M-mode return Exit.MachineTrap instead of being taken. */
  virtualM?: boolean;
  /** Optional extensions (isa.ts); each one left out is illegal, as on a hart without it. Default: all. */
  extensions?: Partial<HartExtensions>;
  /** The translation tier (jit/): hot code compiled to WebAssembly. Default: on where the RAM allows it. */
  jit?: boolean;
  /**
   * Instructions the hart retires in one busy stretch (from its start, or since it last woke
   * from waiting: `woke`) before its translation tier is made: a hypervisor's domain that stays
   * idle then never pays for the tier's tables and compiled code (src/hypervisor/vm.ts sets
   * it). Default 0: from the start.
   */
  jitAfter?: number;
  /**
   * PAUSE (Zihintpause, a spin-wait hint) ends `run` with Exit.Pause after it retires, as x86's
   * pause-loop exiting hands a spinning vCPU's host CPU back: the harts of a domain with harts on
   * threads then wait briefly for the others (src/hypervisor/threads.ts). Default false: a no-op.
   * (A requestStop at the same boundary returns Exit.Pause too: handle it as Stop as well.)
   */
  pauseExits?: boolean;
  /**
   * Compile the tier's modules off the hart's thread (WebAssembly.compile) and install them
   * when ready. They are installed by promise callbacks, so only a caller that returns to the
   * event loop between `run` calls gets them (the domain's run loop does; a loop that never
   * yields, such as a worker's, must leave this off). Default: off (synchronous compiles).
   */
  jitAsync?: boolean;
}

export class Hart {
  readonly id: number;
  /** Byte offset of this hart's state area (jit/state.ts) in the RAM buffer, or -1 when it has none. */
  readonly stateOff: number;
  /** Integer registers as int32 pairs; a 64-entry view of a 66-entry array whose last pair absorbs writes to x0. */
  readonly x: Int32Array;
  /** Internal: the 66-entry register array (rd = x0 writes go to its last pair). */
  readonly xx: Int32Array;
  readonly f: Float64Array;
  readonly fi: Int32Array;
  fflags = 0;
  frm = 0;
  /** A Priv: 0 = U, 1 = S, 3 = M. */
  priv: number = Priv.M;
  pcLo = 0;
  pcHi = 0;
  virtualM: boolean;
  /** HartOptions.pauseExits. */
  readonly pauseExits: boolean;
  time: TimeSource;
  /** The optional extensions this hart has (isa.ts `Ext` bits); fixed at construction. */
  readonly ext: number;
  /** Retired instructions (cycle = instret). */
  instret = 0;
  /** Statistics for the hypervisor (full mode): traps taken into M-mode, and instructions retired in
   * M-mode from reset or trap entry to the xRET leaving it (an exception counts its own trapping
   * instruction, which does not retire, as one). Not architectural state. */
  mTraps = 0;
  mInstret = 0;
  /** Internal (trap.ts): instret at the last entry into M-mode, and whether the hart is in M-mode for the statistics. */
  mEntry = 0;
  inM = false;
  /** Set when run() returns Exit.MachineTrap. */
  exitCause = 0;
  exitIsInterrupt = false;
  /** tval of the M-mode trap as a number: the 64-bit value read as signed (exact for sign-extended addresses). */
  exitTval = 0;

  // --- CSR state (csr.ts reads and writes it; 64-bit ones as lo/hi pairs) ---
  /**
   * mstatus, the S and M trap CSRs (TrapCsrs) and the translator's stop flag: in the state area
   * (jit/state.ts MSTATUS_OFF..), where translated code reads and writes them.
   */
  readonly csrState: Int32Array;
  /** Low word of mstatus; the high word is UXL=SXL=2 plus SD, computed on read. */
  get mstatus(): number {
    return this.csrState[0]!;
  }
  set mstatus(v: number) {
    this.csrState[0] = v;
  }
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-visible mip bits (incl. lines driven through setIrq except SEIP). */
  mip = 0;
  /** SEIP as driven by the external interrupt controller (ORed into mip on read). */
  seipHw = 0;
  /** The trap CSRs of M-mode (mtvec, mepc, mcause, mtval, mscratch, mcounteren, menvcfg) and of S-mode. */
  readonly m: TrapCsrs;
  readonly s: TrapCsrs;
  mcountinhibit = 0;
  satpLo = 0;
  satpHi = 0;
  /** Sstc: stimecmp (csr.ts updateStimer drives STIP from it while menvcfg.STCE is set). */
  stimecmpLo = 0;
  stimecmpHi = 0;
  /** Internal: added (mod 2^64) to instret for mcycle / minstret reads; writes set them. lo/hi pairs. */
  readonly counterOffset = new Int32Array(4);
  /** Physical memory protection (pmp.ts), checked by the MMU. */
  readonly pmp = new Pmp();
  /** pmpcfg0, pmpcfg2 as lo/hi pairs; pmpaddr0..15 as lo/hi pairs (the registers of `pmp`). */
  readonly pmpcfg = this.pmp.cfg;
  readonly pmpaddr = this.pmp.addr;

  /** Internal (amo.ts): the LR/SC reservation. */
  readonly res: Reservation;
  /** Internal: RAM, TLBs and translation. */
  readonly mmu: Mmu;
  /**
   * PV mode: an ECALL from S-mode that exits to the hypervisor is first offered to this hook,
   * inside run(). It returns true when it handled the call (and stepped the pc over the ECALL):
   * the hart then goes on without leaving run(); false: run() returns Exit.MachineTrap as usual.
   * The hypervisor's fast hypercalls (a timer, an event channel send) cost no exit this way.
   */
  ecallHook: (() => boolean) | null = null;
  /** The translation tier, or null (not made yet, switched off, or the RAM is not a WebAssembly.Memory). */
  jit: Jit | null = null;
  /** instret at which run() makes the tier (HartOptions.jitAfter), or -1: never. */
  private jitAt: number;
  private readonly jitAfter: number;
  private readonly jitAsync: boolean;
  private readonly ram: RamLike;

  // --- run-loop signalling (internal) ---
  /** Set when something may have made an interrupt pending/enabled. */
  irqCheck = true;
  /** Set by setIrq/requestStop and MMIO: the loop leaves its fast path after the current slow operation. */
  attn = false;
  private stopReq = false;
  /** The stop requested is a PAUSE's (pauseExits). */
  private pauseReq = false;

  // --- pending exception (filled before TRAP is thrown) ---
  private excCause = 0;
  private excTvalLo = 0;
  private excTvalHi = 0;

  constructor(ram: RamLike, bus: PhysBus, opts: HartOptions = {}) {
    this.id = opts.id ?? 0;
    this.virtualM = opts.virtualM ?? false;
    this.pauseExits = opts.pauseExits ?? false;
    this.ext = extMask({ ...ALL_EXTENSIONS, ...opts.extensions });
    this.time = opts.time ?? { now: () => Math.floor(this.instret / 100) };
    // the registers and data TLBs live in the state area after RAM when the RAM has one (jit/state.ts)
    this.stateOff = ram.claimCpuState?.(HART_STATE_BYTES) ?? -1;
    const xb = this.stateOff >= 0 ? ram.buffer : new ArrayBuffer(66 * 4);
    const xo = this.stateOff >= 0 ? this.stateOff + X_OFF : 0;
    this.xx = new Int32Array(xb, xo, 66);
    this.x = new Int32Array(xb, xo, 64);
    this.csrState =
      this.stateOff >= 0 ? new Int32Array(xb, this.stateOff + MSTATUS_OFF, CSR_WORDS) : new Int32Array(CSR_WORDS);
    const trap = (off: number) => this.csrState.subarray((off - MSTATUS_OFF) >> 2, ((off - MSTATUS_OFF) >> 2) + 8);
    this.s = new TrapCsrs(Priv.S, trap(S_TRAP_OFF));
    this.res = new Reservation(this.stateOff >= 0 ? new Int32Array(xb, this.stateOff + RES_OFF, 5) : undefined);
    this.m = new TrapCsrs(Priv.M, trap(M_TRAP_OFF));
    const fb = new ArrayBuffer(32 * 8);
    this.f = new Float64Array(fb);
    this.fi = new Int32Array(fb);
    this.mmu = new Mmu(this, ram, bus, this.stateOff);
    this.ram = ram;
    this.jitAfter = opts.jitAfter ?? 0;
    this.jitAsync = opts.jitAsync === true;
    this.jitAt = opts.jit === false ? -1 : this.jitAfter;
    if (this.jitAt === 0) this.startJit();
  }

  // ------------------------------------------------------------------------------------------
  // Slow accessors (hypercall handlers, loaders, tests)

  getX(r: number): bigint {
    const hi = this.x[2 * r + 1]!;
    // within +-2^53 one Number holds it exactly: one BigInt made instead of five (hypercall arguments)
    if (hi >= -0x200000 && hi < 0x200000) return BigInt(hi * TWO32 + (this.x[2 * r]! >>> 0));
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(this.x[2 * r]! >>> 0));
  }
  setX(r: number, v: bigint): void {
    if (r === 0) return;
    if (v >= -SAFE && v <= SAFE) {
      const n = Number(v);
      this.x[2 * r] = n | 0;
      this.x[2 * r + 1] = Math.floor(n / TWO32) | 0;
      return;
    }
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
    this.jumpTo(Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
  }
  /**
   * The hypercall path of translated code (jit/): a block stopped at an S-mode ECALL (the pc),
   * `retired` instructions after what instret counts. When it is a PV exit and the hook makes
   * the call, it is made exactly as run() makes it (the hook sees the same instret and exit
   * fields; the ECALL retires nothing): true, with the pc past the ECALL and irqCheck left set
   * only when an interrupt or a stop is now due. Otherwise false with nothing changed, and the
   * interpreter executes the ECALL.
   */
  ecallFromJit(retired: number): boolean {
    const hook = this.ecallHook;
    if (hook === null || this.priv !== Priv.S || !this.virtualM || (this.medeleg >>> Cause.EcallS) & 1) return false;
    const check = this.irqCheck;
    takeTrap(this, Cause.EcallS, false, 0, 0, this.pcLo, this.pcHi);
    this.instret += retired - 1;
    const made = hook();
    this.instret -= retired - 1;
    if (!made) {
      this.irqCheck = check;
      return false;
    }
    if (!this.stopReq && pendingInterrupt(this) < 0) this.irqCheck = this.attn = false;
    return true;
  }
  /** Step the pc over `bytes` (a hypercall's ECALL), without BigInts. */
  skip(bytes: number): void {
    this.advance(bytes);
  }
  /** Read a CSR without privilege checks. Throws on an unknown CSR. */
  getCsr(n: number): bigint {
    return getCsr(this, n);
  }
  /** Write a CSR (WARL rules apply) without privilege checks. Throws on an unknown CSR. */
  setCsr(n: number, v: bigint): void {
    setCsr(this, n, v);
  }
  get cycle(): number {
    return this.instret;
  }

  /** Drive an interrupt line (a mip bit, an IrqBit). Re-checks pending interrupts at the next instruction boundary. */
  setIrq(bit: number, level: boolean): void {
    const m = 1 << bit;
    if (m === MIP_SEIP) this.seipHw = level ? m : 0;
    else if (level) this.mip |= m;
    else this.mip &= ~m;
    this.irqCheck = true;
    this.attn = true;
  }

  /**
   * Time-driven interrupts of the hart itself (Sstc: STIP from stimecmp) at mtime `now`. Run
   * loops call it between slices, as they update the CLINT.
   */
  updateTimer(now: number): void {
    updateStimer(this, now);
  }

  /** The mtime at which the hart's own timer (Sstc) next raises an interrupt, or Infinity. */
  timerDeadline(): number {
    return stimerDeadline(this);
  }

  /** True when an interrupt is pending and enabled in mie (what wakes WFI, whatever the global enables). */
  interruptPending(): boolean {
    return ((this.mip | this.seipHw) & this.mie) !== 0;
  }

  /**
   * Snapshots (src/cpu/snapshot.ts): the private architectural state, as numbers: counter offsets
   * (4), LR/SC reservation (valid, pa, size, lo, hi), M-mode statistics bookkeeping (mEntry, inM).
   */
  saveHidden(): number[] {
    const res = this.res;
    const r = [...this.counterOffset, res.valid ? 1 : 0, res.pa, res.size, res.lo, res.hi];
    return [...r, this.mEntry, this.inM ? 1 : 0];
  }
  /** Inverse of saveHidden (values already checked); drops cached translations and re-checks interrupts. */
  loadHidden(v: readonly number[]): void {
    for (let i = 0; i < 4; i++) this.counterOffset[i] = v[i]!;
    const res = this.res;
    res.valid = v[4] === 1;
    [res.pa, res.size, res.lo, res.hi, this.mEntry] = [v[5]!, v[6]!, v[7]!, v[8]!, v[9]!];
    this.inM = v[10] === 1;
    this.irqCheck = true;
    this.attn = true;
    this.flushTlb();
    this.jit?.clear();
  }

  /**
   * Stores into the 4 KiB physical page of `pa` (in RAM) call `onStore(pa, size)` with the
   * address they write, so a host can answer a mailbox at once (the bare runner's HTIF tohost:
   * `requestStop`, then serve it; the store has landed when the hart stops). The page simply
   * never enters the store TLB: the fast path is unchanged, and only stores to that page take
   * the slow one. `null` stops watching.
   */
  watchStores(pa: number | null, onStore: ((pa: number, size: number) => void) | null = null): void {
    this.mmu.watchStores(pa, onStore);
  }

  /** Make run() return Exit.Stop at the next instruction boundary. */
  requestStop(): void {
    this.stopReq = true;
    this.attn = true;
  }

  flushTlb(): void {
    this.mmu.flush();
  }

  /** FENCE.I, SBI remote_fence_i: translated code is checked against memory before it runs again (jit/). */
  flushIcache(): void {
    this.jit?.fenceI();
  }

  /** Reset registers and CSRs; start at `pc` in privilege `priv`. */
  reset(pc: bigint, priv: number): void {
    this.inM = priv === Priv.M;
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
    this.m.reset();
    this.s.reset();
    this.mcountinhibit = 0;
    this.counterOffset.fill(0);
    this.satpLo = this.satpHi = 0;
    this.stimecmpLo = this.stimecmpHi = 0;
    this.pmp.reset();
    this.res.valid = false;
    this.stopReq = false;
    this.irqCheck = true;
    this.flushTlb();
    this.jit?.clear();
    this.setPc(pc);
  }

  /** Internal: raise an exception from inside the run loop (mmu.ts, csr.ts and amo.ts call it too). */
  fault(cause: number, tvalLo: number, tvalHi: number): never {
    this.excCause = cause;
    this.excTvalLo = tvalLo;
    this.excTvalHi = tvalHi;
    throw TRAP;
  }

  /** Internal: continue at (lo, hi); the fetch cache is dropped. */
  jumpTo(lo: number, hi: number): void {
    this.pcLo = lo;
    this.pcHi = hi;
    this.mmu.fetchTag = NO_TAG;
  }

  /** Slow load of kind f3 (LB..LWU) into register pair index d (the run loop's TLB missed or the access is misaligned). */
  private loadSlowTo(d: number, va: number, vh: number, f3: number): void {
    const lo = this.mmu.loadSlow(va, vh, f3);
    this.xx[d] = lo;
    this.xx[d + 1] = this.mmu.tHi;
  }

  private advance(ilen: number): void {
    const t = (this.pcLo >>> 0) + ilen;
    this.pcLo = t | 0;
    if (t >= TWO32) {
      this.pcHi = (this.pcHi + 1) | 0;
      this.mmu.fetchTag = NO_TAG;
    }
  }

  // ------------------------------------------------------------------------------------------
  // The interpreter

  /**
   * The hart waited for an interrupt (WFI, or a hypervisor's blocking call) and runs again: the
   * translation tier, if not made yet, is made only after jitAfter instructions from here, so
   * an idle domain (a tick handler between waits) never makes it.
   */
  woke(): void {
    if (this.jitAt >= 0) this.jitAt = this.instret + this.jitAfter;
  }

  /** A PV-mode ECALL from S: the hypervisor's hook makes the call here (true) or leaves it to an exit. */
  private offerEcall(): boolean {
    return this.ecallHook?.() === true;
  }

  /** The interpreter saw the branch target pc executed another HOT_STEP times (counted without the tier too). */
  private noteHot(pc: number, pcHi: number): void {
    if (this.jit !== null) this.jit.noteHot(pc, pcHi);
  }

  /** Make the translation tier (once the hart has run jitAfter instructions in one busy stretch). */
  private startJit(): void {
    const ram = this.ram;
    this.jitAt = -1;
    this.jit = Jit.create(this, ram.wasmMemory, ram.buffer as ArrayBuffer, ram.size, this.jitAsync);
  }

  /** Execute up to `budget` instructions; returns an Exit code. */
  run(budget: number): number {
    if (!warmed) warmUp();
    if (this.jitAt >= 0 && this.instret >= this.jitAt) this.startJit();
    const x = this.xx;
    const mmu = this.mmu;
    const u8 = mmu.u8;
    const i8 = mmu.i8;
    const u16 = mmu.u16;
    const i16 = mmu.i16;
    const i32 = mmu.i32;
    const rTag = mmu.rTag;
    const rHi = mmu.rHi;
    const rOff = mmu.rOff;
    const wTag = mmu.wTag;
    const wHi = mmu.wHi;
    const wOff = mmu.wOff;
    // shared RAM: LD and SD are one 64-bit copy between RAM and the register (src/core/access64.ts)
    const single64 = mmu.single64;
    const copy64 = mmu.copy64;
    const xOff = x.byteOffset;
    // the translation tier: block slots and hotness counters, indexed by a hash of the pc (jit.ts)
    // (without the tier, arrays where no pc matches: run's code is the same with and without it,
    // so making the tier later does not deoptimize run)
    const jit = this.jit;
    const jitPc = jit === null ? NO_JIT_PC : jit.slotPc;
    const jitHot = jit === null ? NO_JIT_HOT : jit.hot;
    let n = 0;
    let pc = this.pcLo;
    let pcHi = this.pcHi;
    // priv or pc may have been changed from outside since the last run: look the fetch page up again
    mmu.fetchTag = NO_TAG;
    outer: for (;;) {
      // Re-synchronise with the hart state (after a trap, a CSR write, xRET, MMIO ...).
      this.instret += n;
      budget -= n;
      n = 0;
      this.attn = false;
      if (this.stopReq) {
        this.stopReq = false;
        if (this.pauseReq) {
          this.pauseReq = false;
          return Exit.Pause;
        }
        return Exit.Stop;
      }
      if (this.irqCheck) {
        this.irqCheck = false;
        if (takeInterrupt(this)) return Exit.MachineTrap;
      }
      if (budget <= 0) return Exit.Budget;
      pc = this.pcLo;
      pcHi = this.pcHi;
      {
        // after a CSR access, MMIO, a trap, xRET or the start of a slice: translated code from here?
        const j = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
        if (jitPc[j] === pc && jit !== null) {
          n = jit.exec(budget);
          if (n > 0) {
            mmu.fetchTag = NO_TAG;
            continue;
          }
        } else if ((++jitHot[j]! & (HOT_STEP - 1)) === 0) this.noteHot(pc, pcHi);
      }
      let fetchTag = mmu.fetchTag;
      let fetchOff = mmu.fetchOff;
      const tb = mmu.dataSet() << TLB_BITS;
      try {
        while (n < budget) {
          n++;
          // ---- fetch ----
          let insn: number;
          if ((pc & -4096) === fetchTag && (pc & 4095) !== 4094) {
            const o = (fetchOff + (pc & 4095)) >> 1;
            insn = u16[o]!;
            if ((insn & 3) === 3) insn |= u16[o + 1]! << 16;
          } else {
            // another page, or the page's last halfword (a 32-bit instruction there crosses)
            const from = fetchTag;
            insn = mmu.fetchMiss(pc, pcHi, fetchTag);
            pcHi = this.pcHi;
            fetchTag = mmu.fetchTag;
            fetchOff = mmu.fetchOff;
            if ((pc & 4092) === 0 && fetchTag === ((from + 4096) | 0)) {
              // run on from the page before (blocks stop at a page's end and before an
              // instruction across it): a block start, as a jump target is, or a long straight
              // run after it stays interpreted however hot it is
              const j = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
              if (jitPc[j] === pc && jit !== null) {
                this.pcLo = pc;
                this.pcHi = pcHi;
                n--; // this instruction is the block's
                this.instret += n;
                budget -= n;
                n = jit.exec(budget);
                if (n > 0) {
                  mmu.fetchTag = NO_TAG;
                  continue outer;
                }
                n = 1; // nothing ran (the block could not be entered): interpret the instruction
              } else if ((++jitHot[j]! & (HOT_STEP - 1)) === 0) this.noteHot(pc, pcHi);
            }
          }
          const raw = insn;
          let ilen = 4;
          if ((insn & 3) !== 3) {
            insn = expandCompressed(insn);
            ilen = 2;
            if (insn === 0) this.fault(Cause.Illegal, raw, 0);
          }
          // ---- execute ----
          // dispatch on opcode[6:2] (dense: V8 emits a jump table); opcode[1:0] is 11 here.
          // Case labels stay number literals: V8 builds a jump table only for those.
          switch ((insn >> 2) & 31) {
            case 4: {
              // OP-IMM (0x13): funct3, then funct6 for the shifts
              const d = (insn >> 6) & 62 || 64;
              const s = (insn >> 14) & 62;
              const imm = insn >> 20;
              const a = x[s]!;
              switch ((insn >> 12) & 7) {
                case 0: {
                  // ADDI
                  const lo = (a + imm) | 0;
                  x[d + 1] = (x[s + 1]! + (imm >> 31) + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
                  x[d] = lo;
                  break;
                }
                case 1:
                  switch (insn >>> 26) {
                    case 0x00: {
                      // SLLI
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
                    default:
                      this.coldOp(insn, raw);
                  }
                  break;
                case 2: {
                  // SLTI
                  const hi = x[s + 1]!;
                  const ih = imm >> 31;
                  x[d] = hi < ih || (hi === ih && a >>> 0 < imm >>> 0) ? 1 : 0;
                  x[d + 1] = 0;
                  break;
                }
                case 3: {
                  // SLTIU
                  const hi = x[s + 1]! >>> 0;
                  const ih = (imm >> 31) >>> 0;
                  x[d] = hi < ih || (hi === ih && a >>> 0 < imm >>> 0) ? 1 : 0;
                  x[d + 1] = 0;
                  break;
                }
                case 4: // XORI
                  x[d + 1] = x[s + 1]! ^ (imm >> 31);
                  x[d] = a ^ imm;
                  break;
                case 5: {
                  const sh = imm & 63;
                  const hi = x[s + 1]!;
                  switch (insn >>> 26) {
                    case 0x00: // SRLI
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
                      break;
                    case 0x10: // SRAI
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
                      break;
                    default:
                      this.coldOp(insn, raw);
                  }
                  break;
                }
                case 6: // ORI
                  x[d + 1] = x[s + 1]! | (imm >> 31);
                  x[d] = a | imm;
                  break;
                default: // 7: ANDI
                  x[d + 1] = x[s + 1]! & (imm >> 31);
                  x[d] = a & imm;
                  break;
              }
              break;
            }
            case 12: {
              // OP (0x33): funct7, then funct3; M, Zb* and Zicond are coldOp's
              const d = (insn >> 6) & 62 || 64;
              const s1 = (insn >> 14) & 62;
              const s2 = (insn >> 19) & 62;
              const a = x[s1]!;
              const ah = x[s1 + 1]!;
              const b = x[s2]!;
              const bh = x[s2 + 1]!;
              switch (insn >>> 25) {
                case 0x00:
                  switch ((insn >> 12) & 7) {
                    case 0: {
                      // ADD
                      const lo = (a + b) | 0;
                      x[d + 1] = (ah + bh + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
                      x[d] = lo;
                      break;
                    }
                    case 1: {
                      // SLL
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
                    case 2: // SLT
                      x[d] = ah < bh || (ah === bh && a >>> 0 < b >>> 0) ? 1 : 0;
                      x[d + 1] = 0;
                      break;
                    case 3: // SLTU
                      x[d] = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0) ? 1 : 0;
                      x[d + 1] = 0;
                      break;
                    case 4: // XOR
                      x[d] = a ^ b;
                      x[d + 1] = ah ^ bh;
                      break;
                    case 5: {
                      // SRL
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
                    case 6: // OR
                      x[d] = a | b;
                      x[d + 1] = ah | bh;
                      break;
                    default: // 7: AND
                      x[d] = a & b;
                      x[d + 1] = ah & bh;
                      break;
                  }
                  break;
                case 0x20:
                  switch ((insn >> 12) & 7) {
                    case 0: // SUB
                      x[d + 1] = (ah - bh - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
                      x[d] = (a - b) | 0;
                      break;
                    case 5: {
                      // SRA
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
                    default:
                      this.coldOp(insn, raw);
                  }
                  break;
                default:
                  this.coldOp(insn, raw);
              }
              break;
            }
            case 0: {
              // LOAD (0x03)
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
                    // LB
                    const v = i8[o]!;
                    x[d] = v;
                    x[d + 1] = v >> 31;
                    break;
                  }
                  case 1: // LH
                    if ((o & 1) === 0) {
                      const v = i16[o >> 1]!;
                      x[d] = v;
                      x[d + 1] = v >> 31;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 2: // LW
                    if ((o & 3) === 0) {
                      const v = i32[o >> 2]!;
                      x[d] = v;
                      x[d + 1] = v >> 31;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 3: // LD
                    if ((o & 7) === 0) {
                      if (single64) copy64(xOff + (d << 2), o);
                      else {
                        x[d] = i32[o >> 2]!;
                        x[d + 1] = i32[(o >> 2) + 1]!;
                      }
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 4: // LBU
                    x[d] = u8[o]!;
                    x[d + 1] = 0;
                    break;
                  case 5: // LHU
                    if ((o & 1) === 0) {
                      x[d] = u16[o >> 1]!;
                      x[d + 1] = 0;
                      break;
                    }
                    this.loadSlowTo(d, va, vh, f3);
                    break;
                  case 6: // LWU
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
              // STORE (0x23): SB SH SW SD (funct3 0-3)
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
                  case 0: // SB
                    u8[o] = x[s2]!;
                    break;
                  case 1: // SH
                    u16[o >> 1] = x[s2]!;
                    break;
                  case 2: // SW
                    i32[o >> 2] = x[s2]!;
                    break;
                  default: // 3: SD
                    if (single64) copy64(o, xOff + (s2 << 2));
                    else {
                      i32[o >> 2] = x[s2]!;
                      i32[(o >> 2) + 1] = x[s2 + 1]!;
                    }
                    break;
                }
              } else {
                mmu.storeSlow(va, vh, f3, x[s2]!, x[s2 + 1]!);
                if (this.attn) {
                  this.pcLo = (pc + ilen) | 0;
                  this.pcHi = pcHi;
                  continue outer;
                }
              }
              break;
            }
            case 24: {
              // BRANCH (0x63)
              const s1 = (insn >> 14) & 62;
              const s2 = (insn >> 19) & 62;
              const a = x[s1]!;
              const ah = x[s1 + 1]!;
              const b = x[s2]!;
              const bh = x[s2 + 1]!;
              let taken: boolean;
              switch ((insn >> 12) & 7) {
                case 0: // BEQ
                  taken = a === b && ah === bh;
                  break;
                case 1: // BNE
                  taken = a !== b || ah !== bh;
                  break;
                case 4: // BLT
                  taken = ah < bh || (ah === bh && a >>> 0 < b >>> 0);
                  break;
                case 5: // BGE
                  taken = !(ah < bh || (ah === bh && a >>> 0 < b >>> 0));
                  break;
                case 6: // BLTU
                  taken = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0);
                  break;
                case 7: // BGEU
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
                  fetchTag = mmu.fetchTag = NO_TAG;
                }
                {
                  // a jump target: enter its translated block, or count it towards translation
                  const j = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
                  if (jitPc[j] === pc && jit !== null) {
                    this.pcLo = pc;
                    this.pcHi = pcHi;
                    this.instret += n; // translated code counts on instret being up to date
                    budget -= n;
                    n = jit.exec(budget);
                    mmu.fetchTag = NO_TAG;
                    continue outer;
                  }
                  if ((++jitHot[j]! & (HOT_STEP - 1)) === 0) this.noteHot(pc, pcHi);
                }
                continue;
              }
              break;
            }
            case 27: {
              // JAL (0x6f)
              const d = (insn >> 6) & 62 || 64;
              const link = (pc + ilen) | 0;
              x[d + 1] = link >>> 0 < pc >>> 0 ? (pcHi + 1) | 0 : pcHi;
              x[d] = link;
              const imm = ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
              const t = (pc >>> 0) + imm;
              pc = t | 0;
              if (t < 0 || t >= TWO32) {
                pcHi = (pcHi + (t < 0 ? -1 : 1)) | 0;
                fetchTag = mmu.fetchTag = NO_TAG;
              }
              {
                // a jump target: enter its translated block, or count it towards translation
                const j = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
                if (jitPc[j] === pc && jit !== null) {
                  this.pcLo = pc;
                  this.pcHi = pcHi;
                  this.instret += n; // translated code counts on instret being up to date
                  budget -= n;
                  n = jit.exec(budget);
                  mmu.fetchTag = NO_TAG;
                  continue outer;
                }
                if ((++jitHot[j]! & (HOT_STEP - 1)) === 0) this.noteHot(pc, pcHi);
              }
              continue;
            }
            case 25: {
              // JALR (0x67)
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
                fetchTag = mmu.fetchTag = NO_TAG;
              }
              {
                // a jump target: enter its translated block, or count it towards translation
                const j = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
                if (jitPc[j] === pc && jit !== null) {
                  this.pcLo = pc;
                  this.pcHi = pcHi;
                  this.instret += n; // translated code counts on instret being up to date
                  budget -= n;
                  n = jit.exec(budget);
                  mmu.fetchTag = NO_TAG;
                  continue outer;
                }
                if ((++jitHot[j]! & (HOT_STEP - 1)) === 0) this.noteHot(pc, pcHi);
              }
              continue;
            }
            case 13: {
              // LUI (0x37)
              const d = (insn >> 6) & 62 || 64;
              const v = insn & -4096;
              x[d] = v;
              x[d + 1] = v >> 31;
              break;
            }
            case 5: {
              // AUIPC (0x17)
              const d = (insn >> 6) & 62 || 64;
              const t = (pc >>> 0) + (insn & -4096);
              x[d] = t | 0;
              x[d + 1] = (pcHi + (t < 0 ? -1 : t >= TWO32 ? 1 : 0)) | 0;
              break;
            }
            case 6: {
              // OP-IMM-32 (0x1b): funct3, then funct7 for the shifts. RV64I's results are 32 bits,
              // sign-extended below; Zba and Zbb are coldOp's.
              const d = (insn >> 6) & 62 || 64;
              const a = x[(insn >> 14) & 62]!;
              let v: number;
              switch ((insn >> 12) & 7) {
                case 0: // ADDIW
                  v = (a + (insn >> 20)) | 0;
                  break;
                case 1:
                  switch (insn >>> 25) {
                    case 0x00: // SLLIW
                      v = a << ((insn >> 20) & 31);
                      break;
                    default:
                      this.coldOp(insn, raw);
                      pc = (pc + ilen) | 0;
                      continue;
                  }
                  break;
                case 5:
                  switch (insn >>> 25) {
                    case 0x00: // SRLIW
                      v = (a >>> ((insn >> 20) & 31)) | 0;
                      break;
                    case 0x20: // SRAIW
                      v = a >> ((insn >> 20) & 31);
                      break;
                    default:
                      this.coldOp(insn, raw);
                      pc = (pc + ilen) | 0;
                      continue;
                  }
                  break;
                default:
                  this.coldOp(insn, raw);
                  pc = (pc + ilen) | 0;
                  continue;
              }
              x[d] = v;
              x[d + 1] = v >> 31;
              break;
            }
            case 14: {
              // OP-32 (0x3b): funct7, then funct3. RV64I's results are 32 bits, sign-extended
              // below; M, Zba and Zbb are coldOp's.
              const d = (insn >> 6) & 62 || 64;
              const a = x[(insn >> 14) & 62]!;
              const b = x[(insn >> 19) & 62]!;
              let v: number;
              switch (insn >>> 25) {
                case 0x00:
                  switch ((insn >> 12) & 7) {
                    case 0: // ADDW
                      v = (a + b) | 0;
                      break;
                    case 1: // SLLW
                      v = a << (b & 31);
                      break;
                    case 5: // SRLW
                      v = (a >>> (b & 31)) | 0;
                      break;
                    default:
                      this.fault(Cause.Illegal, raw, 0);
                  }
                  break;
                case 0x20:
                  switch ((insn >> 12) & 7) {
                    case 0: // SUBW
                      v = (a - b) | 0;
                      break;
                    case 5: // SRAW
                      v = a >> (b & 31);
                      break;
                    default:
                      this.fault(Cause.Illegal, raw, 0);
                  }
                  break;
                default:
                  this.coldOp(insn, raw);
                  pc = (pc + ilen) | 0;
                  continue;
              }
              x[d] = v;
              x[d + 1] = v >> 31;
              break;
            }
            case 3: {
              // MISC-MEM (0x0f): FENCE (funct3 0), FENCE.I (funct3 1); memory is coherent and
              // nothing is cached by instruction, so both are no-ops. PAUSE (Zihintpause) is a
              // FENCE with pred = W, succ = 0: a no-op too, but on a hart with pauseExits, which
              // returns Exit.Pause after it (docs/cpu.md, PAUSE)
              if ((insn >> 12) & 6) this.fault(Cause.Illegal, raw, 0);
              if ((insn >> 12) & 1) {
                this.flushIcache(); // FENCE.I: translated code may be stale
              } else if (insn === PAUSE && this.pauseExits) {
                this.pauseReq = true;
                this.requestStop();
                this.pcLo = (pc + ilen) | 0;
                this.pcHi = pcHi;
                continue outer;
              }
              break;
            }
            case 11: {
              // AMO (0x2f): LR, SC, AMO*.W/D (amo.ts)
              amo(this, insn, raw);
              break;
            }
            case 28: {
              // SYSTEM (0x73): counters read here must see every earlier instruction
              this.instret += n - 1;
              budget -= n - 1;
              n = 1;
              this.pcLo = pc;
              this.pcHi = pcHi;
              if (insn === 0x00000073) {
                // ECALL (the hypercall path): the trap of the catch below, without throwing
                const cause = ECALL_CAUSE[this.priv]!;
                this.instret--;
                budget -= TRAP_COST - 1;
                if (takeTrap(this, cause, false, 0, 0, pc, pcHi)) {
                  if (cause === Cause.EcallS && this.offerEcall()) continue outer;
                  this.instret += n;
                  return Exit.MachineTrap;
                }
                continue outer;
              }
              const r = this.system(insn, raw, ilen);
              if (r >= 0) {
                this.instret += n;
                return r;
              }
              continue outer;
            }
            case 1: // LOAD-FP (0x07)
            case 9: // STORE-FP (0x27)
            case 16: // MADD (0x43)
            case 17: // MSUB (0x47)
            case 18: // NMSUB (0x4b)
            case 19: // NMADD (0x4f)
            case 20: // OP-FP (0x53)
              if (this.fpInsn(insn, raw, pc, pcHi, ilen)) continue outer;
              break;
            default:
              this.fault(Cause.Illegal, raw, 0);
          }
          pc = (pc + ilen) | 0;
        }
        this.pcLo = pc;
        this.pcHi = pcHi;
        mmu.fetchTag = fetchTag;
        mmu.fetchOff = fetchOff;
      } catch (err) {
        if (err !== TRAP) {
          this.pcLo = pc;
          this.pcHi = pcHi;
          throw err;
        }
        // The trapping instruction does not retire (it still counts against the budget, at TRAP_COST).
        this.instret--;
        budget -= TRAP_COST - 1;
        if (takeTrap(this, this.excCause, false, this.excTvalLo, this.excTvalHi, pc, pcHi)) {
          this.instret += n;
          return Exit.MachineTrap;
        }
      }
    }
  }

  /**
   * SYSTEM opcode (ECALL is the run loop's): EBREAK, MRET, SRET, WFI, SFENCE.VMA and the CSR instructions. Returns an
   * Exit code to return from run(), or -1 to continue (pc already updated in pcLo/pcHi).
   */
  private system(insn: number, raw: number, ilen: number): number {
    const f3 = (insn >> 12) & 7;
    if (f3 === 0) {
      switch (insn) {
        case 0x00100073: // EBREAK: tval = pc (as Spike)
          this.fault(Cause.Breakpoint, this.pcLo, this.pcHi);
          break;
        case 0x30200073: // MRET (privileged spec 3.3.2)
          if (this.priv !== Priv.M) this.fault(Cause.Illegal, raw, 0);
          trapReturn(this, this.m);
          return -1;
        case 0x10200073: // SRET: illegal in U, and in S when TSR=1
          if (this.priv === Priv.U || (this.priv === Priv.S && this.mstatus & MSTATUS_TSR)) {
            this.fault(Cause.Illegal, raw, 0);
          }
          trapReturn(this, this.s);
          return -1;
        case 0x10500073: // WFI (privileged spec 3.3.3): illegal in U, and in S when TW=1
          if (this.priv === Priv.U || (this.priv === Priv.S && this.mstatus & MSTATUS_TW)) {
            this.fault(Cause.Illegal, raw, 0);
          }
          this.advance(ilen);
          this.irqCheck = true;
          updateStimer(this, this.time.now());
          if (this.interruptPending()) return -1;
          return Exit.Wfi;
        default:
          if ((insn & 0xfe007fff) === 0x12000073) {
            // SFENCE.VMA: illegal in U, and in S when TVM=1
            if (this.priv === Priv.U || (this.priv === Priv.S && this.mstatus & MSTATUS_TVM)) {
              this.fault(Cause.Illegal, raw, 0);
            }
            const rs1 = (insn >> 15) & 31;
            if (rs1 === 0) this.flushTlb();
            else this.mmu.flushPage(this.x[2 * rs1]!, ((insn >> 20) & 31) !== 0);
            this.advance(ilen);
            return -1;
          }
          this.fault(Cause.Illegal, raw, 0);
      }
    }
    if (f3 === 4) this.fault(Cause.Illegal, raw, 0);
    // CSRRW, CSRRS, CSRRC (funct3 1-3), CSRRWI, CSRRSI, CSRRCI (5-7)
    csrInstruction(this, insn, raw);
    this.advance(ilen);
    return -1;
  }

  /**
   * The integer instructions run() leaves out of its own switch: M, Zba, Zbb, Zbc, Zbs, Zicond.
   * Rare in the interpreter (hot code runs translated), they live here so that reaching one for
   * the first time does not deoptimize run(), and run() stays smaller to compile.
   */
  private coldOp(insn: number, raw: number): void {
    const x = this.xx;
    const d = (insn >> 6) & 62 || 64;
    switch ((insn >> 2) & 31) {
      case 4: {
        // OP-IMM (0x13): funct3 1 and 5 other than SLLI, SRLI, SRAI
        const s = (insn >> 14) & 62;
        const imm = insn >> 20;
        const a = x[s]!;
        if (((insn >> 12) & 7) === 1) {
          switch (insn >>> 26) {
            case 0x0a: // BSETI (Zbs)
              if ((this.ext & Ext.ZBS) === 0) this.fault(Cause.Illegal, raw, 0);
              B.bset(a, x[s + 1]!, imm & 63);
              x[d] = B.R[0]!;
              x[d + 1] = B.R[1]!;
              break;
            case 0x12: // BCLRI (Zbs)
              if ((this.ext & Ext.ZBS) === 0) this.fault(Cause.Illegal, raw, 0);
              B.bclr(a, x[s + 1]!, imm & 63);
              x[d] = B.R[0]!;
              x[d + 1] = B.R[1]!;
              break;
            case 0x1a: // BINVI (Zbs)
              if ((this.ext & Ext.ZBS) === 0) this.fault(Cause.Illegal, raw, 0);
              B.binv(a, x[s + 1]!, imm & 63);
              x[d] = B.R[0]!;
              x[d + 1] = B.R[1]!;
              break;
            case 0x18: {
              // Zbb unary ops: funct7 0x30, the rs2 field selects
              if ((this.ext & Ext.ZBB) === 0 || insn & (1 << 25)) this.fault(Cause.Illegal, raw, 0);
              const ah = x[s + 1]!;
              switch (imm & 31) {
                case 0: // CLZ
                  x[d] = B.clz(a, ah);
                  x[d + 1] = 0;
                  break;
                case 1: // CTZ
                  x[d] = B.ctz(a, ah);
                  x[d + 1] = 0;
                  break;
                case 2: // CPOP
                  x[d] = B.cpop(a, ah);
                  x[d + 1] = 0;
                  break;
                case 4: // SEXT.B
                  B.sextB(a);
                  x[d] = B.R[0]!;
                  x[d + 1] = B.R[1]!;
                  break;
                case 5: // SEXT.H
                  B.sextH(a);
                  x[d] = B.R[0]!;
                  x[d + 1] = B.R[1]!;
                  break;
                default:
                  this.fault(Cause.Illegal, raw, 0);
              }
              break;
            }
            default:
              this.fault(Cause.Illegal, raw, 0);
          }
          return;
        }
        const sh = imm & 63;
        const hi = x[s + 1]!;
        switch (insn >>> 26) {
          case 0x12: // BEXTI (Zbs)
            if ((this.ext & Ext.ZBS) === 0) this.fault(Cause.Illegal, raw, 0);
            x[d] = B.bext(a, hi, sh);
            x[d + 1] = 0;
            break;
          case 0x18: // RORI (Zbb)
            if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
            B.ror(a, hi, sh);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          case 0x0a: // ORC.B (Zbb): imm 0x287 only
            if ((this.ext & Ext.ZBB) === 0 || (imm & 0xfff) !== 0x287) this.fault(Cause.Illegal, raw, 0);
            B.orcB(a, hi);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          case 0x1a: // REV8 (Zbb, RV64 encoding): imm 0x6b8 only
            if ((this.ext & Ext.ZBB) === 0 || (imm & 0xfff) !== 0x6b8) this.fault(Cause.Illegal, raw, 0);
            B.rev8(a, hi);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          default:
            this.fault(Cause.Illegal, raw, 0);
        }
        return;
      }
      case 12: {
        // OP (0x33): everything but RV64I
        const s1 = (insn >> 14) & 62;
        const s2 = (insn >> 19) & 62;
        const a = x[s1]!;
        const ah = x[s1 + 1]!;
        const b = x[s2]!;
        const bh = x[s2 + 1]!;
        switch (insn >>> 25) {
          case 0x20:
            switch ((insn >> 12) & 7) {
              case 4: // XNOR (Zbb)
                if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
                B.xnor(a, ah, b, bh);
                x[d] = B.R[0]!;
                x[d + 1] = B.R[1]!;
                break;
              case 6: // ORN (Zbb)
                if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
                B.orn(a, ah, b, bh);
                x[d] = B.R[0]!;
                x[d + 1] = B.R[1]!;
                break;
              case 7: // ANDN (Zbb)
                if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
                B.andn(a, ah, b, bh);
                x[d] = B.R[0]!;
                x[d + 1] = B.R[1]!;
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            return;
          case 0x01:
            // M extension: the 64-bit helpers leave the result in R
            switch ((insn >> 12) & 7) {
              case 0: // MUL
                mul64(a, ah, b, bh);
                break;
              case 1: // MULH
                mulh64(a, ah, b, bh);
                break;
              case 2: // MULHSU
                mulhsu64(a, ah, b, bh);
                break;
              case 3: // MULHU
                mulhu64(a, ah, b, bh);
                break;
              case 4: // DIV
                div64(a, ah, b, bh);
                break;
              case 5: // DIVU
                divu64(a, ah, b, bh);
                break;
              case 6: // REM
                rem64(a, ah, b, bh);
                break;
              default: // 7: REMU
                remu64(a, ah, b, bh);
                break;
            }
            x[d] = R[0]!;
            x[d + 1] = R[1]!;
            break;
          case 0x05: {
            // Zbc (funct3 1-3) and Zbb MIN/MAX (4-7): the helpers leave the result in R
            const f3 = (insn >> 12) & 7;
            if ((this.ext & (f3 < 4 ? Ext.ZBC : Ext.ZBB)) === 0) this.fault(Cause.Illegal, raw, 0);
            switch (f3) {
              case 1: // CLMUL
                B.clmul(a, ah, b, bh);
                break;
              case 2: // CLMULR
                B.clmulr(a, ah, b, bh);
                break;
              case 3: // CLMULH
                B.clmulh(a, ah, b, bh);
                break;
              case 4: // MIN
                B.min(a, ah, b, bh);
                break;
              case 5: // MINU
                B.minu(a, ah, b, bh);
                break;
              case 6: // MAX
                B.max(a, ah, b, bh);
                break;
              case 7: // MAXU
                B.maxu(a, ah, b, bh);
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          }
          case 0x07:
            // Zicond
            if ((this.ext & Ext.ZICOND) === 0) this.fault(Cause.Illegal, raw, 0);
            switch ((insn >> 12) & 7) {
              case 5: // CZERO.EQZ
                B.czeroEqz(a, ah, b, bh);
                break;
              case 7: // CZERO.NEZ
                B.czeroNez(a, ah, b, bh);
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          case 0x10: {
            // Zba: SH1ADD, SH2ADD, SH3ADD (funct3 2, 4, 6)
            const f3 = (insn >> 12) & 7;
            if ((this.ext & Ext.ZBA) === 0 || f3 & 1 || f3 === 0) this.fault(Cause.Illegal, raw, 0);
            B.shadd(a, ah, b, bh, f3 >> 1);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          }
          case 0x14: // BSET (Zbs)
            if ((this.ext & Ext.ZBS) === 0 || ((insn >> 12) & 7) !== 1) this.fault(Cause.Illegal, raw, 0);
            B.bset(a, ah, b & 63);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          case 0x34: // BINV (Zbs)
            if ((this.ext & Ext.ZBS) === 0 || ((insn >> 12) & 7) !== 1) this.fault(Cause.Illegal, raw, 0);
            B.binv(a, ah, b & 63);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          case 0x24:
            // Zbs
            if ((this.ext & Ext.ZBS) === 0) this.fault(Cause.Illegal, raw, 0);
            switch ((insn >> 12) & 7) {
              case 1: // BCLR
                B.bclr(a, ah, b & 63);
                x[d] = B.R[0]!;
                x[d + 1] = B.R[1]!;
                break;
              case 5: // BEXT
                x[d] = B.bext(a, ah, b & 63);
                x[d + 1] = 0;
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            break;
          case 0x30:
            // Zbb rotations
            if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
            switch ((insn >> 12) & 7) {
              case 1: // ROL
                B.rol(a, ah, b);
                break;
              case 5: // ROR
                B.ror(a, ah, b);
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            break;
          default:
            this.fault(Cause.Illegal, raw, 0);
        }
        return;
      }
      case 6: {
        // OP-IMM-32 (0x1b): Zba, Zbb; results sign-extended from 32 bits except SLLI.UW's
        const a = x[(insn >> 14) & 62]!;
        let v: number;
        switch ((insn >> 12) & 7) {
          case 1:
            switch (insn >>> 25) {
              case 0x04:
              case 0x05: // SLLI.UW (Zba): funct6 0x02, 6-bit shamt
                if ((this.ext & Ext.ZBA) === 0) this.fault(Cause.Illegal, raw, 0);
                B.slliUw(a, (insn >> 20) & 63);
                x[d] = B.R[0]!;
                x[d + 1] = B.R[1]!;
                return;
              case 0x30:
                // Zbb: the rs2 field selects
                if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
                switch ((insn >> 20) & 31) {
                  case 0: // CLZW
                    v = B.clzw(a);
                    break;
                  case 1: // CTZW
                    v = B.ctzw(a);
                    break;
                  case 2: // CPOPW
                    v = B.cpopw(a);
                    break;
                  default:
                    this.fault(Cause.Illegal, raw, 0);
                }
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            break;
          case 5:
            if (insn >>> 25 !== 0x30) this.fault(Cause.Illegal, raw, 0);
            if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
            v = B.rorw(a, insn >> 20);
            break;
          default:
            this.fault(Cause.Illegal, raw, 0);
        }
        x[d] = v;
        x[d + 1] = v >> 31;
        return;
      }
      case 14: {
        // OP-32 (0x3b): M, Zba, Zbb; results sign-extended from 32 bits except ADD.UW's and SHxADD.UW's
        const a = x[(insn >> 14) & 62]!;
        const b = x[(insn >> 19) & 62]!;
        let v: number;
        switch (insn >>> 25) {
          case 0x04:
            switch ((insn >> 12) & 7) {
              case 0: // ADD.UW (Zba)
                if ((this.ext & Ext.ZBA) === 0) this.fault(Cause.Illegal, raw, 0);
                B.addUw(a, b, x[((insn >> 19) & 62) + 1]!);
                x[d] = B.R[0]!;
                x[d + 1] = B.R[1]!;
                return;
              case 4: // ZEXT.H (Zbb, RV64 encoding): rs2 = 0
                if ((this.ext & Ext.ZBB) === 0 || (insn >> 20) & 31) this.fault(Cause.Illegal, raw, 0);
                v = a & 0xffff;
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            break;
          case 0x10: {
            // SH1ADD.UW, SH2ADD.UW, SH3ADD.UW (Zba; funct3 2, 4, 6)
            const f3 = (insn >> 12) & 7;
            if ((this.ext & Ext.ZBA) === 0 || f3 & 1 || f3 === 0) this.fault(Cause.Illegal, raw, 0);
            B.shaddUw(a, b, x[((insn >> 19) & 62) + 1]!, f3 >> 1);
            x[d] = B.R[0]!;
            x[d + 1] = B.R[1]!;
            return;
          }
          case 0x30:
            // Zbb
            if ((this.ext & Ext.ZBB) === 0) this.fault(Cause.Illegal, raw, 0);
            switch ((insn >> 12) & 7) {
              case 1: // ROLW
                v = B.rolw(a, b);
                break;
              case 5: // RORW
                v = B.rorw(a, b);
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            break;
          case 0x01:
            switch ((insn >> 12) & 7) {
              case 0: // MULW
                v = Math.imul(a, b);
                break;
              case 4: // DIVW
                v = b === 0 ? -1 : a === -0x80000000 && b === -1 ? a : (a / b) | 0;
                break;
              case 5: // DIVUW
                v = b === 0 ? -1 : ((a >>> 0) / (b >>> 0)) | 0;
                break;
              case 6: // REMW
                v = b === 0 ? a : b === -1 ? 0 : (a % b) | 0;
                break;
              case 7: // REMUW
                v = b === 0 ? a : ((a >>> 0) % (b >>> 0)) | 0;
                break;
              default:
                this.fault(Cause.Illegal, raw, 0);
            }
            break;
          default:
            this.fault(Cause.Illegal, raw, 0);
        }
        x[d] = v;
        x[d + 1] = v >> 31;
        return;
      }
      default:
        this.fault(Cause.Illegal, raw, 0);
    }
  }

  /**
   * The F and D instructions: loads and stores (which move bits only) and the FPU's. Returns true
   * when a slow access drove an interrupt line (pcLo/pcHi then hold the next pc), as run() expects.
   */
  private fpInsn(insn: number, raw: number, pc: number, pcHi: number, ilen: number): boolean {
    const x = this.xx;
    const fi = this.fi;
    const mmu = this.mmu;
    const i32 = mmu.i32;
    const tb = mmu.dataSet() << TLB_BITS;
    switch ((insn >> 2) & 31) {
      case 1: {
        // LOAD-FP (0x07): FLW, FLD
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
        if (mmu.rTag[e] === (va & -4096) && mmu.rHi[e] === vh && (va & ((1 << f3) - 1)) === 0) {
          // TLB hit, naturally aligned (glibc's setjmp and prologues save FP registers often)
          const o = mmu.rOff[e]! + (va & 4095);
          if (f3 === 3 && mmu.single64) {
            mmu.copy64(mmu.wideOff, o);
            fi[fd] = mmu.wide[0]!;
            fi[fd + 1] = mmu.wide[1]!;
            return false;
          }
          fi[fd] = i32[o >> 2]!;
          fi[fd + 1] = f3 === 2 ? -1 : i32[(o >> 2) + 1]!; // FLW NaN-boxes
          return false;
        }
        const lo = mmu.loadSlow(va, vh, f3 === 2 ? 6 : 3);
        fi[fd] = lo;
        fi[fd + 1] = f3 === 2 ? -1 : mmu.tHi;
        if (this.attn) {
          this.pcLo = (pc + ilen) | 0;
          this.pcHi = pcHi;
          return true;
        }
        return false;
      }
      case 9: {
        // STORE-FP (0x27): FSW, FSD
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
        if (mmu.wTag[e] === (va & -4096) && mmu.wHi[e] === vh && (va & ((1 << f3) - 1)) === 0) {
          const o = mmu.wOff[e]! + (va & 4095);
          if (f3 === 3 && mmu.single64) {
            mmu.wide[0] = fi[fs]!;
            mmu.wide[1] = fi[fs + 1]!;
            mmu.copy64(o, mmu.wideOff);
            return false;
          }
          i32[o >> 2] = fi[fs]!;
          if (f3 === 3) i32[(o >> 2) + 1] = fi[fs + 1]!;
          return false;
        }
        mmu.storeSlow(va, vh, f3, fi[fs]!, fi[fs + 1]!);
        if (this.attn) {
          this.pcLo = (pc + ilen) | 0;
          this.pcHi = pcHi;
          return true;
        }
        return false;
      }
      case 20: {
        // OP-FP (0x53): FADD ... FMV, FCVT, FCLASS (fpu/)
        if ((this.mstatus & MSTATUS_FS) === 0 || fpOp(this, insn) !== 0) this.fault(Cause.Illegal, raw, 0);
        this.mstatus |= MSTATUS_FS;
        return false;
      }
      case 16: // MADD (0x43)
      case 17: // MSUB (0x47)
      case 18: // NMSUB (0x4b)
      case 19: {
        // NMADD (0x4f): FMADD.S/D and friends (fpu/)
        if ((this.mstatus & MSTATUS_FS) === 0 || fpFma(this, insn) !== 0) this.fault(Cause.Illegal, raw, 0);
        this.mstatus |= MSTATUS_FS;
        return false;
      }
      default:
        this.fault(Cause.Illegal, raw, 0);
    }
  }
}

/** run()'s paths have been fed once in this process (warmUp). */
let warmed = false;

/**
 * Execute every path of run()'s own switch once, on a throwaway PV-mode hart, before the first
 * real run(). V8 compiles run() with TurboFan from the type feedback gathered so far and
 * deoptimizes it when execution first reaches a path without feedback; a Linux boot reaches such
 * paths (an SRAW, the first SBI call, the first translated block) for seconds, and each time
 * run() went back to V8's bytecode interpreter until the next compile (~130 ms each). The
 * program runs RV64I, loads and stores (TLB hit, miss, misaligned, MMIO), taken and untaken
 * branches with every comparison outcome, jumps, compressed code, one call of each cold method,
 * AMOs, CSR instructions, an ECALL and an illegal instruction that exit to the caller, the
 * budget running out, a stop, and three hot loops that get translated and entered (through a
 * branch, a JAL and a JALR), in its own memory: nothing another hart can see.
 */
function warmUp(): void {
  warmed = true;
  const base = 0x8000_0000;
  const size = 0x10000;
  const wasm = (globalThis as unknown as { WebAssembly?: { Memory: new (d: object) => { buffer: ArrayBuffer } } })
    .WebAssembly;
  const pages = Math.ceil((size + HART_STATE_BYTES) / 65536);
  let memory: { buffer: ArrayBuffer } | undefined;
  try {
    memory = wasm === undefined ? undefined : new wasm.Memory({ initial: pages, maximum: pages });
  } catch {
    memory = undefined;
  }
  const ram: RamLike = {
    base,
    size,
    buffer: memory?.buffer ?? new ArrayBuffer(size),
    wasmMemory: memory,
    // one hart: its state area right after RAM
    claimCpuState: () => (memory === undefined ? -1 : size),
  };
  // MMIO below RAM: reads 0, writes vanish
  const bus: PhysBus = { has: (pa) => pa < base, read: () => 0, write: () => {} };
  const w = new Uint32Array(ram.buffer, 0, size >> 2);
  const p: number[] = [];
  const I = (f3: number, rd: number, rs1: number, imm: number) => p.push(encI(Op.OP_IMM, f3, rd, rs1, imm));
  const R = (op: number, f3: number, f7: number, rd: number, rs1: number, rs2: number) =>
    p.push(encR(op, f3, f7, rd, rs1, rs2));
  const csrw = (csr: number, rs1: number) => p.push(encI(Op.SYSTEM, 1, 0, rs1, csr));
  const DATA = 0x8000;
  // M-mode: open PMP, FS dirty, MPP = S, MRET into S-mode
  I(0, 11, 0, -1);
  csrw(Csr.pmpaddr0, 11);
  I(0, 11, 0, 0x1f); // NAPOT, RWX
  csrw(Csr.pmpcfg0, 11);
  p.push(encU(Op.LUI, 11, 0x7000));
  I(0, 11, 11, -0x800); // FS = 3, MPP = S
  csrw(Csr.mstatus, 11);
  p.push(encU(Op.AUIPC, 13, 0));
  I(0, 13, 13, 16);
  csrw(Csr.mepc, 13);
  p.push(0x30200073); // MRET
  // S-mode from here
  p.push(encU(Op.AUIPC, 5, DATA)); // x5: the data page
  I(5, 5, 5, 12);
  I(1, 5, 5, 12);
  p.push(encU(Op.LUI, 15, 0x1000)); // x15: MMIO
  I(0, 6, 0, -5);
  I(0, 7, 0, 3);
  I(0, 8, 0, 40);
  I(0, 9, 0, 0);
  I(0, 14, 0, 10);
  // OP-IMM, with shift amounts 0, 5 and 40 and comparisons against both signs
  for (const rs1 of [6, 7]) for (const imm of [0x7f5, 4, -3]) for (const f3 of [0, 2, 3, 4, 6, 7]) I(f3, 10, rs1, imm);
  for (const sh of [0, 5, 40]) {
    I(1, 10, 6, sh);
    I(5, 10, 6, sh);
    I(5, 10, 6, 0x400 | sh);
  }
  // OP, OP-32, OP-IMM-32 (shift amounts 0, 5 and 40 from x9, x7, x8; comparisons both ways)
  for (const [rs1, rs2] of [
    [6, 9],
    [6, 7],
    [6, 8],
    [7, 6],
    [7, 14],
    [14, 7],
  ]) {
    for (const f3 of [0, 1, 2, 3, 4, 5, 6, 7]) R(Op.OP, f3, 0, 10, rs1!, rs2!);
    for (const f3 of [0, 5]) R(Op.OP, f3, 0x20, 10, rs1!, rs2!);
  }
  for (const f3 of [0, 1, 5]) R(Op.OP_32, f3, 0, 10, 6, 7);
  for (const f3 of [0, 5]) R(Op.OP_32, f3, 0x20, 10, 6, 7);
  p.push(encI(Op.OP_IMM_32, 0, 10, 6, 7));
  p.push(encI(Op.OP_IMM_32, 1, 10, 6, 7));
  p.push(encI(Op.OP_IMM_32, 5, 10, 6, 7));
  p.push(encI(Op.OP_IMM_32, 5, 10, 6, 0x400 | 7));
  // each call of the cold methods, and an illegal instruction found there
  I(1, 10, 6, 0x280 | 3); // BSETI
  I(5, 10, 6, 0x600 | 3); // RORI
  R(Op.OP, 7, 0x20, 10, 6, 7); // ANDN
  R(Op.OP, 0, 1, 10, 6, 7); // MUL
  p.push(encI(Op.OP_IMM_32, 1, 10, 6, 0x80 | 3)); // SLLI.UW
  p.push(encI(Op.OP_IMM_32, 5, 10, 6, 0x600 | 3)); // RORIW
  p.push(encI(Op.OP_IMM_32, 2, 10, 6, 0)); // illegal: exits, the caller skips it
  R(Op.OP_32, 0, 1, 10, 6, 7); // MULW
  p.push(encI(Op.LOAD_FP, 3, 1, 5, 0), encS(Op.STORE_FP, 3, 5, 1, 8)); // FLD, FSD
  // loads and stores: a TLB miss, a hit, a misaligned access, MMIO
  for (let k = 0; k < 2; k++) {
    for (const f3 of [0, 1, 2, 3]) p.push(encS(Op.STORE, f3, 5, 6, 16));
    for (const f3 of [0, 1, 2, 3, 4, 5, 6]) p.push(encI(Op.LOAD, f3, 10, 5, 16));
  }
  p.push(encS(Op.STORE, 3, 5, 6, 33), encI(Op.LOAD, 3, 10, 5, 33));
  p.push(encS(Op.STORE, 2, 15, 6, 0), encI(Op.LOAD, 2, 10, 15, 0));
  // branches taken (over a NOP) and not taken, with equal and different high words
  const NOP = encI(Op.OP_IMM, 0, 0, 0, 0);
  for (const f3 of [0, 1, 4, 5, 6, 7]) {
    for (const [a, b] of [
      [6, 6],
      [6, 7],
      [7, 6],
      [7, 14],
      [14, 7],
    ]) {
      p.push(encB(Op.BRANCH, f3, a!, b!, 8), NOP);
    }
  }
  p.push(encJ(Op.JAL, 1, 8), NOP);
  p.push(encU(Op.AUIPC, 10, 0), encI(Op.JALR, 0, 1, 10, 12), NOP);
  p.push(0x839a0305); // C.ADDI x6, 1; C.MV x7, x6
  p.push(encI(Op.MISC_MEM, 0, 0, 0, 0), encI(Op.MISC_MEM, 1, 0, 0, 0)); // FENCE, FENCE.I
  p.push(encR(Op.AMO, 2, 0, 10, 5, 7), encR(Op.AMO, 3, 0, 10, 5, 7)); // AMOADD.W, .D
  p.push(encR(Op.AMO, 3, 0x08, 10, 5, 0), encR(Op.AMO, 3, 0x0c, 10, 5, 7)); // LR.D, SC.D
  p.push(encI(Op.SYSTEM, 1, 0, 6, Csr.sscratch), encI(Op.SYSTEM, 2, 10, 0, Csr.sscratch));
  p.push(0x00000073); // ECALL: offered to the hook, then an exit
  p.push(0xffffffff); // illegal in run()'s own switch: an exit
  // hot loops, translated and entered through a branch, a JAL and a JALR (x16 counts down)
  const LOOPS = 1100;
  I(0, 16, 0, LOOPS);
  I(0, 16, 16, -1);
  p.push(encB(Op.BRANCH, 1, 16, 0, -4));
  I(0, 16, 0, LOOPS);
  p.push(encB(Op.BRANCH, 0, 16, 0, 12));
  I(0, 16, 16, -1);
  p.push(encJ(Op.JAL, 0, -8));
  I(0, 16, 0, LOOPS);
  p.push(encU(Op.AUIPC, 17, 0));
  p.push(encB(Op.BRANCH, 0, 16, 0, 16));
  I(0, 16, 16, -1);
  p.push(encI(Op.JALR, 0, 0, 17, 4));
  p.push(NOP);
  // a hot loop run on from one page into the next across a 32-bit instruction (the block before
  // it stops there; the one after is counted and entered where the fetch reaches the new page)
  const CROSS = 0xff0;
  p.push(encJ(Op.JAL, 0, CROSS - p.length * 4));
  const end = p.length * 4; // (the loop comes back here)
  p.push(encJ(Op.JAL, 0, 0)); // spin until the budget runs out
  if (p.length * 4 > CROSS) throw new Error('warm-up program overlaps its page-crossing loop');
  w.set(p, 0);
  const C_NOP = 0x0001;
  const h16 = new Uint16Array(ram.buffer, 0, size >> 1);
  const put = (at: number, ...parcels: number[]) => {
    for (const v of parcels) {
      if (v > 0xffff || v < 0) {
        h16[at >> 1] = v & 0xffff;
        h16[(at >> 1) + 1] = v >>> 16;
        at += 4;
      } else {
        h16[at >> 1] = v;
        at += 2;
      }
    }
  };
  put(CROSS, encI(Op.OP_IMM, 0, 16, 0, LOOPS)); // 0xff0
  put(CROSS + 4, C_NOP, encI(Op.OP_IMM, 0, 16, 16, -1), C_NOP, C_NOP); // the loop at 0xff4
  put(CROSS + 14, encI(Op.OP_IMM, 0, 10, 10, 1)); // 0xffe: across the page end
  put(CROSS + 18, encB(Op.BRANCH, 1, 16, 0, -14) >>> 0); // 0x1002: back to 0xff4
  put(CROSS + 22, encJ(Op.JAL, 0, end - (CROSS + 22)) >>> 0);
  // twice: V8 allocates run()'s feedback vector only after its first calls (the one-instruction
  // runs make those calls, so the first pass records almost everything)
  for (let pass = 0; pass < 2; pass++) {
    const h = new Hart(ram, bus, { virtualM: true, jitAfter: 64 });
    h.ecallHook = () => false;
    h.reset(BigInt(base), Priv.M);
    for (let k = 0; k < 10; k++) h.run(1);
    for (let k = 0; k < 200 && Number(h.getPc()) - base !== end; k++) {
      if (h.run(5000) === Exit.MachineTrap) h.skip(4);
    }
    h.run(100);
    h.requestStop();
    h.run(10);
  }
}

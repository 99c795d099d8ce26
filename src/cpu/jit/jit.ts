/**
 * The translation tier of one hart: which guest code is hot, the code cache, compiling batches
 * of blocks into WebAssembly modules, running them, and throwing them away when they may be
 * stale. The interpreter (hart.ts) stays the cold tier and the reference: it counts taken
 * branches and jumps per target in `hot` and enters `exec` when the target has a block.
 *
 * Keys and validity. A block is made for (virtual pc, privilege) from the RAM page the execute
 * TLB mapped that pc to, and is entered only while the execute TLB still maps the pc's page to
 * that same RAM page (`exec` checks it on every entry). satp writes, SFENCE.VMA and PMP writes
 * flush that TLB, so a remapped page is never run from stale translations: blocks are re-keyed
 * rather than flushed. Loads and stores go through the data TLB set of the current effective
 * privilege, SUM and MXR, chosen at entry (none of them changes inside a block). Stores into a
 * page holding translated code (self-modifying code, module loading) cannot take a fast path
 * (such pages stay out of the write TLB), so they reach the interpreter's slow store, which
 * drops every block of the page (`invalidatePage`). FENCE.I and reset drop everything.
 *
 * The cache is bounded: SLOTS direct-mapped slots, one block each; a new block evicts the one
 * in its slot, and a module is garbage once none of its blocks is in a slot.
 */
import { type Hart, TRAP_COST } from '../hart.js';
import { NO_TAG, TLB_BITS, TLB_MASK } from '../mmu.js';
import { buildDispatcher, type Dispatcher } from './dispatch.js';
import {
  JIT_MASK,
  JIT_SLOTS,
  PC_OFF,
  SLOT_GEN,
  SLOT_HI,
  SLOT_HOT,
  SLOT_LEN,
  SLOT_OFF,
  SLOT_PC,
  SLOT_PRIV,
  STOP_OFF,
} from './state.js';
import { type Block, translateBlock } from './translate.js';
import { buildModule, I32 } from './wasm.js';

export { JIT_MASK, JIT_SLOTS };
/** The interpreter calls `hot` every HOT_STEP executions of a branch target (a power of two). */
export const HOT_STEP = 256;
/** Executions after which a target's block is compiled with whatever else is waiting. */
const HOT_NOW = 4 * HOT_STEP;
/** Blocks per module when many are waiting (module creation has a fixed cost). */
const BATCH = 16;
/** After this many invalidations by stores a page is no longer translated (code and data mixed). */
const MAX_PAGE_INVALIDATIONS = 8;
/** A counter value that keeps a target quiet for a long time (untranslatable). */
const QUIET = -(1 << 30);
/**
 * The counter of a slot whose block is compiling off the thread: not queued again meanwhile. The
 * interpreter counts on from there; once a block has waited LATE executions its module is
 * compiled on the thread after all (on a loaded host the background compile can take tens of
 * milliseconds, hundreds of thousands of instructions, while the hot code is interpreted).
 */
const IN_FLIGHT = -(1 << 29);
const LATE = 4 * HOT_STEP;

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  /** Compiles on a background thread (absent from some hosts: then modules compile synchronously). */
  compile?: (bytes: Uint8Array) => Promise<object>;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Table: new (d: { element: 'anyfunc'; initial: number }) => { set(i: number, f: unknown): void };
}

const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
/** The dispatcher, compiled once per process for unshared memories and once for shared ones. */
const dispatcherModules: (object | undefined)[] = [undefined, undefined];
/** The host's clock for the translation-time statistic (the core layers have no DOM or Node types). */
const clock = (globalThis as unknown as { performance: { now(): number } }).performance;

/** What `--stats` reports about the translator. */
export interface JitStats {
  /** Instructions retired by translated code. */
  instructions: number;
  blocks: number;
  modules: number;
  /**
   * Milliseconds spent translating and compiling on the hart's thread (with compiles off the
   * thread: translating, instantiating and installing only).
   */
  translateMs: number;
  /** Modules compiled off the hart's thread (`HartOptions.jitAsync`), and modules waiting for theirs now. */
  asyncModules: number;
  inFlight: number;
  /** Of those, modules compiled on the thread after all because a block waited LATE executions. */
  lateModules: number;
  /** Summed over those modules: ms and hart instructions from translation to install. */
  asyncWaitMs: number;
  asyncWaitInstructions: number;
  /**
   * Blocks compiled off the thread but not installed: their code changed, their page stopped
   * being translated, or the cache was cleared while they compiled.
   */
  staleBlocks: number;
  /** Blocks in the cache now, and blocks evicted by another one made for the same slot. */
  cached: number;
  evictions: number;
  /** Pages whose blocks were dropped by a store into them, and full flushes (FENCE.I, reset). */
  pageInvalidations: number;
  flushes: number;
  /**
   * Blocks made, by why they end: `jump`, `page` (its page's end), `length` (MAX_BLOCK),
   * `page-crossing` (an instruction across the page end), or the instruction the translator
   * leaves to the interpreter (`csrrs sstatus`, `sret`, `fp`, ...).
   */
  ends: Record<string, number>;
}

/** Statistics with every count at zero (a new translator's, or a sum's start). */
export function emptyJitStats(): JitStats {
  return {
    instructions: 0,
    blocks: 0,
    modules: 0,
    translateMs: 0,
    asyncModules: 0,
    inFlight: 0,
    lateModules: 0,
    asyncWaitMs: 0,
    asyncWaitInstructions: 0,
    staleBlocks: 0,
    cached: 0,
    evictions: 0,
    pageInvalidations: 0,
    flushes: 0,
    ends: Object.create(null),
  };
}

interface Pending {
  pc: number;
  hi: number;
  priv: number;
  off: number;
}

/** A module compiling off the thread: its blocks, the code each was made from, the cache's epoch then. */
interface Batch {
  keep: Pending[];
  blocks: Block[];
  srcs: Uint16Array[];
  epoch: number;
  /** When it was sent to compile (clock ms) and the hart's instret then. */
  t0: number;
  instret: number;
  /** The module's bytes, kept to compile it on the thread after all if a block waits too long. */
  bytes: Uint8Array;
  /** Installed (or found stale) already: the compile's result, when it comes, is dropped. */
  done: boolean;
}

export class Jit {
  /** Slot contents: the block's pc (low, high word), privilege and RAM page offset; NO_TAG = empty. */
  // (views of the hart's state area, which the dispatcher reads too)
  readonly slotPc: Int32Array;
  private readonly slotHi: Int32Array;
  private readonly slotPriv: Int32Array;
  private readonly slotOff: Int32Array;
  private readonly slotLen: Int32Array;
  private readonly slotGen: Int32Array;

  /** The guest code each block was made from, and the FENCE.I generation it was last checked in. */
  private readonly slotSrc = new Map<number, Uint16Array>();
  /** FENCE.I generation: a block made or checked in an older one is compared with memory before it runs. */
  private gen = 0;
  /** Bumped by `clear`: a module compiled off the thread for an older epoch is dropped at install. */
  private epoch = 0;
  /** A compile off the thread that failed (a translator bug), raised on the hart's thread. */
  private failure: unknown = null;
  /** Slots whose blocks are compiling off the thread, and their module. */
  private readonly inFlight = new Map<number, Batch>();
  /** Per slot: executions of branch targets hashing there (the interpreter increments it). */
  readonly hot: Int32Array;
  private pending: Pending[] = [];
  private readonly u16: Uint16Array;
  private readonly st32: Int32Array;
  /** Per RAM page: invalidations by stores so far. */
  // made at the first compile (most idle domains never get there)
  private pageInval: Uint8Array | null = null;
  private codePages: Uint8Array | null = null;
  private readonly minPages: number;
  /** The memory is shared (harts on several threads): modules must import it as shared. */
  private readonly shared: boolean;
  private readonly ramPages: number;
  /** Every cached block is also in `table` at its slot; `dispatch` enters and chains them. */
  private readonly table: { set(i: number, f: unknown): void };
  private readonly dispatch: Dispatcher;
  /** exec's count before the current dispatcher call, hypercalls made in it, and a hypercall's request to return. */
  private base = 0;
  private ecalls = 0;
  private ecallLeft = false;
  readonly stats: JitStats = emptyJitStats();

  private constructor(
    private readonly hart: Hart,
    private readonly memory: object,
    buffer: ArrayBuffer,
    ramSize: number,
    /** Compile modules off the thread (WebAssembly.compile) and install them when they are ready. */
    private readonly async: boolean,
  ) {
    this.u16 = new Uint16Array(buffer, 0, ramSize >>> 1);
    this.st32 = new Int32Array(buffer, hart.stateOff, STOP_OFF / 4 + 1);
    this.ramPages = Math.ceil(ramSize / 4096);
    this.minPages = Math.ceil(buffer.byteLength / 65536);
    this.shared = !(buffer instanceof ArrayBuffer);
    const api = wasmApi!;
    this.table = new api.Table({ element: 'anyfunc', initial: JIT_SLOTS });
    // one compiled dispatcher for every hart of the process (it imports any memory: minimum 0 pages)
    const k = this.shared ? 1 : 0;
    dispatcherModules[k] ??= new api.Module(buildDispatcher(0, JIT_SLOTS, this.shared));
    const d = new api.Instance(dispatcherModules[k]!, {
      m: { mem: memory, tab: this.table, ecall: (total: number, budget: number) => this.ecall(total, budget) },
    });
    this.dispatch = d.exports.run as Dispatcher;
    const slots = (at: number) => new Int32Array(buffer, hart.stateOff + at, JIT_SLOTS);
    this.slotPc = slots(SLOT_PC).fill(NO_TAG);
    this.slotHi = slots(SLOT_HI);
    this.slotPriv = slots(SLOT_PRIV);
    this.slotOff = slots(SLOT_OFF);
    this.slotLen = slots(SLOT_LEN);
    this.slotGen = slots(SLOT_GEN);
    this.hot = slots(SLOT_HOT);
    hart.mmu.onCodeWrite = (off) => this.invalidatePage(off);
  }

  /** A translator for `hart`, or null when its state is not in a WebAssembly.Memory or there is no WebAssembly. */
  static create(
    hart: Hart,
    memory: object | undefined,
    buffer: ArrayBuffer,
    ramSize: number,
    async = false,
  ): Jit | null {
    if (wasmApi === undefined || memory === undefined || hart.stateOff < 0) return null;
    return new Jit(hart, memory, buffer, ramSize, async && typeof wasmApi.compile === 'function');
  }

  /**
   * Run translated blocks from the hart's pc while there are valid ones and the budget allows
   * a whole pass; returns the budget used (the pc is left in hart.pcLo/pcHi; the caller adds
   * the count to instret, which must be up to date on entry). The budget used is the
   * instructions retired plus TRAP_COST for each hypercall the hook made here, which instret
   * has already been lowered by.
   */
  exec(budget: number): number {
    const h = this.hart;
    const mmu = h.mmu;
    const priv = h.priv;
    const tlb = h.stateOff + ((mmu.dataSet() << TLB_BITS) << 2);
    const xTag = mmu.xTag;
    const xHi = mmu.xHi;
    const xOff = mmu.xOff;
    const slotPc = this.slotPc;
    const st32 = this.st32;
    const state = h.stateOff;
    st32[PC_OFF >> 2] = h.pcLo;
    st32[(PC_OFF >> 2) + 1] = h.pcHi;
    let total = 0;
    this.ecalls = 0;
    for (;;) {
      this.base = total;
      total += this.dispatch(state, tlb, budget - total, priv, this.gen);
      if (this.ecallLeft) {
        // a hypercall the hook declined (the interpreter executes the ECALL), or one after
        // which an interrupt or a stop is due (the interpreter's outer loop takes it)
        this.ecallLeft = false;
        break;
      }
      if (st32[STOP_OFF >> 2] !== 0) {
        // a CSR write may have enabled an interrupt or changed SUM/MXR: the interpreter looks first
        st32[STOP_OFF >> 2] = 0;
        h.irqCheck = true;
        break;
      }
      // why the dispatcher stopped (the same checks in the same order); the rare cases are handled here
      const pc = st32[PC_OFF >> 2]!;
      const hi = st32[(PC_OFF >> 2) + 1]!;
      const s = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
      if (slotPc[s] !== pc) {
        // a block's exit that is not a jump target (a branch not taken) gets hot here
        if (total > 0 && (++this.hot[s]! & (HOT_STEP - 1)) === 0) {
          this.noteHot(pc, hi);
          if (slotPc[s] === pc) continue;
        }
        break;
      }
      const xe = (priv << TLB_BITS) + ((pc >>> 12) & TLB_MASK);
      if (xTag[xe] !== (pc & -4096) || xHi[xe] !== hi) break; // the interpreter fetches there first
      if (this.slotHi[s] !== hi || this.slotPriv[s] !== priv || xOff[xe] !== this.slotOff[s]) {
        // made for another address space, privilege or mapping: make room for this one
        this.drop(s);
        break;
      }
      if (this.slotGen[s] !== this.gen) {
        if (this.verify(s)) continue;
        this.drop(s);
      }
      break; // the budget, or a block that retired nothing (it leaves at its first instruction)
    }
    h.pcLo = st32[PC_OFF >> 2]!;
    h.pcHi = st32[(PC_OFF >> 2) + 1]!;
    this.stats.instructions += total - this.ecalls * TRAP_COST;
    return total;
  }

  /**
   * The dispatcher's import: a block stopped at an S-mode ECALL (the pc in the state area) after
   * the dispatcher's `total` of its `budget`. The hook makes the call when it can: the new total
   * (the ECALL retires nothing and costs TRAP_COST of the budget, as in run(); the caller of
   * `exec` adds the count to both), and the dispatcher goes on in translated code. Otherwise,
   * or when an interrupt or a stop is now due, ~total and `ecallLeft` set: exec returns.
   */
  private ecall(total: number, budget: number): number {
    const h = this.hart;
    const st32 = this.st32;
    st32[STOP_OFF >> 2] = 0;
    h.pcLo = st32[PC_OFF >> 2]!;
    h.pcHi = st32[(PC_OFF >> 2) + 1]!;
    if (budget - total < 1 || !h.ecallFromJit(this.base + total)) {
      this.ecallLeft = true;
      return ~total;
    }
    h.instret -= TRAP_COST;
    this.ecalls++;
    st32[PC_OFF >> 2] = h.pcLo;
    st32[(PC_OFF >> 2) + 1] = h.pcHi;
    if (h.irqCheck) {
      this.ecallLeft = true;
      return ~(total + TRAP_COST);
    }
    return total + TRAP_COST;
  }

  /** The interpreter saw the branch target pc executed another HOT_STEP times. */
  noteHot(pc: number, hi: number): void {
    if (this.failure !== null) throw this.failure;
    const s = ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK;
    const n = this.hot[s]!;
    if (n < 0) {
      // compiling off the thread (and waited too long: compile it here), or untranslatable here
      if (n >= IN_FLIGHT + LATE) this.compileLate(s);
      return;
    }
    const h = this.hart;
    const e = (h.priv << TLB_BITS) + ((pc >>> 12) & TLB_MASK);
    const mmu = h.mmu;
    if (mmu.xTag[e] !== (pc & -4096) || mmu.xHi[e] !== hi) return; // not in the execute TLB yet: later
    const off = mmu.xOff[e]!;
    if (this.codePages?.[off >>> 12] === 2) {
      this.hot[s] = QUIET;
      return;
    }
    let found = false;
    for (const p of this.pending) if (p.pc === pc && p.hi === hi && p.priv === h.priv) found = true;
    if (!found) this.pending.push({ pc, hi, priv: h.priv, off });
    if (this.pending.length >= BATCH || this.hot[s]! >= HOT_NOW) this.compile();
  }

  /**
   * Translate every waiting block and compile them into one module: synchronously, or off the
   * thread (the blocks' slots are marked IN_FLIGHT and `install` puts them in when the module is
   * ready, between two `run` calls: a promise's callback never runs inside one).
   */
  private compile(): void {
    const t0 = clock.now();
    const list = this.pending;
    this.pending = [];
    const blocks: Block[] = [];
    const keep: Pending[] = [];
    const srcs: Uint16Array[] = [];
    for (const p of list) {
      const s = ((p.pc >>> 1) ^ (p.pc >>> 15)) & JIT_MASK;
      const pc = (BigInt(p.hi >>> 0) << 32n) | BigInt(p.pc >>> 0);
      const b = translateBlock({ u16: this.u16, pauseExits: this.hart.pauseExits }, p.off, pc, p.priv);
      if (b === null) {
        this.hot[s] = QUIET;
        continue;
      }
      blocks.push(b);
      keep.push(p);
      const from = (p.off + (p.pc & 4095)) >>> 1;
      srcs.push(this.u16.slice(from, from + (b.bytes >>> 1)));
      this.stats.ends[b.end] = (this.stats.ends[b.end] ?? 0) + 1;
    }
    if (blocks.length > 0) {
      const bytes = buildModule(
        this.minPages,
        [I32, I32, I32],
        [I32],
        blocks.map((b) => b.body),
        this.shared,
      );
      const api = wasmApi!;
      const batch: Batch = {
        keep,
        blocks,
        srcs,
        epoch: this.epoch,
        t0,
        instret: this.hart.instret,
        bytes,
        done: false,
      };
      if (this.async) {
        for (const p of keep) {
          const s = ((p.pc >>> 1) ^ (p.pc >>> 15)) & JIT_MASK;
          this.hot[s] = IN_FLIGHT;
          this.inFlight.set(s, batch);
        }
        this.stats.inFlight++;
        this.stats.asyncModules++;
        api.compile!(bytes).then(
          (m) => {
            this.stats.inFlight--;
            if (!batch.done) this.install(batch, m);
          },
          (e: unknown) => {
            // only a translator bug makes invalid wasm: raised on the hart's next noteHot, as the
            // synchronous compile would raise it (it ends the domain, not the process)
            this.stats.inFlight--;
            this.failure = e;
          },
        );
      } else this.install(batch, new api.Module(bytes));
    }
    this.stats.translateMs += clock.now() - t0;
  }

  /**
   * Put a compiled module's blocks in their slots. A module compiled off the thread is installed
   * only where its code is what memory holds now (a store, DMA or another hart may have changed
   * it meanwhile, with or without a FENCE.I), its page is still translated, and the cache was not
   * cleared since: a block is run only if it is exactly what the interpreter would run.
   */
  private install(batch: Batch, module: object): void {
    const t0 = clock.now();
    const { keep, blocks, srcs } = batch;
    batch.done = true;
    const api = wasmApi!;
    const inst = new api.Instance(module, { m: { mem: this.memory } });
    const u16 = this.u16;
    for (let i = 0; i < keep.length; i++) {
      const p = keep[i]!;
      const s = ((p.pc >>> 1) ^ (p.pc >>> 15)) & JIT_MASK;
      const page = p.off >>> 12;
      const src = srcs[i]!;
      if (this.async) {
        if (this.inFlight.get(s) === batch) this.inFlight.delete(s);
        if (this.hot[s]! >= IN_FLIGHT && this.hot[s]! < 0) this.hot[s] = 0; // (counted on while in flight)
        const from = (p.off + (p.pc & 4095)) >>> 1;
        let same = batch.epoch === this.epoch && this.codePages?.[page] !== 2;
        for (let k = 0; same && k < src.length; k++) same = u16[from + k] === src[k];
        if (!same) {
          this.stats.staleBlocks++;
          continue;
        }
      }
      if (this.slotLen[s] === 0) this.stats.cached++;
      else this.stats.evictions++;
      this.slotPc[s] = p.pc;
      this.slotHi[s] = p.hi;
      this.slotPriv[s] = p.priv;
      this.slotOff[s] = p.off;
      this.slotLen[s] = blocks[i]!.length;
      this.table.set(s, inst.exports[`b${i}`]);
      this.slotSrc.set(s, src);
      this.slotGen[s] = this.gen;
      this.hot[s] = 0;
      const code = this.pagesOfCode();
      if (code[page] === 0) {
        code[page] = 1;
        this.hart.mmu.unmapWrites(p.off);
      }
    }
    this.stats.blocks += blocks.length;
    this.stats.modules++;
    if (this.async) {
      this.stats.translateMs += clock.now() - t0;
      this.stats.asyncWaitMs += t0 - batch.t0;
      this.stats.asyncWaitInstructions += this.hart.instret - batch.instret;
    }
  }

  /** A block in slot s waited LATE executions for its module: compile that on the thread now. */
  private compileLate(s: number): void {
    const batch = this.inFlight.get(s);
    if (batch === undefined || batch.done) return;
    const t0 = clock.now();
    this.stats.lateModules++;
    const module = new wasmApi!.Module(batch.bytes);
    this.stats.translateMs += clock.now() - t0;
    this.install(batch, module);
  }

  /** The per-page code marks (and invalidation counts), made on first use and shared with the MMU. */
  private pagesOfCode(): Uint8Array {
    if (this.codePages === null) {
      this.codePages = new Uint8Array(this.ramPages);
      this.pageInval = new Uint8Array(this.ramPages);
      this.hart.mmu.codePages = this.codePages;
    }
    return this.codePages;
  }

  /** A store reached the RAM page at offset `pageOff`, which holds translated code: drop its blocks. */
  invalidatePage(pageOff: number): void {
    const page = pageOff >>> 12;
    const code = this.pagesOfCode();
    code[page] = 0;
    if (++this.pageInval![page]! >= MAX_PAGE_INVALIDATIONS) code[page] = 2;
    this.stats.pageInvalidations++;
    for (let s = 0; s < JIT_SLOTS; s++) {
      if (this.slotLen[s] !== 0 && this.slotOff[s] === pageOff) this.drop(s);
    }
    this.pending = this.pending.filter((p) => p.off !== pageOff);
  }

  /**
   * FENCE.I (or SBI remote_fence_i): instruction memory may have changed in ways the store check
   * does not see (device DMA, another hart's stores). Each block is compared with the code it was
   * made from before it next runs, and dropped if that changed; unchanged ones stay (Linux fences
   * at every executable mapping, so dropping everything would translate the kernel again and
   * again).
   */
  fenceI(): void {
    this.gen = (this.gen + 1) | 0;
    this.stats.flushes++;
  }

  /** Block s is unchanged since it was made: guest memory still holds its code. */
  private verify(s: number): boolean {
    const src = this.slotSrc.get(s)!;
    const u16 = this.u16;
    const from = (this.slotOff[s]! + (this.slotPc[s]! & 4095)) >>> 1;
    for (let i = 0; i < src.length; i++) if (u16[from + i] !== src[i]) return false;
    this.slotGen[s] = this.gen;
    return true;
  }

  /** Drop every translation (reset, restore). */
  clear(): void {
    this.epoch++;
    this.inFlight.clear();
    for (let s = 0; s < JIT_SLOTS; s++) if (this.slotLen[s] !== 0) this.drop(s);
    this.pending = [];
    this.hot.fill(0);
    this.codePages?.fill(0);
    this.pageInval?.fill(0);
    this.stats.flushes++;
  }

  private drop(s: number): void {
    this.slotPc[s] = NO_TAG;
    this.slotLen[s] = 0;
    this.slotSrc.delete(s);
    this.hot[s] = 0;
    this.stats.cached--;
  }
}

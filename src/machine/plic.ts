import type { StateCodec, StateReader, StateWriter } from '../core/state.js';
import { IrqBit } from '../cpu/arch.js';
import type { MmioDevice } from './bus.js';
import type { IrqLine, IrqTarget } from './irq.js';
import { PlicSource } from './memmap.js';

/** Register layout of the SiFive PLIC as QEMU virt configures it (include/hw/riscv/virt.h). */
export const PlicReg = {
  PRIORITY: 0x0, // 4 bytes per source
  PENDING: 0x1000, // 1 bit per source
  ENABLE: 0x2000, // per context, stride 0x80
  ENABLE_STRIDE: 0x80,
  CONTEXT: 0x20_0000, // per context, stride 0x1000: +0 threshold, +4 claim/complete
  CONTEXT_STRIDE: 0x1000,
} as const;

/** Priorities are 0..7 (QEMU virt: VIRT_PLIC_NUM_PRIORITIES = 7); writes keep the low 3 bits (WARL). */
const PRIORITY_MASK = 7;

/**
 * How a source's line becomes a pending request (the PLIC's gateway):
 * - 'level', the PLIC specification's level-triggered gateway: a source is pending while its
 *   line is high and it is not claimed, so at completion a line still high is pending again.
 * - 'qemu', QEMU 7.2's hw/intc/sifive_plic.c: each time a device drives its line the pending
 *   bit takes the level (raised while claimed, it waits for the completion); a completion only
 *   releases the claim, whatever the line does, and is taken in any context. A device that
 *   keeps its line high and is never asked again interrupts once. Guests written on QEMU rely
 *   on this (a UART handler that never reads IIR); the virt board uses it (docs/compatibility.md).
 */
export type PlicGateway = 'level' | 'qemu';

/**
 * Platform-level interrupt controller (`sifive,plic-1.0.0`), after QEMU's
 * hw/intc/sifive_plic.c. Sources 1..numSources-1 (source 0 does not exist);
 * two contexts per hart: 2N = hart N M-mode (drives MEIP), 2N+1 = S-mode
 * (drives SEIP).
 *
 * A claim clears a source's pending bit and marks it claimed; completion
 * releases it; what makes it pending is the gateway (`PlicGateway`). A
 * context's output is high while some source that is pending, enabled for it
 * and not claimed has priority above its threshold.
 */
export class Plic implements MmioDevice, IrqLine {
  readonly name = 'plic';
  readonly numSources: number;
  readonly numContexts: number;
  private readonly words: number;
  private readonly priority: Uint32Array;
  private readonly level: Uint8Array;
  private readonly pending: Uint32Array;
  private readonly claimed: Uint32Array;
  private readonly enable: Uint32Array;
  private readonly threshold: Uint32Array;
  private readonly out: Int8Array;

  /** `harts[N]` receives MEIP (context 2N) and SEIP (context 2N+1). */
  constructor(
    private readonly harts: readonly IrqTarget[],
    numSources: number = PlicSource.PLIC_SOURCES,
    readonly gateway: PlicGateway = 'level',
  ) {
    this.numSources = numSources;
    this.numContexts = 2 * harts.length;
    this.words = (numSources + 31) >>> 5;
    this.priority = new Uint32Array(numSources);
    this.level = new Uint8Array(numSources);
    this.pending = new Uint32Array(this.words);
    this.claimed = new Uint32Array(this.words);
    this.enable = new Uint32Array(this.words * this.numContexts);
    this.threshold = new Uint32Array(this.numContexts);
    this.out = new Int8Array(this.numContexts).fill(-1);
  }

  /**
   * Drive source `irq` (1..numSources-1) high or low; out-of-range sources are ignored. With
   * the 'qemu' gateway every call is a signal: driving a line high again pends it again.
   */
  setLevel(irq: number, level: boolean): void {
    if (irq <= 0 || irq >= this.numSources) return;
    this.level[irq] = level ? 1 : 0;
    const bit = 1 << (irq & 31);
    const w = irq >>> 5;
    const before = this.pending[w]!;
    const pend = level && (this.gateway === 'qemu' || (this.claimed[w]! & bit) === 0);
    this.pending[w] = pend ? before | bit : before & ~bit;
    if (this.pending[w] !== before) this.update();
  }

  /**
   * Device reset: priorities, enables, thresholds, claims cleared; with the 'level' gateway,
   * lines still high are pending again ('qemu': nothing is pending until a device signals).
   */
  reset(): void {
    this.priority.fill(0);
    this.pending.fill(0);
    this.claimed.fill(0);
    this.enable.fill(0);
    this.threshold.fill(0);
    for (let irq = 1; irq < this.numSources && this.gateway === 'level'; irq++) {
      if (this.level[irq]) this.pending[irq >>> 5]! |= 1 << (irq & 31);
    }
    this.out.fill(-1);
    this.update();
  }

  /** Snapshots (src/machine/snapshot.ts). */
  saveState(): PlicState {
    return {
      priority: this.priority.slice(),
      level: this.level.slice(),
      pending: this.pending.slice(),
      claimed: this.claimed.slice(),
      enable: this.enable.slice(),
      threshold: this.threshold.slice(),
    };
  }

  /** Load a state read by plicStateCodec for this PLIC's shape. Outputs are re-driven. */
  loadState(s: PlicState): void {
    this.priority.set(s.priority);
    this.level.set(s.level);
    this.pending.set(s.pending);
    this.claimed.set(s.claimed);
    this.enable.set(s.enable);
    this.threshold.set(s.threshold);
    this.out.fill(-1);
    this.update();
  }

  /** Is source `irq` pending? (tests, diagnostics) */
  isPending(irq: number): boolean {
    return (this.pending[irq >>> 5]! & (1 << (irq & 31))) !== 0;
  }

  /** The source a claim by `ctx` would return now (0 = none), without claiming. */
  best(ctx: number): number {
    let maxIrq = 0;
    let maxPrio = this.threshold[ctx]!;
    const base = ctx * this.words;
    for (let w = 0; w < this.words; w++) {
      let m = this.pending[w]! & ~this.claimed[w]! & this.enable[base + w]!;
      while (m !== 0) {
        const j = 31 - Math.clz32(m & -m);
        m &= m - 1;
        const irq = (w << 5) + j;
        if (irq >= this.numSources) break;
        const p = this.priority[irq]!;
        // Ascending order: on equal priority the lowest source id wins.
        if (p > maxPrio) {
          maxPrio = p;
          maxIrq = irq;
        }
      }
    }
    return maxIrq;
  }

  private update(): void {
    for (let ctx = 0; ctx < this.numContexts; ctx++) {
      const level = this.best(ctx) !== 0 ? 1 : 0;
      if (level !== this.out[ctx]) {
        this.out[ctx] = level;
        this.harts[ctx >>> 1]!.setIrq(ctx & 1 ? IrqBit.SEIP : IrqBit.MEIP, level === 1);
      }
    }
  }

  private claim(ctx: number): number {
    const irq = this.best(ctx);
    if (irq !== 0) {
      const bit = 1 << (irq & 31);
      this.pending[irq >>> 5]! &= ~bit;
      this.claimed[irq >>> 5]! |= bit;
    }
    this.update();
    return irq;
  }

  private complete(ctx: number, irq: number): void {
    if (irq <= 0 || irq >= this.numSources) return;
    const w = irq >>> 5;
    const bit = 1 << (irq & 31);
    if (this.gateway === 'level') {
      // PLIC spec: a completion for a source not enabled for this context is ignored; a line
      // still high is pending again.
      if ((this.enable[ctx * this.words + w]! & bit) === 0) return;
      if (this.level[irq]) this.pending[w]! |= bit;
    }
    this.claimed[w]! &= ~bit;
    this.update();
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 4 || (offset & 3) !== 0) return 0;
    if (offset < PlicReg.PENDING) {
      const irq = offset >>> 2;
      return irq < this.numSources ? this.priority[irq]! : 0;
    }
    if (offset < PlicReg.ENABLE) {
      const w = (offset - PlicReg.PENDING) >>> 2;
      return w < this.words ? this.pending[w]! >>> 0 : 0;
    }
    if (offset < PlicReg.CONTEXT) {
      const rel = offset - PlicReg.ENABLE;
      const ctx = Math.floor(rel / PlicReg.ENABLE_STRIDE);
      const w = (rel % PlicReg.ENABLE_STRIDE) >>> 2;
      return ctx < this.numContexts && w < this.words ? this.enable[ctx * this.words + w]! >>> 0 : 0;
    }
    const rel = offset - PlicReg.CONTEXT;
    const ctx = Math.floor(rel / PlicReg.CONTEXT_STRIDE);
    if (ctx >= this.numContexts) return 0;
    const reg = rel % PlicReg.CONTEXT_STRIDE;
    if (reg === 0) return this.threshold[ctx]!;
    if (reg === 4) return this.claim(ctx);
    return 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    if (offset < PlicReg.PENDING) {
      const irq = offset >>> 2;
      if (irq > 0 && irq < this.numSources) {
        this.priority[irq] = value & PRIORITY_MASK;
        this.update();
      }
      return;
    }
    if (offset < PlicReg.ENABLE) return; // pending bits are read-only
    if (offset < PlicReg.CONTEXT) {
      const rel = offset - PlicReg.ENABLE;
      const ctx = Math.floor(rel / PlicReg.ENABLE_STRIDE);
      const w = (rel % PlicReg.ENABLE_STRIDE) >>> 2;
      if (ctx < this.numContexts && w < this.words) {
        // Source 0 does not exist: its enable bit stays 0.
        this.enable[ctx * this.words + w] = w === 0 ? value & ~1 : value;
        this.update();
      }
      return;
    }
    const rel = offset - PlicReg.CONTEXT;
    const ctx = Math.floor(rel / PlicReg.CONTEXT_STRIDE);
    if (ctx >= this.numContexts) return;
    const reg = rel % PlicReg.CONTEXT_STRIDE;
    if (reg === 0) {
      this.threshold[ctx] = value & PRIORITY_MASK;
      this.update();
    } else if (reg === 4) {
      this.complete(ctx, value >>> 0);
    }
  }
}

/** The PLIC's saved state: per source priority and line level; bitmaps of pending, claimed and enabled sources; per context threshold. */
export interface PlicState {
  readonly priority: Uint32Array;
  readonly level: Uint8Array;
  readonly pending: Uint32Array;
  readonly claimed: Uint32Array;
  readonly enable: Uint32Array;
  readonly threshold: Uint32Array;
}

const writeU32s = (w: StateWriter, a: ArrayLike<number>) => {
  w.u32(a.length);
  for (let i = 0; i < a.length; i++) w.u32(a[i]!);
};

/** A u32 array of exactly `n` values, each at most `max`. */
function readU32s(r: StateReader, field: string, n: number, max = 0xffff_ffff): Uint32Array {
  const a = Uint32Array.from(r.list(field, n, 4, (r, i) => r.u32(`${field}[${i}]`, max)));
  if (a.length !== n) r.mismatch(`${field}: ${a.length} values saved, this PLIC has ${n}`);
  return a;
}

export const plicStateCodec: StateCodec<PlicState, { sources: number; contexts: number }> = {
  write(w, s) {
    writeU32s(w, s.priority);
    writeU32s(w, s.level);
    writeU32s(w, s.pending);
    writeU32s(w, s.claimed);
    writeU32s(w, s.enable);
    writeU32s(w, s.threshold);
  },
  read(r, { sources, contexts }) {
    const words = (sources + 31) >>> 5;
    return {
      priority: readU32s(r, 'priority', sources, PRIORITY_MASK),
      level: Uint8Array.from(readU32s(r, 'level', sources, 1)),
      pending: readU32s(r, 'pending', words),
      claimed: readU32s(r, 'claimed', words),
      enable: readU32s(r, 'enable', words * contexts),
      threshold: readU32s(r, 'threshold', contexts, PRIORITY_MASK),
    };
  },
};

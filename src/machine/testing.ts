import type { IrqLine, IrqTarget } from './irq.js';

/** An IrqTarget that keeps a `mip` value, for tests and tools. */
export class FakeHart implements IrqTarget {
  mip = 0;
  calls = 0;
  setIrq(bit: number, level: boolean): void {
    this.calls++;
    this.mip = level ? this.mip | (1 << bit) : this.mip & ~(1 << bit);
  }
}

/** An IrqLine that records each source's level. */
export class FakeIrqLine implements IrqLine {
  readonly levels = new Map<number, boolean>();
  setLevel(irq: number, level: boolean): void {
    this.levels.set(irq, level);
  }
}

/**
 * Interrupt wiring of the board. Devices never see a hart: the CLINT and the
 * PLIC drive an `IrqTarget` (Hart satisfies it structurally), and devices
 * raise PLIC sources through an `IrqLine`.
 */

/** What an interrupt controller drives on a hart: one bit of `mip`. */
export interface IrqTarget {
  /**
   * Sets (`level` true) or clears bit number `bit` of `mip` (an `IrqBit` of src/cpu/arch.ts,
   * e.g. `IrqBit.MTIP` = 7), as src/cpu/hart.ts implements it (`mip |= 1 << bit`).
   */
  setIrq(bit: number, level: boolean): void;
}

/** A device's view of the PLIC: drive one source's level. */
export interface IrqLine {
  setLevel(irq: number, level: boolean): void;
}

/** An IrqTarget that ignores everything (absent harts, tests). */
export const nullIrqTarget: IrqTarget = { setIrq() {} };

/**
 * Interrupt wiring of the board. Devices never see a hart: the CLINT and the
 * PLIC drive an `IrqTarget` (Hart satisfies it structurally), and devices
 * raise PLIC sources through an `IrqLine`.
 */

/** What an interrupt controller drives on a hart: one bit of `mip`. */
export interface IrqTarget {
  /** Sets (`level` true) or clears the `mip` bit given by `bit` (a mask such as `Mip.MTIP`). */
  setIrq(bit: number, level: boolean): void;
}

/** `mip` bits as masks (RISC-V privileged spec, "Machine Interrupt Registers (mip and mie)"). */
export const Mip = {
  SSIP: 1 << 1,
  MSIP: 1 << 3,
  STIP: 1 << 5,
  MTIP: 1 << 7,
  SEIP: 1 << 9,
  MEIP: 1 << 11,
} as const;

/** A device's view of the PLIC: drive one source's level. */
export interface IrqLine {
  setLevel(irq: number, level: boolean): void;
}

/** An IrqTarget that ignores everything (absent harts, tests). */
export const nullIrqTarget: IrqTarget = { setIrq() {} };

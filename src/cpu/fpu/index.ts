/**
 * FPU entry points called by the CPU core for the computational F and D instructions.
 * Both return 0 on success or 1 for an illegal instruction (the CPU raises it with tval = insn).
 */
import type { FpState } from './state.js';

export type { FpState } from './state.js';

/** OP-FP (opcode 0x53). */
export function fpOp(_h: FpState, _insn: number): number {
  return 1;
}

/** FMADD/FMSUB/FNMSUB/FNMADD (opcodes 0x43/0x47/0x4b/0x4f). */
export function fpFma(_h: FpState, _insn: number): number {
  return 1;
}

/**
 * The part of a hart the FPU reads and writes (see docs/cpu.md, "The FPU hook").
 * `Hart` satisfies this interface structurally.
 *
 * - `x`: integer registers as int32 pairs (x[2*r] low, x[2*r+1] high); the FPU never writes x0.
 * - `f` and `fi`: the same 32 x 64-bit FP registers, viewed as doubles and as int32 pairs
 *   (fi[2*r] low word, fi[2*r+1] high word). Singles are NaN-boxed: fi[2*r+1] = -1.
 * - `fflags`: accrued exceptions NV DZ OF UF NX (16 8 4 2 1); `frm`: dynamic rounding mode.
 */
export interface FpState {
  x: Int32Array;
  f: Float64Array;
  fi: Int32Array;
  fflags: number;
  frm: number;
}

/** fflags bits (RISC-V unprivileged spec, "Floating-Point Control and Status Register"). */
export const FLAG_NX = 1;
export const FLAG_UF = 2;
export const FLAG_OF = 4;
export const FLAG_DZ = 8;
export const FLAG_NV = 16;

/** Rounding modes (frm / rm field encodings). */
export const RM_RNE = 0;
export const RM_RTZ = 1;
export const RM_RDN = 2;
export const RM_RUP = 3;
export const RM_RMM = 4;
export const RM_DYN = 7;

/**
 * The layout of a hart's state area: the part of the hart that translated code reads and
 * writes, kept in the domain's WebAssembly.Memory right after guest RAM (GuestRam reserves it,
 * `RamLike.claimCpuState` hands out one area per hart). The interpreter's typed arrays are views
 * of the same bytes, so there is one copy of the state and nothing to synchronise when control
 * passes between the tiers.
 *
 * Offsets are in bytes from the start of the area (`Hart.stateOff` in the memory):
 */

/** x0..x31 as 64-bit little-endian words (the interpreter's int32 pairs), plus the x0 sink pair. */
export const X_OFF = 0;
/** The pc where translated code stopped (64 bits), written by every block exit. */
export const PC_OFF = 272;
/**
 * The CSRs translated code reads and writes (Hart and TrapCsrs keep them here, csr.ts reads and
 * writes them through those): mstatus's low word (32 bits; its high word is computed on read).
 */
export const MSTATUS_OFF = 280;
/**
 * Nonzero when a block left after a CSR write that may enable an interrupt or changes SUM or
 * MXR: the dispatcher returns at once and jit.ts clears it and has the interpreter check for
 * interrupts (and choose the data TLB set again) before the next instruction.
 */
export const STOP_OFF = 284;
/** STOP_OFF's values: a CSR write (above), or an S-mode ECALL at the pc (jit.ts offers it to the hypervisor's hook). */
export const STOP_CSR = 1;
export const STOP_ECALL = 2;
/** The S-mode trap CSRs sscratch, sepc, scause, stval (64 bits each, in that order), then M-mode's. */
export const S_TRAP_OFF = 288;
export const M_TRAP_OFF = 320;
/** Words of the CSR part (mstatus to the end of M_TRAP_OFF's four CSRs). */
export const CSR_WORDS = (M_TRAP_OFF + 32 - MSTATUS_OFF) / 4;
/** The LR/SC reservation (amo.ts Reservation): valid (0/1), RAM offset, size, value (lo, hi): five words. */
export const RES_OFF = M_TRAP_OFF + 32;
/**
 * A doubleword the interpreter moves 64-bit accesses of shared RAM through when their other end
 * is not an integer register (FLD, FSD, slow-path loads and stores, page-table entries): one
 * wasm copy to or from RAM, so no other thread sees half of it (src/core/access64.ts).
 */
export const COPY64_OFF = RES_OFF + 24;
/** The data TLBs (mmu.ts): six Int32Arrays of TLB_ENTRIES entries each, in this order. */
export const TLB_OFF = 4096;
/** Entries in each data TLB array: DATA_SETS (16) x 2^TLB_BITS (1024). */
export const TLB_ENTRIES = 16 * 1024;
export const R_TAG = TLB_OFF;
export const R_HI = R_TAG + TLB_ENTRIES * 4;
export const R_OFF = R_HI + TLB_ENTRIES * 4;
export const W_TAG = R_OFF + TLB_ENTRIES * 4;
export const W_HI = W_TAG + TLB_ENTRIES * 4;
export const W_OFF = W_HI + TLB_ENTRIES * 4;
/** The execute TLB (mmu.ts): tag, high word, RAM offset; X_ENTRIES entries each (4 privileges x 1024). */
export const X_ENTRIES = 4 * 1024;
export const X_TAG = W_OFF + TLB_ENTRIES * 4;
export const X_HI = X_TAG + X_ENTRIES * 4;
export const X_OFFS = X_HI + X_ENTRIES * 4;
/** Code-cache slots (jit.ts), direct-mapped on a hash of the pc: ((pc >>> 1) ^ (pc >>> 15)) & JIT_MASK. */
export const JIT_BITS = 14;
export const JIT_SLOTS = 1 << JIT_BITS;
export const JIT_MASK = JIT_SLOTS - 1;
/**
 * Per slot (Int32Arrays of JIT_SLOTS): the block's pc (low, high word), privilege, RAM page
 * offset, instructions per pass and FENCE.I generation; the dispatcher (dispatch.ts) checks
 * them in wasm before it enters a block.
 */
export const SLOT_PC = X_OFFS + X_ENTRIES * 4;
export const SLOT_HI = SLOT_PC + JIT_SLOTS * 4;
export const SLOT_PRIV = SLOT_HI + JIT_SLOTS * 4;
export const SLOT_OFF = SLOT_PRIV + JIT_SLOTS * 4;
export const SLOT_LEN = SLOT_OFF + JIT_SLOTS * 4;
export const SLOT_GEN = SLOT_LEN + JIT_SLOTS * 4;
/** Per slot: executions of jump targets hashing there (the interpreter counts; jit.ts decides). */
export const SLOT_HOT = SLOT_GEN + JIT_SLOTS * 4;
/** Bytes per hart (884 KiB of address space; pages never touched are not resident). */
export const HART_STATE_BYTES = SLOT_HOT + JIT_SLOTS * 4;

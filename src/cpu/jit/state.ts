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
/** Bytes per hart (388 KiB). */
export const HART_STATE_BYTES = W_OFF + TLB_ENTRIES * 4;

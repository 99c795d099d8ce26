import type { Gpa } from '../core/types.js';
import type { GuestRam } from '../memory/ram.js';

/**
 * Translate a guest-virtual address the way the hart's S-mode would see it
 * (satp modes Bare, Sv39, Sv48, Sv57; privileged spec §12.3-12.6), for the
 * few hypercalls that pass pointers (legacy v0.1 hart masks). Only validity
 * is checked (V, leaf R/X, reserved W-without-R, superpage alignment); the
 * page tables must lie in RAM. Returns the physical address, or null.
 */
export function translate(ram: GuestRam, satp: bigint, va: bigint): number | null {
  const mode = Number(satp >> 60n);
  if (mode === 0) return va <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(va) : null;
  const levels = mode === 8 ? 3 : mode === 9 ? 4 : mode === 10 ? 5 : 0;
  if (levels === 0) return null;
  const vaBits = 12 + 9 * levels;
  // The upper bits must be a sign extension of bit vaBits-1.
  const top = BigInt.asIntN(64, va) >> BigInt(vaBits - 1);
  if (top !== 0n && top !== -1n) return null;
  let table = Number(satp & ((1n << 44n) - 1n)) * 4096;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = Number((va >> BigInt(12 + 9 * level)) & 0x1ffn);
    const pteAddr = table + idx * 8;
    if (!ram.contains(pteAddr, 8)) return null;
    // one access on shared RAM: a hart on another thread may be writing the PTE
    const pte = ram.readBigU64(pteAddr as Gpa);
    if ((pte & 1n) === 0n || ((pte & 2n) === 0n && (pte & 4n) !== 0n)) return null;
    const ppn = (pte >> 10n) & ((1n << 44n) - 1n);
    if ((pte & 0xan) !== 0n) {
      // Leaf: R or X set. A superpage must be aligned (its low PPN fields zero).
      const lowBits = BigInt(9 * level);
      if ((ppn & ((1n << lowBits) - 1n)) !== 0n) return null;
      const pageOff = va & ((1n << (12n + lowBits)) - 1n);
      const pa = (ppn << 12n) | pageOff;
      return pa <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(pa) : null;
    }
    table = Number(ppn) * 4096;
  }
  return null;
}

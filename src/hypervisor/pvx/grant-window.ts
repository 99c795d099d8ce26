import type { PhysBus } from '../../cpu/types.js';
import type { GuestRam } from '../../memory/ram.js';
import { PAGE_SIZE, PVX_GNT_WINDOW_BASE, PVX_GNT_WINDOW_SIZE } from '../../sbi/pvx/consts.js';

/** One mapped slot of a grant window: a granter's RAM page seen at the slot's address. */
export interface WindowSlot {
  /** The granter's RAM (kept alive by this reference even after the granter is destroyed, §6.4). */
  readonly ram: GuestRam;
  /** Offset of the granted page in `ram`. */
  readonly off: number;
  readonly readonly: boolean;
  /** Granter domain id and grant reference, for the granter's mapping counts. */
  readonly granter: number;
  readonly ref: number;
  /**
   * Called when the slot is unmapped (the granter's bookkeeping). `answered`: the granter's
   * counts have changed when it returns (GNTTAB_UNMAP); false when the domain ends, where a
   * one-way note to a granter on another thread suffices.
   */
  readonly release: (answered: boolean) => void;
}

const END = PVX_GNT_WINDOW_BASE + PVX_GNT_WINDOW_SIZE;

/**
 * The grant window of one domain (docs/para-api-pvx.md §6.4): 16384 slots of
 * 4 KiB at 0x4000_0000 of its guest-physical space. It sits in front of the
 * board's MMIO bus as the harts' PhysBus: an address in a mapped slot reads
 * and writes the granter's RAM, an address in an unmapped slot is a hole
 * (`has` is false, so the hart raises an access fault), anything else goes
 * to the board's bus.
 *
 * Cost: the hart's fast path reaches only its own RAM, so every access to a
 * mapped grant page takes the hart's MMIO path (a `has` and a `read`/`write`
 * call per access, 8-byte accesses split in two; no exit to the run loop).
 * AMOs and LR/SC on the window raise an access fault, as on any MMIO region.
 *
 * Read-only maps: `writable` is false for a read-only slot, so the hart
 * raises a store access fault (§6.4) before any store reaches it; a store
 * that still arrives (a caller that skips `writable`) is dropped and counted
 * in `droppedStores`.
 */
export class GrantWindow {
  readonly slots = new Map<number, WindowSlot>();
  /** Stores to read-only slots, dropped. */
  droppedStores = 0;
  /** Loads and stores that reached a mapped slot. */
  accesses = 0;

  /** True when `gpa` is a 4 KiB-aligned slot address inside the window. */
  static isSlot(gpa: bigint): boolean {
    return gpa >= BigInt(PVX_GNT_WINDOW_BASE) && gpa < BigInt(END) && (gpa & 0xfffn) === 0n;
  }

  static slotIndex(gpa: bigint): number {
    return Number(gpa - BigInt(PVX_GNT_WINDOW_BASE)) / PAGE_SIZE;
  }

  /** The hart-facing bus: this window in front of `bus`. */
  over(bus: PhysBus): PhysBus {
    const slots = this.slots;
    const slotAt = (pa: number): WindowSlot | undefined =>
      pa >= PVX_GNT_WINDOW_BASE && pa < END ? slots.get((pa - PVX_GNT_WINDOW_BASE) >>> 12) : undefined;
    const inWindow = (pa: number): boolean => pa >= PVX_GNT_WINDOW_BASE && pa < END;
    return {
      has: (pa) => (inWindow(pa) ? slotAt(pa) !== undefined : bus.has(pa)),
      writable: (pa) => {
        if (!inWindow(pa)) return bus.writable !== undefined ? bus.writable(pa) : bus.has(pa);
        const s = slotAt(pa);
        return s !== undefined && !s.readonly;
      },
      read: (pa, size) => {
        if (!inWindow(pa)) return bus.read(pa, size);
        const s = slotAt(pa);
        if (s === undefined) return 0;
        this.accesses++;
        const o = s.off + (pa & 4095);
        const dv = s.ram.view;
        if (size === 1) return dv.getUint8(o);
        if (size === 2) return dv.getUint16(o, true);
        return dv.getInt32(o, true);
      },
      write: (pa, size, value) => {
        if (!inWindow(pa)) {
          bus.write(pa, size, value);
          return;
        }
        const s = slotAt(pa);
        if (s === undefined) return;
        if (s.readonly) {
          this.droppedStores++;
          return;
        }
        this.accesses++;
        const o = s.off + (pa & 4095);
        const dv = s.ram.view;
        if (size === 1) dv.setUint8(o, value);
        else if (size === 2) dv.setUint16(o, value, true);
        else dv.setInt32(o, value, true);
        s.ram.dirty.mark(o, size);
      },
    };
  }
}

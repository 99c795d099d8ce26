/**
 * A memory-mapped device: the bus hands it the offset inside its window.
 * Accesses are 1, 2 or 4 bytes; the bus splits an 8-byte access into two
 * 4-byte ones, low word first (what a device sees on a 32-bit interconnect).
 * `read` returns the value zero-extended to 32 bits (as an int32 is fine).
 */
export interface MmioDevice {
  readonly name: string;
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
}

interface Window {
  readonly base: number;
  readonly end: number; // exclusive
  readonly dev: MmioDevice;
  /** Accesses (reads + writes) since the window was mapped. */
  count: number;
}

/**
 * The MMIO part of the physical bus (RAM is not on it: the CPU reaches RAM
 * directly). Windows are few (under 16), so a linear scan with the last hit
 * cached is as fast as anything cleverer.
 */
export class Bus {
  private windows: Window[] = [];
  private last: Window | null = null;

  map(base: number, size: number, dev: MmioDevice): void {
    const end = base + size;
    for (const w of this.windows) {
      if (base < w.end && w.base < end) {
        throw new Error(`MMIO window for ${dev.name} overlaps ${w.dev.name}`);
      }
    }
    this.windows.push({ base, end, dev, count: 0 });
  }

  private find(pa: number): Window | null {
    const l = this.last;
    if (l !== null && pa >= l.base && pa < l.end) return l;
    for (const w of this.windows) {
      if (pa >= w.base && pa < w.end) {
        this.last = w;
        return w;
      }
    }
    return null;
  }

  /** True when some device answers at `pa`. */
  has(pa: number): boolean {
    return this.find(pa) !== null;
  }

  /** Reads 0 where nothing is mapped; a CPU that must raise an access fault checks `has` first. */
  read(pa: number, size: 1 | 2 | 4): number {
    const w = this.find(pa);
    if (w === null) return 0;
    w.count++;
    return w.dev.read(pa - w.base, size);
  }

  write(pa: number, size: 1 | 2 | 4, value: number): void {
    const w = this.find(pa);
    if (w !== null) {
      w.count++;
      w.dev.write(pa - w.base, size, value);
    }
  }

  /** MMIO accesses per device name since mapping (an 8-byte access counts twice). */
  accessCounts(): Record<string, number> {
    const out: Record<string, number> = Object.create(null);
    for (const w of this.windows) out[w.dev.name] = (out[w.dev.name] ?? 0) + w.count;
    return out;
  }

  /** Names and ranges, for diagnostics. */
  describe(): { name: string; base: number; size: number }[] {
    return this.windows.map((w) => ({ name: w.dev.name, base: w.base, size: w.end - w.base }));
  }
}

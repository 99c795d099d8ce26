/**
 * Which 4 KiB pages of guest RAM were written since the last harvest: the dirty-page log of live
 * migration's pre-copy (docs/migration.md).
 *
 * Every writer of guest RAM marks the pages it writes while the log is on: the hart's slow store
 * paths (src/cpu/mmu.ts), the checked GuestRam accessors, and the devices and hypervisor code that
 * write through RAM views (virtio queues and buffers, SBI and PVX records). The harts' fast store
 * paths, interpreted or translated to WebAssembly, do not look at the log: starting it and each
 * harvest drop every hart's write TLB (the same TLB translated stores check), and a page enters
 * that TLB only through a slow store, which marks it first. So the first store into each page
 * after a harvest is seen and later ones, to a page already dirty, run at full speed. This is
 * KVM's dirty logging by write protection, with the write TLB as the page table; it is the same
 * point where stores into pages holding translated code are caught. Off, the log costs one load
 * and one branch on the slow store paths only.
 */
export const DIRTY_PAGE_SHIFT = 12;

export class DirtyLog {
  /** One byte per page: non-zero when written since the last harvest (only while `on`). */
  readonly pages: Uint8Array;
  /** Whether writes are being logged. */
  on = false;
  /** Called at start and at each harvest: drop cached write permission (each hart's write TLB). */
  private readonly dropWrites: (() => void)[] = [];

  constructor(readonly pageCount: number) {
    this.pages = new Uint8Array(pageCount);
  }

  /** A cache of write permission (a hart's write TLB) that must be dropped when the log is cleared. */
  addWriteCache(drop: () => void): void {
    this.dropWrites.push(drop);
  }

  /** Starts logging with every page clean. */
  start(): void {
    this.pages.fill(0);
    this.on = true;
    for (const d of this.dropWrites) d();
  }

  /** Stops logging (the write TLBs may then hold any page again). */
  stop(): void {
    this.on = false;
  }

  /** Marks [off, off + len) (byte offsets in RAM) written. */
  mark(off: number, len: number): void {
    if (!this.on || len <= 0) return;
    const last = Math.min(this.pageCount - 1, (off + len - 1) >>> DIRTY_PAGE_SHIFT);
    for (let p = off >>> DIRTY_PAGE_SHIFT; p <= last; p++) this.pages[p] = 1;
  }

  /**
   * The pages written since the last harvest (or start), in ascending order, and a clean log.
   * Call only between harts' runs (never from inside `Hart.run`).
   */
  harvest(): Uint32Array {
    const pages = this.pages;
    let n = 0;
    for (let p = 0; p < pages.length; p++) if (pages[p] !== 0) n++;
    const out = new Uint32Array(n);
    n = 0;
    for (let p = 0; p < pages.length; p++) {
      if (pages[p] !== 0) {
        out[n++] = p;
        pages[p] = 0;
      }
    }
    for (const d of this.dropWrites) d();
    return out;
  }

  /** How many pages are dirty now (without clearing). */
  count(): number {
    let n = 0;
    for (let p = 0; p < this.pages.length; p++) if (this.pages[p] !== 0) n++;
    return n;
  }
}

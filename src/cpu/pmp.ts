/**
 * Physical memory protection (privileged spec 3.7): 16 entries, pmpcfg0 and pmpcfg2 (RV64) and
 * pmpaddr0..15, with the address-matching modes OFF, TOR, NA4 and NAPOT at a granularity of 4
 * bytes (G = 0, as QEMU), and the L bit.
 *
 * The registers are kept as written (`cfg`, `addr`); every write decodes them into byte ranges
 * (`lo` inclusive, `hi` exclusive, as numbers: exact below 2^53, which covers every address that
 * holds RAM or a device) and the list of active entries, which the checks walk in priority order:
 *
 * - the lowest-numbered entry that matches any byte of an access decides: all its bytes must
 *   match (a partial match fails), and then its R/W/X bits apply to S and U, and to M only when
 *   the entry is locked;
 * - when no entry matches, M-mode is allowed and S and U are denied (16 entries exist, so "at
 *   least one is implemented" always holds: S-mode code needs firmware to open memory, as on
 *   QEMU).
 *
 * The MMU (mmu.ts) checks every access that misses the TLB, and `page` tells it whether a whole
 * 4 KiB page has one outcome, so that only such pages enter the TLB: the fast path needs no
 * check. CSR writes flush the TLB (csr.ts).
 */
import { Priv } from './arch.js';

/** Permission bits of a pmpcfg byte, also the access kinds `check` takes. */
export const PMP_R = 1;
export const PMP_W = 2;
export const PMP_X = 4;
const PMP_A = 0x18;
const PMP_TOR = 0x08;
const PMP_NA4 = 0x10;
const PMP_L = 0x80;
/** Bits of a pmpcfg byte that exist (bits 5 and 6 are reserved, read as zero). */
const CFG_WRITABLE = 0x9f;

export const PMP_ENTRIES = 16;
const TWO32 = 4294967296;
const PAGE = 4096;

export class Pmp {
  /** pmpcfg0 and pmpcfg2 as lo/hi pairs: entry i is byte (i & 3) of word i >> 2. */
  readonly cfg = new Int32Array(4);
  /** pmpaddr0..15 as lo/hi pairs (bits 55:2 of the address: 54 bits). */
  readonly addr = new Int32Array(2 * PMP_ENTRIES);
  /** Decoded: byte range and permissions (R W X, and L) of each entry. */
  private readonly lo = new Float64Array(PMP_ENTRIES);
  private readonly hi = new Float64Array(PMP_ENTRIES);
  private readonly perm = new Uint8Array(PMP_ENTRIES);
  /** Entries whose A is not OFF, lowest first. */
  private readonly active = new Uint8Array(PMP_ENTRIES);
  private nActive = 0;
  /** Some active entry is locked: M-mode accesses need checking too. */
  private lockedAny = false;

  /** The pmpcfg byte of entry i. */
  cfgOf(i: number): number {
    return (this.cfg[i >> 2]! >>> ((i & 3) * 8)) & 0xff;
  }

  private locked(i: number): boolean {
    return (this.cfgOf(i) & PMP_L) !== 0;
  }

  /** Write pmpcfg0 (n = 0) or pmpcfg2 (n = 1): locked bytes keep their value (privileged spec 3.7.1). */
  writeCfg(n: number, lo: number, hi: number): void {
    for (let k = 0; k < 8; k++) {
      const i = 8 * n + k;
      if (this.locked(i)) continue;
      const w = i >> 2;
      const sh = (i & 3) * 8;
      const byte = ((k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & CFG_WRITABLE) << sh;
      this.cfg[w] = (this.cfg[w]! & ~(0xff << sh)) | byte;
    }
    this.update();
  }

  /**
   * Write pmpaddr i: ignored when entry i is locked, or when entry i + 1 is a locked TOR entry
   * (whose bottom this address is). Bits 63:54 are read-only zero.
   */
  writeAddr(i: number, lo: number, hi: number): void {
    if (this.locked(i)) return;
    if (i + 1 < PMP_ENTRIES && this.locked(i + 1) && (this.cfgOf(i + 1) & PMP_A) === PMP_TOR) return;
    this.addr[2 * i] = lo;
    this.addr[2 * i + 1] = hi & 0x3fffff;
    this.update();
  }

  /** Back to reset: every entry OFF and unlocked, addresses zero. */
  reset(): void {
    this.cfg.fill(0);
    this.addr.fill(0);
    this.update();
  }

  /** Decode the registers into ranges (after any change: CSR writes, reset, a loaded snapshot). */
  update(): void {
    let n = 0;
    let lockedAny = false;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const c = this.cfgOf(i);
      const a = c & PMP_A;
      this.perm[i] = c & (PMP_R | PMP_W | PMP_X | PMP_L);
      if (a === 0) continue;
      const alo = this.addr[2 * i]!;
      const ahi = this.addr[2 * i + 1]!;
      const at = (ahi * TWO32 + (alo >>> 0)) * 4;
      if (a === PMP_TOR) {
        this.lo[i] = i === 0 ? 0 : (this.addr[2 * i - 1]! * TWO32 + (this.addr[2 * i - 2]! >>> 0)) * 4;
        this.hi[i] = at; // lo >= hi: matches nothing
      } else if (a === PMP_NA4) {
        this.lo[i] = at;
        this.hi[i] = at + 4;
      } else {
        // NAPOT: t trailing ones give a 2^(t+3)-byte range, aligned to its size
        const t = alo === -1 ? 32 + trailingOnes(ahi) : trailingOnes(alo);
        const size = 2 ** (t + 3);
        this.lo[i] = at - (at % size);
        this.hi[i] = this.lo[i]! + size;
      }
      this.active[n++] = i;
      if (c & PMP_L) lockedAny = true;
    }
    this.nActive = n;
    this.lockedAny = lockedAny;
  }

  /**
   * The R/W/X permissions that apply to every byte of [pa, pa + len) at privilege `priv`: those
   * of the first entry matching it (all of them for M when that entry is unlocked), 0 when that
   * entry matches only part of it; with no match, all for M and none for S and U.
   */
  allowed(pa: number, len: number, priv: number): number {
    if (priv === Priv.M && !this.lockedAny) return PMP_R | PMP_W | PMP_X;
    const end = pa + len;
    for (let k = 0; k < this.nActive; k++) {
      const i = this.active[k]!;
      const lo = this.lo[i]!;
      const hi = this.hi[i]!;
      if (lo >= end || hi <= pa || lo >= hi) continue;
      if (lo > pa || hi < end) return -1;
      const p = this.perm[i]!;
      return priv === Priv.M && (p & PMP_L) === 0 ? PMP_R | PMP_W | PMP_X : p & (PMP_R | PMP_W | PMP_X);
    }
    return priv === Priv.M ? PMP_R | PMP_W | PMP_X : 0;
  }

  /** Whether an access needing the permissions `want` (PMP_R, PMP_W, PMP_X bits) to [pa, pa + len) at `priv` is allowed. */
  check(pa: number, len: number, want: number, priv: number): boolean {
    const p = this.allowed(pa, len, priv);
    return p >= 0 && (p & want) === want;
  }

  /**
   * The permissions of the 4 KiB page at `pa` when they are the same for every byte of it (what
   * the TLB may cache), or -1 when entries divide the page (every access then takes the slow
   * path and its own check).
   */
  page(pa: number, priv: number): number {
    const base = pa - (pa % PAGE);
    return this.allowed(base, PAGE, priv);
  }
}

/** Trailing one bits of a 32-bit word. */
function trailingOnes(v: number): number {
  const z = ~v;
  return z === 0 ? 32 : 31 - Math.clz32(z & -z);
}

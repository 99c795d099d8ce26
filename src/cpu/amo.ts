/**
 * The A extension: LR/SC and the AMOs (unprivileged spec ch. 14), opcode AMO (0x2f), .W and .D.
 *
 * They work on RAM only (elsewhere: store/AMO access fault) and must be naturally aligned (LR:
 * load-address-misaligned, SC/AMO: store/AMO-address-misaligned). The aq/rl bits need no
 * action: the interpreter performs each access in program order, one at a time.
 *
 * LR records the RAM offset, size and value it read; SC succeeds when a reservation exists for
 * the same offset and size and memory still holds that value (QEMU's rule), so a store by
 * another hart that changes the value breaks it. Traps and xRET drop the reservation.
 *
 * On RAM shared with harts on other threads (`Mmu.shared`) each AMO is one atomic
 * read-modify-write (`Atomics`: a compare-and-swap loop, as QEMU's multi-threaded TCG does for
 * the operations the host has no instruction for), LR an atomic load and SC a compare-and-swap
 * of the reserved value: the check and the store happen as one step (QEMU MTTCG's LR/SC). The
 * 64-bit forms go through a BigInt64Array, so they allocate; that path is taken only by the
 * interpreter of a domain whose harts run on threads (translated code uses wasm atomics).
 */
import { Cause } from './arch.js';
import type { Hart } from './hart.js';
import { Access } from './mmu.js';

/** The LR/SC reservation of one hart. */
export class Reservation {
  /**
   * valid (0/1), RAM offset, size, value (lo, hi): in the hart's state area (jit/state.ts
   * RES_OFF), where translated LR and SC read and write them, or a private array.
   */
  private readonly w: Int32Array;
  constructor(words: Int32Array = new Int32Array(5)) {
    this.w = words;
  }
  get valid(): boolean {
    return this.w[0] !== 0;
  }
  set valid(v: boolean) {
    this.w[0] = v ? 1 : 0;
  }
  /** RAM offset. */
  get pa(): number {
    return this.w[1]!;
  }
  set pa(v: number) {
    this.w[1] = v;
  }
  get size(): number {
    return this.w[2]!;
  }
  set size(v: number) {
    this.w[2] = v;
  }
  get lo(): number {
    return this.w[3]!;
  }
  set lo(v: number) {
    this.w[3] = v;
  }
  get hi(): number {
    return this.w[4]!;
  }
  set hi(v: number) {
    this.w[4] = v;
  }
}

/** Executes one AMO-opcode instruction; `raw` is its encoding (the tval of an illegal instruction). */
export function amo(h: Hart, insn: number, raw: number): void {
  const f3 = (insn >> 12) & 7;
  if (f3 !== 2 && f3 !== 3) h.fault(Cause.Illegal, raw, 0);
  const f5 = insn >>> 27;
  const x = h.xx;
  const d = (insn >> 6) & 62 || 64;
  const s1 = (insn >> 14) & 62;
  const s2 = (insn >> 19) & 62;
  const va = x[s1]!;
  const vh = x[s1 + 1]!;
  const size = f3 === 2 ? 4 : 8;
  const isLr = f5 === 2;
  if (isLr && s2 !== 0) h.fault(Cause.Illegal, raw, 0);
  if (f5 !== 0 && f5 !== 1 && f5 !== 2 && f5 !== 3 && (f5 & 3) !== 0) h.fault(Cause.Illegal, raw, 0);
  if (f5 > 0x1c) h.fault(Cause.Illegal, raw, 0);
  if (va & (size - 1)) h.fault(isLr ? Cause.LoadMisaligned : Cause.StoreMisaligned, va, vh);
  const mmu = h.mmu;
  if (f5 === 3) {
    // SC.W, SC.D end the reservation; without one they fail without touching memory.
    const res = h.res;
    if (!res.valid) {
      x[d] = 1;
      x[d + 1] = 0;
      return;
    }
    res.valid = false;
  }
  if (mmu.shared) {
    amoShared(h, f5, size, d, s2, va, vh, raw);
    return;
  }
  const i32 = mmu.i32;
  const res = h.res;
  if (isLr) {
    // LR.W, LR.D
    const o = mmu.atomicOffset(va, vh, Access.Load, size);
    const lo = i32[o / 4]!;
    reserve(h, d, o, size, lo, size === 8 ? i32[o / 4 + 1]! : lo >> 31);
    return;
  }
  if (f5 === 3) {
    // SC.W, SC.D (with a reservation: see above)
    const o = mmu.atomicOffset(va, vh, Access.Store, size);
    const w = o / 4;
    const cur = i32[w]!;
    const ok = o === res.pa && size === res.size && cur === res.lo && (size === 4 || i32[w + 1] === res.hi);
    if (ok) {
      i32[w] = x[s2]!;
      if (size === 8) i32[w + 1] = x[s2 + 1]!;
    }
    x[d] = ok ? 0 : 1;
    x[d + 1] = 0;
    return;
  }
  const w = mmu.atomicOffset(va, vh, Access.Store, size) / 4;
  const a = i32[w]!;
  const ah = size === 8 ? i32[w + 1]! : a >> 31;
  const b = x[s2]!;
  const bh = size === 8 ? x[s2 + 1]! : b >> 31;
  const rl = amoOp(h, f5, a, ah, b, bh, raw);
  const rh = opHi;
  i32[w] = rl;
  if (size === 8) i32[w + 1] = rh;
  x[d] = a;
  x[d + 1] = ah;
}

/** LR's end on either path: a reservation of `size` bytes at offset `o` holding (lo, hi), and rd = that value. */
function reserve(h: Hart, d: number, o: number, size: number, lo: number, hi: number): void {
  const res = h.res;
  res.valid = true;
  res.pa = o;
  res.size = size;
  res.lo = lo;
  res.hi = hi;
  h.xx[d] = lo;
  h.xx[d + 1] = hi;
}

/** The high word of amoOp's result (a module variable: the AMO path allocates nothing). */
let opHi = 0;

/** The new memory value of AMO `f5` on old (a, ah) and operand (b, bh): low word returned, high in opHi. */
function amoOp(h: Hart, f5: number, a: number, ah: number, b: number, bh: number, raw: number): number {
  let rl: number;
  let rh: number;
  switch (f5) {
    case 0x01: // AMOSWAP
      rl = b;
      rh = bh;
      break;
    case 0x00: {
      // AMOADD
      rl = (a + b) | 0;
      rh = (ah + bh + (rl >>> 0 < a >>> 0 ? 1 : 0)) | 0;
      break;
    }
    case 0x04: // AMOXOR
      rl = a ^ b;
      rh = ah ^ bh;
      break;
    case 0x0c: // AMOAND
      rl = a & b;
      rh = ah & bh;
      break;
    case 0x08: // AMOOR
      rl = a | b;
      rh = ah | bh;
      break;
    case 0x10: // AMOMIN
    case 0x14: {
      // AMOMAX
      const lt = ah < bh || (ah === bh && a >>> 0 < b >>> 0);
      const pickA = f5 === 0x10 ? lt : !lt;
      rl = pickA ? a : b;
      rh = pickA ? ah : bh;
      break;
    }
    case 0x18: // AMOMINU
    case 0x1c: {
      // AMOMAXU
      const lt = ah >>> 0 < bh >>> 0 || (ah === bh && a >>> 0 < b >>> 0);
      const pickA = f5 === 0x18 ? lt : !lt;
      rl = pickA ? a : b;
      rh = pickA ? ah : bh;
      break;
    }
    default:
      h.fault(Cause.Illegal, raw, 0);
  }
  opHi = rh;
  return rl;
}

const pair = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo >>> 0);

/** LR, SC and the AMOs on shared RAM (harts on several threads): see the file's comment. */
function amoShared(
  h: Hart,
  f5: number,
  size: number,
  d: number,
  s2: number,
  va: number,
  vh: number,
  raw: number,
): void {
  const x = h.xx;
  const mmu = h.mmu;
  const i32 = mmu.i32;
  const i64 = mmu.i64!;
  const res = h.res;
  if (f5 === 2) {
    // LR.W, LR.D
    const o = mmu.atomicOffset(va, vh, Access.Load, size);
    let lo: number;
    let hi: number;
    if (size === 4) {
      lo = Atomics.load(i32, o >> 2);
      hi = lo >> 31;
    } else {
      const v = Atomics.load(i64, o >> 3);
      lo = Number(BigInt.asIntN(32, v));
      hi = Number(v >> 32n);
    }
    reserve(h, d, o, size, lo, hi);
    return;
  }
  if (f5 === 3) {
    // SC.W, SC.D: a compare-and-swap of the reserved value (with a reservation: see amo)
    const o = mmu.atomicOffset(va, vh, Access.Store, size);
    let ok = o === res.pa && size === res.size;
    if (ok) {
      if (size === 4) ok = Atomics.compareExchange(i32, o >> 2, res.lo, x[s2]!) === res.lo;
      else {
        const want = pair(res.lo, res.hi);
        ok = Atomics.compareExchange(i64, o >> 3, want, pair(x[s2]!, x[s2 + 1]!)) === want;
      }
    }
    x[d] = ok ? 0 : 1;
    x[d + 1] = 0;
    return;
  }
  const o = mmu.atomicOffset(va, vh, Access.Store, size);
  const b = x[s2]!;
  if (size === 4) {
    const w = o >> 2;
    for (;;) {
      const a = Atomics.load(i32, w);
      const r = amoOp(h, f5, a, a >> 31, b, b >> 31, raw);
      if (Atomics.compareExchange(i32, w, a, r) === a) {
        x[d] = a;
        x[d + 1] = a >> 31;
        return;
      }
    }
  }
  const bh = x[s2 + 1]!;
  const w = o >> 3;
  for (;;) {
    const old = Atomics.load(i64, w);
    const a = Number(BigInt.asIntN(32, old));
    const ah = Number(old >> 32n);
    const r = amoOp(h, f5, a, ah, b, bh, raw);
    if (Atomics.compareExchange(i64, w, old, pair(r, opHi)) === old) {
      x[d] = a;
      x[d + 1] = ah;
      return;
    }
  }
}

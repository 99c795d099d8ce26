import { makeAccess64, type Read64, type Write64 } from '../core/access64.js';
import { DirtyLog } from '../core/dirty-log.js';
import { PvmError } from '../core/errors.js';
import type { Gpa } from '../core/types.js';

/** Largest guest RAM: it is one Uint8Array, and Node 20 (V8) caps typed arrays at 2^32 elements. */
export const MAX_RAM_BYTES = 2 ** 32;

/** The part of the WebAssembly JS API RAM uses (the core layers compile without DOM or Node types). */
interface WasmMemoryApi {
  Memory: new (d: { initial: number; maximum: number; shared?: boolean }) => { readonly buffer: ArrayBuffer };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmMemoryApi }).WebAssembly;
const WASM_PAGE = 65536;
const WASM_MAX_BYTES = 2 ** 32;

/** How GuestRam allocates its memory. */
export interface GuestRamOptions {
  /** A shared WebAssembly.Memory (harts on several threads); an error where it cannot be made. */
  shared?: boolean;
  /**
   * Use this WebAssembly.Memory (another thread's `wasmMemory`, posted to this one) instead of
   * allocating: the same RAM and state areas, seen from a second thread.
   */
  memory?: object;
  /**
   * Where the state areas handed out by `claimCpuState` begin (default: right after RAM). A
   * thread attached to another's RAM (`memory`) runs hart k with the area at
   * size + k x HART_STATE_BYTES, the one the owner's board reserved for it.
   */
  stateStart?: number;
}

/**
 * Guest RAM: one contiguous region at `base`. The CPU reads the typed-array
 * views directly on its fast path (offset = pa - base); everything else
 * (devices, loaders, the hypervisor) goes through the checked accessors,
 * which handle any length and never touch memory outside the region.
 *
 * The host is assumed little-endian (x86-64, AArch64), like the guest.
 */
export class GuestRam {
  readonly base: number;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly view: DataView;
  /**
   * Pages written while live migration logs them (src/core/dirty-log.ts). Code that writes RAM
   * through `u8`, `view` or a `slice` marks what it wrote with `dirty.mark(offset, length)`; the
   * accessors below do it themselves.
   */
  readonly dirty: DirtyLog;
  /**
   * The WebAssembly.Memory whose buffer holds RAM (at offset 0) followed by the CPU state areas
   * (registers and TLBs of each hart, see `claimCpuState`), so translated code (src/cpu/jit/)
   * and the interpreter share one copy of the state. Undefined where WebAssembly is missing.
   */
  readonly wasmMemory: object | undefined;
  /**
   * RAM and state areas are a shared WebAssembly.Memory (a SharedArrayBuffer): harts of the
   * domain may run on other threads over the same bytes (docs/scheduler.md, "Harts on threads"),
   * and AMOs and LR/SC use atomic operations (src/cpu/amo.ts).
   */
  readonly shared: boolean;
  /**
   * On shared RAM, the doubleword accessors' single 64-bit load and store (src/core/access64.ts): another
   * thread never sees one half-written. Null on private RAM, where a DataView will do.
   */
  private readonly read64: Read64 | null;
  private readonly write64: Write64 | null;
  /** On shared RAM, the BigInt forms' view: Atomics on it are single 64-bit accesses. */
  private readonly big64: BigUint64Array | null;
  /** Next free byte of the CPU state area (after RAM) and its end. */
  private stateNext: number;
  private readonly stateEnd: number;

  /**
   * `cpuStateBytes` reserves room after RAM for the harts' state areas (one per hart; the board
   * passes harts x HART_STATE_BYTES). Left out (0), harts keep their state in their own buffers
   * and run without the translator.
   */
  constructor(base: number, size: number, cpuStateBytes = 0, opts: GuestRamOptions = {}) {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0 || size > MAX_RAM_BYTES) {
      throw new PvmError('usage', `RAM size must be a positive multiple of 4 KiB up to 4 GiB, got ${size}`);
    }
    this.base = base;
    this.size = size;
    let extra = Math.max(0, Math.ceil(cpuStateBytes / 4096) * 4096);
    if (size + extra > WASM_MAX_BYTES) extra = 0;
    let memory: { readonly buffer: ArrayBuffer } | undefined;
    const attach = opts.memory as { readonly buffer: ArrayBuffer } | undefined;
    if (attach !== undefined) {
      // another thread's RAM: the state areas are claimed there, this thread takes one by offset
      if (attach.buffer.byteLength < size + extra) throw new PvmError('usage', 'shared RAM is smaller than the domain');
      memory = attach;
    } else if (wasmApi !== undefined) {
      const pages = Math.ceil((size + extra) / WASM_PAGE);
      try {
        memory = new wasmApi.Memory({ initial: pages, maximum: pages, ...(opts.shared ? { shared: true } : {}) });
      } catch (e) {
        if (opts.shared) throw new PvmError('usage', `cannot allocate shared guest RAM: ${(e as Error).message}`);
        memory = undefined; // no address space for it: a plain buffer, and no translator
      }
    }
    this.shared = memory !== undefined && !(memory.buffer instanceof ArrayBuffer);
    this.wasmMemory = memory;
    this.buffer = memory !== undefined ? memory.buffer : new ArrayBuffer(size);
    this.stateNext = memory !== undefined ? Math.max(size, opts.stateStart ?? size) : 0;
    this.stateEnd = memory !== undefined ? size + extra : 0;
    this.u8 = new Uint8Array(this.buffer, 0, size);
    this.u16 = new Uint16Array(this.buffer, 0, size / 2);
    this.i32 = new Int32Array(this.buffer, 0, size / 4);
    this.view = new DataView(this.buffer, 0, size);
    this.dirty = new DirtyLog(size / 4096);
    const access = this.shared ? makeAccess64(memory!) : null;
    this.read64 = access?.read64 ?? null;
    this.write64 = access?.write64 ?? null;
    this.big64 = this.shared ? new BigUint64Array(this.buffer, 0, size / 8) : null;
  }

  /**
   * Reserve `bytes` (a multiple of 8) of the CPU state area after RAM; returns their offset in
   * `buffer`, or -1 when the area is full or absent. Never part of guest-physical memory.
   */
  claimCpuState(bytes: number): number {
    if (this.stateNext + bytes > this.stateEnd) return -1;
    const o = this.stateNext;
    this.stateNext += bytes;
    return o;
  }

  /** True when [pa, pa+len) lies inside RAM. Guards against overflow and NaN. */
  contains(pa: number, len: number): boolean {
    const off = pa - this.base;
    return len >= 0 && off >= 0 && off + len <= this.size && Number.isSafeInteger(off + len);
  }

  /** Offset of `pa` in the buffer, or -1 when [pa, pa+len) is not entirely RAM. */
  offsetOf(pa: number, len: number): number {
    return this.contains(pa, len) ? pa - this.base : -1;
  }

  private check(pa: number, len: number): number {
    if (!this.contains(pa, len)) {
      throw new PvmError('guest', `guest-physical range 0x${pa.toString(16)}+${len} is outside RAM`);
    }
    return pa - this.base;
  }

  read(pa: Gpa, dst: Uint8Array): void {
    const off = this.check(pa, dst.length);
    dst.set(this.u8.subarray(off, off + dst.length));
  }

  write(pa: Gpa, src: Uint8Array): void {
    const off = this.check(pa, src.length);
    this.dirty.mark(off, src.length);
    this.u8.set(src, off);
  }

  /** A view (not a copy) of guest memory; valid until the RAM is resized. */
  slice(pa: Gpa, len: number): Uint8Array {
    const off = this.check(pa, len);
    return this.u8.subarray(off, off + len);
  }

  fill(pa: Gpa, len: number, value: number): void {
    const off = this.check(pa, len);
    this.dirty.mark(off, len);
    this.u8.fill(value, off, off + len);
  }

  readU8(pa: Gpa): number {
    return this.u8[this.check(pa, 1)]!;
  }
  readU16(pa: Gpa): number {
    return this.view.getUint16(this.check(pa, 2), true);
  }
  readU32(pa: Gpa): number {
    return this.view.getUint32(this.check(pa, 4), true);
  }
  /** 64-bit read as a number; exact below 2^53 (addresses, lengths). One access on shared RAM. */
  readU64(pa: Gpa): number {
    const off = this.check(pa, 8);
    if (this.read64 !== null) return this.read64(off);
    return this.view.getUint32(off + 4, true) * 0x1_0000_0000 + this.view.getUint32(off, true);
  }
  /** One access on shared RAM when 8-aligned (as the guest's own LD must be to be single-copy atomic). */
  readBigU64(pa: Gpa): bigint {
    const off = this.check(pa, 8);
    if (this.big64 !== null && (off & 7) === 0) return Atomics.load(this.big64, off >>> 3);
    return this.view.getBigUint64(off, true);
  }
  /** Checked offset of a write of `len` bytes at `pa`, marked dirty. */
  private written(pa: number, len: number): number {
    const off = this.check(pa, len);
    this.dirty.mark(off, len);
    return off;
  }
  writeU8(pa: Gpa, v: number): void {
    this.u8[this.written(pa, 1)] = v;
  }
  writeU16(pa: Gpa, v: number): void {
    this.view.setUint16(this.written(pa, 2), v, true);
  }
  writeU32(pa: Gpa, v: number): void {
    this.view.setUint32(this.written(pa, 4), v >>> 0, true);
  }
  /** One access on shared RAM. */
  writeU64(pa: Gpa, v: number): void {
    const off = this.written(pa, 8);
    const lo = v >>> 0;
    const hi = Math.floor(v / 0x1_0000_0000) >>> 0;
    if (this.write64 !== null) {
      this.write64(off, lo, hi);
      return;
    }
    this.view.setUint32(off, lo, true);
    this.view.setUint32(off + 4, hi, true);
  }
  /** One access on shared RAM when 8-aligned. */
  writeBigU64(pa: Gpa, v: bigint): void {
    const off = this.written(pa, 8);
    if (this.big64 !== null && (off & 7) === 0) Atomics.store(this.big64, off >>> 3, BigInt.asUintN(64, v));
    else this.view.setBigUint64(off, v, true);
  }
}

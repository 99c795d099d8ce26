/**
 * Single 64-bit accesses to RAM shared between threads, for the hypervisor's own accesses
 * (GuestRam.readU64 / writeU64: virtio rings, SBI records, PVX structures) and the
 * interpreter's. A DataView or two 32-bit accesses would let a hart on another thread see a
 * doubleword half-written, or read one the guest is writing as two halves of different values;
 * JavaScript has no 64-bit integer access that does not allocate (a BigInt). So a tiny wasm
 * module on the same shared WebAssembly.Memory does each access as one i64.load or i64.store,
 * one 8-byte host access (single-copy atomic when aligned, as RVWMO requires of an aligned
 * doubleword; V8 on x86-64 and AArch64). Its third function, `copy64(dst, src)`, is the
 * interpreter's LD and SD on shared RAM (src/cpu/mmu.ts): a copy between RAM and the hart's
 * registers or scratch word, which live in its state area in the same memory
 * (src/cpu/jit/state.ts); translated code's loads and stores are the same wasm instructions.
 * The module is a fixed byte string: the core layer, under both the CPU and the memory, does
 * not reach the translator's encoder.
 */

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Reads the doubleword at byte offset `off` of the memory, as a number (exact below 2^53). */
export type Read64 = (off: number) => number;
/** Writes `lo | hi << 32` (two uint32 halves) at byte offset `off` of the memory in one store. */
export type Write64 = (off: number, lo: number, hi: number) => void;
/** Copies the doubleword at byte offset `src` to byte offset `dst` (both 8-aligned) in one load and one store. */
export type Copy64 = (dst: number, src: number) => void;

/**
 * types: 0 (i32) -> f64, 1 (i32 i32 i32) -> (), 2 (i32 i32) -> (); import m.mem, a shared
 * memory of 0 to 65536 pages; function 0 "r": f64.convert_i64_u(i64.load(off)); function 1
 * "w": i64.store(off, i64.extend_i32_u(lo) | i64.extend_i32_u(hi) << 32); function 2 "c":
 * i64.store(dst, i64.load(src)).
 */
// biome-ignore format: one section a line
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x11, 0x03, 0x60, 0x01, 0x7f, 0x01, 0x7c, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  0x02, 0x0d, 0x01, 0x01, 0x6d, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x03, 0x00, 0x80, 0x80, 0x04,
  0x03, 0x04, 0x03, 0x00, 0x01, 0x02,
  0x07, 0x0d, 0x03, 0x01, 0x72, 0x00, 0x00, 0x01, 0x77, 0x00, 0x01, 0x01, 0x63, 0x00, 0x02,
  0x0a, 0x29, 0x03,
  0x08, 0x00, 0x20, 0x00, 0x29, 0x03, 0x00, 0xba, 0x0b,
  0x11, 0x00, 0x20, 0x00, 0x20, 0x01, 0xad, 0x20, 0x02, 0xad, 0x42, 0x20, 0x86, 0x84, 0x37, 0x03, 0x00, 0x0b,
  0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x29, 0x03, 0x00, 0x37, 0x03, 0x00, 0x0b,
]);

/** Compiled once per thread; instantiated per memory. */
let module: object | undefined;

/** The accesses on `memory`, a shared WebAssembly.Memory; null without WebAssembly. */
export function makeAccess64(memory: object): { read64: Read64; write64: Write64; copy64: Copy64 } | null {
  if (wasmApi === undefined) return null;
  module ??= new wasmApi.Module(MODULE);
  const e = new wasmApi.Instance(module, { m: { mem: memory } }).exports;
  return { read64: e.r as Read64, write64: e.w as Write64, copy64: e.c as Copy64 };
}

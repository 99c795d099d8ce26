/**
 * Single 64-bit accesses to RAM shared between threads, for the hypervisor's own accesses
 * (GuestRam.readU64 / writeU64: virtio rings, SBI records, PVX structures). A DataView or two
 * 32-bit accesses would let a hart on another thread see a doubleword half-written, or read
 * one the guest is writing as two halves of different values; JavaScript has no 64-bit integer
 * access that does not allocate (a BigInt). So, as the interpreter's copy64 (src/cpu/copy64.ts)
 * does, a tiny wasm module on the same shared WebAssembly.Memory does each access as one
 * i64.load or i64.store, one 8-byte host access (single-copy atomic when aligned, as RVWMO
 * requires of an aligned doubleword). The module is a fixed byte string: this layer does not
 * reach the translator's encoder.
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

/**
 * types: 0 (i32) -> f64, 1 (i32 i32 i32) -> (); import m.mem, a shared memory of 0 to 65536
 * pages; function 0 "r": f64.convert_i64_u(i64.load(off)); function 1 "w":
 * i64.store(off, i64.extend_i32_u(lo) | i64.extend_i32_u(hi) << 32).
 */
// biome-ignore format: one section a line
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x0c, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7c, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00,
  0x02, 0x0d, 0x01, 0x01, 0x6d, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x03, 0x00, 0x80, 0x80, 0x04,
  0x03, 0x03, 0x02, 0x00, 0x01,
  0x07, 0x09, 0x02, 0x01, 0x72, 0x00, 0x00, 0x01, 0x77, 0x00, 0x01,
  0x0a, 0x1c, 0x02,
  0x08, 0x00, 0x20, 0x00, 0x29, 0x03, 0x00, 0xba, 0x0b,
  0x11, 0x00, 0x20, 0x00, 0x20, 0x01, 0xad, 0x20, 0x02, 0xad, 0x42, 0x20, 0x86, 0x84, 0x37, 0x03, 0x00, 0x0b,
]);

/** Compiled once per thread; instantiated per memory. */
let module: object | undefined;

/** The two accesses on `memory`, a shared WebAssembly.Memory; null without WebAssembly. */
export function makeAccess64(memory: object): { read64: Read64; write64: Write64 } | null {
  if (wasmApi === undefined) return null;
  module ??= new wasmApi.Module(MODULE);
  const e = new wasmApi.Instance(module, { m: { mem: memory } }).exports;
  return { read64: e.r as Read64, write64: e.w as Write64 };
}

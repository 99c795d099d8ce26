/**
 * One 64-bit access on RAM shared between threads (docs/cpu.md, "Shared RAM"). JavaScript has
 * no 64-bit integer load or store that does not allocate (a BigInt64Array element is a BigInt),
 * and two 32-bit accesses let another thread see a doubleword half-written. So the interpreter
 * copies doublewords with a two-instruction wasm function on the same WebAssembly.Memory:
 * `copy64(dst, src)` is `i64.store(dst, i64.load(src))`, byte offsets in the memory, both
 * 8-aligned. RAM is one side; the other is the hart's registers or its scratch word, which live
 * in its state area in the same memory (jit/state.ts). Translated code's loads and stores are
 * the same wasm instructions: an aligned i64.load or i64.store is one 8-byte host access (V8 on
 * x86-64 and AArch64), which those hosts perform as one single-copy-atomic access, as RVWMO
 * requires of an aligned doubleword.
 */
import { buildModule, Code, I32, Op } from './jit/wasm.js';

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export type Copy64 = (dst: number, src: number) => void;

/** Compiled once per thread; instantiated per memory. */
let module: object | undefined;

/** `copy64` on `memory`, a shared WebAssembly.Memory, or null without WebAssembly. */
export function makeCopy64(memory: object): Copy64 | null {
  if (wasmApi === undefined) return null;
  if (module === undefined) {
    // (dst, src): local 0, local 1; no locals of its own
    const body = new Code().u32(0).get(0).get(1).mem(Op.i64Load, 3, 0).mem(Op.i64Store, 3, 0).op(Op.end);
    module = new wasmApi.Module(buildModule(0, [I32, I32], [], [body], true));
  }
  return new wasmApi.Instance(module, { m: { mem: memory } }).exports.b0 as Copy64;
}

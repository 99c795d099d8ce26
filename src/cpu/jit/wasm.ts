/**
 * A small WebAssembly binary encoder: just what the block translator (translate.ts) emits.
 * Function bodies are written with `Code` (opcodes and LEB128 immediates into a growable byte
 * array); `buildModule` wraps them into a module that imports one memory and exports each
 * function as "b<i>". Reference: the WebAssembly core specification, chapter 5 (binary format).
 */

/** Value types. */
export const I32 = 0x7f;
export const I64 = 0x7e;
/** The block type of a block/loop/if without a result. */
export const VOID = 0x40;

/** Opcodes (the subset used). */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  call: 0x10,
  callIndirect: 0x11,
  drop: 0x1a,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  i32Load8S: 0x2c,
  i32Load8U: 0x2d,
  i32Load16S: 0x2e,
  i32Load16U: 0x2f,
  i64Load8S: 0x30,
  i64Load8U: 0x31,
  i64Load16S: 0x32,
  i64Load16U: 0x33,
  i64Load32S: 0x34,
  i64Load32U: 0x35,
  i32Store: 0x36,
  i64Store: 0x37,
  i64Store8: 0x3c,
  i64Store16: 0x3d,
  i64Store32: 0x3e,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32GeS: 0x4e,
  i64Eqz: 0x50,
  i64Eq: 0x51,
  i64Ne: 0x52,
  i64LtS: 0x53,
  i64LtU: 0x54,
  i64GeS: 0x59,
  i64GeU: 0x5a,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32DivS: 0x6d,
  i32DivU: 0x6e,
  i32RemS: 0x6f,
  i32RemU: 0x70,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrS: 0x75,
  i32ShrU: 0x76,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64DivS: 0x7f,
  i64DivU: 0x80,
  i64RemS: 0x81,
  i64RemU: 0x82,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrS: 0x87,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i64ExtendI32S: 0xac,
  i64ExtendI32U: 0xad,
} as const;

/**
 * Atomic memory instructions (prefix 0xfe, the threads proposal): each read-modify-write
 * family has the i32 form at its base, i64 at +1 and i64's 32-bit (zero-extending) form at +6.
 * Valid on shared and unshared memories alike; the alignment immediate must be the natural one.
 */
export const Atomic = {
  i32Load: 0x10,
  i64Load: 0x11,
  add: 0x1e,
  and: 0x2c,
  or: 0x33,
  xor: 0x3a,
  xchg: 0x41,
  cmpxchg: 0x48,
} as const;

/** A growable byte array with the encodings the translator needs. */
export class Code {
  bytes = new Uint8Array(1024);
  length = 0;

  byte(b: number): this {
    if (this.length === this.bytes.length) {
      const n = new Uint8Array(this.bytes.length * 2);
      n.set(this.bytes);
      this.bytes = n;
    }
    this.bytes[this.length++] = b;
    return this;
  }

  append(c: Code): this {
    const need = this.length + c.length;
    if (need > this.bytes.length) {
      const n = new Uint8Array(Math.max(need, this.bytes.length * 2));
      n.set(this.bytes.subarray(0, this.length));
      this.bytes = n;
    }
    this.bytes.set(c.bytes.subarray(0, c.length), this.length);
    this.length = need;
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  u32(v: number): this {
    let x = v >>> 0;
    do {
      const b = x & 0x7f;
      x >>>= 7;
      this.byte(x !== 0 ? b | 0x80 : b);
    } while (x !== 0);
    return this;
  }

  /** Signed LEB128 of an int32. */
  s32(v: number): this {
    let x = v | 0;
    for (;;) {
      const b = x & 0x7f;
      x >>= 7;
      if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of a 64-bit value given as int32 halves. */
  s64(lo: number, hi: number): this {
    // signed LEB128 depends on the value only: one that fits an int32 is encoded as s32 would
    if ((hi | 0) === lo >> 31) return this.s32(lo);
    let x = (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  op(o: number): this {
    return this.byte(o);
  }
  get(l: number): this {
    return this.byte(Op.localGet).u32(l);
  }
  set(l: number): this {
    return this.byte(Op.localSet).u32(l);
  }
  tee(l: number): this {
    return this.byte(Op.localTee).u32(l);
  }
  i32(v: number): this {
    return this.byte(Op.i32Const).s32(v);
  }
  i64(lo: number, hi: number): this {
    return this.byte(Op.i64Const).s64(lo, hi);
  }
  /** An atomic instruction (Atomic, plus 1 for i64) with its natural alignment `align` (log2 bytes). */
  atomic(o: number, align: number, offset: number): this {
    return this.byte(0xfe).u32(o).u32(align).u32(offset);
  }
  /** A load or store with alignment hint `align` (log2 bytes) and constant offset. */
  mem(o: number, align: number, offset: number): this {
    return this.byte(o).u32(align).u32(offset);
  }
}

export function section(out: Code, id: number, body: Code): void {
  out.byte(id).u32(body.length).append(body);
}

/**
 * The import entry's memory type: at least `minPages`; a shared memory (harts on several
 * threads) must be imported as shared, with a maximum (any, up to 4 GiB).
 */
export function memoryType(c: Code, minPages: number, shared: boolean): void {
  if (shared) c.byte(0x02).byte(0x03).u32(minPages).u32(65536);
  else c.byte(0x02).byte(0x00).u32(minPages);
}

export function name(c: Code, s: string): void {
  c.u32(s.length);
  for (let i = 0; i < s.length; i++) c.byte(s.charCodeAt(i));
}

/**
 * A module importing memory "m"."mem" (at least `minPages` pages) with functions of one type
 * (`params` -> `results`), each body a complete function body (locals and code, `end`
 * included), exported as "b0", "b1", ...
 */
export function buildModule(
  minPages: number,
  params: readonly number[],
  results: readonly number[],
  bodies: readonly Code[],
  shared = false,
): Uint8Array {
  const out = new Code();
  for (const b of [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) out.byte(b);
  const type = new Code().u32(1).byte(0x60).u32(params.length);
  for (const p of params) type.byte(p);
  type.u32(results.length);
  for (const r of results) type.byte(r);
  section(out, 1, type);
  const imp = new Code().u32(1);
  name(imp, 'm');
  name(imp, 'mem');
  memoryType(imp, minPages, shared);
  section(out, 2, imp);
  const fns = new Code().u32(bodies.length);
  for (let i = 0; i < bodies.length; i++) fns.u32(0);
  section(out, 3, fns);
  const exp = new Code().u32(bodies.length);
  for (let i = 0; i < bodies.length; i++) {
    name(exp, `b${i}`);
    exp.byte(0x00).u32(i);
  }
  section(out, 7, exp);
  const code = new Code().u32(bodies.length);
  for (const b of bodies) code.u32(b.length).append(b);
  section(out, 10, code);
  return out.bytes.slice(0, out.length);
}

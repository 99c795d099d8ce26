import { PvmError } from './errors.js';
import { utf8Decode, utf8Encode } from './utf8.js';

/**
 * The one state codec of pvm (Firecracker's `Persist`): every component that
 * is saved (a hart, each board device, each virtio device, the run loop, each
 * part of PVX) writes its state through a StateWriter and reads it back
 * through a StateReader, so a snapshot is the sum of small states, each with
 * its own codec and tests.
 *
 * Encoding: little-endian, fixed-width integers, no padding, no tags; a list
 * or a byte string is a u32 count followed by its items, an optional value a
 * bool followed by the value. What a component writes is fixed by the
 * snapshot format version (src/hypervisor/snapshot/format.ts), so states carry
 * no versions of their own.
 *
 * The reader validates as it reads: every field has a name, a width and a
 * range; counts are checked against the bytes left before anything is
 * allocated; a value outside its range (an enum value not in the list, a bool
 * that is not 0 or 1, a negative or fractional number where an integer is
 * expected) is refused with a SnapshotError that names the field. Reading
 * produces a plain value and changes nothing; applying it is the component's
 * business and cannot fail, so a refused load has no side effects.
 */

/**
 * Why a snapshot was refused. Errors are data: each reason has one message
 * form, and every refusal happens before anything is restored.
 */
export type SnapshotErrorReason =
  | 'too-small' // shorter than a header plus a checksum
  | 'bad-magic' // not a pvm snapshot at all
  | 'bad-version' // a pvm snapshot of a format this build does not read
  | 'bad-header' // header fields that no writer produces
  | 'unsupported' // checksum or compression algorithm this build was not given
  | 'truncated' // fewer bytes than the header announces
  | 'bad-size' // more bytes than the header announces
  | 'bad-checksum' // contents changed after writing
  | 'bad-section' // a section that does not parse (only reachable with a valid checksum)
  | 'bad-state' // a component's state that does not parse
  | 'mismatch'; // a well-formed state for another shape of domain (harts, RAM, devices)

export class SnapshotError extends PvmError {
  readonly reason: SnapshotErrorReason;
  constructor(reason: SnapshotErrorReason, message: string) {
    super('image', message);
    this.reason = reason;
    this.name = 'SnapshotError';
  }
}

export const isSnapshotError = (e: unknown): e is SnapshotError => e instanceof SnapshotError;

const TWO32 = 0x1_0000_0000;

export class StateWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  get length(): number {
    return this.len;
  }

  private reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.len + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  /** A value our own state should never hold: a bug in the component that saves it. */
  private static check(ok: boolean, kind: string, v: unknown): void {
    if (!ok) throw new RangeError(`state writer: ${String(v)} is not a ${kind}`);
  }

  u8(v: number): this {
    StateWriter.check(Number.isInteger(v) && v >= 0 && v <= 0xff, 'u8', v);
    const at = this.reserve(1);
    this.view.setUint8(at, v);
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  u16(v: number): this {
    StateWriter.check(Number.isInteger(v) && v >= 0 && v <= 0xffff, 'u16', v);
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
    return this;
  }

  u32(v: number): this {
    StateWriter.check(Number.isInteger(v) && v >= 0 && v < TWO32, 'u32', v);
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
    return this;
  }

  i32(v: number): this {
    StateWriter.check(Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff, 'i32', v);
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
    return this;
  }

  /** A safe integer (|v| < 2^53), stored in 64 bits. */
  int(v: number): this {
    StateWriter.check(Number.isSafeInteger(v), 'safe integer', v);
    const at = this.reserve(8);
    this.view.setBigInt64(at, BigInt(v), true);
    return this;
  }

  /** A non-negative safe integer, stored in 64 bits. */
  uint(v: number): this {
    StateWriter.check(Number.isSafeInteger(v) && v >= 0, 'non-negative safe integer', v);
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
    return this;
  }

  /** 0 .. 2^64-1. */
  u64(v: bigint): this {
    StateWriter.check(v >= 0n && v < 1n << 64n, 'u64', v);
    const at = this.reserve(8);
    this.view.setBigUint64(at, v, true);
    return this;
  }

  /** -2^63 .. 2^63-1. */
  i64(v: bigint): this {
    StateWriter.check(v >= -(1n << 63n) && v < 1n << 63n, 'i64', v);
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
    return this;
  }

  /** An integer of any magnitude a double holds (exact below 2^53), stored as that double. */
  f64int(v: number): this {
    StateWriter.check(Number.isInteger(v), 'integer', v);
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
    return this;
  }

  /** A tick count or deadline: a non-negative integer (any size a double holds) or Infinity (never). */
  ticks(v: number): this {
    StateWriter.check(v === Number.POSITIVE_INFINITY || (Number.isInteger(v) && v >= 0), 'tick count', v);
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
    return this;
  }

  /** Bytes as they are, no count (the reader must know how many). */
  raw(b: Uint8Array): this {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
    return this;
  }

  /** A byte string: u32 count, bytes. */
  bytes(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }

  /** A string: u32 count, UTF-8. */
  string(s: string): this {
    return this.bytes(utf8Encode(s));
  }

  /** A list: u32 count, then each item. */
  list<T>(items: readonly T[], each: (w: StateWriter, item: T) => void): this {
    this.u32(items.length);
    for (const it of items) each(this, it);
    return this;
  }

  /** An optional value: bool present, then the value. */
  opt<T>(v: T | null, each: (w: StateWriter, v: T) => void): this {
    this.bool(v !== null);
    if (v !== null) each(this, v);
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export class StateReader {
  private pos = 0;
  private readonly view: DataView;

  /**
   * `what` names the state in messages ("hart 0 state in the snapshot");
   * `reason` is the SnapshotError reason of a malformed one.
   */
  constructor(
    private readonly buf: Uint8Array,
    readonly what: string,
    private readonly reason: SnapshotErrorReason = 'bad-state',
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Refuse the state as malformed. */
  fail(why: string): never {
    throw new SnapshotError(this.reason, `${this.what} is not readable: ${why}`);
  }

  /** Refuse a well-formed state that does not fit the component it is loaded into. */
  mismatch(why: string): never {
    throw new SnapshotError('mismatch', `${this.what} does not fit this domain: ${why}`);
  }

  private take(n: number, field: string): number {
    if (n > this.remaining) this.fail(`${field} needs ${n} bytes at offset ${this.pos}, only ${this.remaining} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private range<T extends number | bigint>(v: T, lo: T, hi: T, field: string): T {
    if (v < lo || v > hi) this.fail(`${field} is ${v}, not ${lo}..${hi}`);
    return v;
  }

  u8(field: string, max = 0xff): number {
    return this.range(this.view.getUint8(this.take(1, field)), 0, max, field);
  }

  bool(field: string): boolean {
    return this.u8(field, 1) === 1;
  }

  /** A u8 that must be one of `allowed`. */
  oneOf<T extends number>(field: string, allowed: readonly T[]): T {
    const v = this.view.getUint8(this.take(1, field));
    if (!allowed.includes(v as T)) this.fail(`${field} is ${v}, not one of ${allowed.join(', ')}`);
    return v as T;
  }

  u16(field: string, max = 0xffff): number {
    return this.range(this.view.getUint16(this.take(2, field), true), 0, max, field);
  }

  u32(field: string, max = 0xffff_ffff): number {
    return this.range(this.view.getUint32(this.take(4, field), true), 0, max, field);
  }

  i32(field: string): number {
    return this.view.getInt32(this.take(4, field), true);
  }

  /** A safe integer in min..max (64 bits in the file). */
  int(field: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.view.getBigInt64(this.take(8, field), true);
    return Number(this.range(v, BigInt(min), BigInt(max), field));
  }

  /** A non-negative safe integer up to `max` (64 bits in the file). */
  uint(field: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.view.getBigUint64(this.take(8, field), true);
    return Number(this.range(v, 0n, BigInt(max), field));
  }

  u64(field: string): bigint {
    return this.view.getBigUint64(this.take(8, field), true);
  }

  i64(field: string): bigint {
    return this.view.getBigInt64(this.take(8, field), true);
  }

  /** See StateWriter.f64int: NaN, infinite or fractional values are refused. */
  f64int(field: string): number {
    const v = this.view.getFloat64(this.take(8, field), true);
    if (!Number.isInteger(v)) this.fail(`${field} is ${v}, not an integer`);
    return v;
  }

  /** See StateWriter.ticks: NaN, negative or fractional values are refused. */
  ticks(field: string): number {
    const v = this.view.getFloat64(this.take(8, field), true);
    if (!(v === Number.POSITIVE_INFINITY || (Number.isInteger(v) && v >= 0))) {
      this.fail(`${field} is ${v}, not a tick count`);
    }
    return v;
  }

  /** `n` bytes as they are (a view, not a copy). */
  raw(n: number, field: string): Uint8Array {
    const at = this.take(n, field);
    return this.buf.subarray(at, at + n);
  }

  /** A byte string of at most `max` bytes (a view, not a copy). */
  bytes(field: string, max = 0xffff_ffff): Uint8Array {
    return this.raw(this.u32(`${field} length`, max), field);
  }

  string(field: string, max = 0xffff_ffff): string {
    const b = this.bytes(field, max);
    const s = utf8Decode(b);
    if (s === null) this.fail(`${field} is not valid UTF-8`);
    return s;
  }

  /**
   * A list of at most `max` items, each at least `minItemBytes` long (the
   * count is checked against the bytes left before anything is read).
   */
  list<T>(field: string, max: number, minItemBytes: number, each: (r: StateReader, i: number) => T): T[] {
    const n = this.u32(`${field} count`, max);
    if (n * minItemBytes > this.remaining) {
      this.fail(`${field} count ${n} needs at least ${n * minItemBytes} bytes, only ${this.remaining} left`);
    }
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(each(this, i));
    return out;
  }

  opt<T>(field: string, each: (r: StateReader) => T): T | null {
    return this.bool(`${field} present`) ? each(this) : null;
  }

  /** Everything was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected bytes at the end`);
  }
}

/**
 * How one component's state is written and read (Firecracker's Persist).
 * `read` checks the state against `shape` (what it will be loaded into: hart
 * id, counts, RAM size) and returns a plain value; applying that value is the
 * component's own `loadState`, which cannot fail.
 */
export interface StateCodec<S, Shape = void> {
  write(w: StateWriter, s: S): void;
  read(r: StateReader, shape: Shape): S;
}

/** `s` as bytes. */
export function encodeState<S>(codec: StateCodec<S, never>, s: S): Uint8Array {
  const w = new StateWriter();
  codec.write(w, s);
  return w.finish();
}

/** Read a whole blob with `codec`; throws SnapshotError naming `what` when it is malformed or does not fit. */
export function decodeState<S, Shape>(codec: StateCodec<S, Shape>, bytes: Uint8Array, shape: Shape, what: string): S {
  const r = new StateReader(bytes, what);
  const s = codec.read(r, shape);
  r.end();
  return s;
}

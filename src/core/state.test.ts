import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeState,
  encodeState,
  isSnapshotError,
  type SnapshotErrorReason,
  type StateCodec,
  StateReader,
  StateWriter,
} from './state.js';
import { utf8Decode, utf8Encode } from './utf8.js';

const reader = (b: Uint8Array | number[]) => new StateReader(Uint8Array.from(b), 'the test state');

function refused(read: () => unknown, message: RegExp, reason: SnapshotErrorReason = 'bad-state'): void {
  assert.throws(read, (e: unknown) => isSnapshotError(e) && e.reason === reason && message.test(e.message));
}

test('every primitive is little-endian and fixed-width, with counts before lists and strings', () => {
  const bytes = new StateWriter()
    .u8(0xab)
    .bool(true)
    .u16(0x1234)
    .u32(0xdead_beef)
    .i32(-2)
    .int(-3)
    .uint(2 ** 40)
    .u64(0xffff_ffff_ffff_ffffn)
    .i64(-1n)
    .raw(Uint8Array.of(9, 8))
    .bytes(Uint8Array.of(7))
    .string('é')
    .list([1, 2], (w, v) => w.u8(v))
    .opt(null, (w, v: number) => w.u8(v))
    .opt(5, (w, v) => w.u8(v))
    .finish();
  assert.deepEqual(
    Array.from(bytes),
    [
      [0xab, 1, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0xfe, 0xff, 0xff, 0xff],
      [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 0],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [9, 8, 1, 0, 0, 0, 7, 2, 0, 0, 0, 0xc3, 0xa9, 2, 0, 0, 0, 1, 2, 0, 1, 5],
    ].flat(),
  );
  const r = reader(Array.from(bytes));
  assert.equal(r.u8('a'), 0xab);
  assert.equal(r.bool('b'), true);
  assert.equal(r.u16('c'), 0x1234);
  assert.equal(r.u32('d'), 0xdead_beef);
  assert.equal(r.i32('e'), -2);
  assert.equal(r.int('f'), -3);
  assert.equal(r.uint('g'), 2 ** 40);
  assert.equal(r.u64('h'), 0xffff_ffff_ffff_ffffn);
  assert.equal(r.i64('i'), -1n);
  assert.deepEqual(Array.from(r.raw(2, 'j')), [9, 8]);
  assert.deepEqual(Array.from(r.bytes('k')), [7]);
  assert.equal(r.string('l'), 'é');
  assert.deepEqual(
    r.list('m', 2, 1, (r) => r.u8('item')),
    [1, 2],
  );
  assert.equal(
    r.opt('n', (r) => r.u8('v')),
    null,
  );
  assert.equal(
    r.opt('o', (r) => r.u8('v')),
    5,
  );
  r.end();
});

test('the reader refuses what no writer produces, naming the field', () => {
  refused(() => reader([2]).bool('armed'), /^the test state is not readable: armed is 2, not 0\.\.1$/);
  refused(() => reader([3]).oneOf('wait', [0, 1, 2]), /wait is 3, not one of 0, 1, 2/);
  refused(() => reader([9, 0, 0, 0]).u32('priority', 7), /priority is 9, not 0\.\.7/);
  refused(() => reader([1, 2]).u32('count'), /count needs 4 bytes at offset 0, only 2 left/);
  const neg = new StateWriter().int(-1).finish();
  refused(() => new StateReader(neg, 'the test state').uint('size'), /size is 18446744073709551615, not 0\.\./);
  refused(() => new StateReader(neg, 'the test state').int('delta', 0), /delta is -1, not 0\.\./);
  const big = new StateWriter().u64(2n ** 53n).finish();
  refused(() => new StateReader(big, 'the test state').uint('offset'), /offset is 9007199254740992/);
  const f64 = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    return b;
  };
  for (const v of [0.5, -1, Number.NaN, Number.NEGATIVE_INFINITY]) {
    refused(() => new StateReader(f64(v), 'the test state').ticks('deadline'), /deadline is .*, not a tick count/);
  }
  assert.equal(new StateReader(f64(Number.POSITIVE_INFINITY), 'x').ticks('deadline'), Number.POSITIVE_INFINITY);
  for (const v of [0.25, Number.NaN, Number.POSITIVE_INFINITY]) {
    refused(() => new StateReader(f64(v), 'the test state').f64int('offset'), /offset is .*, not an integer/);
  }
  assert.equal(new StateReader(f64(-(2 ** 60)), 'x').f64int('offset'), -(2 ** 60));
  refused(() => reader([1, 0, 0, 0, 0xff]).string('name'), /name is not valid UTF-8/);
  refused(() => reader([2, 0, 0, 0, 0xc0, 0x80]).string('name'), /not valid UTF-8/); // overlong NUL
  refused(() => reader([4, 0, 0, 0, 0xf4, 0x90, 0x80, 0x80]).string('name'), /not valid UTF-8/); // past U+10FFFF
  refused(() => reader([5, 0, 0, 0, 1]).bytes('input', 4), /input length is 5, not 0\.\.4/);
  refused(() => reader([1]).end(), /1 unexpected bytes at the end/);
  refused(
    () => reader([]).mismatch('3 harts saved'),
    /^the test state does not fit this domain: 3 harts saved$/,
    'mismatch',
  );
});

test('a hostile count is refused before anything is allocated', () => {
  let items = 0;
  refused(
    () =>
      reader([0xff, 0xff, 0xff, 0xff, 1, 2]).list('pages', 0xffff_ffff, 4, (r) => {
        items++;
        return r.u32('page');
      }),
    /pages count 4294967295 needs at least 17179869180 bytes, only 2 left/,
  );
  assert.equal(items, 0);
  refused(() => reader([0xff, 0xff, 0xff, 0xff]).bytes('blob'), /blob needs 4294967295 bytes at offset 4, only 0 left/);
});

test('the writer refuses values its own state should never hold', () => {
  const w = new StateWriter();
  assert.throws(() => w.u8(256), RangeError);
  assert.throws(() => w.u32(-1), RangeError);
  assert.throws(() => w.i32(0x8000_0000), RangeError);
  assert.throws(() => w.uint(0.5), RangeError);
  assert.throws(() => w.int(2 ** 53), RangeError);
  assert.throws(() => w.ticks(-1), RangeError);
  assert.throws(() => w.f64int(Number.NaN), RangeError);
  assert.throws(() => w.u64(-1n), RangeError);
  assert.equal(w.length, 0);
});

test('decodeState reads the whole blob, and a refusal names the state', () => {
  const pair: StateCodec<[number, number], { max: number }> = {
    write: (w, [a, b]) => void w.u8(a).u8(b),
    read: (r, { max }) => [r.u8('first', max), r.u8('second', max)],
  };
  const bytes = encodeState(pair, [1, 2]);
  assert.deepEqual(decodeState(pair, bytes, { max: 9 }, 'the pair'), [1, 2]);
  refused(
    () => decodeState(pair, bytes, { max: 1 }, 'the pair'),
    /^the pair is not readable: second is 2, not 0\.\.1$/,
  );
  refused(() => decodeState(pair, Uint8Array.of(1, 2, 3), { max: 9 }, 'the pair'), /1 unexpected bytes at the end/);
});

test('property: any sequence of values reads back as written', () => {
  type Op = ['u8' | 'u16' | 'u32' | 'i32' | 'int' | 'uint' | 'ticks' | 'f64int', number] | ['string', string];
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.tuple(fc.constant('u8' as const), fc.integer({ min: 0, max: 0xff })),
    fc.tuple(fc.constant('u16' as const), fc.integer({ min: 0, max: 0xffff })),
    fc.tuple(fc.constant('u32' as const), fc.integer({ min: 0, max: 0xffff_ffff })),
    fc.tuple(fc.constant('i32' as const), fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff })),
    fc.tuple(fc.constant('int' as const), fc.maxSafeInteger()),
    fc.tuple(fc.constant('uint' as const), fc.maxSafeNat()),
    fc.tuple(
      fc.constant('ticks' as const),
      fc.oneof(fc.maxSafeNat(), fc.constant(Number.POSITIVE_INFINITY), fc.constant(2 ** 60)),
    ),
    fc.tuple(fc.constant('f64int' as const), fc.oneof(fc.maxSafeInteger(), fc.constant(-(2 ** 64)))),
    fc.tuple(fc.constant('string' as const), fc.string({ unit: 'binary' })),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const w = new StateWriter();
      for (const [k, v] of ops) (w[k] as (v: unknown) => StateWriter)(v);
      const r = new StateReader(w.finish(), 'x');
      for (const [k, v] of ops) assert.deepEqual((r[k] as (f: string) => unknown)('v'), v);
      r.end();
    }),
  );
});

test('property: UTF-8 of any string decodes back to it', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      assert.equal(utf8Decode(utf8Encode(s)), s);
    }),
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeMessage,
  encodePages,
  encodePagesInto,
  MAX_PAGES_MESSAGE_BYTES,
  MAX_PAGES_PER_MESSAGE,
  MIGRATION_PAGE_SIZE,
  MSG,
  type PagesMessage,
  pageRecords,
  writePages,
} from './stream.js';

const PAGES = 600;

/** RAM whose page p holds bytes derived from p, every third page all zero. */
function sourceRam(): Uint8Array {
  const ram = new Uint8Array(PAGES * MIGRATION_PAGE_SIZE);
  for (let p = 0; p < PAGES; p++) {
    if (p % 3 === 0) continue;
    for (let i = 0; i < MIGRATION_PAGE_SIZE; i++) ram[p * MIGRATION_PAGE_SIZE + i] = (p * 7 + i) & 0xff;
  }
  return ram;
}

const decodePages = (bytes: Uint8Array): PagesMessage => {
  const m = decodeMessage(bytes, PAGES);
  assert.equal(m.type, MSG.pages);
  return m as PagesMessage;
};

test('PAGES encoded into one reused buffer rebuild the RAM exactly, zero pages cleared', () => {
  const ram = sourceRam();
  const all = Uint32Array.from({ length: PAGES }, (_, i) => i);
  const buf = new Uint8Array(MAX_PAGES_MESSAGE_BYTES).fill(0xaa);
  // One destination with garbage everywhere, one fresh (all zero, as incoming RAM starts).
  const dest = new Uint8Array(ram.length).fill(0x55);
  const fresh = new Uint8Array(ram.length);
  for (let i = 0; i < PAGES; i += MAX_PAGES_PER_MESSAGE) {
    const to = Math.min(PAGES, i + MAX_PAGES_PER_MESSAGE);
    const length = encodePagesInto(buf, ram, 4, all, i, to);
    const zeros = Array.from(all.subarray(i, to)).filter((p) => p % 3 === 0).length;
    assert.equal(length, 9 + (to - i) * 5 + (to - i - zeros) * MIGRATION_PAGE_SIZE);
    // The same bytes as a freshly allocated message (nothing of the previous one leaks in).
    assert.deepEqual(buf.subarray(0, length), encodePages(ram, 4, all, i, to));
    const m = decodePages(buf.subarray(0, length));
    assert.equal(m.round, 4);
    assert.equal(m.count, to - i);
    writePages(m, dest);
    writePages(m, fresh);
  }
  assert.ok(Buffer.from(dest).equals(Buffer.from(ram)), 'the destination RAM equals the source RAM');
  assert.ok(Buffer.from(fresh).equals(Buffer.from(ram)), 'the fresh destination RAM equals the source RAM');
});

test('PAGES records list page numbers in order, zero pages without bytes', () => {
  const ram = sourceRam();
  const m = decodePages(encodePages(ram, 2, [0, 5, 599], 0, 3));
  const records = pageRecords(m);
  assert.deepEqual(
    records.map((r) => r.page),
    [0, 5, 599],
  );
  assert.equal(records[0]!.data, null);
  assert.deepEqual(records[1]!.data, ram.subarray(5 * MIGRATION_PAGE_SIZE, 6 * MIGRATION_PAGE_SIZE));
  assert.deepEqual(records[2]!.data, ram.subarray(599 * MIGRATION_PAGE_SIZE, 600 * MIGRATION_PAGE_SIZE));
});

test('encodePagesInto refuses a buffer that may not hold the pages', () => {
  const ram = sourceRam();
  assert.throws(() => encodePagesInto(new Uint8Array(9 + 4100), ram, 1, [1], 0, 1), {
    name: 'RangeError',
    message: 'PAGES: buffer too small',
  });
});

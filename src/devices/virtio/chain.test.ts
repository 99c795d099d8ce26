import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { gpa } from '../../core/types.js';
import { GuestRam } from '../../memory/ram.js';
import { ChainError, collectChain, DescriptorWalk, readChain, writeChain } from './chain.js';

const BASE = 0x8000_0000;
const RAM = 0x1_0000;

/** Writes `descs` as a descriptor table at RAM offset 0. */
function table(ram: GuestRam, descs: readonly [addr: number, len: number, flags: number, next: number][]) {
  descs.forEach(([addr, len, flags, next], i) => {
    const a = gpa(BASE + 16 * i);
    ram.writeU32(a, addr % 0x1_0000_0000);
    ram.writeU32(gpa(a + 4), Math.floor(addr / 0x1_0000_0000));
    ram.writeU32(gpa(a + 8), len);
    ram.writeU16(gpa(a + 12), flags);
    ram.writeU16(gpa(a + 14), next);
  });
}

test('any descriptor table: the walk ends within its budget and never throws', () => {
  const desc = fc.tuple(
    fc.oneof(fc.integer({ min: BASE, max: BASE + RAM }), fc.maxSafeNat(), fc.constant(0)),
    fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0xffff_ffff })),
    fc.integer({ min: 0, max: 7 }),
    fc.integer({ min: 0, max: 20 }),
  );
  fc.assert(
    fc.property(fc.array(desc, { minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 17 }), (descs, head) => {
      const ram = new GuestRam(BASE, RAM);
      table(ram, descs);
      let steps = 0;
      const walk = new DescriptorWalk(ram, 0, 16, head, true);
      for (const _ of walk) steps++;
      // 16 in the table plus at most 16 (the queue size) in one indirect table.
      assert.ok(steps <= 32);
      const c = collectChain(ram, 0, 16, head, true);
      if (c instanceof ChainError) return;
      for (const s of [...c.readable, ...c.writable]) assert.ok(ram.contains(s.addr, s.len));
    }),
    { numRuns: 500 },
  );
});

test('readChain and writeChain cross segment boundaries and honour skip', () => {
  const ram = new GuestRam(BASE, RAM);
  const segs = [
    { addr: gpa(BASE + 0x100), len: 3 },
    { addr: gpa(BASE + 0x200), len: 2 },
    { addr: gpa(BASE + 0x300), len: 4 },
  ];
  assert.equal(writeChain(ram, segs, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), 9);
  assert.deepEqual([...readChain(ram, segs)], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...readChain(ram, segs, 2, 4)], [3, 4, 5, 6]);
  assert.equal(writeChain(ram, segs, Uint8Array.from([0xaa, 0xbb]), 4), 2);
  assert.deepEqual([...ram.slice(gpa(BASE + 0x200), 2)], [4, 0xaa]);
  assert.equal(ram.readU8(gpa(BASE + 0x300)), 0xbb);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteQueue } from './byte-queue.js';

test('a queue keeps bytes in order up to its bound, whatever the pushes and takes', () => {
  const op = fc.oneof(
    fc.record({ push: fc.uint8Array({ maxLength: 700 }) }),
    fc.record({ shift: fc.constant(true) }),
    fc.record({ take: fc.nat(900), consume: fc.boolean() }),
    fc.record({ clear: fc.constant(true) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2000 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
      const q = new ByteQueue(max);
      let model: number[] = [];
      for (const o of ops) {
        if ('push' in o) {
          const n = q.push(o.push);
          const fit = Math.min(o.push.length, max - model.length);
          assert.equal(n, fit);
          model.push(...o.push.subarray(0, fit));
        } else if ('shift' in o) {
          assert.equal(q.shift(), model.length > 0 ? model.shift() : -1);
        } else if ('take' in o) {
          assert.deepEqual([...q.peek(o.take, o.consume)], model.slice(0, o.take));
          if (o.consume) model = model.slice(o.take);
        } else {
          q.clear();
          model = [];
        }
        assert.equal(q.length, model.length);
      }
    }),
  );
});

test('a queue never pushed into holds no buffer; one that fills grows to its bound and no further', () => {
  const q = new ByteQueue(64 * 1024);
  assert.equal(q.capacity, 0);
  assert.equal(q.push(new Uint8Array(3)), 3);
  assert.equal(q.capacity, 256);
  assert.equal(q.push(new Uint8Array(100_000).fill(7)), 64 * 1024 - 3);
  assert.equal(q.capacity, 64 * 1024);
  assert.equal(q.push([1]), 0);
  assert.equal(q.shift(), 0);
  assert.equal(q.length, 64 * 1024 - 1);
});

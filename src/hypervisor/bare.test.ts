/**
 * BareControl, the host's handle on a bare run: console input is handed to the UART in order,
 * as far as the UART takes it, and what a guest does not read is held only up to a bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BareControl } from './bare.js';

test('input reaches the UART in order; what it does not take waits for the next round', () => {
  const c = new BareControl();
  c.input(Uint8Array.of(1, 2, 3));
  c.input(Uint8Array.of(4, 5));
  const got: number[] = [];
  c.feed((b) => {
    got.push(...b.subarray(0, 2));
    return 2;
  });
  assert.deepEqual(got, [1, 2], 'a UART that takes 2 bytes stops the feed');
  c.feed((b) => {
    got.push(...b);
    return b.length;
  });
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
  c.feed(() => assert.fail('nothing left'));
});

test('a guest that never reads: input beyond the bound is dropped and counted, never held', () => {
  const c = new BareControl();
  c.input(new Uint8Array(BareControl.INPUT_MAX - 10));
  c.input(new Uint8Array(100));
  assert.equal(c.dropped, 90);
  let held = 0;
  c.feed((b) => {
    held += b.length;
    return b.length;
  });
  assert.equal(held, BareControl.INPUT_MAX);
});

test('stop and input wake an idle sleep at once', async () => {
  const c = new BareControl();
  const never = new Promise<void>(() => {});
  const idle = c.idle(never);
  c.input(Uint8Array.of(1));
  await idle;
  const again = c.idle(never);
  c.stop(130);
  await again;
  c.stop(0);
  assert.equal(c.stopCode, 130, 'the first stop counts');
});

test('property: whatever the chunks and however much the UART takes, bytes arrive once, in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: -3, max: 50 }), { minLength: 1, maxLength: 30 }),
      (chunks, takes) => {
        const c = new BareControl();
        const sent: number[] = [];
        const got: number[] = [];
        let i = 0;
        for (const chunk of chunks) {
          c.input(chunk);
          sent.push(...chunk);
          // A UART that takes any number of bytes, even a nonsense one.
          c.feed((b) => {
            const n = takes[i++ % takes.length]!;
            got.push(...b.subarray(0, Math.max(0, n)));
            return n;
          });
        }
        c.feed((b) => {
          got.push(...b);
          return b.length;
        });
        assert.deepEqual(got, sent);
      },
    ),
  );
});

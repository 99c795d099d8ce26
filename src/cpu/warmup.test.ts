import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hart } from './hart.js';
import { RAM_BASE, rig } from './test-util.js';

test('the JIT warm-up program runs to its end (every path it means to cover is reached)', () => {
  const r = Hart.warmUpJit();
  assert.equal(r.finished, true);
  // 8 loop iterations of several hundred instructions each
  assert.ok(r.instructions > 5000, `only ${r.instructions} instructions`);
});

test('harts built after the warm-up start from a clean state', () => {
  Hart.warmUpJit();
  const { hart } = rig([]);
  assert.equal(hart.instret, 0);
  assert.equal(hart.getPc(), BigInt(RAM_BASE));
  assert.equal(hart.priv, 3);
  assert.equal(hart.getCsr(0x300), 0xa_0000_0000n);
  for (let r = 0; r < 32; r++) assert.equal(hart.getX(r), 0n);
});

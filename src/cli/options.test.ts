import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestStatus } from './context.js';
import { parseCount } from './options.js';

test('counts: positive integers with optional decimal suffixes', () => {
  assert.equal(parseCount('100000'), 100000);
  assert.equal(parseCount('1_000'), 1000);
  assert.equal(parseCount('5M'), 5_000_000);
  assert.equal(parseCount('2G'), 2e9);
  for (const bad of ['0', '-5', '1.5', 'x', '']) assert.throws(() => parseCount(bad), bad);
});

test('guest exit codes map to statuses that never turn a failure into success', () => {
  assert.equal(guestStatus(0), 0);
  assert.equal(guestStatus(3), 3);
  assert.equal(guestStatus(256), 1);
  assert.equal(guestStatus(257), 1);
  assert.equal(guestStatus(0xffff), 255);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestStatus } from './context.js';
import { parseCount, parseSize } from './options.js';

test('sizes: binary suffixes, bare numbers are MiB, multiples of 4 KiB only', () => {
  assert.equal(parseSize('128M'), 128 * 1024 * 1024);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('1GiB'), 1024 ** 3);
  assert.equal(parseSize('64k'), 64 * 1024);
  assert.equal(parseSize('256'), 256 * 1024 * 1024);
  assert.equal(parseSize('1.5G'), 1.5 * 1024 ** 3);
  for (const bad of ['', 'lots', '-1M', '0', '1001K', '12q']) assert.throws(() => parseSize(bad), bad);
});

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

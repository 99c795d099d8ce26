import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IrqBit } from '../cpu/arch.js';
import { Clint, ClintReg } from './clint.js';
import { FakeHart } from './testing.js';

function setup(n = 2) {
  const harts = Array.from({ length: n }, () => new FakeHart());
  let t = 1000;
  const time = { now: () => t };
  const clint = new Clint(harts, time);
  return { harts, clint, advance: (d: number) => (t += d), set: (v: number) => (t = v) };
}

test('msip keeps bit 0 and drives MSIP of the right hart', () => {
  const { harts, clint } = setup();
  clint.write(ClintReg.MSIP + 4, 4, 0xffff_ffff);
  assert.equal(clint.read(ClintReg.MSIP + 4, 4), 1);
  assert.equal(harts[1]!.mip, 1 << IrqBit.MSIP);
  assert.equal(harts[0]!.mip, 0);
  clint.write(ClintReg.MSIP + 4, 4, 2);
  assert.equal(clint.read(ClintReg.MSIP + 4, 4), 0);
  assert.equal(harts[1]!.mip, 0);
});

test('MTIP stays low until mtimecmp is written, as on QEMU', () => {
  const { harts, clint } = setup();
  clint.update();
  assert.equal(harts[0]!.mip, 0);
  assert.equal(clint.read(ClintReg.MTIMECMP, 4), 0);
});

test('mtimecmp in the past raises MTIP at once; in the future at update()', () => {
  const { harts, clint, advance } = setup();
  clint.write(ClintReg.MTIMECMP + 8, 4, 500); // hart 1, lo
  clint.write(ClintReg.MTIMECMP + 12, 4, 0); // hi
  assert.equal(harts[1]!.mip, 1 << IrqBit.MTIP);
  clint.write(ClintReg.MTIMECMP, 4, 1500); // hart 0
  clint.write(ClintReg.MTIMECMP + 4, 4, 0);
  assert.equal(harts[0]!.mip, 0);
  assert.equal(clint.nextDeadline(), 1500);
  advance(499);
  clint.update();
  assert.equal(harts[0]!.mip, 0);
  advance(1);
  clint.update();
  assert.equal(harts[0]!.mip, 1 << IrqBit.MTIP);
  assert.equal(clint.nextDeadline(), Number.POSITIVE_INFINITY);
  // Writing all ones (what OpenSBI and Linux do to stop the timer) lowers it.
  clint.write(ClintReg.MTIMECMP, 4, 0xffff_ffff);
  clint.write(ClintReg.MTIMECMP + 4, 4, 0xffff_ffff);
  assert.equal(harts[0]!.mip, 0);
  assert.equal(clint.mtimecmp(0), 0xffff_ffff_ffff_ffffn);
  assert.equal(clint.read(ClintReg.MTIMECMP + 4, 4), 0xffff_ffff);
});

test('mtime reads as a consistent pair and writes shift the time base', () => {
  const { clint, set } = setup(1);
  set(0x1_ffff_ffff);
  const lo = clint.read(ClintReg.MTIME, 4);
  set(0x2_0000_0001); // the clock moves between the two halves
  const hi = clint.read(ClintReg.MTIME + 4, 4);
  assert.equal(hi * 2 ** 32 + lo, 0x1_ffff_ffff);
  clint.write(ClintReg.MTIME, 4, 5);
  clint.write(ClintReg.MTIME + 4, 4, 0);
  assert.equal(clint.mtime(), 5);
  assert.equal(clint.timeSource.now(), 5);
  set(0x2_0000_0011);
  assert.equal(clint.mtime(), 0x15);
});

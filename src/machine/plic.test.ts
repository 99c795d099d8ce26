import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IrqBit } from '../cpu/arch.js';
import { Plic, PlicReg } from './plic.js';
import { FakeHart } from './testing.js';

const prio = (irq: number) => PlicReg.PRIORITY + 4 * irq;
const enable = (ctx: number, word = 0) => PlicReg.ENABLE + ctx * PlicReg.ENABLE_STRIDE + 4 * word;
const threshold = (ctx: number) => PlicReg.CONTEXT + ctx * PlicReg.CONTEXT_STRIDE;
const claim = (ctx: number) => PlicReg.CONTEXT + ctx * PlicReg.CONTEXT_STRIDE + 4;

function setup() {
  const harts = [new FakeHart(), new FakeHart()];
  return { harts, plic: new Plic(harts) };
}

test('a source needs priority above threshold and an enable to reach a context', () => {
  const { harts, plic } = setup();
  plic.setLevel(10, true);
  assert.equal(plic.read(PlicReg.PENDING, 4), 1 << 10);
  assert.equal(harts[0]!.mip, 0);
  plic.write(enable(3), 4, 1 << 10); // hart 1, S-mode
  assert.equal(harts[1]!.mip, 0, 'priority 0 never interrupts');
  plic.write(prio(10), 4, 1);
  assert.equal(harts[1]!.mip, 1 << IrqBit.SEIP);
  assert.equal(harts[0]!.mip, 0);
  plic.write(threshold(3), 4, 1);
  assert.equal(harts[1]!.mip, 0);
  plic.write(threshold(3), 4, 0);
  assert.equal(harts[1]!.mip, 1 << IrqBit.SEIP);
});

test('context 2N drives MEIP and claim/complete follows the level-triggered gateway', () => {
  const { harts, plic } = setup();
  plic.write(prio(5), 4, 3);
  plic.write(prio(33), 4, 7);
  plic.write(enable(0), 4, 1 << 5);
  plic.write(enable(0, 1), 4, 1 << 1);
  plic.setLevel(5, true);
  plic.setLevel(33, true);
  assert.equal(harts[0]!.mip, 1 << IrqBit.MEIP);
  assert.equal(plic.read(claim(0), 4), 33, 'highest priority first');
  assert.equal(plic.read(claim(0), 4), 5);
  assert.equal(plic.read(claim(0), 4), 0);
  assert.equal(harts[0]!.mip, 0, 'everything claimed');
  plic.setLevel(5, false);
  plic.write(claim(0), 4, 5);
  assert.equal(harts[0]!.mip, 0, 'line went low: not pending again');
  plic.write(claim(0), 4, 33);
  assert.equal(harts[0]!.mip, 1 << IrqBit.MEIP, 'line still high: pending again after completion');
  assert.equal(plic.read(claim(0), 4), 33);
});

test('priority writes keep 3 bits, source 0 cannot be enabled, odd accesses are ignored', () => {
  const { plic } = setup();
  plic.write(prio(1), 4, 0xf);
  assert.equal(plic.read(prio(1), 4), 7);
  plic.write(enable(1), 4, 0xffff_ffff);
  assert.equal(plic.read(enable(1), 4), 0xffff_fffe);
  plic.write(prio(2), 1, 5);
  assert.equal(plic.read(prio(2), 4), 0);
  plic.setLevel(0, true);
  plic.setLevel(96, true);
  assert.equal(plic.read(PlicReg.PENDING, 4), 0);
  assert.equal(plic.read(claim(9), 4), 0, 'context beyond the harts');
});

test('equal priorities: the lowest source id is claimed first', () => {
  const { plic } = setup();
  for (const irq of [7, 3]) {
    plic.write(prio(irq), 4, 2);
    plic.setLevel(irq, true);
  }
  plic.write(enable(1), 4, (1 << 7) | (1 << 3));
  assert.equal(plic.read(claim(1), 4), 3);
  assert.equal(plic.read(claim(1), 4), 7);
});

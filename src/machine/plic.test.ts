import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IrqBit } from '../cpu/arch.js';
import { Plic, type PlicGateway, PlicReg } from './plic.js';
import { FakeHart } from './testing.js';

const prio = (irq: number) => PlicReg.PRIORITY + 4 * irq;
const enable = (ctx: number, word = 0) => PlicReg.ENABLE + ctx * PlicReg.ENABLE_STRIDE + 4 * word;
const threshold = (ctx: number) => PlicReg.CONTEXT + ctx * PlicReg.CONTEXT_STRIDE;
const claim = (ctx: number) => PlicReg.CONTEXT + ctx * PlicReg.CONTEXT_STRIDE + 4;

function setup(gateway: PlicGateway = 'level') {
  const harts = [new FakeHart(), new FakeHart()];
  return { harts, plic: new Plic(harts, 96, gateway) };
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

test("'qemu' gateway: a line kept high interrupts once; driving it again pends it, even while claimed", () => {
  const { harts, plic } = setup('qemu');
  plic.write(prio(10), 4, 1);
  plic.write(enable(0), 4, 1 << 10);
  plic.setLevel(10, true);
  assert.equal(plic.read(claim(0), 4), 10);
  plic.write(claim(0), 4, 10);
  assert.equal(harts[0]!.mip, 0, 'completion does not look at the line (QEMU sifive_plic)');
  assert.equal(plic.isPending(10), false);
  plic.setLevel(10, true); // the device drives it again (QEMU serial_update_irq)
  assert.equal(harts[0]!.mip, 1 << IrqBit.MEIP);
  assert.equal(plic.read(claim(0), 4), 10);
  plic.setLevel(10, true); // while claimed: remembered
  assert.equal(harts[0]!.mip, 0);
  plic.write(claim(0), 4, 10);
  assert.equal(harts[0]!.mip, 1 << IrqBit.MEIP, 'taken after the completion');
  plic.setLevel(10, false);
  assert.equal(harts[0]!.mip, 0, 'lowering the line withdraws the request');
});

test("'qemu' gateway: a completion is taken in any context, enabled or not; reset forgets high lines", () => {
  const { harts, plic } = setup('qemu');
  plic.write(prio(4), 4, 1);
  plic.write(enable(0), 4, 1 << 4);
  plic.setLevel(4, true);
  assert.equal(plic.read(claim(0), 4), 4);
  plic.write(enable(0), 4, 0); // a kernel that masks the source before completing
  plic.write(claim(0), 4, 4);
  plic.write(enable(0), 4, 1 << 4);
  plic.setLevel(4, true);
  assert.equal(harts[0]!.mip, 1 << IrqBit.MEIP, 'the completion released the claim');
  plic.reset();
  plic.write(prio(4), 4, 1);
  plic.write(enable(0), 4, 1 << 4);
  assert.equal(harts[0]!.mip, 0, 'nothing pending until a device drives its line');
});

test("'level' gateway: driving a high line again changes nothing; a masked completion is ignored", () => {
  const { harts, plic } = setup('level');
  plic.write(prio(4), 4, 1);
  plic.write(enable(0), 4, 1 << 4);
  plic.setLevel(4, true);
  assert.equal(plic.read(claim(0), 4), 4);
  plic.setLevel(4, true);
  assert.equal(harts[0]!.mip, 0, 'claimed: not pending');
  plic.write(enable(0), 4, 0);
  plic.write(claim(0), 4, 4);
  plic.write(enable(0), 4, 1 << 4);
  assert.equal(harts[0]!.mip, 0, 'the completion was ignored: still claimed');
});

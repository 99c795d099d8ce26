import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plicPin, virtioMmioDtNode, virtioSlot } from './slots.js';

test('virtio slots follow the board map: 0x10001000 + n*0x1000, IRQ 1 + n', () => {
  assert.deepEqual(virtioSlot(0), { slot: 0, base: 0x1000_1000, size: 0x1000, irq: 1 });
  assert.deepEqual(virtioSlot(7), { slot: 7, base: 0x1000_8000, size: 0x1000, irq: 8 });
  assert.throws(() => virtioSlot(8), RangeError);
  assert.throws(() => virtioSlot(-1), RangeError);
});

test('device tree description of a slot', () => {
  assert.deepEqual(virtioMmioDtNode(2), {
    name: 'virtio_mmio@10003000',
    compatible: ['virtio,mmio'],
    reg: [[0x1000_3000, 0x1000]],
    interrupts: [3],
    interruptParent: 'plic',
  });
});

test('plicPin drives one PLIC source', () => {
  const calls: [number, boolean][] = [];
  const pin = plicPin({ setLevel: (irq, level) => calls.push([irq, level]) }, 4);
  pin.set(true);
  pin.set(false);
  assert.deepEqual(calls, [
    [4, true],
    [4, false],
  ]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestRam } from '../../../memory/ram.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver } from '../mock-driver.js';
import { type EntropySource, MAX_ENTROPY_REQUEST, VirtioRng } from './device.js';

const BASE = 0x8000_0000;

function setup(source: EntropySource) {
  const ram = new GuestRam(BASE, 0x40_0000);
  const rng = new VirtioRng(source, 16);
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const mmio = new VirtioMmio(rng, ram, irq);
  const drv = new MockDriver(ram, mmio);
  const [q] = drv.start([16]);
  return { ram, rng, drv, q: q!, irq };
}

/** A deterministic source: 1, 2, 3, ... */
const counting: EntropySource = {
  fill(buf) {
    for (let i = 0; i < buf.length; i++) buf[i] = (i + 1) & 0xff;
  },
};

test('rng fills device-writable buffers across descriptors', () => {
  const e = setup(counting);
  const a = e.drv.alloc(3);
  const b = e.drv.alloc(5);
  e.q.add([
    { addr: a, len: 3, write: true },
    { addr: b, len: 5, write: true },
  ]);
  e.q.kick();
  assert.deepEqual(e.q.takeUsed(), [{ id: 0, len: 8 }]);
  assert.deepEqual([...e.ram.slice(a, 3)], [1, 2, 3]);
  assert.deepEqual([...e.ram.slice(b, 5)], [4, 5, 6, 7, 8]);
  assert.equal(e.irq.level, true);
});

test('rng: an asynchronous source completes later', async () => {
  let release = () => {};
  const e = setup({
    fill: (buf) =>
      new Promise<void>((r) => {
        release = () => {
          buf.fill(0x42);
          r();
        };
      }),
  });
  const a = e.drv.alloc(16);
  e.q.add([{ addr: a, len: 16, write: true }]);
  e.q.kick();
  assert.equal(e.q.usedIdx, 0);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(e.q.takeUsed(), [{ id: 0, len: 16 }]);
  assert.equal(e.ram.readU8(a), 0x42);
});

test('rng: a request with only device-readable buffers (wrong direction) gets 0 bytes', () => {
  const e = setup(counting);
  const a = e.drv.put(new Uint8Array([9, 9, 9, 9]));
  e.q.add([{ addr: a, len: 4 }]);
  e.q.kick();
  assert.deepEqual(e.q.takeUsed(), [{ id: 0, len: 0 }]);
  assert.deepEqual([...e.ram.slice(a, 4)], [9, 9, 9, 9]);
});

test('rng: requests are capped at 64 KiB', () => {
  const e = setup(counting);
  const a = e.drv.alloc(0x2_0000);
  e.q.add([{ addr: a, len: 0x2_0000, write: true }]);
  e.q.kick();
  assert.deepEqual(e.q.takeUsed(), [{ id: 0, len: MAX_ENTROPY_REQUEST }]);
});

test('rng: a failing source returns 0 bytes and the device goes on', () => {
  const e = setup({
    fill() {
      throw new Error('no entropy');
    },
  });
  e.q.add([{ addr: e.drv.alloc(8), len: 8, write: true }]);
  e.q.kick();
  assert.deepEqual(e.q.takeUsed(), [{ id: 0, len: 0 }]);
  assert.equal(e.rng.stats.errors, 1);
  assert.equal(e.drv.needsReset, false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestRam } from '../../memory/ram.js';
import { VirtioConsole } from './console/device.js';
import { MmioReg } from './constants.js';
import { VirtioMmio } from './mmio.js';
import { MockDriver } from './mock-driver.js';
import { encodeState } from './state.js';

const enc = (s: string) => new TextEncoder().encode(s);

function consoleOn(ram: GuestRam, out: string[]) {
  const con = new VirtioConsole({ output: (b) => out.push(new TextDecoder().decode(b)), queueSize: 8 });
  const mmio = new VirtioMmio(con, ram, { set() {} });
  return { con, mmio };
}

test('save, restore into a fresh device over a copy of RAM, and carry on', () => {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const out: string[] = [];
  const a = consoleOn(ram, out);
  const drv = new MockDriver(ram, a.mmio);
  const [rx, tx] = drv.start([8, 8]);
  tx!.add([{ addr: drv.put(enc('one ')), len: 4 }]);
  tx!.kick();
  a.con.input(enc('typed'));
  const state = a.mmio.saveState();

  const ram2 = new GuestRam(0x8000_0000, 0x40_0000);
  ram2.u8.set(ram.u8);
  const out2: string[] = [];
  const b = consoleOn(ram2, out2);
  assert.equal(b.mmio.restoreState(state), null);
  assert.deepEqual(b.mmio.saveState(), state, 'state bytes identical after restore');
  assert.equal(b.mmio.read(MmioReg.STATUS, 4), a.mmio.status);

  // The restored device continues the same rings: the driver's next buffers are served.
  tx!.add([{ addr: drv.put(enc('two')), len: 3 }]);
  ram2.u8.set(ram.u8); // the guest wrote the new descriptor into its (copied) memory
  b.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 1);
  assert.deepEqual(out2, ['two']);
  const buf = drv.alloc(8);
  rx!.add([{ addr: buf, len: 8, write: true }]);
  ram2.u8.set(ram.u8);
  b.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
  assert.equal(new TextDecoder().decode(ram2.slice(buf, 5)), 'typed');
});

test('malformed state is refused without side effects', () => {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const a = consoleOn(ram, []);
  new MockDriver(ram, a.mmio).start([8, 8]);
  const good = a.mmio.saveState();
  const b = consoleOn(ram, []);
  const before = b.mmio.saveState();

  const badMagic = good.slice();
  badMagic[0] ^= 0xff;
  assert.match(b.mmio.restoreState(badMagic) ?? '', /magic|integer/);
  const badVersion = good.slice();
  new DataView(badVersion.buffer).setFloat64(8, 99, true);
  assert.match(b.mmio.restoreState(badVersion) ?? '', /version/);
  assert.match(b.mmio.restoreState(good.subarray(0, good.length - 8)) ?? '', /length|truncated/);
  assert.match(b.mmio.restoreState(good.subarray(0, 13)) ?? '', /truncated/);

  const s = new DataView(good.slice().buffer);
  s.setFloat64(8 * 2, 2, true); // device id of virtio-blk
  assert.match(b.mmio.restoreState(new Uint8Array(s.buffer)) ?? '', /device id/);

  // A queue pointing outside RAM.
  const outside = encodeState({
    deviceId: 3,
    status: 15,
    interruptStatus: 0,
    configGeneration: 0,
    deviceFeaturesSel: 0,
    driverFeaturesSel: 0,
    driverFeatures: [0, 1],
    negotiated: [0, 1],
    queueSel: 0,
    queues: [0, 1].map(() => ({
      size: 8,
      ready: true,
      descAddr: 0x1000,
      driverAddr: 0x2000,
      deviceAddr: 0x3000,
      active: true,
      lastAvail: 0,
      usedIdx: 0,
      signalledUsed: 0,
    })),
    device: [0],
  });
  assert.match(b.mmio.restoreState(outside) ?? '', /outside RAM/);
  assert.deepEqual(b.mmio.saveState(), before);
});

test('saving while a request is in flight is refused', async () => {
  const { VirtioBlk } = await import('./blk/device.js');
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  let release = () => {};
  const blk = new VirtioBlk({
    backend: {
      size: 4096,
      readOnly: false,
      read: () =>
        new Promise<void>((r) => {
          release = r;
        }),
      write: async () => {},
      flush: async () => {},
    },
    queueSize: 8,
  });
  const mmio = new VirtioMmio(blk, ram, { set() {} });
  const drv = new MockDriver(ram, mmio);
  const [q] = drv.start([8]);
  const h = new Uint8Array(16);
  q!.add([
    { addr: drv.put(h), len: 16 },
    { addr: drv.alloc(512), len: 512, write: true },
    { addr: drv.alloc(1), len: 1, write: true },
  ]);
  q!.kick();
  assert.throws(() => mmio.saveState(), /in flight/);
  const drained = mmio.drain();
  release();
  await drained;
  assert.ok(mmio.saveState().length > 0);
});

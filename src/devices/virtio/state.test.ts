import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateWriter } from '../../core/state.js';
import { GuestRam } from '../../memory/ram.js';
import { consoleStateCodec, VirtioConsole } from './console/device.js';
import { MmioReg } from './constants.js';
import { VirtioMmio } from './mmio.js';
import { MockDriver } from './mock-driver.js';
import { type TransportState, transportStateCodec } from './state.js';

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

/** A console's state blob: the transport's, then the console's pending input. */
function consoleBlob(t: TransportState, input = new Uint8Array(0)): Uint8Array {
  const w = new StateWriter();
  transportStateCodec.write(w, t);
  consoleStateCodec.write(w, input);
  return w.finish();
}

test('malformed state is refused without side effects', () => {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const a = consoleOn(ram, []);
  new MockDriver(ram, a.mmio).start([8, 8]);
  const good = a.mmio.saveState();
  const b = consoleOn(ram, []);
  const before = b.mmio.saveState();

  assert.match(b.mmio.restoreState(good.subarray(0, good.length - 1)) ?? '', /pending input length needs 4 bytes/);
  assert.match(b.mmio.restoreState(good.subarray(0, 13)) ?? '', /^virtio-console state is not readable: /);
  assert.match(b.mmio.restoreState(Uint8Array.of(...good, 0)) ?? '', /1 unexpected bytes at the end/);
  const s = new DataView(good.slice().buffer);
  s.setUint32(0, 2, true); // device id of virtio-blk
  assert.match(b.mmio.restoreState(new Uint8Array(s.buffer)) ?? '', /state is for device id 2/);

  const base: TransportState = {
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
  };
  // A queue pointing outside RAM.
  assert.match(b.mmio.restoreState(consoleBlob(base)) ?? '', /outside RAM/);
  // A ready flag that is neither 0 nor 1.
  const twoReady = consoleBlob(base);
  twoReady[4 + 1 + 4 * 9 + 4 + 4] = 2;
  assert.match(b.mmio.restoreState(twoReady) ?? '', /queue ready is 2, not 0..1/);
  // More pending console input than the console holds.
  assert.match(
    b.mmio.restoreState(consoleBlob({ ...base, queues: [] }, new Uint8Array(64 * 1024 + 1))) ?? '',
    /pending input length is 65537, not 0..65536/,
  );
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

/**
 * The transport's status and feature registers under random register sequences, against every
 * device model: random status bytes (reset included), feature words and selectors, queue
 * selection and layout (valid and garbage), QueueReady, notifications, interrupt
 * acknowledgements, and accesses of the wrong width. Leniency (docs/devices.md) must never let
 * a driver reach a state the device cannot serve:
 *   - no host exception, ever;
 *   - the status register holds only defined bits, and a device with FAILED set serves nothing;
 *   - the features in effect are a subset of those offered, and they do not change between
 *     FEATURES_OK (or DRIVER_OK) and the next reset;
 *   - a queue is active only while DRIVER_OK is set, and then its layout passed validation
 *     (inside RAM, aligned, size a power of two no larger than QueueNumMax) and stays frozen;
 *   - a running device given a well-formed request either serves it or sets DEVICE_NEEDS_RESET;
 *   - after a reset, a correct driver brings it up again and it serves (liveness).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseMac, VirtualSwitch } from '../src/devices/switch.js';
import { VirtioBalloon } from '../src/devices/virtio/balloon/device.js';
import { MemoryDisk } from '../src/devices/virtio/blk/backend.js';
import { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { VirtioConsole } from '../src/devices/virtio/console/device.js';
import { MmioReg, Status, TRANSPORT_FEATURES } from '../src/devices/virtio/constants.js';
import type { VirtioDevice } from '../src/devices/virtio/device.js';
import { VirtioMmio } from '../src/devices/virtio/mmio.js';
import { MockDriver, type MockQueue } from '../src/devices/virtio/mock-driver.js';
import { VirtioNet } from '../src/devices/virtio/net/device.js';
import { VirtioRng } from '../src/devices/virtio/rng/device.js';
import { GuestRam } from '../src/memory/ram.js';

const BASE = 0x8000_0000;
const RAM = 0x20_0000;
const QSIZE = 8;
const tick = () => new Promise((r) => setImmediate(r));

type Make = () => VirtioDevice;
const devices: Record<string, Make> = {
  blk: () => new VirtioBlk({ backend: new MemoryDisk(64 * 512), queueSize: QSIZE }),
  console: () => new VirtioConsole({ output: () => {}, queueSize: QSIZE }),
  net: () => {
    const net = new VirtioNet({ mac: parseMac('52:54:00:00:00:01')!, queueSize: QSIZE });
    new VirtualSwitch('fuzz').attach(net);
    return net;
  },
  rng: () => new VirtioRng({ fill: (b) => void b.fill(7) }, QSIZE),
  balloon: () => new VirtioBalloon({ queueSize: QSIZE }),
};

const ALL_STATUS = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK;
const KNOWN = ALL_STATUS | Status.DEVICE_NEEDS_RESET | Status.FAILED;
const statusByte = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 2, 3, 8, 10, 11, 4, 7, 15, 6, 12, 0x80, 0x40), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 0xff }), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }), weight: 1 },
);
const word = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 0x3000_0000, 0x1000_0000, 0xffff_ffff, 0x2000_0000), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }), weight: 2 },
);
const op = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('status' as const), v: statusByte }), weight: 8 },
  {
    arbitrary: fc.record({ k: fc.constant('features' as const), sel: fc.constantFrom(0, 1, 2, 7), v: word }),
    weight: 5,
  },
  { arbitrary: fc.record({ k: fc.constant('offered' as const), sel: fc.constantFrom(0, 1) }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('queue' as const), q: fc.integer({ min: 0, max: 4 }) }), weight: 4 },
  {
    arbitrary: fc.record({
      k: fc.constant('reg' as const),
      reg: fc.constantFrom(
        MmioReg.QUEUE_SEL,
        MmioReg.QUEUE_NUM,
        MmioReg.QUEUE_READY,
        MmioReg.QUEUE_DESC_LOW,
        MmioReg.QUEUE_DESC_HIGH,
        MmioReg.QUEUE_DRIVER_LOW,
        MmioReg.QUEUE_DEVICE_LOW,
        MmioReg.QUEUE_NOTIFY,
        MmioReg.INTERRUPT_ACK,
        MmioReg.DEVICE_FEATURES_SEL,
        MmioReg.MAGIC,
        MmioReg.CONFIG_GENERATION,
        MmioReg.CONFIG,
      ),
      v: fc.oneof(fc.integer({ min: 0, max: 4 }), word),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('narrow' as const),
      off: fc.integer({ min: 0, max: 0x10f }),
      size: fc.constantFrom(1 as const, 2 as const),
      v: fc.integer({ min: 0, max: 0xffff }),
    }),
    weight: 1,
  },
);

for (const [kind, make] of Object.entries(devices)) {
  test(`status and feature sequences against virtio-${kind}: never a state the device cannot serve`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const ram = new GuestRam(BASE, RAM);
        const device = make();
        const mmio = new VirtioMmio(device, ram, { set() {} });
        const drv = new MockDriver(ram, mmio, BASE + 0x1000);
        const offered = TRANSPORT_FEATURES | device.features;
        const features = () => {
          let f = 0n;
          for (let b = 0; b < 64; b++) if (mmio.hasFeature(b)) f |= 1n << BigInt(b);
          return f;
        };
        let frozen: bigint | null = null;
        let layouts: string | null = null;
        const layout = () => JSON.stringify(mmio.queues.map((q) => [q.size, q.descAddr, q.driverAddr, q.deviceAddr]));
        const queues: MockQueue[] = [];
        for (const o of ops) {
          switch (o.k) {
            case 'status':
              drv.w32(MmioReg.STATUS, o.v);
              break;
            case 'features':
              drv.w32(MmioReg.DRIVER_FEATURES_SEL, o.sel);
              drv.w32(MmioReg.DRIVER_FEATURES, o.v);
              break;
            case 'offered': {
              // The driver accepts exactly what is offered in one word (the common case).
              drv.w32(MmioReg.DEVICE_FEATURES_SEL, o.sel);
              const w = drv.r32(MmioReg.DEVICE_FEATURES);
              drv.w32(MmioReg.DRIVER_FEATURES_SEL, o.sel);
              drv.w32(MmioReg.DRIVER_FEATURES, w);
              break;
            }
            case 'queue':
              if (o.q < device.queueSizes.length && !(drv.status & Status.DRIVER_OK)) {
                drv.w32(MmioReg.QUEUE_SEL, o.q);
                drv.w32(MmioReg.QUEUE_READY, 0);
                queues[o.q] = drv.setupQueue(o.q, QSIZE);
              } else {
                drv.w32(MmioReg.QUEUE_SEL, o.q);
                drv.w32(MmioReg.QUEUE_READY, 1);
              }
              break;
            case 'reg':
              drv.w32(o.reg, o.v);
              break;
            case 'narrow':
              mmio.write(o.off, o.size, o.v);
              mmio.read(o.off, o.size);
              break;
          }
          const st = mmio.status;
          assert.equal(st & ~KNOWN, 0, `status 0x${st.toString(16)} holds undefined bits`);
          if (st & Status.FAILED) assert.equal(mmio.running, false, 'FAILED: not running');
          if (st === 0) {
            frozen = null;
            layouts = null;
          }
          const f = features();
          assert.equal(f & ~offered, 0n, 'features in effect were all offered');
          if (st & (Status.FEATURES_OK | Status.DRIVER_OK)) {
            frozen ??= f;
            assert.equal(f, frozen, 'features frozen from FEATURES_OK/DRIVER_OK until reset');
          }
          for (const q of mmio.queues) {
            if (!q.active) continue;
            assert.ok(st & Status.DRIVER_OK, 'a queue is active only after DRIVER_OK');
            assert.ok(q.size > 0 && (q.size & (q.size - 1)) === 0 && q.size <= q.maxSize, 'validated size');
            assert.ok(ram.contains(q.descAddr, 16 * q.size) && q.descAddr % 16 === 0, 'validated table');
          }
          if (st & Status.DRIVER_OK) {
            layouts ??= layout();
            assert.equal(layout(), layouts, 'queues frozen after DRIVER_OK');
          }
        }
        // A running device given a well-formed request serves it or asks for a reset.
        if (mmio.running) {
          const i = mmio.queues.findIndex((q) => q.active);
          const q = queues[i];
          if (q !== undefined && mmio.queues[i]!.descAddr === q.desc) {
            q.add([{ addr: drv.alloc(64), len: 64, write: true }]);
            q.kick();
            await tick();
            assert.ok(q.usedIdx <= 1 || drv.needsReset);
          }
        }
        // Liveness: a reset and a correct initialization bring it back.
        drv.w32(MmioReg.STATUS, 0);
        drv.start(device.queueSizes.map(() => QSIZE));
        assert.equal(mmio.running, true, 'running again after a reset');
        await tick();
      }),
      { numRuns: 300 },
    );
  });
}

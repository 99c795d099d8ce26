/**
 * All five virtio devices on one board, placed by createVm as the builder does: mapped on
 * the bus at their slots, interrupts through the PLIC, driven by mock drivers through bus
 * addresses only, as a guest does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMac, VirtualSwitch } from '../src/devices/switch.js';
import { VirtioBalloon } from '../src/devices/virtio/balloon/device.js';
import { MemoryDisk } from '../src/devices/virtio/blk/backend.js';
import { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { BlkType } from '../src/devices/virtio/blk/request.js';
import { VirtioConsole } from '../src/devices/virtio/console/device.js';
import { DescFlag, DeviceId, MmioReg } from '../src/devices/virtio/constants.js';
import type { VirtioDevice } from '../src/devices/virtio/device.js';
import { MockDriver } from '../src/devices/virtio/mock-driver.js';
import { VirtioNet } from '../src/devices/virtio/net/device.js';
import { VirtioRng } from '../src/devices/virtio/rng/device.js';
import { hostEntropy } from '../src/host/entropy.js';
import { fakeImage } from '../src/hypervisor/testing.js';
import { createVm, virtioTransports } from '../src/hypervisor/vm.js';
import type { VirtBoard } from '../src/machine/board.js';
import type { MmioDevice } from '../src/machine/bus.js';
import { MemMap, PlicSource } from '../src/machine/memmap.js';
import { PlicReg } from '../src/machine/plic.js';

/** Slot n's window and PLIC source. */
const slotBase = (n: number) => MemMap.VIRTIO.base + n * MemMap.VIRTIO.size;
const slotIrq = (n: number) => PlicSource.VIRTIO_BASE + n;

function board() {
  const out: string[] = [];
  const sw = new VirtualSwitch('lan');
  const devices: VirtioDevice[] = [
    new VirtioConsole({ output: (b) => out.push(new TextDecoder().decode(b)) }),
    new VirtioBlk({ backend: new MemoryDisk(1 << 20) }),
    new VirtioNet({ mac: parseMac('52:54:00:00:00:01')! }),
    new VirtioRng(hostEntropy),
    new VirtioBalloon(),
  ];
  const host = { nowMs: () => 0, idle: async () => {}, yield: async () => {}, consoleOut: () => {} };
  const domain = createVm({ mode: 'pv', harts: 1, memory: 16 << 20, kernel: fakeImage(), cmdline: '' }, host, {
    devices: devices.map((device, slot) => ({ slot, device })),
  });
  const { ram, bus, plic } = domain.machine as unknown as VirtBoard; // createVm's machine is the virt board
  const transports = [...virtioTransports(domain).values()];
  sw.attach(devices[2] as VirtioNet);
  /** The device at `slot`, seen only through the bus. */
  const at = (slot: number): MmioDevice => {
    const base = slotBase(slot);
    return {
      name: `bus@${slot}`,
      read: (o, s) => bus.read(base + o, s),
      write: (o, s, v) => bus.write(base + o, s, v),
    };
  };
  const pending = () => bus.read(MemMap.PLIC.base + PlicReg.PENDING, 4) >>> 0;
  return { ram, bus, plic, out, devices, transports, at, pending };
}

test('each slot answers with its device id; the other slots are empty transports (DeviceID 0)', () => {
  const b = board();
  const ids = [0, 1, 2, 3, 4, 5, 6, 7].map((s) => b.at(s).read(MmioReg.DEVICE_ID, 4));
  assert.deepEqual(ids, [DeviceId.CONSOLE, DeviceId.BLOCK, DeviceId.NET, DeviceId.ENTROPY, DeviceId.BALLOON, 0, 0, 0]);
  assert.equal(b.at(3).read(MmioReg.MAGIC, 4), 0x74726976);
});

test('interrupts reach PLIC source 1 + slot and drop on acknowledge', () => {
  const b = board();
  const drv = new MockDriver(b.ram, b.at(3), MemMap.RAM.base + 0x40_0000);
  const [q] = drv.start([16]);
  const buf = drv.alloc(32);
  q!.add([{ addr: buf, len: 32, write: true }]);
  q!.kick();
  assert.deepEqual(q!.takeUsed(), [{ id: 0, len: 32 }]);
  assert.equal(b.pending(), 1 << slotIrq(3));
  drv.ack();
  assert.equal(b.pending(), 0);
});

test('a hostile ring on one device leaves the other four working', async () => {
  const b = board();
  const drivers = [0, 1, 2, 3, 4].map((s) => new MockDriver(b.ram, b.at(s), MemMap.RAM.base + 0x10_0000 * (s + 1)));
  const queues = drivers.map((d, s) => d.start(s === 1 || s === 3 ? [16] : [16, 16]));
  // Block device: a looping chain.
  const blkq = queues[1]![0]!;
  const hdr = drivers[1]!.alloc(16);
  blkq.setDesc(0, hdr, 16, DescFlag.NEXT, 1);
  blkq.setDesc(1, hdr, 16, DescFlag.NEXT, 0);
  blkq.offer(0);
  blkq.kick();
  assert.equal(drivers[1]!.needsReset, true);
  // Console still prints.
  const tx = queues[0]![1]!;
  tx.add([{ addr: drivers[0]!.put(new TextEncoder().encode('still here')), len: 10 }]);
  tx.kick();
  assert.deepEqual(b.out, ['still here']);
  // Entropy still flows.
  const rq = queues[3]![0]!;
  rq.add([{ addr: drivers[3]!.alloc(16), len: 16, write: true }]);
  rq.kick();
  assert.equal(rq.takeUsed().length, 1);
  // The block device works again after a reset.
  const [q2] = drivers[1]!.start([16]);
  const h = new Uint8Array(16);
  new DataView(h.buffer).setUint32(0, BlkType.IN, true);
  const st = drivers[1]!.alloc(1);
  q2!.add([
    { addr: drivers[1]!.put(h), len: 16 },
    { addr: drivers[1]!.alloc(512), len: 512, write: true },
    { addr: st, len: 1, write: true },
  ]);
  q2!.kick();
  await new Promise((r) => setImmediate(r));
  assert.equal(b.ram.readU8(st), 0);
  assert.equal(q2!.takeUsed().length, 1);
});

test('every device saves and restores to identical state bytes', async () => {
  const a = board();
  const drivers = [0, 1, 2, 3, 4].map((s) => new MockDriver(a.ram, a.at(s), MemMap.RAM.base + 0x10_0000 * (s + 1)));
  const queues = drivers.map((d, s) => d.start(s === 1 || s === 3 ? [16] : s === 4 ? [16, 16, 16] : [16, 16]));
  // Some traffic: console output and pending input, an entropy read, a ballooned page.
  queues[0]![1]!.add([{ addr: drivers[0]!.put(new TextEncoder().encode('hi')), len: 2 }]);
  queues[0]![1]!.kick();
  (a.devices[0] as VirtioConsole).input(new TextEncoder().encode('typed'));
  queues[3]![0]!.add([{ addr: drivers[3]!.alloc(8), len: 8, write: true }]);
  queues[3]![0]!.kick();
  const pfn = new Uint8Array(4);
  new DataView(pfn.buffer).setUint32(0, MemMap.RAM.base / 4096 + 7, true);
  queues[4]![0]!.add([{ addr: drivers[4]!.put(pfn), len: 4 }]);
  queues[4]![0]!.kick();
  (a.devices[4] as VirtioBalloon).setTarget(64);
  await Promise.all(a.transports.map((t) => t.drain()));
  const saved = a.transports.map((t) => t.saveState());

  const b = board();
  b.ram.u8.set(a.ram.u8);
  b.transports.forEach((t, i) => {
    assert.equal(t.restoreState(saved[i]!), null, `slot ${i}`);
    assert.deepEqual(t.saveState(), saved[i], `slot ${i} state bytes`);
  });
  assert.equal((b.devices[4] as VirtioBalloon).ballooned, 1);
  assert.equal((b.devices[0] as VirtioConsole).pendingInput, 5);
});

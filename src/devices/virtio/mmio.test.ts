import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gpa } from '../../core/types.js';
import { GuestRam } from '../../memory/ram.js';
import { readChain, writeChain } from './chain.js';
import { bit, DescFlag, Feature, Interrupt, MmioReg, PVM_VENDOR_ID, QEMU_VENDOR_ID, Status } from './constants.js';
import type { IrqPin, VirtioDevice, VirtioTransport } from './device.js';
import { EmptyVirtioMmio, VirtioMmio, type VirtioRefusal } from './mmio.js';
import { MockDriver } from './mock-driver.js';

const RAM_BASE = 0x8000_0000;

/** A one-queue device that copies each chain's readable bytes into its writable part. */
class EchoDevice implements VirtioDevice {
  readonly kind = 'echo';
  readonly deviceId = 0x7f;
  readonly queueSizes: number[];
  constructor(queueSize = 16) {
    this.queueSizes = [queueSize];
  }
  readonly features = bit(0);
  readonly config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  inFlight = 0;
  resets = 0;
  refuse: string | null = null;
  /** When set, completions wait for `release()`. */
  async = false;
  private waiting: (() => void)[] = [];
  t!: VirtioTransport;
  attach(t: VirtioTransport): void {
    this.t = t;
  }
  activate(): string | null {
    return this.refuse;
  }
  notify(q: number): void {
    for (let c = this.t.pop(q); c !== null; c = this.t.pop(q)) {
      const chain = c;
      const epoch = this.t.epoch;
      const done = () => {
        if (!this.t.current(epoch)) return;
        const data = readChain(this.t.ram, chain.readable);
        const n = writeChain(this.t.ram, chain.writable, data);
        this.t.complete(q, chain.head, n, epoch);
      };
      if (this.async) this.waiting.push(done);
      else done();
    }
  }
  release(): void {
    for (const f of this.waiting.splice(0)) f();
  }
  reset(): void {
    this.resets++;
  }
}

class Pin implements IrqPin {
  level = false;
  edges = 0;
  set(level: boolean): void {
    if (level && !this.level) this.edges++;
    this.level = level;
  }
}

function setup(ramSize = 0x40_0000, queueSize = 16, onRefusal?: (r: VirtioRefusal) => void) {
  const ram = new GuestRam(RAM_BASE, ramSize);
  const dev = new EchoDevice(queueSize);
  const pin = new Pin();
  const mmio = new VirtioMmio(dev, ram, pin, onRefusal ? { onRefusal } : {});
  const drv = new MockDriver(ram, mmio);
  return { ram, dev, pin, mmio, drv };
}

const enc = (s: string) => new TextEncoder().encode(s);

describe('virtio-mmio registers', () => {
  test('identify as a version 2 virtio-mmio device', () => {
    const { drv } = setup();
    assert.equal(drv.r32(MmioReg.MAGIC), 0x74726976);
    assert.equal(drv.r32(MmioReg.VERSION), 2);
    assert.equal(drv.r32(MmioReg.DEVICE_ID), 0x7f);
    assert.equal(
      drv.deviceFeatures(),
      bit(0) | bit(Feature.VERSION_1) | bit(Feature.INDIRECT_DESC) | bit(Feature.EVENT_IDX),
    );
    drv.w32(MmioReg.QUEUE_SEL, 0);
    assert.equal(drv.r32(MmioReg.QUEUE_NUM_MAX), 16);
    drv.w32(MmioReg.QUEUE_SEL, 1);
    assert.equal(drv.r32(MmioReg.QUEUE_NUM_MAX), 0);
    assert.equal(drv.r32(MmioReg.SHM_LEN_LOW), 0xffff_ffff);
  });

  test("VendorID is QEMU's unless the machine says otherwise", () => {
    assert.equal(setup().drv.r32(MmioReg.VENDOR_ID), 0x554d4551);
    const ram = new GuestRam(RAM_BASE, 0x40_0000);
    const own = new VirtioMmio(new EchoDevice(), ram, new Pin(), { vendorId: PVM_VENDOR_ID });
    assert.equal(own.read(MmioReg.VENDOR_ID, 4), PVM_VENDOR_ID);
  });

  test("an empty transport reads as QEMU's: magic, version 2, vendor, DeviceID 0; writes ignored", () => {
    const e = new EmptyVirtioMmio();
    e.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE);
    const regs = [MmioReg.MAGIC, MmioReg.VERSION, MmioReg.DEVICE_ID, MmioReg.VENDOR_ID, MmioReg.STATUS];
    assert.deepEqual(
      regs.map((r) => e.read(r, 4) >>> 0),
      [0x74726976, 2, 0, QEMU_VENDOR_ID, 0],
    );
    assert.equal(e.read(MmioReg.QUEUE_NUM_MAX, 4), 0);
    assert.equal(e.read(MmioReg.MAGIC, 1), 0);
  });

  test('control registers ignore accesses that are not 32-bit aligned', () => {
    const { mmio } = setup();
    assert.equal(mmio.read(MmioReg.MAGIC, 2), 0);
    assert.equal(mmio.read(MmioReg.MAGIC + 1, 4), 0);
    mmio.write(MmioReg.STATUS, 1, Status.ACKNOWLEDGE);
    assert.equal(mmio.status, 0);
    assert.equal(mmio.stats.badAccesses, 3);
    assert.deepEqual(mmio.stats.refused, { 'register-access': 3 });
  });

  test('config space reads with the field width, little-endian; out of range reads zero', () => {
    const { mmio } = setup();
    assert.equal(mmio.read(MmioReg.CONFIG, 1), 1);
    assert.equal(mmio.read(MmioReg.CONFIG + 2, 2), 0x0403);
    assert.equal(mmio.read(MmioReg.CONFIG + 4, 4), 0x08070605);
    assert.equal(mmio.read(MmioReg.CONFIG + 1, 2), 0); // misaligned
    assert.equal(mmio.read(MmioReg.CONFIG + 8, 4), 0); // past the end
  });

  test('config change bumps the generation and raises the config interrupt after DRIVER_OK', () => {
    const { drv, dev, pin } = setup();
    dev.t.configChanged();
    assert.equal(drv.r32(MmioReg.CONFIG_GENERATION), 1);
    assert.equal(pin.level, false); // not before DRIVER_OK
    drv.start([16]);
    dev.t.configChanged();
    assert.equal(drv.r32(MmioReg.CONFIG_GENERATION), 2);
    assert.equal(drv.r32(MmioReg.INTERRUPT_STATUS), Interrupt.CONFIG_CHANGE);
    assert.equal(pin.level, true);
    drv.ack();
    assert.equal(pin.level, false);
  });
});

describe('virtio status transitions', () => {
  /** Writes the driver's features without touching status. */
  const writeFeatures = (drv: MockDriver, f: bigint) => {
    drv.w32(MmioReg.DRIVER_FEATURES_SEL, 0);
    drv.w32(MmioReg.DRIVER_FEATURES, Number(f & 0xffff_ffffn));
    drv.w32(MmioReg.DRIVER_FEATURES_SEL, 1);
    drv.w32(MmioReg.DRIVER_FEATURES, Number(f >> 32n));
  };
  /** Sets up queue 0 and checks the device echoes a request through it. */
  const serves = (s: ReturnType<typeof setup>) => {
    const q = s.drv.setupQueue(0, 16);
    s.drv.driverOk();
    const src = s.drv.put(enc('ok'));
    const dst = s.drv.alloc(2);
    q.add([
      { addr: src, len: 2 },
      { addr: dst, len: 2, write: true },
    ]);
    q.kick();
    return q.takeUsed().length === 1 && new TextDecoder().decode(s.ram.slice(dst, 2)) === 'ok';
  };

  test("U-Boot's order: DRIVER right after reset, without ACKNOWLEDGE, and the device serves", () => {
    const s = setup();
    s.drv.w32(MmioReg.STATUS, 0);
    s.drv.w32(MmioReg.STATUS, Status.DRIVER);
    assert.equal(s.drv.status, Status.DRIVER);
    writeFeatures(s.drv, bit(Feature.VERSION_1));
    s.drv.w32(MmioReg.STATUS, Status.DRIVER | Status.FEATURES_OK);
    assert.equal(s.drv.status, Status.DRIVER | Status.FEATURES_OK);
    assert.equal(serves(s), true);
    assert.equal(s.mmio.running, true);
    assert.deepEqual(s.mmio.stats.refused, {});
  });

  test('bits written one at a time accumulate; the write that leaves bits out is refused as status-clear', () => {
    const refusals: VirtioRefusal[] = [];
    const s = setup(undefined, undefined, (r) => refusals.push(r));
    for (const b of [Status.ACKNOWLEDGE, Status.DRIVER]) s.drv.w32(MmioReg.STATUS, b);
    writeFeatures(s.drv, bit(Feature.VERSION_1));
    s.drv.w32(MmioReg.STATUS, Status.FEATURES_OK);
    assert.equal(s.drv.status, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    assert.equal(serves(s), true);
    assert.equal(s.mmio.stats.refused['status-clear'], 2);
    assert.deepEqual(
      refusals.map((r) => [r.device, r.rule, r.what]),
      [['virtio-echo', 'status-clear', 'status 0x2 (would clear 0x1)']],
      'reported once per device and rule',
    );
    assert.match(refusals[0]!.message, /^virtio-echo: refused status 0x2 \(would clear 0x1\): §2\.1\.1: /);
  });

  test('DRIVER_OK without FEATURES_OK takes the features written (a legacy driver) and serves', () => {
    const s = setup();
    s.drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
    writeFeatures(s.drv, bit(Feature.INDIRECT_DESC));
    s.drv.setupQueue(0, 16);
    s.drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
    assert.equal(s.drv.status, Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
    assert.equal(s.mmio.running, true);
    assert.equal(s.mmio.hasFeature(Feature.INDIRECT_DESC), true);
    assert.equal(s.mmio.hasFeature(Feature.VERSION_1), false);
  });

  test('DRIVER_OK without FEATURES_OK is refused when the features written were not offered', () => {
    const s = setup();
    s.drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
    writeFeatures(s.drv, bit(Feature.VERSION_1) | bit(5));
    s.drv.setupQueue(0, 16);
    s.drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
    assert.equal(s.drv.status, Status.ACKNOWLEDGE | Status.DRIVER);
    assert.equal(s.mmio.running, false);
    assert.equal(s.mmio.queues[0]!.active, false);
    assert.equal(s.mmio.stats.refused['feature-not-offered'], 1);
  });

  test('features written before DRIVER are taken (QEMU takes them until FEATURES_OK)', () => {
    const s = setup();
    writeFeatures(s.drv, bit(Feature.VERSION_1) | bit(Feature.EVENT_IDX));
    s.drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    assert.equal(s.drv.status & Status.FEATURES_OK, Status.FEATURES_OK);
    assert.equal(s.mmio.hasFeature(Feature.EVENT_IDX), true);
  });

  test('FAILED is kept, and a device the driver gave up on serves nothing', () => {
    const s = setup();
    s.drv.negotiate();
    s.drv.w32(MmioReg.STATUS, s.drv.status | Status.FAILED);
    s.drv.setupQueue(0, 16);
    s.drv.driverOk();
    assert.equal(s.drv.status & (Status.FAILED | Status.DRIVER_OK), Status.FAILED);
    assert.equal(s.mmio.running, false);
    s.drv.w32(MmioReg.STATUS, 0);
    s.drv.negotiate();
    assert.equal(serves(s), true, 'a reset brings it back');
  });

  test('reserved status bits and DEVICE_NEEDS_RESET written by the driver are ignored', () => {
    const s = setup();
    s.drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE | 0x10 | 0x20 | Status.DEVICE_NEEDS_RESET);
    assert.equal(s.drv.status, Status.ACKNOWLEDGE);
  });

  test('clearing a status bit is refused', () => {
    const { drv } = setup();
    drv.negotiate();
    drv.w32(MmioReg.STATUS, Status.ACKNOWLEDGE);
    assert.equal(drv.status, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  });

  test('FEATURES_OK stays clear when the driver accepts a feature not offered', () => {
    const { drv } = setup();
    assert.equal(drv.negotiate(bit(Feature.VERSION_1) | bit(5)), false);
    assert.equal(drv.status, Status.ACKNOWLEDGE | Status.DRIVER);
  });

  test('FEATURES_OK without VIRTIO_F_VERSION_1 is granted, as QEMU grants it on a non-legacy transport', () => {
    const { drv, mmio } = setup();
    assert.equal(drv.negotiate(bit(0)), true);
    assert.equal(mmio.hasFeature(0), true);
    assert.equal(mmio.hasFeature(Feature.VERSION_1), false);
  });

  test('driver features written after FEATURES_OK are ignored', () => {
    const { drv, mmio } = setup();
    drv.negotiate(bit(Feature.VERSION_1));
    drv.w32(MmioReg.DRIVER_FEATURES_SEL, 0);
    drv.w32(MmioReg.DRIVER_FEATURES, 1 << Feature.INDIRECT_DESC);
    drv.setupQueue(0, 16);
    drv.driverOk();
    assert.equal(mmio.hasFeature(Feature.INDIRECT_DESC), false);
    assert.equal(mmio.stats.refused['features-late'], 1);
  });

  test('status 0 resets queues, interrupts and the device', () => {
    const { drv, dev, mmio, pin, ram } = setup();
    const [q] = drv.start([16]);
    const src = drv.put(enc('hi'));
    q!.add([
      { addr: src, len: 2 },
      { addr: drv.alloc(2), len: 2, write: true },
    ]);
    q!.kick();
    assert.equal(pin.level, true);
    const resets = dev.resets;
    drv.w32(MmioReg.STATUS, 0);
    assert.equal(drv.status, 0);
    assert.equal(pin.level, false);
    assert.equal(drv.r32(MmioReg.INTERRUPT_STATUS), 0);
    assert.equal(dev.resets, resets + 1);
    assert.equal(mmio.queues[0]!.active, false);
    assert.equal(mmio.queues[0]!.ready, false);
    drv.w32(MmioReg.QUEUE_SEL, 0);
    assert.equal(drv.r32(MmioReg.QUEUE_READY), 0);
    assert.ok(ram);
  });

  test('a refused activation sets DEVICE_NEEDS_RESET and raises the config interrupt', () => {
    const { drv, dev, pin } = setup();
    dev.refuse = 'backend missing';
    drv.start([16]);
    assert.equal(drv.status & Status.DEVICE_NEEDS_RESET, Status.DEVICE_NEEDS_RESET);
    assert.equal(drv.r32(MmioReg.INTERRUPT_STATUS), Interrupt.CONFIG_CHANGE);
    assert.equal(pin.level, true);
  });

  test('a ring outside RAM fails activation with DEVICE_NEEDS_RESET', () => {
    const { drv } = setup();
    drv.negotiate();
    drv.setupQueue(0, 16);
    drv.w32(MmioReg.QUEUE_READY, 0);
    drv.w32(MmioReg.QUEUE_DESC_LOW, 0x1000); // below RAM
    drv.w32(MmioReg.QUEUE_DESC_HIGH, 0);
    drv.w32(MmioReg.QUEUE_READY, 1);
    drv.driverOk();
    assert.equal(drv.needsReset, true);
  });

  test('a queue size that is not a power of 2 fails activation', () => {
    const { drv } = setup();
    drv.negotiate();
    drv.setupQueue(0, 16);
    drv.w32(MmioReg.QUEUE_READY, 0);
    drv.w32(MmioReg.QUEUE_NUM, 12);
    drv.w32(MmioReg.QUEUE_READY, 1);
    drv.driverOk();
    assert.equal(drv.needsReset, true);
  });

  test('queue registers are frozen after DRIVER_OK', () => {
    const { drv, mmio } = setup();
    drv.start([16]);
    const before = mmio.queues[0]!.descAddr;
    drv.w32(MmioReg.QUEUE_SEL, 0);
    drv.w32(MmioReg.QUEUE_DESC_LOW, 0x1000);
    drv.w32(MmioReg.QUEUE_NUM, 4);
    assert.equal(mmio.queues[0]!.descAddr, before);
    assert.equal(mmio.queues[0]!.size, 16);
  });

  test('notifications before DRIVER_OK are ignored; the buffers are served at DRIVER_OK', () => {
    const { drv } = setup();
    drv.negotiate();
    const q = drv.setupQueue(0, 16);
    q.add([
      { addr: drv.put(enc('x')), len: 1 },
      { addr: drv.alloc(1), len: 1, write: true },
    ]);
    q.kick();
    assert.equal(q.usedIdx, 0);
    drv.driverOk();
    assert.equal(q.usedIdx, 1);
  });
});

describe('virtqueue processing', () => {
  test('a direct chain round-trips through the device', () => {
    const { drv, ram, pin } = setup();
    const [q] = drv.start([16]);
    const out = drv.alloc(5);
    const head = q!.add([
      { addr: drv.put(enc('hel')), len: 3 },
      { addr: drv.put(enc('lo')), len: 2 },
      { addr: out, len: 2, write: true },
      { addr: gpa(out + 2), len: 3, write: true },
    ]);
    q!.kick();
    assert.deepEqual(q!.takeUsed(), [{ id: head, len: 5 }]);
    assert.deepEqual(new TextDecoder().decode(ram.slice(out, 5)), 'hello');
    assert.equal(pin.level, true);
    assert.equal(drv.ack(), Interrupt.USED_BUFFER);
    assert.equal(pin.level, false);
  });

  test('an indirect chain round-trips through the device', () => {
    const { drv, ram } = setup();
    const [q] = drv.start([16]);
    const out = drv.alloc(4);
    const head = q!.add(
      [
        { addr: drv.put(enc('abcd')), len: 4 },
        { addr: out, len: 4, write: true },
      ],
      true,
    );
    q!.kick();
    assert.deepEqual(q!.takeUsed(), [{ id: head, len: 4 }]);
    assert.equal(new TextDecoder().decode(ram.slice(out, 4)), 'abcd');
  });

  test('direct descriptors followed by one indirect descriptor are accepted (§2.7.5.3.2)', () => {
    const { drv, ram } = setup();
    const [q] = drv.start([16]);
    const out = drv.alloc(4);
    const table = drv.alloc(16);
    q!.setDesc(0, table, 0, 0, 0, table); // placeholder, overwritten below
    q!.setDesc(0, out, 4, DescFlag.WRITE, 0, table);
    q!.setDesc(3, drv.put(enc('wxyz')), 4, DescFlag.NEXT, 4);
    q!.setDesc(4, table, 16, DescFlag.INDIRECT);
    q!.offer(3);
    q!.kick();
    assert.deepEqual(q!.takeUsed(), [{ id: 3, len: 4 }]);
    assert.equal(new TextDecoder().decode(ram.slice(out, 4)), 'wxyz');
  });

  test('a completion after a reset is dropped', () => {
    const { drv, dev, mmio } = setup();
    dev.async = true;
    const [q] = drv.start([16]);
    const out = drv.alloc(1);
    q!.add([
      { addr: drv.put(enc('z')), len: 1 },
      { addr: out, len: 1, write: true },
    ]);
    q!.kick();
    drv.w32(MmioReg.STATUS, 0);
    const [q2] = drv.start([16]);
    dev.release();
    assert.equal(q2!.usedIdx, 0);
    assert.equal(drv.ram.readU8(out), 0);
    assert.equal(mmio.interruptStatus, 0);
  });

  test('VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the interrupt without EVENT_IDX', () => {
    const { drv, pin } = setup();
    const [q] = drv.start([16], bit(Feature.VERSION_1));
    q!.setAvailFlags(1);
    q!.add([{ addr: drv.alloc(1), len: 1, write: true }]);
    q!.kick();
    assert.equal(q!.usedIdx, 1);
    assert.equal(pin.level, false);
  });

  test('EVENT_IDX: the device publishes avail_event and interrupts only at used_event', () => {
    const { drv, pin } = setup();
    const [q] = drv.start([16], bit(Feature.VERSION_1) | bit(Feature.EVENT_IDX));
    q!.setUsedEvent(2); // interrupt when the third buffer is used
    for (let i = 0; i < 2; i++) q!.add([{ addr: drv.alloc(1), len: 1, write: true }]);
    q!.kick();
    assert.equal(q!.usedIdx, 2);
    assert.equal(q!.availEvent, 2); // next index the device will read
    assert.equal(pin.edges, 0);
    q!.add([{ addr: drv.alloc(1), len: 1, write: true }]);
    q!.kick();
    assert.equal(q!.usedIdx, 3);
    assert.equal(pin.edges, 1);
  });
});

describe('hostile virtqueues', () => {
  /** Brings the echo device up with every feature and returns the queue. */
  const hostile = (ramSize?: number) => {
    const s = setup(ramSize);
    const [q] = s.drv.start([16]);
    return { ...s, q: q! };
  };
  const assertBroken = (s: ReturnType<typeof hostile>, fault: string) => {
    assert.equal(s.drv.needsReset, true, 'DEVICE_NEEDS_RESET');
    assert.match(s.mmio.lastError ?? '', new RegExp(fault));
    assert.equal(s.q.usedIdx, 0);
    assert.equal(s.drv.r32(MmioReg.INTERRUPT_STATUS) & Interrupt.CONFIG_CHANGE, Interrupt.CONFIG_CHANGE);
    // The device stays quiet until reset, then works again.
    s.q.kick();
    s.drv.w32(MmioReg.STATUS, 0);
    const [q] = s.drv.start([16]);
    q!.add([
      { addr: s.drv.put(enc('ok')), len: 2 },
      { addr: s.drv.alloc(2), len: 2, write: true },
    ]);
    q!.kick();
    assert.equal(q!.takeUsed().length, 1);
  };

  test('chain with a loop ends', () => {
    const s = hostile();
    const buf = s.drv.alloc(8);
    s.q.setDesc(0, buf, 8, DescFlag.NEXT, 1);
    s.q.setDesc(1, buf, 8, DescFlag.NEXT, 0);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'loop');
  });

  test('chain that points at itself ends', () => {
    const s = hostile();
    s.q.setDesc(5, s.drv.alloc(8), 8, DescFlag.NEXT | DescFlag.WRITE, 5);
    s.q.offer(5);
    s.q.kick();
    assertBroken(s, 'loop');
  });

  test('loop inside an indirect table ends', () => {
    const s = hostile();
    const table = s.drv.alloc(32);
    const buf = s.drv.alloc(8);
    s.q.setDesc(0, buf, 8, DescFlag.NEXT, 1, table);
    s.q.setDesc(1, buf, 8, DescFlag.NEXT, 0, table);
    s.q.setDesc(0, table, 32, DescFlag.INDIRECT);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'loop');
  });

  test('indirect inside indirect is rejected', () => {
    const s = hostile();
    const inner = s.drv.alloc(16);
    s.q.setDesc(0, s.drv.alloc(4), 4, DescFlag.WRITE, 0, inner);
    const outer = s.drv.alloc(16);
    s.q.setDesc(0, inner, 16, DescFlag.INDIRECT, 0, outer);
    s.q.setDesc(0, outer, 16, DescFlag.INDIRECT);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'indirect-nested');
  });

  test('indirect together with NEXT is rejected', () => {
    const s = hostile();
    const table = s.drv.alloc(16);
    s.q.setDesc(0, s.drv.alloc(4), 4, DescFlag.WRITE, 0, table);
    s.q.setDesc(0, table, 16, DescFlag.INDIRECT | DescFlag.NEXT, 1);
    s.q.setDesc(1, s.drv.alloc(4), 4, DescFlag.WRITE);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'indirect-with-next');
  });

  test('indirect table whose size is not a multiple of 16 is rejected', () => {
    const s = hostile();
    const table = s.drv.alloc(32);
    s.q.setDesc(0, table, 24, DescFlag.INDIRECT);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'indirect-bad-size');
  });

  test('empty indirect table is rejected', () => {
    const s = hostile();
    s.q.setDesc(0, s.drv.alloc(16), 0, DescFlag.INDIRECT);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'indirect-bad-size');
  });

  test('indirect table outside RAM is rejected', () => {
    const s = hostile();
    s.q.setDesc(0, RAM_BASE + s.ram.size - 8, 16, DescFlag.INDIRECT);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'indirect-out-of-range');
  });

  test('indirect descriptor without the negotiated feature is rejected', () => {
    const s = setup();
    const [q] = s.drv.start([16], bit(Feature.VERSION_1));
    const table = s.drv.alloc(16);
    q!.setDesc(0, s.drv.alloc(4), 4, DescFlag.WRITE, 0, table);
    q!.setDesc(0, table, 16, DescFlag.INDIRECT);
    q!.offer(0);
    q!.kick();
    assert.equal(s.drv.needsReset, true);
    assert.match(s.mmio.lastError ?? '', /indirect-not-negotiated/);
  });

  test('buffer below RAM is rejected', () => {
    const s = hostile();
    s.q.setDesc(0, 0x1000, 16, DescFlag.WRITE);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'address-out-of-range');
  });

  test('buffer running past the end of RAM is rejected', () => {
    const s = hostile();
    s.q.setDesc(0, RAM_BASE + s.ram.size - 4, 8, DescFlag.WRITE);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'address-out-of-range');
  });

  test('address that wraps around 2^64 is rejected', () => {
    const s = hostile();
    // addr = 0xffff_ffff_ffff_f000, len 0x2000: wraps to 0x1000 in 64-bit arithmetic.
    const d = gpa(s.q.desc);
    s.ram.writeU32(d, 0xffff_f000);
    s.ram.writeU32(gpa(d + 4), 0xffff_ffff);
    s.ram.writeU32(gpa(d + 8), 0x2000);
    s.ram.writeU16(gpa(d + 12), DescFlag.WRITE);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'address-out-of-range');
  });

  test('maximal length (0xffffffff) is rejected', () => {
    const s = hostile();
    s.q.setDesc(0, RAM_BASE, 0xffff_ffff, DescFlag.WRITE);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'address-out-of-range');
  });

  test('chain whose lengths add up past 2^32 is rejected', () => {
    // 1024 descriptors of 8 MiB (all of RAM, each naming the same memory): 8 GiB.
    const s = setup(0x80_0000, 1024);
    const [q] = s.drv.start([1024]);
    for (let i = 0; i < 1024; i++) q!.setDesc(i, RAM_BASE, 0x80_0000, i < 1023 ? DescFlag.NEXT : 0, i + 1);
    q!.offer(0);
    q!.kick();
    assert.equal(s.drv.needsReset, true);
    assert.match(s.mmio.lastError ?? '', /too-long/);
  });

  test('indirect table with more entries than the queue size is rejected', () => {
    const s = hostile();
    const table = s.drv.alloc(16 * 17);
    for (let i = 0; i < 17; i++)
      s.q.setDesc(i, s.drv.alloc(4), 4, DescFlag.WRITE | (i < 16 ? DescFlag.NEXT : 0), i + 1, table);
    s.q.setDesc(0, table, 16 * 17, DescFlag.INDIRECT);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'indirect-bad-size');
  });

  test('device-readable buffer after a writable one is rejected (wrong direction)', () => {
    const s = hostile();
    s.q.setDesc(0, s.drv.alloc(4), 4, DescFlag.WRITE | DescFlag.NEXT, 1);
    s.q.setDesc(1, s.drv.alloc(4), 4, 0);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'write-before-read');
  });

  test('huge available index is rejected', () => {
    const s = hostile();
    s.q.setAvailIdx(0x8000);
    s.q.kick();
    assertBroken(s, 'avail-index-ahead');
  });

  test('head index past the queue size is rejected', () => {
    const s = hostile();
    s.q.offer(16);
    s.q.kick();
    assertBroken(s, 'head-out-of-range');
  });

  test('next index past the queue size is rejected', () => {
    const s = hostile();
    s.q.setDesc(0, s.drv.alloc(4), 4, DescFlag.NEXT, 999);
    s.q.offer(0);
    s.q.kick();
    assertBroken(s, 'next-out-of-range');
  });

  test('a broken device does not stop its neighbours', () => {
    const a = hostile();
    const other = new VirtioMmio(new EchoDevice(), a.ram, new Pin());
    const drvB = new MockDriver(a.ram, other, RAM_BASE + 0x30_0000);
    const [qb] = drvB.start([16]);
    a.q.setDesc(0, 0, 0xffff_ffff, DescFlag.WRITE);
    a.q.offer(0);
    a.q.kick();
    assert.equal(a.drv.needsReset, true);
    qb!.add([
      { addr: drvB.put(enc('b')), len: 1 },
      { addr: drvB.alloc(1), len: 1, write: true },
    ]);
    qb!.kick();
    assert.deepEqual(qb!.takeUsed(), [{ id: 0, len: 1 }]);
    assert.equal(drvB.needsReset, false);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gpa } from '../../../core/types.js';
import { GuestRam } from '../../../memory/ram.js';
import { bit, Feature, MmioReg } from '../constants.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver, MockQueue } from '../mock-driver.js';
import { type BlockBackend, MemoryDisk } from './backend.js';
import { BlkConfig, BlkFeature, VirtioBlk, type VirtioBlkOptions } from './device.js';
import { BlkStatus, BlkType, MAX_TRANSFER } from './request.js';

const BASE = 0x8000_0000;
const tick = () => new Promise((r) => setImmediate(r));

function header(type: number, sector = 0): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setUint32(8, sector % 0x1_0000_0000, true);
  v.setUint32(12, Math.floor(sector / 0x1_0000_0000), true);
  return h;
}

/** A disk on its transport with a mock driver, not yet initialized. */
function attach(
  backend: BlockBackend,
  opts: { readOnly?: boolean; id?: string; queueSize?: number; contain?: VirtioBlkOptions['contain'] } = {},
) {
  const ram = new GuestRam(BASE, 0x40_0000);
  const blk = new VirtioBlk({ backend, queueSize: 16, ...opts });
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const mmio = new VirtioMmio(blk, ram, irq);
  const drv = new MockDriver(ram, mmio);
  return { ram, blk, mmio, drv, irq };
}

function setup(
  backend: BlockBackend,
  opts: { readOnly?: boolean; id?: string; contain?: VirtioBlkOptions['contain'] } = {},
) {
  const a = attach(backend, opts);
  const [q] = a.drv.start([16]);
  return { ...a, q: q! };
}

type Env = ReturnType<typeof setup>;

/** Submits one request; returns the addresses of its data and status bytes. */
function submit(
  e: Env,
  type: number,
  sector: number,
  opts: { out?: Uint8Array; inLen?: number; indirect?: boolean } = {},
) {
  const bufs = [{ addr: e.drv.put(header(type, sector)), len: 16 }];
  if (opts.out) bufs.push({ addr: e.drv.put(opts.out), len: opts.out.length });
  const data = opts.inLen ? e.drv.alloc(opts.inLen) : gpa(0);
  if (opts.inLen) bufs.push({ addr: data, len: opts.inLen, write: true } as never);
  const status = e.drv.alloc(1);
  e.ram.writeU8(status, 0xff);
  bufs.push({ addr: status, len: 1, write: true } as never);
  e.q.add(bufs, opts.indirect);
  e.q.kick();
  return { data, status };
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('virtio-blk', () => {
  test('config space: capacity in sectors, seg_max, blk_size; features', () => {
    const e = setup(new MemoryDisk(8 * 512 + 100));
    assert.equal(e.mmio.read(MmioReg.CONFIG + BlkConfig.CAPACITY, 4), 8);
    assert.equal(e.mmio.read(MmioReg.CONFIG + BlkConfig.CAPACITY + 4, 4), 0);
    assert.equal(e.mmio.read(MmioReg.CONFIG + BlkConfig.SEG_MAX, 4), 14);
    const sizeMax = e.mmio.read(MmioReg.CONFIG + BlkConfig.SIZE_MAX, 4);
    assert.ok(sizeMax * 14 <= MAX_TRANSFER && sizeMax % 4096 === 0, `size_max ${sizeMax}`);
    assert.equal(e.mmio.read(MmioReg.CONFIG + BlkConfig.BLK_SIZE, 4), 512);
    const f = e.drv.deviceFeatures();
    assert.equal(f & bit(BlkFeature.FLUSH), bit(BlkFeature.FLUSH));
    assert.equal(f & bit(BlkFeature.RO), 0n);
    assert.equal(f & bit(BlkFeature.DISCARD), bit(BlkFeature.DISCARD));
  });

  test('write then read back, direct and indirect', async () => {
    const disk = new MemoryDisk(64 * 512);
    const e = setup(disk);
    const data = pattern(1024, 3);
    const w = submit(e, BlkType.OUT, 5, { out: data });
    await tick();
    assert.equal(e.ram.readU8(w.status), BlkStatus.OK);
    assert.deepEqual(disk.bytes.subarray(5 * 512, 7 * 512), data);
    const r = submit(e, BlkType.IN, 5, { inLen: 1024, indirect: true });
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.OK);
    assert.deepEqual(e.ram.slice(r.data, 1024), data);
    const used = e.q.takeUsed();
    assert.deepEqual(
      used.map((u) => u.len),
      [1, 1025],
    );
    assert.equal(e.irq.level, true);
  });

  test('read past the end of the disk fails with IOERR', async () => {
    const e = setup(new MemoryDisk(8 * 512));
    const r = submit(e, BlkType.IN, 7, { inLen: 1024 });
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.IOERR);
    assert.deepEqual(
      e.q.takeUsed().map((u) => u.len),
      [1],
    );
  });

  test('sector number near 2^64 fails with IOERR', async () => {
    const e = setup(new MemoryDisk(8 * 512));
    const h = header(BlkType.IN, 0);
    new DataView(h.buffer).setUint32(12, 0xffff_ffff, true);
    const st = e.drv.alloc(1);
    e.q.add([
      { addr: e.drv.put(h), len: 16 },
      { addr: e.drv.alloc(512), len: 512, write: true },
      { addr: st, len: 1, write: true },
    ]);
    e.q.kick();
    await tick();
    assert.equal(e.ram.readU8(st), BlkStatus.IOERR);
  });

  test('data length that is not a multiple of 512 fails with IOERR', async () => {
    const e = setup(new MemoryDisk(8 * 512));
    const r = submit(e, BlkType.OUT, 0, { out: pattern(100, 1) });
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.IOERR);
  });

  test('read-only disk offers VIRTIO_BLK_F_RO and rejects writes with IOERR, writing nothing', async () => {
    const disk = new MemoryDisk(pattern(8 * 512, 9));
    const before = disk.bytes.slice();
    const e = setup(disk, { readOnly: true });
    assert.equal(e.drv.deviceFeatures() & bit(BlkFeature.RO), bit(BlkFeature.RO));
    const w = submit(e, BlkType.OUT, 0, { out: pattern(512, 1) });
    const z = submit(e, BlkType.WRITE_ZEROES, 0, { out: new Uint8Array(16) });
    await tick();
    assert.equal(e.ram.readU8(w.status), BlkStatus.IOERR);
    assert.notEqual(e.ram.readU8(z.status), BlkStatus.OK);
    assert.deepEqual(disk.bytes, before);
    const r = submit(e, BlkType.IN, 1, { inLen: 512 });
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.OK);
    assert.deepEqual(e.ram.slice(r.data, 512), before.subarray(512, 1024));
  });

  test('FLUSH waits for earlier writes, then flushes the backend', async () => {
    const order: string[] = [];
    const release: (() => void)[] = [];
    const slow: BlockBackend = {
      size: 8 * 512,
      readOnly: false,
      read: async () => {},
      write: () =>
        new Promise<void>((r) =>
          release.push(() => {
            order.push('write');
            r();
          }),
        ),
      flush: async () => {
        order.push('flush');
      },
    };
    const e = setup(slow);
    const w = submit(e, BlkType.OUT, 0, { out: pattern(512, 2) });
    const f = submit(e, BlkType.FLUSH, 0);
    await tick();
    assert.deepEqual(order, []);
    assert.equal(e.ram.readU8(f.status), 0xff); // not completed yet
    assert.equal(e.blk.inFlight, 2);
    release[0]!();
    await tick();
    await tick();
    assert.deepEqual(order, ['write', 'flush']);
    assert.equal(e.ram.readU8(w.status), BlkStatus.OK);
    assert.equal(e.ram.readU8(f.status), BlkStatus.OK);
    assert.equal(e.blk.inFlight, 0);
  });

  test('asynchronous completion raises the interrupt when the backend finishes', async () => {
    let finish = () => {};
    const slow: BlockBackend = {
      size: 8 * 512,
      readOnly: false,
      read: (_o, dst) =>
        new Promise<void>((r) => {
          finish = () => {
            dst.fill(0x5a);
            r();
          };
        }),
      write: async () => {},
      flush: async () => {},
    };
    const e = setup(slow);
    const r = submit(e, BlkType.IN, 0, { inLen: 512 });
    await tick();
    assert.equal(e.irq.level, false);
    assert.equal(e.q.usedIdx, 0);
    finish();
    await tick();
    assert.equal(e.irq.level, true);
    assert.equal(e.ram.readU8(r.data), 0x5a);
    assert.equal(e.ram.readU8(r.status), BlkStatus.OK);
  });

  test('a backend failure is an IOERR to the guest, not a host exception', async () => {
    const broken: BlockBackend = {
      size: 8 * 512,
      readOnly: false,
      read: () => Promise.reject(new Error('EIO')),
      write: () => {
        throw new Error('sync throw');
      },
      flush: () => Promise.reject(new Error('fsync failed')),
    };
    const e = setup(broken);
    const r = submit(e, BlkType.IN, 0, { inLen: 512 });
    const w = submit(e, BlkType.OUT, 0, { out: pattern(512, 0) });
    const f = submit(e, BlkType.FLUSH, 0);
    await tick();
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.IOERR);
    assert.equal(e.ram.readU8(w.status), BlkStatus.IOERR);
    assert.equal(e.ram.readU8(f.status), BlkStatus.IOERR);
    assert.equal(e.drv.needsReset, false);
  });

  test('a completion that fails in the domain goes to the host guard, not an unhandled rejection', async () => {
    const caught: string[] = [];
    const contain = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        caught.push(`${what}: ${(err as Error).message}`);
      }
    };
    const e = setup(new MemoryDisk(8 * 512), { contain });
    e.irq.set = () => {
      throw new Error('injected interrupt failure');
    };
    submit(e, BlkType.IN, 0, { inLen: 512 });
    await tick();
    await tick();
    assert.deepEqual(caught, ['disk completion: injected interrupt failure']);
  });

  test('GET_ID returns the serial', async () => {
    const e = setup(new MemoryDisk(512), { id: 'disk-0' });
    const r = submit(e, BlkType.GET_ID, 0, { inLen: 20 });
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.OK);
    assert.equal(new TextDecoder().decode(e.ram.slice(r.data, 6)), 'disk-0');
    assert.equal(e.ram.readU8(gpa(r.data + 6)), 0);
    assert.deepEqual(
      e.q.takeUsed().map((u) => u.len),
      [21],
    );
  });

  test('unknown request type is UNSUPP', async () => {
    const e = setup(new MemoryDisk(512));
    const r = submit(e, 99, 0);
    await tick();
    assert.equal(e.ram.readU8(r.status), BlkStatus.UNSUPP);
  });

  test('WRITE_ZEROES clears the range; unknown range flags are UNSUPP', async () => {
    const disk = new MemoryDisk(pattern(8 * 512, 4));
    const e = setup(disk);
    const seg = new Uint8Array(16);
    const v = new DataView(seg.buffer);
    v.setUint32(0, 2, true);
    v.setUint32(8, 3, true);
    const z = submit(e, BlkType.WRITE_ZEROES, 0, { out: seg });
    await tick();
    assert.equal(e.ram.readU8(z.status), BlkStatus.OK);
    assert.ok(disk.bytes.subarray(1024, 2560).every((b) => b === 0));
    assert.notEqual(disk.bytes[1023], 0);
    v.setUint32(12, 0x80, true);
    const bad = submit(e, BlkType.WRITE_ZEROES, 0, { out: seg });
    await tick();
    assert.equal(e.ram.readU8(bad.status), BlkStatus.UNSUPP);
  });

  test('request without a header is IOERR (header split across descriptors is fine)', async () => {
    const disk = new MemoryDisk(pattern(4 * 512, 5));
    const e = setup(disk);
    const h = header(BlkType.IN, 1);
    const st = e.drv.alloc(1);
    const out = e.drv.alloc(512);
    e.q.add([
      { addr: e.drv.put(h.subarray(0, 5)), len: 5 },
      { addr: e.drv.put(h.subarray(5)), len: 11 },
      { addr: out, len: 512, write: true },
      { addr: st, len: 1, write: true },
    ]);
    const st2 = e.drv.alloc(1);
    e.q.add([
      { addr: e.drv.put(h.subarray(0, 8)), len: 8 },
      { addr: st2, len: 1, write: true },
    ]);
    e.q.kick();
    await tick();
    assert.equal(e.ram.readU8(st), BlkStatus.OK);
    assert.deepEqual(e.ram.slice(out, 512), disk.bytes.subarray(512, 1024));
    assert.equal(e.ram.readU8(st2), BlkStatus.IOERR);
  });

  test('request with no writable status byte (wrong direction) is returned unanswered', async () => {
    const e = setup(new MemoryDisk(512));
    e.q.add([
      { addr: e.drv.put(header(BlkType.IN, 0)), len: 16 },
      { addr: e.drv.alloc(513), len: 513 },
    ]);
    e.q.kick();
    await tick();
    assert.deepEqual(e.q.takeUsed(), [{ id: 0, len: 0 }]);
    assert.equal(e.blk.stats.errors, 1);
    assert.equal(e.drv.needsReset, false);
  });

  test('a transfer larger than the limit fails instead of allocating', async () => {
    // All 4 MiB of RAM named 14 times as the data buffer: 56 MiB of "data".
    const e = setup(new MemoryDisk(64 << 20));
    const st = e.drv.alloc(1);
    e.ram.writeU8(st, 0xff);
    e.q.add([
      { addr: e.drv.put(header(BlkType.IN, 0)), len: 16 },
      ...Array.from({ length: 14 }, () => ({ addr: BASE, len: 0x40_0000, write: true })),
      { addr: st, len: 1, write: true },
    ]);
    e.q.kick();
    await tick();
    assert.equal(e.ram.readU8(st), BlkStatus.IOERR);
    assert.equal(e.drv.needsReset, false);
  });

  test('drain resolves once in-flight requests complete', async () => {
    const e = setup(new MemoryDisk(512));
    submit(e, BlkType.IN, 0, { inLen: 512 });
    assert.equal(e.blk.inFlight, 1);
    await e.blk.drain();
    assert.equal(e.blk.inFlight, 0);
    assert.equal(e.mmio.hasFeature(Feature.VERSION_1), true);
  });
});

test("xv6-riscv's virtio_disk_init and a read, register by register: served as on QEMU", async () => {
  // The sequence of xv6-riscv's kernel/virtio_disk.c (the teaching kernel written for QEMU's
  // virt): it checks QEMU's vendor id, never accepts VIRTIO_F_VERSION_1, and counts on
  // FEATURES_OK anyway.
  const disk = new MemoryDisk(64 * 1024);
  disk.bytes.set(pattern(1024, 3), 1024);
  const { ram, mmio, drv, irq } = attach(disk, { queueSize: 256 });
  const R = (r: number) => drv.r32(r);
  assert.deepEqual(
    [R(MmioReg.MAGIC), R(MmioReg.VERSION), R(MmioReg.DEVICE_ID), R(MmioReg.VENDOR_ID)],
    [0x74726976, 2, 2, 0x554d4551],
  );
  let status = 0;
  drv.w32(MmioReg.STATUS, status);
  status |= 1;
  drv.w32(MmioReg.STATUS, status);
  status |= 2;
  drv.w32(MmioReg.STATUS, status);
  let features = R(MmioReg.DEVICE_FEATURES);
  for (const b of [5, 7, 11, 12, 27, 29, 28]) features &= ~(1 << b); // RO, SCSI, CONFIG_WCE, MQ, ANY_LAYOUT, EVENT_IDX, INDIRECT_DESC
  drv.w32(MmioReg.DRIVER_FEATURES, features);
  status |= 8;
  drv.w32(MmioReg.STATUS, status);
  assert.equal(R(MmioReg.STATUS) & 8, 8, 'FEATURES_OK without VERSION_1');
  drv.w32(MmioReg.QUEUE_SEL, 0);
  assert.equal(R(MmioReg.QUEUE_READY), 0);
  assert.ok(R(MmioReg.QUEUE_NUM_MAX) >= 8);
  const q = new MockQueue(drv, 0, 8, drv.alloc(4096, 4096), drv.alloc(4096, 4096), drv.alloc(4096, 4096));
  drv.w32(MmioReg.QUEUE_NUM, 8);
  drv.w32(MmioReg.QUEUE_DESC_LOW, q.desc % 2 ** 32);
  drv.w32(MmioReg.QUEUE_DESC_HIGH, 0);
  drv.w32(MmioReg.QUEUE_DRIVER_LOW, q.avail % 2 ** 32);
  drv.w32(MmioReg.QUEUE_DRIVER_HIGH, 0);
  drv.w32(MmioReg.QUEUE_DEVICE_LOW, q.used % 2 ** 32);
  drv.w32(MmioReg.QUEUE_DEVICE_HIGH, 0);
  drv.w32(MmioReg.QUEUE_READY, 1);
  status |= 4;
  drv.w32(MmioReg.STATUS, status);
  assert.equal(mmio.running, true);
  // Block 1 (1 KiB): header, data, status, as xv6's virtio_disk_rw builds it.
  const data = drv.alloc(1024);
  const st = drv.alloc(1);
  ram.writeU8(st, 0xff);
  q.add([
    { addr: drv.put(header(BlkType.IN, 2)), len: 16 },
    { addr: data, len: 1024, write: true },
    { addr: st, len: 1, write: true },
  ]);
  q.kick();
  await tick();
  assert.equal(irq.level, true);
  drv.w32(MmioReg.INTERRUPT_ACK, R(MmioReg.INTERRUPT_STATUS) & 3);
  assert.equal(irq.level, false);
  assert.equal(q.takeUsed().length, 1);
  assert.equal(ram.readU8(st), BlkStatus.OK);
  assert.deepEqual([...ram.slice(data, 1024)], [...pattern(1024, 3)]);
  assert.deepEqual(mmio.stats.refused, {});
});

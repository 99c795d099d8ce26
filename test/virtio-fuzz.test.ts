/**
 * Hostile virtqueues against every device model (9p serving an empty host directory), generated: random descriptor tables
 * (addresses inside, at the edge of and far outside RAM, lengths up to 2^32-1, any flags,
 * any next), random available entries and indices. Each case must end without a host
 * exception with the device either serving or refusing (DEVICE_NEEDS_RESET); the device
 * must write nothing outside the buffers it was given (§2.7.5.1) and never touch the
 * descriptor table or the available ring; and it must work again after a reset (liveness).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { gpa } from '../src/core/types.js';
import { parseMac, VirtualSwitch } from '../src/devices/switch.js';
import { VirtioP9 } from '../src/devices/virtio/9p/device.js';
import { P9 } from '../src/devices/virtio/9p/protocol.js';
import { tmessage } from '../src/devices/virtio/9p/testing.js';
import { VirtioBalloon } from '../src/devices/virtio/balloon/device.js';
import { MemoryDisk } from '../src/devices/virtio/blk/backend.js';
import { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { VirtioConsole } from '../src/devices/virtio/console/device.js';
import { MmioReg } from '../src/devices/virtio/constants.js';
import type { VirtioDevice } from '../src/devices/virtio/device.js';
import { VirtioMmio } from '../src/devices/virtio/mmio.js';
import { MockDriver } from '../src/devices/virtio/mock-driver.js';
import { VirtioNet } from '../src/devices/virtio/net/device.js';
import { VirtioRng } from '../src/devices/virtio/rng/device.js';
import { NodeP9Fs } from '../src/host/p9-fs.js';
import { GuestRam } from '../src/memory/ram.js';

const BASE = 0x8000_0000;
const RAM = 0x20_0000;
const QSIZE = 8;
const tick = () => new Promise((r) => setImmediate(r));

/**
 * Buffers (valid or not) only ever name memory below CANARY: anything the device writes
 * at or above it is a write no descriptor allowed.
 */
const CANARY = BASE + 0x18_0000;
/**
 * Buffers never lie over the mock driver's own rings (from BASE + 0x1000, well below
 * RINGS_END): a guest that hands the device its own rings as a writable buffer only
 * corrupts itself, and the check below that the rings stay untouched would be wrong.
 */
const RINGS_END = BASE + 0x4_0000;
const addr = fc.oneof(
  { arbitrary: fc.integer({ min: BASE + 0x8_0000, max: BASE + 0x10_0000 - 0x1000 }), weight: 6 },
  { arbitrary: fc.integer({ min: RINGS_END, max: BASE + 0x10_0000 - 1 }), weight: 2 },
  { arbitrary: fc.constantFrom(0, BASE - 1, BASE + 0x10_0000 - 4, BASE + RAM, 2 ** 53 - 1, 2 ** 64 - 4096), weight: 1 },
);
const len = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 600 }), weight: 8 },
  { arbitrary: fc.constantFrom(0x1_0000, 0x7_0000, 0xffff_ffff), weight: 1 },
);
// Mostly plausible flags (readable, writable, chained), sometimes INDIRECT and nonsense.
const flags = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 2, 3), weight: 8 },
  { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 2 },
);
const desc = fc.record({
  addr,
  len,
  flags,
  next: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 8 },
    { arbitrary: fc.integer({ min: 8, max: 10 }), weight: 1 },
  ),
});
const scenario = fc.record({
  table: fc.array(desc, { minLength: QSIZE, maxLength: QSIZE }),
  heads: fc.array(
    fc.oneof({ arbitrary: fc.integer({ min: 0, max: 7 }), weight: 8 }, { arbitrary: fc.constant(9), weight: 1 }),
    {
      minLength: 1,
      maxLength: 4,
    },
  ),
  hugeIndex: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
  queue: fc.integer({ min: 0, max: 1 }),
  noise: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

type Make = () => { device: VirtioDevice; queues: number[] };

/** The 9p device serves an empty host directory. */
const shareDir = mkdtempSync(join(tmpdir(), 'pvm-virtio-fuzz-'));
const share = await NodeP9Fs.open(shareDir);
after(async () => {
  await share.close();
  rmSync(shareDir, { recursive: true, force: true });
});

const devices: Record<string, Make> = {
  blk: () => ({ device: new VirtioBlk({ backend: new MemoryDisk(64 * 512), queueSize: QSIZE }), queues: [0] }),
  console: () => ({ device: new VirtioConsole({ output: () => {}, queueSize: QSIZE }), queues: [0, 1] }),
  net: () => {
    const net = new VirtioNet({ mac: parseMac('52:54:00:00:00:01')!, queueSize: QSIZE });
    new VirtualSwitch('fuzz').attach(net);
    return { device: net, queues: [0, 1] };
  },
  rng: () => ({ device: new VirtioRng({ fill: (b) => void b.fill(7) }, QSIZE), queues: [0] }),
  balloon: () => ({ device: new VirtioBalloon({ queueSize: QSIZE }), queues: [0, 1, 2] }),
  '9p': () => ({ device: new VirtioP9({ tag: 'fuzz', backend: share, queueSize: QSIZE }), queues: [0] }),
};

for (const [kind, make] of Object.entries(devices)) {
  test(`hostile rings against virtio-${kind}: no host exception, device alive after reset`, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const ram = new GuestRam(BASE, RAM);
        const { device, queues } = make();
        const mmio = new VirtioMmio(device, ram, { set() {} });
        const drv = new MockDriver(ram, mmio, BASE + 0x1000);
        const qs = drv.start(queues.map(() => QSIZE));
        // Some guest memory holds random bytes (headers, page lists, ...).
        ram.write(gpa(BASE + 0x10_0000), s.noise);
        const q = qs[Math.min(s.queue, qs.length - 1)]!;
        s.table.forEach((d, i) => {
          q.setDesc(i, d.addr, d.len, d.flags, d.next);
        });
        for (const h of s.heads) q.offer(h);
        if (s.hugeIndex) q.setAvailIdx(0xfff0);
        ram.fill(gpa(CANARY), BASE + RAM - CANARY, 0xa5);
        const driverOwned = () => [...ram.slice(q.desc, 16 * QSIZE), ...ram.slice(q.avail, 6 + 2 * QSIZE)];
        const before = driverOwned();
        q.kick();
        await tick();
        await tick();
        assert.ok(q.usedIdx <= s.heads.length, 'never more used entries than offered');
        assert.ok(
          ram.slice(gpa(CANARY), BASE + RAM - CANARY).every((b) => b === 0xa5),
          'no write outside the given buffers',
        );
        assert.deepEqual(driverOwned(), before, 'descriptor table and available ring untouched');

        // Liveness: reset, bring the device up again, and it serves a sane request.
        drv.w32(MmioReg.STATUS, 0);
        const again = drv.start(queues.map(() => QSIZE));
        assert.equal(drv.needsReset, false);
        const probe = again[queues.length > 1 && kind !== 'balloon' ? 1 : 0]!;
        const buf = drv.put(new Uint8Array(16));
        const blkHeader = kind === 'blk';
        probe.add(
          blkHeader
            ? [
                { addr: buf, len: 16 },
                { addr: drv.alloc(1), len: 1, write: true },
              ]
            : kind === 'rng'
              ? [{ addr: drv.alloc(16), len: 16, write: true }]
              : kind === 'net'
                ? [{ addr: drv.put(new Uint8Array(12 + 60)), len: 72 }]
                : kind === '9p'
                  ? [
                      { addr: drv.put(tmessage(P9.Tversion, 0xffff, (w) => w.u32(8192).str('9P2000.L'))), len: 21 },
                      { addr: drv.alloc(64), len: 64, write: true },
                    ]
                  : [{ addr: buf, len: 16 }],
        );
        probe.kick();
        await tick();
        assert.equal(probe.takeUsed().length, 1, 'device alive after reset');
      }),
      { numRuns: 150 },
    );
  });
}

/**
 * Hostile virtqueues, generated: descriptor tables with addresses inside, at the edge of and
 * far outside RAM, lengths up to 2^32-1, any flags and next; available entries and indices;
 * random bytes in guest memory; a stray register write. Shared by the fuzz target (bench/fuzz)
 * and the property test (test/virtio-fuzz.test.ts), with the device models they run against.
 */
import fc from 'fast-check';
import { gpa } from '../../src/core/types.js';
import { parseMac, VirtualSwitch } from '../../src/devices/switch.js';
import { VirtioBalloon } from '../../src/devices/virtio/balloon/device.js';
import { MemoryDisk } from '../../src/devices/virtio/blk/backend.js';
import { VirtioBlk } from '../../src/devices/virtio/blk/device.js';
import { VirtioConsole } from '../../src/devices/virtio/console/device.js';
import type { VirtioDevice } from '../../src/devices/virtio/device.js';
import type { MockDriver, MockQueue } from '../../src/devices/virtio/mock-driver.js';
import { VirtioNet } from '../../src/devices/virtio/net/device.js';
import { VirtioRng } from '../../src/devices/virtio/rng/device.js';
import type { GuestRam } from '../../src/memory/ram.js';

export const VQ_BASE = 0x8000_0000;
export const VQ_RAM = 0x20_0000;
export const QSIZE = 8;
/**
 * Buffers (valid or not) only ever name memory below CANARY: anything the device writes
 * at or above it is a write no descriptor allowed.
 */
export const CANARY = VQ_BASE + 0x18_0000;
/**
 * Buffers never lie over the mock driver's own rings (from VQ_BASE + 0x1000, well below
 * RINGS_END): a guest that hands the device its own rings as a writable buffer only
 * corrupts itself, and the check that the rings stay untouched would be wrong.
 */
const RINGS_END = VQ_BASE + 0x4_0000;
const NOISE_AT = VQ_BASE + 0x10_0000;
const vaddr = fc.oneof(
  { arbitrary: fc.integer({ min: VQ_BASE + 0x8_0000, max: VQ_BASE + 0x10_0000 - 0x1000 }), weight: 6 },
  { arbitrary: fc.integer({ min: RINGS_END, max: VQ_BASE + 0x10_0000 - 1 }), weight: 2 },
  {
    arbitrary: fc.constantFrom(0, VQ_BASE - 1, VQ_BASE + 0x10_0000 - 4, VQ_BASE + VQ_RAM, 2 ** 53 - 1, 2 ** 64 - 4096),
    weight: 1,
  },
);
const vlen = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 600 }), weight: 8 },
  { arbitrary: fc.constantFrom(0x1_0000, 0x7_0000, 0xffff_ffff), weight: 1 },
);
const desc = fc.record({
  addr: vaddr,
  len: vlen,
  flags: fc.oneof(
    { arbitrary: fc.constantFrom(0, 1, 2, 3), weight: 8 },
    { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 2 },
  ),
  next: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 8 },
    { arbitrary: fc.integer({ min: 8, max: 10 }), weight: 1 },
  ),
});
export const scenario = fc.record({
  table: fc.array(desc, { minLength: QSIZE, maxLength: QSIZE }),
  heads: fc.array(
    fc.oneof({ arbitrary: fc.integer({ min: 0, max: 7 }), weight: 8 }, { arbitrary: fc.constant(9), weight: 1 }),
    {
      minLength: 1,
      maxLength: 4,
    },
  ),
  hugeIndex: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
  queue: fc.integer({ min: 0, max: 2 }),
  noise: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  /** A stray register write by the driver before the kick (offset, value). */
  poke: fc.option(
    fc.tuple(
      fc.integer({ min: 0, max: 0x1ff }).map((o) => o & ~3),
      fc.nat(),
    ),
    { freq: 4 },
  ),
});

export type Make = () => { device: VirtioDevice; queues: number[] };
export const devices: Record<string, Make> = {
  blk: () => ({ device: new VirtioBlk({ backend: new MemoryDisk(64 * 512), queueSize: QSIZE }), queues: [0] }),
  console: () => ({ device: new VirtioConsole({ output: () => {}, queueSize: QSIZE }), queues: [0, 1] }),
  net: () => {
    const net = new VirtioNet({ mac: parseMac('52:54:00:00:00:01')!, queueSize: QSIZE });
    const sw = new VirtualSwitch('fuzz');
    sw.attach(net);
    sw.attach({ mac: parseMac('52:54:00:00:00:02')!, deliver: () => {} });
    return { device: net, queues: [0, 1] };
  },
  rng: () => ({ device: new VirtioRng({ fill: (b) => void b.fill(7) }, QSIZE), queues: [0] }),
  balloon: () => ({ device: new VirtioBalloon({ queueSize: QSIZE }), queues: [0, 1, 2] }),
};

export type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

/**
 * Puts scenario `s` on one of the started queues `qs` (noise, descriptors, available
 * entries, canary) and returns the queue and what reads the driver-owned ring bytes.
 */
export function offer(
  ram: GuestRam,
  drv: MockDriver,
  qs: readonly MockQueue[],
  s: Scenario,
): { q: MockQueue; driverOwned: () => string } {
  ram.write(gpa(NOISE_AT), s.noise);
  const q = qs[Math.min(s.queue, qs.length - 1)]!;
  s.table.forEach((d, i) => {
    q.setDesc(i, d.addr, d.len, d.flags, d.next);
  });
  for (const h of s.heads) q.offer(h);
  if (s.hugeIndex) q.setAvailIdx(0xfff0);
  ram.fill(gpa(CANARY), VQ_BASE + VQ_RAM - CANARY, 0xa5);
  if (s.poke !== null) drv.w32(s.poke[0], s.poke[1]);
  const driverOwned = () => [...ram.slice(q.desc, 16 * QSIZE), ...ram.slice(q.avail, 6 + 2 * QSIZE)].join();
  return { q, driverOwned };
}

/** Whether the device wrote nothing at or above CANARY. */
export function canaryIntact(ram: GuestRam): boolean {
  const n = VQ_BASE + VQ_RAM - CANARY;
  const view = ram.u8.subarray(CANARY - VQ_BASE, CANARY - VQ_BASE + n);
  return view.every((b) => b === 0xa5);
}

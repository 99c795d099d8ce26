/**
 * Hostile virtqueues against every device model (9p serving an empty host directory), generated: random descriptor tables
 * (addresses inside, at the edge of and far outside RAM, lengths up to 2^32-1, any flags,
 * any next), random available entries and indices, a stray register write (the arbitraries are
 * bench/fuzz/virtqueue.ts's, which the fuzz targets run longer). Each case must end without a host
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
import { canaryIntact, devices, type Make, offer, QSIZE, scenario, VQ_BASE, VQ_RAM } from '../bench/fuzz/virtqueue.js';
import { VirtioP9 } from '../src/devices/virtio/9p/device.js';
import { P9 } from '../src/devices/virtio/9p/protocol.js';
import { tmessage } from '../src/devices/virtio/9p/testing.js';
import { MmioReg } from '../src/devices/virtio/constants.js';
import { VirtioMmio } from '../src/devices/virtio/mmio.js';
import { MockDriver } from '../src/devices/virtio/mock-driver.js';
import { NodeP9Fs } from '../src/host/p9-fs.js';
import { GuestRam } from '../src/memory/ram.js';

const tick = () => new Promise((r) => setImmediate(r));

/** The 9p device serves an empty host directory. */
const shareDir = mkdtempSync(join(tmpdir(), 'pvm-virtio-fuzz-'));
const share = await NodeP9Fs.open(shareDir);
after(async () => {
  await share.close();
  rmSync(shareDir, { recursive: true, force: true });
});

const all: Record<string, Make> = {
  ...devices,
  '9p': () => ({ device: new VirtioP9({ tag: 'fuzz', backend: share, queueSize: QSIZE }), queues: [0] }),
};

for (const [kind, make] of Object.entries(all)) {
  test(`hostile rings against virtio-${kind}: no host exception, device alive after reset`, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const ram = new GuestRam(VQ_BASE, VQ_RAM);
        const { device, queues } = make();
        const mmio = new VirtioMmio(device, ram, { set() {} });
        const drv = new MockDriver(ram, mmio, VQ_BASE + 0x1000);
        const { q, driverOwned } = offer(ram, drv, drv.start(queues.map(() => QSIZE)), s);
        const before = driverOwned();
        q.kick();
        await tick();
        await tick();
        assert.ok(q.usedIdx <= s.heads.length, 'never more used entries than offered');
        assert.ok(canaryIntact(ram), 'no write outside the given buffers');
        assert.equal(driverOwned(), before, 'descriptor table and available ring untouched');

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

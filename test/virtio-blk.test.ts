/**
 * virtio-blk on a real file: a mock driver writes through the MMIO registers, flushes,
 * and the bytes are in the host file once the FLUSH completes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gpa } from '../src/core/types.js';
import { BlkFeature, VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { BlkStatus, BlkType } from '../src/devices/virtio/blk/request.js';
import { bit } from '../src/devices/virtio/constants.js';
import { VirtioMmio } from '../src/devices/virtio/mmio.js';
import { MockDriver } from '../src/devices/virtio/mock-driver.js';
import { FileDisk } from '../src/host/disk.js';
import { GuestRam } from '../src/memory/ram.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-vblk-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  new DataView(h.buffer).setUint32(0, type, true);
  new DataView(h.buffer).setUint32(8, sector, true);
  return h;
}

/** Waits until `cond` holds, giving the event loop turns (file I/O completes in the thread pool). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), 'request did not complete');
}

async function boot(path: string, readonly: boolean) {
  const disk = await FileDisk.open(path, { readonly });
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const blk = new VirtioBlk({ backend: disk, id: 'vda' });
  const mmio = new VirtioMmio(blk, ram, { set() {} });
  const drv = new MockDriver(ram, mmio);
  const [q] = drv.start([256]);
  const request = async (type: number, sector: number, out?: Uint8Array, inLen = 0) => {
    const bufs = [{ addr: drv.put(header(type, sector)), len: 16 }];
    if (out) bufs.push({ addr: drv.put(out), len: out.length });
    const data = inLen ? drv.alloc(inLen) : gpa(0);
    const status = drv.alloc(1);
    ram.writeU8(status, 0xff);
    if (inLen) bufs.push({ addr: data, len: inLen, write: true } as never);
    bufs.push({ addr: status, len: 1, write: true } as never);
    q!.add(bufs);
    q!.kick();
    await until(() => ram.readU8(status) !== 0xff);
    return { status: ram.readU8(status), data: inLen ? ram.slice(data, inLen).slice() : null };
  };
  return { disk, blk, drv, request };
}

test('blk write + flush reaches the host file; a second attach reads it back', async () => {
  const path = join(dir, 'rw.img');
  writeFileSync(path, new Uint8Array(1 << 20));
  const a = await boot(path, false);
  const msg = new Uint8Array(4096);
  msg.set(new TextEncoder().encode('hello from the guest'));
  assert.equal((await a.request(BlkType.OUT, 8, msg)).status, BlkStatus.OK);
  assert.equal((await a.request(BlkType.FLUSH, 0)).status, BlkStatus.OK);
  assert.equal(a.disk.syncs, 1);
  // Durable before the FLUSH completed: read the file while the disk is still open.
  assert.equal(readFileSync(path).subarray(4096, 4116).toString(), 'hello from the guest');
  await a.disk.close();

  const b = await boot(path, false);
  const r = await b.request(BlkType.IN, 8, undefined, 512);
  assert.equal(r.status, BlkStatus.OK);
  assert.equal(new TextDecoder().decode(r.data!.subarray(0, 20)), 'hello from the guest');
  await b.disk.close();
});

test('read-only disk: writes fail with IOERR and the file is unchanged', async () => {
  const path = join(dir, 'ro.img');
  const original = new Uint8Array(1 << 16).fill(0x5c);
  writeFileSync(path, original);
  const c = await boot(path, true);
  assert.equal(c.drv.deviceFeatures() & bit(BlkFeature.RO), bit(BlkFeature.RO));
  assert.equal((await c.request(BlkType.OUT, 0, new Uint8Array(512))).status, BlkStatus.IOERR);
  assert.equal((await c.request(BlkType.FLUSH, 0)).status, BlkStatus.OK);
  const r = await c.request(BlkType.IN, 0, undefined, 512);
  assert.equal(r.status, BlkStatus.OK);
  assert.ok(r.data!.every((b) => b === 0x5c));
  await c.disk.close();
  assert.deepEqual(new Uint8Array(readFileSync(path)), original);
});

/**
 * qcow2 reads checked against the raw image qemu-img made them from (a differential
 * test: qemu-img is required, from Debian's qemu-utils).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { isPvmError } from '../core/errors.js';
import { openDisk } from './disk.js';
import { parseQcow2Header, Qcow2Disk } from './disk-qcow2.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-qcow2-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 4 << 20;
const raw = new Uint8Array(SIZE);
// Patterned data with holes: clusters of zeroes, text, and noise.
for (let i = 0; i < SIZE; i++) {
  const block = i >> 16;
  raw[i] = block % 3 === 0 ? 0 : block % 3 === 1 ? (i * 31 + block) & 0xff : 'pvm qcow2 test '.charCodeAt(i % 15);
}
const rawPath = join(dir, 'disk.raw');
writeFileSync(rawPath, raw);

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function convert(name: string, ...opts: string[]): string {
  const p = join(dir, name);
  qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...opts, rawPath, p);
  return p;
}

const images = {
  v3: convert('v3.qcow2'),
  v2: convert('v2.qcow2', '-o', 'compat=0.10'),
  compressed: convert('c.qcow2', '-c'),
  smallClusters: convert('small.qcow2', '-o', 'cluster_size=4096'),
};

for (const [kind, path] of Object.entries(images)) {
  test(`qcow2 (${kind}) reads the same bytes as the raw image`, async () => {
    const d = await Qcow2Disk.open(path);
    assert.equal(d.size, SIZE);
    const all = new Uint8Array(SIZE);
    await d.read(0, all);
    assert.deepEqual(all, raw);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: SIZE - 1 }),
        fc.integer({ min: 1, max: 200_000 }),
        async (off, len) => {
          const n = Math.min(len, SIZE - off);
          const buf = new Uint8Array(n);
          await d.read(off, buf);
          assert.deepEqual(buf, raw.subarray(off, off + n));
        },
      ),
      { numRuns: 50 },
    );
    await d.close();
  });
}

test('openDisk: qcow2 is read-only, raw stays raw', async () => {
  await assert.rejects(openDisk(images.v3), (e) => isPvmError(e) && /is qcow2.*add ,ro/.test(e.message));
  const q = await openDisk(images.v3, { readonly: true });
  assert.equal(q.size, SIZE);
  assert.equal(q.readOnly, true);
  await assert.rejects(q.write(0, new Uint8Array(512)), /read-only/);
  await q.close();
  const r = await openDisk(rawPath);
  assert.equal(r.size, SIZE);
  assert.equal(r.readOnly, false);
  await r.close();
});

test('qcow2 with a backing file is refused', async () => {
  const p = join(dir, 'overlay.qcow2');
  qemuImg('create', '-f', 'qcow2', '-b', images.v3, '-F', 'qcow2', p);
  await assert.rejects(Qcow2Disk.open(p), /backing files are not supported/);
});

test('qcow2 header checks: magic, corrupt bit, L1 table, truncation', () => {
  const h = new Uint8Array(readFileSync(images.v3).subarray(0, 112));
  const fileSize = readFileSync(images.v3).length;
  assert.equal(parseQcow2Header(h, 'x', fileSize).clusterBits, 16);
  const corrupt = h.slice();
  corrupt[79] |= 2;
  assert.throws(() => parseQcow2Header(corrupt, 'x', fileSize), /marked corrupt/);
  const magic = h.slice();
  magic[0] = 0;
  assert.throws(() => parseQcow2Header(magic, 'x', fileSize), /not a qcow2 image/);
  assert.throws(() => parseQcow2Header(h.subarray(0, 50), 'x', fileSize), /truncated/);
  const l1 = h.slice();
  new DataView(l1.buffer).setBigUint64(40, BigInt(fileSize), false);
  assert.throws(() => parseQcow2Header(l1, 'x', fileSize), /bad L1 table/);
});

test('a hostile qcow2 image fails reads with an error, never a crash', async () => {
  // L1 entry pointing past the end of the file.
  const bytes = new Uint8Array(readFileSync(images.v3));
  const v = new DataView(bytes.buffer);
  const l1 = Number(v.getBigUint64(40));
  v.setBigUint64(l1, (1n << 63n) | BigInt(bytes.length + 0x10000), false);
  const p1 = join(dir, 'bad-l1.qcow2');
  writeFileSync(p1, bytes);
  const d1 = await Qcow2Disk.open(p1);
  await assert.rejects(d1.read(0, new Uint8Array(512)), (e) => isPvmError(e) && /outside the file/.test(e.message));
  await d1.close();

  // Compressed clusters overwritten with garbage.
  const c = new Uint8Array(readFileSync(images.compressed));
  const cv = new DataView(c.buffer);
  const cl1 = Number(cv.getBigUint64(40));
  const l2 = Number(cv.getBigUint64(cl1) & 0x00ff_ffff_ffff_fe00n);
  let garbled = 0;
  for (let i = 0; i < 64; i++) {
    const e = cv.getBigUint64(l2 + 8 * i);
    if (!(e & (1n << 62n))) continue;
    const host = Number(e & ((1n << 54n) - 1n));
    c.fill(0xff, host, Math.min(host + 64, c.length));
    garbled++;
  }
  assert.ok(garbled > 0, 'the compressed image has compressed clusters');
  const p2 = join(dir, 'bad-deflate.qcow2');
  writeFileSync(p2, c);
  const d2 = await Qcow2Disk.open(p2);
  const all = new Uint8Array(SIZE);
  await assert.rejects(d2.read(0, all), (e) => isPvmError(e) && /compressed cluster/.test(e.message));
  await d2.close();
});

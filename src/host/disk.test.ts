import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isPvmError } from '../core/errors.js';
import { FileDisk } from './disk.js';
import { hostEntropy } from './entropy.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-disk-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const image = (name: string, bytes: Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

test('file disk reads, writes and fsyncs on flush', async () => {
  const p = image('rw.img', new Uint8Array(4096).fill(7));
  const d = await FileDisk.open(p);
  assert.equal(d.size, 4096);
  assert.equal(d.readOnly, false);
  await d.write(512, new Uint8Array(512).fill(0xab));
  await d.flush();
  assert.equal(d.syncs, 1);
  const got = new Uint8Array(1024);
  await d.read(0, got);
  assert.equal(got[0], 7);
  assert.equal(got[512], 0xab);
  await d.close();
  const file = readFileSync(p);
  assert.equal(file[511], 7);
  assert.equal(file[512], 0xab);
  assert.equal(file[1023], 0xab);
});

test('read-only file disk refuses writes and does not fsync', async () => {
  const p = image('ro.img', new Uint8Array(1024).fill(1));
  const d = await FileDisk.open(p, { readonly: true });
  await assert.rejects(d.write(0, new Uint8Array(512)), /read-only/);
  await d.flush();
  assert.equal(d.syncs, 0);
  await d.close();
  assert.deepEqual(readFileSync(p), Buffer.alloc(1024, 1));
});

test('unsafe cache skips fsync; writethrough opens and writes', async () => {
  const u = await FileDisk.open(image('u.img', new Uint8Array(1024)), { cache: 'unsafe' });
  await u.flush();
  assert.equal(u.syncs, 0);
  await u.close();
  const p = image('wt.img', new Uint8Array(1024));
  const w = await FileDisk.open(p, { cache: 'writethrough' });
  await w.write(0, new Uint8Array(512).fill(3));
  await w.writeZeroes(0, 256);
  await w.close();
  const f = readFileSync(p);
  assert.equal(f[255], 0);
  assert.equal(f[256], 3);
});

test('missing and tiny images are PvmErrors naming the file', async () => {
  await assert.rejects(
    FileDisk.open(join(dir, 'nope.img')),
    (e) => isPvmError(e) && /nope\.img: no such file/.test(e.message),
  );
  const tiny = image('tiny.img', new Uint8Array(100));
  await assert.rejects(FileDisk.open(tiny), (e) => isPvmError(e) && e.kind === 'image');
});

test('host entropy fills large buffers', () => {
  const buf = new Uint8Array(200_000);
  hostEntropy.fill(buf);
  // 200 000 random bytes with more than 1000 zeroes in the last 100 000 is vanishingly unlikely.
  assert.ok(buf.subarray(100_000).filter((b) => b === 0).length < 1000);
  assert.notEqual(buf[199_999], undefined);
});

import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isApiError } from '../api/errors.js';
import { DEFAULTS } from '../api/spec.js';
import { HostFiles, openRegularFile } from './host-files.js';
import { lockImage } from './image-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const allowed = join(dir, 'allowed');
mkdirSync(allowed);
const files = new HostFiles([allowed]);

const refusedWith = (code: string, message: RegExp) => (e: unknown) =>
  isApiError(e) && e.code === code && message.test(e.message);

test('host files: only absolute paths inside the allowed directories, after resolving symlinks', () => {
  const inside = join(allowed, 'a.img');
  writeFileSync(inside, 'x');
  assert.equal(files.check(inside, 'disk'), inside);
  assert.throws(() => files.check('a.img', 'disk'), refusedWith('bad-request', /^disk path "a\.img" is relative/));
  const outside = join(dir, 'b.img');
  writeFileSync(outside, 'x');
  assert.throws(() => files.check(outside, 'disk'), refusedWith('forbidden', /b\.img is outside the directories/));
  symlinkSync(outside, join(allowed, 'link.img'));
  assert.throws(
    () => files.check(join(allowed, 'link.img'), 'disk'),
    refusedWith('forbidden', /link\.img \(.*b\.img\) is outside/),
  );
  // `allowed-other` starts like `allowed` but is not inside it.
  mkdirSync(join(dir, 'allowed-other'));
  writeFileSync(join(dir, 'allowed-other/c.img'), 'x');
  assert.throws(() => files.check(join(dir, 'allowed-other/c.img'), 'disk'), refusedWith('forbidden', /outside/));
  // The embedded guest is readable, not writable; a file to create is checked by its directory.
  assert.equal(files.check(DEFAULTS.guest, 'kernel'), DEFAULTS.guest);
  assert.throws(() => files.check(DEFAULTS.guest, 'disk', { write: true }), refusedWith('forbidden', /outside/));
  assert.equal(
    files.check(join(allowed, 'new.pvmsnap'), 'save file', { mayCreate: true }),
    join(allowed, 'new.pvmsnap'),
  );
  assert.throws(
    () => files.check(join(dir, 'new.pvmsnap'), 'save file', { mayCreate: true }),
    refusedWith('forbidden', /outside/),
  );
  // No list: anywhere, still absolute only.
  assert.equal(new HostFiles().check(outside, 'disk'), outside);
  assert.throws(() => new HostFiles().check('x', 'disk'), refusedWith('bad-request', /relative/));
});

test('host files: a device is refused before anything is read; sizes are checked first', async () => {
  await assert.rejects(
    openRegularFile('/dev/zero', 'kernel'),
    /cannot use kernel \/dev\/zero: a device, not a regular file$/,
  );
  await assert.rejects(openRegularFile(dir, 'kernel'), /is a directory$/);
  const f = join(dir, 'big');
  writeFileSync(f, Buffer.alloc(100));
  await assert.rejects(openRegularFile(f, 'initrd', { max: 99 }), /initrd .*big: 100 bytes is more than 99$/);
  assert.deepEqual(await new HostFiles().readImage(f, 'initrd', 100), new Uint8Array(100));
});

test('image locks: writers exclusive, readers shared, released on close', () => {
  const img = join(dir, 'lock.img');
  writeFileSync(img, Buffer.alloc(512));
  const w = openSync(img, 'r+');
  lockImage(w, img, 'write');
  const r = openSync(img, 'r');
  assert.throws(() => lockImage(r, img, 'read'), refusedWith('in-use', /is being written by another domain/));
  const w2 = openSync(img, 'r+');
  assert.throws(() => lockImage(w2, img, 'write'), refusedWith('in-use', /cannot get its write lock/));
  closeSync(w);
  lockImage(r, img, 'read');
  const r2 = openSync(img, 'r');
  lockImage(r2, img, 'read');
  assert.throws(() => lockImage(w2, img, 'write'), refusedWith('in-use', /write lock/));
  closeSync(r);
  closeSync(r2);
  lockImage(w2, img, 'write');
  closeSync(w2);
});

test('images: a file read again while held is the same bytes, not a copy; a changed file is read anew', async () => {
  const path = join(allowed, 'kernel.img');
  writeFileSync(path, 'first image');
  const a = await files.readImage(path, 'kernel', 1 << 20);
  const b = await files.readImage(path, 'kernel', 1 << 20);
  assert.equal(a, b);
  assert.equal(Buffer.from(a).toString(), 'first image');
  // a new file under the same name (another inode or change time): its own bytes
  rmSync(path);
  writeFileSync(path, 'second image, longer');
  const c = await files.readImage(path, 'kernel', 1 << 20);
  assert.notEqual(c, a);
  assert.equal(Buffer.from(c).toString(), 'second image, longer');
  assert.equal(Buffer.from(a).toString(), 'first image');
  // the size limit still applies to a file held already
  await assert.rejects(files.readImage(path, 'kernel', 4), /is more than 4/);
});

/**
 * Host folders for the prebuilt Linux guest over virtio-9p (built through createVm, see
 * support/guest-vm.ts): the guest mounts a writable share and a read-only one with
 * `mount -t 9p -o trans=virtio,version=9p2000.L TAG DIR` and reads, writes, creates,
 * renames, deletes, makes directories and copies a 4 MiB file (md5 equal on both sides);
 * the read-only share refuses every change; and a table of escape attempts from inside
 * the guest fails, with the files planted outside the share untouched.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runGuest } from './support/guest-vm.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'pvm-9p-linux-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Each escape attempt: a guest shell command and the line it must print (stderr included). */
const escapes: [name: string, cmd: string, expect: RegExp][] = [
  ['absolute symlink to a host file', 'cat /mnt/abs-file', /can't open '\/mnt\/abs-file': No such file or directory/],
  ['relative symlink climbing out', 'cat /mnt/rel-file', /can't open '\/mnt\/rel-file': No such file or directory/],
  [
    'write through a dir symlink',
    'echo pwned > /mnt/abs-dir/planted',
    /can't create \/mnt\/abs-dir\/planted: nonexistent directory/,
  ],
  ['list through a dir symlink', 'ls /mnt/abs-dir/', /ls: \/mnt\/abs-dir\/: No such file or directory/],
  [
    'dot-dot from the mount',
    'cat /mnt/../outside/secret',
    /can't open '\/mnt\/..\/outside\/secret': No such file or directory/,
  ],
  ['create an absolute symlink', 'ln -s /etc/passwd /mnt/evil', /ln: \/mnt\/evil: Operation not permitted/],
  ['create a climbing symlink', 'ln -s ../outside/secret /mnt/evil2', /ln: \/mnt\/evil2: Operation not permitted/],
  ['hard link from outside the mount', 'ln /etc/passwd /mnt/hard', /ln: \/mnt\/hard: Invalid cross-device link/],
  ['hard link to a host symlink', 'ln /mnt/abs-file /mnt/hard2', /ln: \/mnt\/hard2: Operation not permitted/],
  ['make a FIFO', 'mkfifo /mnt/fifo', /mkfifo: \/mnt\/fifo: Operation not permitted/],
  ['make a device node', 'mknod /mnt/null c 1 3', /mknod: \/mnt\/null: Operation not permitted/],
  ['chmod through a symlink', 'chmod 777 /mnt/abs-file', /chmod: \/mnt\/abs-file: No such file or directory/],
];

test('Linux guest: a writable and a read-only 9p share; escape attempts fail', { timeout: 600_000 }, async () => {
  const share = join(dir, 'share');
  const ro = join(dir, 'ro');
  const outside = join(dir, 'outside');
  for (const d of [share, ro, outside, join(share, 'sub')]) mkdirSync(d);
  writeFileSync(join(outside, 'secret'), 'HOST SECRET\n');
  writeFileSync(join(share, 'hello.txt'), 'hello from the host\n');
  writeFileSync(join(share, 'delete-me'), 'x');
  const big = randomBytes(4 << 20);
  writeFileSync(join(share, 'big.bin'), big);
  symlinkSync(join(outside, 'secret'), join(share, 'abs-file'));
  symlinkSync(outside, join(share, 'abs-dir'));
  symlinkSync('../outside/secret', join(share, 'rel-file'));
  writeFileSync(join(ro, 'ro.txt'), 'read only\n');
  const outsideState = () =>
    readdirSync(outside).map((n) => [n, lstatSync(join(outside, n)).mtimeMs, readFileSync(join(outside, n), 'utf8')]);
  const before = outsideState();

  const m9p = 'mount -t 9p -o trans=virtio,version=9p2000.L';
  const script = [
    'set -u',
    // Each attempt in its own shell, its status first and its messages (stderr too) after.
    'try() { o=$(sh -c "$2" 2>&1); echo "$1: rc=$? $o"; }',
    `${m9p} share /mnt && echo mounted`,
    'echo "read: $(cat /mnt/hello.txt)"',
    'echo "big: $(md5sum < /mnt/big.bin)"',
    'echo from-guest > /mnt/new.txt',
    'mkdir /mnt/gdir && echo nested > /mnt/gdir/n.txt',
    'mv /mnt/new.txt /mnt/gdir/renamed.txt',
    'rm /mnt/delete-me',
    'rmdir /mnt/sub',
    'echo appended >> /mnt/hello.txt',
    'dd if=/dev/urandom of=/tmp/g.bin bs=1M count=4 2>/dev/null && cp /tmp/g.bin /mnt/g.bin',
    'echo "g: $(md5sum < /tmp/g.bin) $(md5sum < /mnt/g.bin)"',
    'echo "ls: $(ls /mnt | tr "\\n" " ")"',
    'echo "ro read: $(cat /ro/ro.txt)"',
    'for c in "echo x > /ro/new" "rm /ro/ro.txt" "mkdir /ro/d" "mv /ro/ro.txt /ro/r2" "touch /ro/ro.txt" "chmod 777 /ro/ro.txt"; do try ro "$c"; done',
    ...escapes.map(([, cmd], i) => `try esc${i} '${cmd}'`),
    'sync',
    'umount /mnt && echo unmounted',
  ].join('\n');
  writeFileSync(join(ro, 'test.sh'), `${script}\n`);

  const r = await runGuest({
    // The script comes through the read-only share (a command line holds 1 KiB at most).
    run: `mkdir -p /ro && ${m9p} ro /ro && sh /ro/test.sh`,
    shares: [
      { path: share, tag: 'share', readonly: false },
      { path: ro, tag: 'ro', readonly: true },
    ],
  });
  const log = r.console;
  assert.equal(r.end.kind, 'poweroff', log.slice(-3000));
  const line = (prefix: string) => log.split(/\r?\n/).find((l) => l.startsWith(prefix)) ?? `(no ${prefix} line)`;
  assert.match(log, /^mounted\r?$/m);
  assert.equal(line('read: '), 'read: hello from the host');
  assert.equal(line('big: '), `big: ${md5(big)}  -`);
  const g = /^g: ([0-9a-f]{32}) {2}- ([0-9a-f]{32}) {2}-/m.exec(log);
  assert.ok(g, line('g: '));
  assert.equal(g[1], g[2]);
  assert.equal(md5(readFileSync(join(share, 'g.bin'))), g[1], 'the host has the bytes the guest wrote');
  assert.equal(line('ls: '), 'ls: abs-dir abs-file big.bin g.bin gdir hello.txt rel-file ');
  assert.equal(readFileSync(join(share, 'gdir', 'renamed.txt'), 'utf8'), 'from-guest\n');
  assert.equal(readFileSync(join(share, 'gdir', 'n.txt'), 'utf8'), 'nested\n');
  assert.equal(readFileSync(join(share, 'hello.txt'), 'utf8'), 'hello from the host\nappended\n');
  assert.deepEqual(readdirSync(share).sort(), [
    'abs-dir',
    'abs-file',
    'big.bin',
    'g.bin',
    'gdir',
    'hello.txt',
    'rel-file',
  ]);

  assert.equal(line('ro read: '), 'ro read: read only');
  const roLines = log.split(/\r?\n/).filter((l) => l.startsWith('ro: '));
  assert.equal(roLines.length, 6, log.slice(-3000));
  for (const l of roLines) assert.match(l, /^ro: rc=1 .*Read-only file system$/, l);
  assert.deepEqual(readdirSync(ro).sort(), ['ro.txt', 'test.sh']);
  assert.equal(readFileSync(join(ro, 'ro.txt'), 'utf8'), 'read only\n');

  const got = escapes.map(([name], i) => [name, line(`esc${i}: `)]);
  for (const [i, [name, , expect]] of escapes.entries()) {
    assert.match(got[i]![1]!, expect, `${name}: ${got[i]![1]}`);
    assert.match(got[i]![1]!, /^esc\d+: rc=[1-9]/, `${name} must fail`);
  }
  assert.doesNotMatch(log, /HOST SECRET/);
  assert.deepEqual(outsideState(), before);
  assert.match(log, /^unmounted\r?$/m);
  assert.deepEqual(
    r.shares.map((s) => s.server.lastError),
    [null, null],
  );
});

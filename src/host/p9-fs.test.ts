/**
 * The 9P2000.L server on a real host directory (NodeP9Fs): file operations, a read-only
 * share, a table of escape attempts (each refused, nothing outside the share touched),
 * a rename/symlink race against opens, hostile messages, limits, and a session saved
 * and restored with its open files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeState, encodeState, isSnapshotError } from '../core/state.js';
import { AT_REMOVEDIR, Errno, NOTAG, OpenFlag, P9, type P9Writer, QidType } from '../devices/virtio/9p/protocol.js';
import { P9Server } from '../devices/virtio/9p/server.js';
import { p9StateCodec } from '../devices/virtio/9p/state.js';
import { errnoOf, P9TestClient, tmessage } from '../devices/virtio/9p/testing.js';
import { NodeP9Fs } from './p9-fs.js';

const dirs: string[] = [];
const servers: P9Server[] = [];
after(async () => {
  for (const s of servers) {
    s.reset();
    await s.backend.close();
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ROOT = 0;
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const enc = (s: string) => new TextEncoder().encode(s);

/** A share in a fresh temp dir, with `outside/secret` planted next to it. */
async function setup(opts: { readOnly?: boolean; maxFids?: number; maxOpen?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-9p-'));
  dirs.push(dir);
  const root = join(dir, 'share');
  const outside = join(dir, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'SECRET');
  writeFileSync(join(root, 'hello.txt'), 'hello from the host\n');
  mkdirSync(join(root, 'sub'));
  writeFileSync(join(root, 'sub', 'inner'), 'inner');
  const backend = await NodeP9Fs.open(root, { readOnly: opts.readOnly });
  const server = new P9Server({ backend, maxFids: opts.maxFids, maxOpen: opts.maxOpen });
  servers.push(server);
  const c = new P9TestClient((m) => server.handle(m, 1 << 20));
  assert.deepEqual(await c.version(65536), { msize: 65536, version: '9P2000.L' });
  await c.attach(ROOT);
  /** Everything under `outside`: names, contents, modes and mtimes. */
  const outsideState = () =>
    readdirSync(outside)
      .sort()
      .map((n) => {
        const s = lstatSync(join(outside, n));
        return [n, s.mode, s.mtimeMs, s.isFile() ? readFileSync(join(outside, n), 'utf8') : ''];
      });
  return { dir, root, outside, backend, server, c, outsideState };
}

describe('9p server on a host directory', () => {
  test('walk, open, read, write, create, mkdir, rename, remove, readdir, links, setattr', async () => {
    const { root, c } = await setup();
    const rootQid = (await c.walk(ROOT, 1, []))[0];
    assert.equal(rootQid, undefined); // a clone walks no names
    assert.equal((await c.getattr(1)).qid.type, QidType.DIR);

    // read
    const [q] = await c.walk(ROOT, 2, ['hello.txt']);
    assert.equal(q!.type, QidType.FILE);
    await c.lopen(2, OpenFlag.RDONLY);
    assert.equal(text(await c.read(2, 0, 4096)), 'hello from the host\n');
    assert.equal(text(await c.read(2, 6, 4)), 'from');
    assert.equal((await c.read(2, 1000, 10)).length, 0);
    assert.equal((await c.getattr(2)).size, 20);
    await c.clunk(2);

    // create + write
    await c.walk(ROOT, 3, []);
    await c.lcreate(3, 'new.txt', OpenFlag.RDWR, 0o640);
    assert.equal(await c.write(3, 0, enc('written by the guest')), 20);
    await c.fsync(3);
    await c.clunk(3);
    assert.equal(readFileSync(join(root, 'new.txt'), 'utf8'), 'written by the guest');
    assert.equal(statSync(join(root, 'new.txt')).mode & 0o777, 0o640 & ~process.umask());

    // mkdir, rename into it, fids follow the rename
    await c.mkdir(ROOT, 'dir', 0o755);
    await c.walk(ROOT, 4, ['new.txt']);
    await c.renameat(ROOT, 'new.txt', ROOT, 'renamed.txt');
    await c.walk(ROOT, 5, ['dir']);
    await c.rename(4, 5, 'moved.txt');
    assert.equal(readFileSync(join(root, 'dir', 'moved.txt'), 'utf8'), 'written by the guest');
    await c.lopen(4, OpenFlag.RDONLY); // fid 4 now names dir/moved.txt
    assert.equal(text(await c.read(4, 0, 7)), 'written');
    await c.clunk(4);

    // readdir, with "." and ".." first, across small reads
    await c.walk(ROOT, 6, []);
    await c.lopen(6, OpenFlag.RDONLY | OpenFlag.DIRECTORY);
    assert.deepEqual((await c.readdirAll(6, 64)).sort(), ['.', '..', 'dir', 'hello.txt', 'sub']);
    await c.clunk(6);

    // symlink, readlink, hard link
    await c.symlink(ROOT, 'ln', 'sub/inner');
    assert.equal(lstatSync(join(root, 'ln')).isSymbolicLink(), true);
    const [lq] = await c.walk(ROOT, 7, ['ln']);
    assert.equal(lq!.type, QidType.SYMLINK);
    assert.equal(await c.readlink(7), 'sub/inner');
    await c.walk(ROOT, 8, ['hello.txt']);
    await c.link(5, 8, 'hard');
    assert.equal(statSync(join(root, 'dir', 'hard')).nlink, 2);

    // setattr: mode, size, mtime
    await c.setattr(8, { valid: 1 | 8 | 32 | 256, mode: 0o600, size: 5, mtime: 1_000_000 });
    const st = statSync(join(root, 'hello.txt'));
    assert.deepEqual([st.mode & 0o7777, st.size, st.mtimeMs], [0o600, 5, 1_000_000_000]);
    await c.setattr(8, { valid: 1, mode: 0o4755 }); // setuid is dropped
    assert.equal(statSync(join(root, 'hello.txt')).mode & 0o7777, 0o755);

    // remove: unlinkat (file, directory), Tremove
    await c.unlinkat(5, 'hard');
    await c.unlinkat(5, 'moved.txt');
    await c.unlinkat(ROOT, 'dir', AT_REMOVEDIR);
    await c.walk(ROOT, 9, ['sub', 'inner']);
    await c.remove(9);
    assert.deepEqual(readdirSync(root).sort(), ['hello.txt', 'ln', 'sub']);
    assert.equal(await errnoOf(c.clunk(9)), Errno.EBADF); // Tremove clunked it
    assert.ok((await c.statfs(ROOT)).bsize > 0);
  });

  test('a file unlinked while open keeps its attributes and data', async () => {
    const { c } = await setup();
    await c.walk(ROOT, 1, ['hello.txt']);
    await c.lopen(1, OpenFlag.RDONLY);
    await c.unlinkat(ROOT, 'hello.txt');
    assert.equal((await c.getattr(1)).size, 20);
    assert.equal(text(await c.read(1, 0, 5)), 'hello');
  });

  test('a read-only share refuses every change with EROFS and changes nothing', async () => {
    const { root, c } = await setup({ readOnly: true });
    await c.walk(ROOT, 1, ['hello.txt']);
    await c.walk(ROOT, 2, []);
    await c.walk(ROOT, 3, ['sub']);
    const attempts: [string, Promise<unknown>][] = [
      ['open for writing', c.lopen(1, OpenFlag.WRONLY)],
      ['open with truncate', c.lopen(1, OpenFlag.RDONLY | OpenFlag.TRUNC)],
      ['create', c.lcreate(2, 'x', OpenFlag.RDWR)],
      ['mkdir', c.mkdir(ROOT, 'x')],
      ['symlink', c.symlink(ROOT, 'x', 'hello.txt')],
      ['link', c.link(ROOT, 1, 'x')],
      ['rename', c.renameat(ROOT, 'hello.txt', ROOT, 'x')],
      ['unlink', c.unlinkat(ROOT, 'hello.txt')],
      ['rmdir', c.unlinkat(ROOT, 'sub', AT_REMOVEDIR)],
      ['chmod', c.setattr(1, { valid: 1, mode: 0o777 })],
      ['truncate', c.setattr(1, { valid: 8, size: 0 })],
      ['utimes', c.setattr(1, { valid: 32 | 256, mtime: 5 })],
      ['mknod', c.mknod(ROOT, 'x')],
    ];
    const got: [string, number | null][] = [];
    for (const [what, p] of attempts) got.push([what, await errnoOf(p)]);
    assert.deepEqual(
      got,
      attempts.map(([what]) => [what, Errno.EROFS]),
    );
    await c.walk(ROOT, 4, ['sub', 'inner']);
    assert.equal(await errnoOf(c.remove(4)), Errno.EROFS);
    await c.lopen(1, OpenFlag.RDONLY);
    assert.equal(text(await c.read(1, 0, 5)), 'hello');
    assert.deepEqual(readdirSync(root).sort(), ['hello.txt', 'sub']);
    assert.equal(readFileSync(join(root, 'hello.txt'), 'utf8'), 'hello from the host\n');
    assert.equal(readFileSync(join(root, 'sub', 'inner'), 'utf8'), 'inner');
  });

  test('escape attempts are refused and nothing outside the share is touched', async () => {
    const { root, outside, c, outsideState } = await setup();
    symlinkSync(join(outside, 'secret'), join(root, 'abs-file'));
    symlinkSync(outside, join(root, 'abs-dir'));
    symlinkSync('../outside', join(root, 'rel-dir'));
    symlinkSync('../outside/secret', join(root, 'rel-file'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    const before = outsideState();
    const rootQid = (await c.getattr(ROOT)).qid;
    let fid = 100;
    const walked = async (names: string[]) => {
      const f = fid++;
      return { f, qids: await c.walk(ROOT, f, names) };
    };

    // ".." at the root stays at the root (9P); a name never contains "/".
    const up = await walked(['..', '..']);
    assert.deepEqual(up.qids, [rootQid, rootQid]);
    assert.deepEqual((await c.getattr(up.f)).qid, rootQid);
    const partial = await walked(['..', 'outside', 'secret']);
    assert.equal(partial.qids.length, 1); // stops at "outside": not in the share
    assert.equal(await errnoOf(c.getattr(partial.f)), Errno.EBADF); // newfid not made
    const through = await walked(['abs-dir', 'secret']);
    assert.deepEqual(
      through.qids.map((q) => q.type),
      [QidType.SYMLINK],
    ); // a symlink is never walked through

    const table: [string, () => Promise<unknown>, number][] = [
      ['walk a name with a slash', () => c.walk(ROOT, 900, ['../outside']), Errno.ENOENT],
      ['walk an absolute name', () => c.walk(ROOT, 900, [join(outside, 'secret')]), Errno.ENOENT],
      ['walk an empty name', () => c.walk(ROOT, 900, ['']), Errno.ENOENT],
      ['walk 17 names', () => c.walk(ROOT, 900, Array(17).fill('sub')), Errno.EINVAL],
      ['open an absolute file symlink', () => c.walk(ROOT, 901, ['abs-file']).then(() => c.lopen(901, 0)), Errno.ELOOP],
      [
        'open an absolute dir symlink as a directory',
        () => c.walk(ROOT, 902, ['abs-dir']).then(() => c.lopen(902, OpenFlag.DIRECTORY)),
        Errno.ELOOP,
      ],
      ['walk on through a dir symlink', () => c.walk(902, 900, ['secret']), Errno.ENOTDIR],
      [
        'walk on through a relative dir symlink',
        () => c.walk(ROOT, 908, ['rel-dir']).then(() => c.walk(908, 900, ['secret'])),
        Errno.ENOTDIR,
      ],
      ['readdir of a dir symlink', () => c.readdir(902), Errno.ENOTDIR],
      ['create through a dir symlink', () => c.lcreate(902, 'planted', OpenFlag.RDWR), Errno.ENOTDIR],
      ['mkdir in a dir symlink', () => c.mkdir(902, 'planted'), Errno.ENOTDIR],
      [
        'create over an existing file symlink',
        () => c.walk(ROOT, 903, []).then(() => c.lcreate(903, 'abs-file', OpenFlag.RDWR | OpenFlag.TRUNC)),
        Errno.ELOOP,
      ],
      [
        'chmod a file symlink',
        () => c.walk(ROOT, 904, ['abs-file']).then(() => c.setattr(904, { valid: 1, mode: 0o777 })),
        Errno.EOPNOTSUPP,
      ],
      ['truncate a file symlink', () => c.setattr(904, { valid: 8, size: 0 }), Errno.EOPNOTSUPP],
      ['hard link to a symlink', () => c.link(ROOT, 904, 'hard'), Errno.EPERM],
      ['hard link to a directory', () => c.walk(ROOT, 905, ['sub']).then(() => c.link(ROOT, 905, 'hard')), Errno.EPERM],
      ['symlink to an absolute path', () => c.symlink(ROOT, 'evil', '/etc/passwd'), Errno.EPERM],
      ['symlink climbing out', () => c.symlink(ROOT, 'evil', '../outside/secret'), Errno.EPERM],
      ['symlink climbing out from a subdir', () => c.symlink(905, 'evil', '../../outside'), Errno.EPERM],
      ['symlink climbing out through a name', () => c.symlink(ROOT, 'evil', 'sub/../../outside'), Errno.EPERM],
      ['rename to a name with a slash', () => c.renameat(ROOT, 'hello.txt', ROOT, '../outside/moved'), Errno.ENOENT],
      ['rename to ..', () => c.renameat(ROOT, 'hello.txt', ROOT, '..'), Errno.EISDIR],
      ['rename of the root', () => c.rename(ROOT, 905, 'root'), Errno.EBUSY],
      ['rename from a dir symlink', () => c.renameat(902, 'secret', ROOT, 'stolen'), Errno.ENOTDIR],
      ['unlink ..', () => c.unlinkat(ROOT, '..'), Errno.ENOTEMPTY],
      ['unlink through a name with a slash', () => c.unlinkat(ROOT, '../outside/secret'), Errno.ENOENT],
      ['unlink inside a dir symlink', () => c.unlinkat(902, 'secret'), Errno.ENOTDIR],
      ['remove the root', () => c.walk(ROOT, 906, []).then(() => c.remove(906)), Errno.EBUSY],
      ['open a FIFO', () => c.walk(ROOT, 907, ['fifo']).then(() => c.lopen(907, OpenFlag.RDONLY)), Errno.EPERM],
      ['mknod', () => c.mknod(ROOT, 'dev'), Errno.EPERM],
      ['xattr write', () => c.call(P9.Txattrcreate, (w) => w.u32(ROOT).str('user.x').u64(1).u32(0)), Errno.EOPNOTSUPP],
    ];
    const got: [string, number | null][] = [];
    for (const [what, run, _] of table) got.push([what, await errnoOf(run())]);
    assert.deepEqual(
      got,
      table.map(([what, , errno]) => [what, errno]),
    );
    // The symlinks the share holds are returned as they are (the guest resolves them in its mount).
    await c.walk(ROOT, 910, ['rel-dir']);
    assert.equal(await c.readlink(910), '../outside');
    // An aname never names another directory: attach is always the share's root.
    await c.attach(911, outside);
    assert.deepEqual((await c.getattr(911)).qid, rootQid);
    // A symlink that stays inside is fine.
    await c.symlink(ROOT, 'fine', 'sub/../hello.txt');

    assert.deepEqual(outsideState(), before);
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'SECRET');
  });

  test('a directory swapped for a symlink during opens never leads outside', async () => {
    const { root, outside, c, outsideState } = await setup();
    writeFileSync(join(outside, 'f'), 'OUTSIDE');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'f'), 'inside');
    const before = outsideState();
    let swapping = true;
    let swaps = 0;
    // The host side keeps replacing share/d by a symlink to the outside directory and back.
    const swapper = (async () => {
      while (swapping) {
        renameSync(join(root, 'd'), join(root, 'd.real'));
        symlinkSync(outside, join(root, 'd'));
        await new Promise((r) => setImmediate(r));
        rmSync(join(root, 'd'));
        renameSync(join(root, 'd.real'), join(root, 'd'));
        swaps++;
        await new Promise((r) => setTimeout(r, 2)); // longer as a directory, so some opens get through
      }
    })();
    const seen = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const f = 1000 + (i % 50);
      const outcome = await c
        .walk(ROOT, f, ['d', 'f'])
        .then((qids) => (qids.length === 2 ? c.lopen(f, OpenFlag.RDWR) : Promise.reject(new Error('partial'))))
        .then(() => c.read(f, 0, 64))
        .then((b) => text(b))
        .catch((e: { errno?: number; message: string }) => `error ${e.errno ?? e.message}`);
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      await c.clunk(f).catch(() => {});
      await c.walk(ROOT, 2000, ['d']).then(
        () => c.lcreate(2000, `made${i}`, OpenFlag.RDWR).catch(() => {}),
        () => {},
      );
      await c.clunk(2000).catch(() => {});
    }
    swapping = false;
    await swapper;
    if (process.env.PVM_TEST_TRACE) console.log(swaps, [...seen]);
    assert.ok(swaps > 10, `only ${swaps} swaps`);
    assert.ok(seen.has('inside'), JSON.stringify([...seen]));
    assert.ok(![...seen.keys()].some((k) => k.includes('OUTSIDE')), JSON.stringify([...seen]));
    assert.deepEqual(outsideState(), before);
  });

  test('a directory replaced by a symlink between walk and open: the open fails, nothing outside opens', async () => {
    const { root, outside, c, outsideState } = await setup();
    writeFileSync(join(outside, 'f'), 'OUTSIDE');
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'f'), 'inside');
    const before = outsideState();
    assert.equal((await c.walk(ROOT, 1, ['d', 'f'])).length, 2);
    await c.walk(ROOT, 2, ['d']);
    renameSync(join(root, 'd'), join(root, 'd.real'));
    symlinkSync(outside, join(root, 'd'));
    assert.equal(await errnoOf(c.lopen(1, OpenFlag.RDWR | OpenFlag.TRUNC)), Errno.ENOTDIR);
    assert.equal(await errnoOf(c.lcreate(2, 'planted', OpenFlag.RDWR)), Errno.ENOTDIR);
    assert.equal(await errnoOf(c.setattr(1, { valid: 1 | 8, mode: 0o777, size: 0 })), Errno.ENOTDIR);
    assert.equal(await errnoOf(c.unlinkat(2, 'f')), Errno.ENOTDIR);
    assert.deepEqual(outsideState(), before);
  });

  test('hostile messages get Rlerror, never an exception', async () => {
    const { server, c } = await setup();
    const raw = async (bytes: Uint8Array, room = 1 << 20) => {
      const reply = await server.handle(bytes, room);
      const v = new DataView(reply.buffer, reply.byteOffset);
      assert.equal(v.getUint32(0, true), reply.length);
      return {
        type: reply[4],
        tag: v.getUint16(5, true),
        errno: reply[4] === P9.Rlerror ? v.getUint32(7, true) : null,
      };
    };
    const t = (type: number, body: (w: P9Writer) => void) => tmessage(type, 7, body);
    const withSize = (m: Uint8Array, size: number) => {
      const c2 = m.slice();
      new DataView(c2.buffer).setUint32(0, size, true);
      return c2;
    };
    const walk2 = t(P9.Twalk, (w) => w.u32(ROOT).u32(50).u16(16).str('sub'));
    const cases: [string, Uint8Array, { type: number; tag: number; errno: number | null }][] = [
      ['3 bytes', Uint8Array.of(1, 2, 3), { type: P9.Rlerror, tag: NOTAG, errno: Errno.EPROTO }],
      [
        'size past the buffer',
        withSize(
          t(P9.Tclunk, (w) => w.u32(5)),
          4000,
        ),
        { type: P9.Rlerror, tag: 7, errno: Errno.EPROTO },
      ],
      [
        'size below the header',
        withSize(
          t(P9.Tclunk, (w) => w.u32(5)),
          3,
        ),
        { type: P9.Rlerror, tag: 7, errno: Errno.EPROTO },
      ],
      ['size over msize', withSize(new Uint8Array(70000), 70000), { type: P9.Rlerror, tag: 0, errno: Errno.EMSGSIZE }],
      ['unknown fid', t(P9.Tclunk, (w) => w.u32(12345)), { type: P9.Rlerror, tag: 7, errno: Errno.EBADF }],
      ['fields cut short', t(P9.Tread, (w) => w.u32(ROOT)), { type: P9.Rlerror, tag: 7, errno: Errno.EPROTO }],
      ['16 names announced, 1 sent', walk2, { type: P9.Rlerror, tag: 7, errno: Errno.EPROTO }],
      [
        'string length past the message',
        t(P9.Tmkdir, (w) => w.u32(ROOT).u16(60000).u32(0)),
        { type: P9.Rlerror, tag: 7, errno: Errno.EPROTO },
      ],
      [
        'write count past the data',
        t(P9.Twrite, (w) =>
          w
            .u32(ROOT)
            .u64(0)
            .u32(1 << 30),
        ),
        { type: P9.Rlerror, tag: 7, errno: Errno.EPROTO },
      ],
      [
        'offset past 2^53',
        t(P9.Tread, (w) =>
          w
            .u32(ROOT)
            .u64(2n ** 60n)
            .u32(1),
        ),
        { type: P9.Rlerror, tag: 7, errno: Errno.EOVERFLOW },
      ],
      ['unknown type', t(200, () => {}), { type: P9.Rlerror, tag: 7, errno: Errno.EOPNOTSUPP }],
      ['a reply type', t(P9.Rversion, () => {}), { type: P9.Rlerror, tag: 7, errno: Errno.EOPNOTSUPP }],
      ['9P2000 Topen', t(112, (w) => w.u32(ROOT).u8(0)), { type: P9.Rlerror, tag: 7, errno: Errno.EOPNOTSUPP }],
      [
        'auth',
        t(P9.Tauth, (w) => w.u32(1).str('u').str('').u32(0)),
        { type: P9.Rlerror, tag: 7, errno: Errno.EOPNOTSUPP },
      ],
      [
        'fid in use',
        t(P9.Tattach, (w) => w.u32(ROOT).u32(~0).str('').str('').u32(0)),
        { type: P9.Rlerror, tag: 7, errno: Errno.EINVAL },
      ],
      ['bad access mode', t(P9.Tlopen, (w) => w.u32(ROOT).u32(3)), { type: P9.Rlerror, tag: 7, errno: Errno.EINVAL }],
      [
        'read of an unopened fid',
        t(P9.Tread, (w) => w.u32(ROOT).u64(0).u32(10)),
        { type: P9.Rlerror, tag: 7, errno: Errno.EBADF },
      ],
      [
        'readlink of a directory',
        t(P9.Treadlink, (w) => w.u32(ROOT)),
        { type: P9.Rlerror, tag: 7, errno: Errno.EINVAL },
      ],
      [
        'unlinkat flags',
        t(P9.Tunlinkat, (w) => w.u32(ROOT).str('x').u32(0x100)),
        { type: P9.Rlerror, tag: 7, errno: Errno.EINVAL },
      ],
    ];
    for (const [what, msg, want] of cases) assert.deepEqual(await raw(msg), want, what);
    // A reply that does not fit the room given is Rlerror too.
    assert.deepEqual(
      await raw(
        t(P9.Tgetattr, (w) => w.u32(ROOT).u64(0)),
        40,
      ),
      {
        type: P9.Rlerror,
        tag: 7,
        errno: Errno.EMSGSIZE,
      },
    );
    // A huge read count is cut to what msize and the buffer allow.
    await c.walk(ROOT, 60, ['hello.txt']);
    await c.lopen(60, OpenFlag.RDONLY);
    const r = await server.handle(
      t(P9.Tread, (w) => w.u32(60).u64(0).u32(0xffff_ffff)),
      15,
    );
    assert.deepEqual([r.length, r[4], text(r.subarray(11))], [15, P9.Rread, 'hell']);
    // Still usable.
    assert.equal(text(await c.read(60, 0, 5)), 'hello');
  });

  test('version: msize is capped, other versions are unknown, Tversion drops every fid', async () => {
    const { server, c } = await setup();
    await c.walk(ROOT, 1, ['hello.txt']);
    assert.deepEqual(await c.version(8 << 20), { msize: 512 * 1024, version: '9P2000.L' });
    assert.equal(await errnoOf(c.getattr(1)), Errno.EBADF);
    assert.equal(await errnoOf(c.version(1024)), Errno.EINVAL);
    assert.deepEqual(await c.version(65536, '9P2000.u'), { msize: 65536, version: 'unknown' });
    assert.equal(await errnoOf(c.attach(0)), Errno.EPROTO); // nothing but Tversion until one succeeds
    assert.equal(server.fidCount, 0);
  });

  test('fid and open-file limits answer EMFILE', async () => {
    const { c, server } = await setup({ maxFids: 6, maxOpen: 2 });
    for (let f = 1; f < 6; f++) await c.walk(ROOT, f, ['hello.txt']);
    assert.equal(await errnoOf(c.walk(ROOT, 6, [])), Errno.EMFILE);
    assert.equal(await errnoOf(c.xattrwalk(ROOT, 7, '')), Errno.EMFILE);
    await c.lopen(1, OpenFlag.RDONLY);
    await c.lopen(2, OpenFlag.RDONLY);
    assert.equal(await errnoOf(c.lopen(3, OpenFlag.RDONLY)), Errno.EMFILE);
    await c.clunk(1);
    await c.lopen(3, OpenFlag.RDONLY);
    assert.deepEqual([server.fidCount, server.openCount], [5, 2]);
  });

  test('concurrent requests complete out of order, each with its own answer', async () => {
    const { root, c } = await setup();
    for (let i = 0; i < 20; i++) writeFileSync(join(root, `f${i}`), `file ${i} `.repeat(1000 * (20 - i)));
    const got = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await c.walk(ROOT, 10 + i, [`f${i}`]);
        await c.lopen(10 + i, OpenFlag.RDONLY);
        return text(await c.read(10 + i, 0, 60000));
      }),
    );
    got.forEach((s, i) => {
      assert.equal(s, `file ${i} `.repeat(1000 * (20 - i)).slice(0, 60000));
    });
  });

  test('save and restore: fids come back, open files are opened again on first use', async () => {
    const { root, backend, c, server } = await setup();
    await c.walk(ROOT, 1, ['hello.txt']);
    await c.lopen(1, OpenFlag.RDWR);
    await c.walk(ROOT, 2, ['sub']);
    await c.walk(ROOT, 3, ['sub', 'inner']);
    await c.lopen(3, OpenFlag.RDONLY);
    const bytes = encodeState(p9StateCodec, server.saveSession());
    const decoded = decodeState(p9StateCodec, bytes, undefined, '9p state');
    assert.deepEqual(decoded, server.saveSession());
    const refused = (b: Uint8Array) => {
      try {
        decodeState(p9StateCodec, b, undefined, '9p state');
        return 'accepted';
      } catch (e) {
        assert.ok(isSnapshotError(e), String(e));
        return e.message;
      }
    };
    assert.match(refused(bytes.subarray(0, bytes.length - 1)), /^9p state is not readable: name needs/);
    assert.match(refused(Uint8Array.of(...bytes, 0)), /1 unexpected bytes at the end/);
    assert.match(refused(Uint8Array.of(2, ...bytes.subarray(1))), /negotiated is 2/);
    // Names with a slash, "..", or one fid twice are refused.
    const state = (fids: { fid: number; name: string }[]) =>
      encodeState(p9StateCodec, {
        negotiated: true,
        msize: 8192,
        fids: fids.map((f) => ({ fid: f.fid, kind: 'file' as const, openFlags: -1, path: [enc(f.name)] })),
      });
    assert.match(refused(state([{ fid: 1, name: 'a/b' }])), /a name that is not a plain file name/);
    assert.match(refused(state([{ fid: 1, name: '..' }])), /a name that is not a plain file name/);
    assert.match(
      refused(
        state([
          { fid: 1, name: 'a' },
          { fid: 1, name: 'b' },
        ]),
      ),
      /fid 1 twice/,
    );

    // A fresh server (as after a restore in a new process) over the same directory.
    const restored = new P9Server({ backend });
    servers.push(restored);
    restored.restoreSession(decoded);
    const c2 = new P9TestClient((m) => restored.handle(m, 1 << 20));
    assert.equal(text(await c2.read(1, 0, 5)), 'hello');
    assert.equal(await c2.write(1, 0, enc('HELLO')), 5);
    assert.equal(readFileSync(join(root, 'hello.txt'), 'utf8').slice(0, 5), 'HELLO');
    assert.equal((await c2.getattr(2)).qid.type, QidType.DIR);
    // A file gone meanwhile answers its errno, and the guest can go on.
    rmSync(join(root, 'sub', 'inner'));
    assert.equal(await errnoOf(c2.read(3, 0, 5)), Errno.ENOENT);
    await c2.clunk(3);
    assert.deepEqual(await c2.walk(ROOT, 4, ['sub']), [(await c2.getattr(2)).qid]);
  });

  test('opening a share: missing directory, a file, a clear error', async () => {
    const { dir } = await setup();
    await assert.rejects(NodeP9Fs.open(join(dir, 'nope')), /share .*nope: no such directory$/);
    writeFileSync(join(dir, 'file'), '');
    await assert.rejects(NodeP9Fs.open(join(dir, 'file')), /not a directory/);
    chmodSync(join(dir, 'file'), 0o644);
  });
});

/**
 * The 9p server on a real host directory against generated messages: random bytes,
 * well-formed T-messages with hostile fields (unknown fids, names such as "..", "a/b",
 * 300-byte names, huge counts and offsets, 17-name walks), and such messages mutated
 * (bytes changed, cut short, size field rewritten), sent one by one and in concurrent
 * batches. Every reply must be one well-formed message (size field = length, the
 * request's tag, the matching R type or Rlerror), no exception may escape, nothing
 * outside the share may change, and afterwards the server must still serve a fresh
 * session.
 */
import assert from 'node:assert/strict';
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
import fc from 'fast-check';
import { NOTAG, P9, type P9Writer } from '../src/devices/virtio/9p/protocol.js';
import { P9Server } from '../src/devices/virtio/9p/server.js';
import { P9TestClient, tmessage } from '../src/devices/virtio/9p/testing.js';
import { NodeP9Fs } from '../src/host/p9-fs.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-9p-fuzz-'));
const root = join(dir, 'share');
const outside = join(dir, 'outside');
mkdirSync(root);
mkdirSync(outside);
writeFileSync(join(outside, 'secret'), 'SECRET');
/** The share's files, put back before each run (the messages rename and remove them). */
function fixture(): void {
  // Empties the root rather than replacing it: the server holds the root directory open.
  for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
  mkdirSync(join(root, 'sub'));
  writeFileSync(join(root, 'hello.txt'), 'hello');
  symlinkSync(outside, join(root, 'out'));
  symlinkSync('../outside/secret', join(root, 'rel'));
}
fixture();
const backend = await NodeP9Fs.open(root);
const server = new P9Server({ backend, maxFids: 64, maxOpen: 16 });
after(async () => {
  server.reset();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

const outsideState = () =>
  readdirSync(outside)
    .sort()
    .map((n) => [n, lstatSync(join(outside, n)).mtimeMs, readFileSync(join(outside, n), 'utf8')]);
const outsideBefore = outsideState();

const fid = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 8 },
  { arbitrary: fc.oneof(fc.integer({ min: 5, max: 8 }), fc.constant(0xffff_ffff), fc.nat()), weight: 1 },
);
const name = fc.oneof(
  fc.constantFrom('hello.txt', 'sub', 'out', 'rel', 'new', '..', '.', '', 'a/b', '../outside', '/etc'),
  fc.string({ maxLength: 8 }),
  fc.constant('x'.repeat(300)),
);
const u32 = fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.constant(0xffff_ffff), fc.nat());
const u64 = fc.oneof(
  fc.integer({ min: 0, max: 1 << 20 }),
  fc.constant(2 ** 53 - 1),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

/** Well-formed T-messages (tag filled in later), fields drawn from hostile ranges. */
type Body = readonly [type: number, fill: (w: P9Writer) => unknown];
const T = (type: number, fill: (w: P9Writer) => unknown): Body => [type, fill];
const body: fc.Arbitrary<Body> = fc.oneof(
  fc.tuple(fid, fid, fc.array(name, { maxLength: 18 })).map(([f, n, names]) =>
    T(P9.Twalk, (w) => {
      w.u32(f).u32(n).u16(names.length);
      for (const x of names) w.str(x);
    }),
  ),
  fc.tuple(fid, u32).map(([f, flags]) => T(P9.Tlopen, (w) => w.u32(f).u32(flags))),
  fc
    .tuple(fid, name, u32, u32)
    .map(([f, n, flags, mode]) => T(P9.Tlcreate, (w) => w.u32(f).str(n).u32(flags).u32(mode).u32(0))),
  fc.tuple(fid, u64, u32).map(([f, off, n]) => T(P9.Tread, (w) => w.u32(f).u64(off).u32(n))),
  fc.tuple(fid, u64, fc.uint8Array({ maxLength: 64 }), fc.boolean()).map(([f, off, data, lie]) =>
    T(P9.Twrite, (w) =>
      w
        .u32(f)
        .u64(off)
        .u32(lie ? data.length + 1000 : data.length)
        .bytes(data),
    ),
  ),
  fc.tuple(fid, u64, u32).map(([f, off, n]) => T(P9.Treaddir, (w) => w.u32(f).u64(off).u32(n))),
  fid.map((f) => T(P9.Tclunk, (w) => w.u32(f))),
  fid.map((f) => T(P9.Tremove, (w) => w.u32(f))),
  fid.map((f) => T(P9.Tgetattr, (w) => w.u32(f).u64(0x7ff))),
  fid.map((f) => T(P9.Treadlink, (w) => w.u32(f))),
  fid.map((f) => T(P9.Tstatfs, (w) => w.u32(f))),
  fid.map((f) => T(P9.Tfsync, (w) => w.u32(f).u32(1))),
  fc
    .tuple(fid, u32, u32, u64)
    .map(([f, valid, mode, size]) =>
      T(P9.Tsetattr, (w) => w.u32(f).u32(valid).u32(mode).u32(0).u32(0).u64(size).u64(0).u64(0).u64(0).u64(0)),
    ),
  fc.tuple(fid, name, u32).map(([f, n, mode]) => T(P9.Tmkdir, (w) => w.u32(f).str(n).u32(mode).u32(0))),
  fc.tuple(fid, name, name).map(([f, n, t]) => T(P9.Tsymlink, (w) => w.u32(f).str(n).str(t).u32(0))),
  fc.tuple(fid, fid, name).map(([d, f, n]) => T(P9.Tlink, (w) => w.u32(d).u32(f).str(n))),
  fc.tuple(fid, name, fid, name).map(([a, n1, b, n2]) => T(P9.Trenameat, (w) => w.u32(a).str(n1).u32(b).str(n2))),
  fc.tuple(fid, fid, name).map(([f, d, n]) => T(P9.Trename, (w) => w.u32(f).u32(d).str(n))),
  fc.tuple(fid, name, u32).map(([f, n, flags]) => T(P9.Tunlinkat, (w) => w.u32(f).str(n).u32(flags))),
  fc.tuple(fid, fid, name).map(([f, n, x]) => T(P9.Txattrwalk, (w) => w.u32(f).u32(n).str(x))),
  fc.tuple(fid, name).map(([f, n]) => T(P9.Tattach, (w) => w.u32(f).u32(~0).str('').str(n).u32(0))),
  fc.integer({ min: 0, max: 0xffff }).map((t) => T(P9.Tflush, (w) => w.u16(t))),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }))
    .map(([type, bytes]) => T(type, (w) => w.bytes(bytes))),
);

/** A message: well-formed, mutated, or random bytes. */
const message = fc.oneof(
  {
    arbitrary: fc.tuple(body, fc.integer({ min: 0, max: 0xfffe })).map(([[t, b], tag]) => tmessage(t, tag, b)),
    weight: 5,
  },
  {
    arbitrary: fc
      .tuple(
        body,
        fc.integer({ min: 0, max: 0xfffe }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        fc.boolean(),
      )
      .map(([[t, b], tag, flips, cut, resize]) => {
        const m = tmessage(t, tag, b).slice();
        for (const [at, v] of flips) m[at % m.length] = v;
        const out = m.subarray(0, Math.max(0, m.length - (cut % 8)));
        if (resize && out.length >= 4) new DataView(out.buffer, out.byteOffset).setUint32(0, cut, true);
        return out;
      }),
    weight: 3,
  },
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 1 },
);

/** The request's tag and type as the reply must echo them (null when the message is too short to have them). */
function expected(m: Uint8Array): { tag: number; type: number } | null {
  if (m.length < 7) return null;
  return { tag: m[5]! | (m[6]! << 8), type: m[4]! };
}

async function check(m: Uint8Array, room: number): Promise<void> {
  const reply = await server.handle(m, room);
  assert.ok(reply instanceof Uint8Array && reply.length >= 7, 'a reply');
  const v = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  assert.equal(v.getUint32(0, true), reply.length, 'size field');
  const want = expected(m);
  const tag = v.getUint16(5, true);
  const type = reply[4]!;
  assert.equal(tag, want === null ? NOTAG : want.tag, 'tag echoed');
  assert.ok(type === P9.Rlerror || (want !== null && type === want.type + 1), `reply type ${type}`);
  assert.ok(reply.length <= Math.max(room, 11), 'reply within the room given');
}

test('9p server: generated and mutated messages never throw, the share stays confined, the server stays usable', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(message, fc.oneof(fc.constant(1 << 16), fc.integer({ min: 0, max: 200 }))), {
        maxLength: 24,
        size: 'large',
      }),
      fc.boolean(),
      async (msgs, concurrent) => {
        if (!readdirSync(root).includes('hello.txt')) fixture();
        const c = new P9TestClient((m) => server.handle(m, 1 << 16));
        await c.version(16384);
        await c.attach(0);
        // Fids in every state for the messages to hit: a file open for writing, an open
        // directory, a symlink, an unopened file.
        for (const [f, names] of [
          [1, ['hello.txt']],
          [2, ['sub']],
          [3, ['out']],
          [4, ['hello.txt']],
        ] as const) {
          await c.walk(0, f, names).catch(() => {});
        }
        await c.lopen(1, 2).catch(() => {});
        await c.lopen(2, 0o200000).catch(() => {});
        if (concurrent) await Promise.all(msgs.map(([m, room]) => check(m, room)));
        else for (const [m, room] of msgs) await check(m, room);
        // Liveness: a fresh session still works.
        assert.deepEqual(await c.version(8192), { msize: 8192, version: '9P2000.L' });
        await c.attach(1);
        assert.equal((await c.walk(1, 2, [])).length, 0);
        assert.equal((await c.getattr(2)).qid.type, 0x80);
      },
    ),
    { numRuns: 400 },
  );
  assert.deepEqual(outsideState(), outsideBefore);
  assert.equal(server.fidCount <= 64, true);
  if (process.env.PVM_TEST_TRACE) console.log(server.stats, readdirSync(root));
});

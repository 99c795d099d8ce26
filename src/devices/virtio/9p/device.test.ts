import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Gpa } from '../../../core/types.js';
import { GuestRam } from '../../../memory/ram.js';
import { MmioReg } from '../constants.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver } from '../mock-driver.js';
import type { P9Attr, P9Backend } from './backend.js';
import { checkTag, P9Feature, VirtioP9 } from './device.js';
import { Errno, P9, P9Error, P9Reader, QidType } from './protocol.js';
import { tmessage } from './testing.js';

const BASE = 0x8000_0000;
const tick = () => new Promise((r) => setImmediate(r));

const dirAttr = (ino: number): P9Attr => ({
  mode: 0o40755,
  uid: 0,
  gid: 0,
  nlink: 2,
  rdev: 0,
  size: 4096,
  blksize: 4096,
  blocks: 8,
  atimeSec: 0,
  atimeNsec: 0,
  mtimeSec: 0,
  mtimeNsec: 0,
  ctimeSec: 0,
  ctimeNsec: 0,
  ino: BigInt(ino),
  dev: 1n,
});

/** A backend whose lstat answers only when the test says so (one pending promise per call). */
class StepBackend implements P9Backend {
  readonly readOnly = false;
  readonly waiting: { name: string; answer: (a: P9Attr) => void; fail: (e: unknown) => void }[] = [];
  lstat(path: readonly Uint8Array[]): Promise<P9Attr> {
    if (path.length === 0) return Promise.resolve(dirAttr(1));
    const name = String.fromCharCode(...path[path.length - 1]!);
    return new Promise((answer, fail) => this.waiting.push({ name, answer, fail }));
  }
  take(name: string) {
    const i = this.waiting.findIndex((w) => w.name === name);
    assert.ok(i >= 0, `no lstat of ${name} waiting`);
    return this.waiting.splice(i, 1)[0]!;
  }
  closed = 0;
  private no = (): Promise<never> => Promise.reject(new P9Error(Errno.EOPNOTSUPP));
  open = this.no;
  create = this.no;
  mkdir = this.no;
  symlink = this.no;
  link = this.no;
  rename = this.no;
  remove = this.no;
  readlink = this.no;
  setattr = this.no;
  statfs = this.no;
  async close(): Promise<void> {
    this.closed++;
  }
}

function setup() {
  const ram = new GuestRam(BASE, 0x40_0000);
  const backend = new StepBackend();
  const dev = new VirtioP9({ tag: 'hostshare', backend, queueSize: 16 });
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const mmio = new VirtioMmio(dev, ram, irq);
  const drv = new MockDriver(ram, mmio);
  const [q] = drv.start([16]);
  const replies = new Map<number, Gpa>();
  /** Queues one message with `room` bytes for its reply; returns the chain head. */
  const send = (msg: Uint8Array, room = 4096) => {
    const reply = drv.alloc(room);
    const head = q!.add([
      { addr: drv.put(msg), len: msg.length },
      { addr: reply, len: room, write: true },
    ]);
    replies.set(head, reply);
    q!.kick();
    return head;
  };
  /** Completed chains since the last call: head, type, tag and the reply body. */
  const done = () =>
    q!.takeUsed().map((u) => {
      const bytes = ram.slice(replies.get(u.id)!, u.len);
      const r = new P9Reader(bytes, 0, bytes.length);
      const size = r.u32();
      assert.equal(size, u.len, 'used length = message size');
      return { head: u.id, type: r.u8(), tag: r.u16(), r };
    });
  return { ram, dev, mmio, drv, q: q!, backend, send, done, irq };
}

const version = tmessage(P9.Tversion, 0xffff, (w) => w.u32(8192).str('9P2000.L'));
const attach = (fid: number) => tmessage(P9.Tattach, 1, (w) => w.u32(fid).u32(~0).str('').str('').u32(0));
const walk = (tag: number, newfid: number, name: string) =>
  tmessage(P9.Twalk, tag, (w) => w.u32(0).u32(newfid).u16(1).str(name));

describe('virtio-9p device', () => {
  test('device id 9, MOUNT_TAG, the tag in config space', () => {
    const e = setup();
    assert.equal(e.mmio.read(MmioReg.DEVICE_ID, 4), 9);
    assert.equal(e.drv.deviceFeatures() & (1n << BigInt(P9Feature.MOUNT_TAG)), 1n);
    assert.equal(e.mmio.read(MmioReg.CONFIG, 2), 9);
    const tag = Array.from({ length: 9 }, (_, i) => e.mmio.read(MmioReg.CONFIG + 2 + i, 1));
    assert.equal(String.fromCharCode(...tag), 'hostshare');
    assert.equal(checkTag('a b'), '9p tag "a b": use letters, digits, "_", "-" and "."');
    assert.match(checkTag('x'.repeat(33))!, /at most 32/);
    assert.throws(() => new VirtioP9({ tag: '', backend: e.backend }), /use letters/);
  });

  test('requests complete in the order they finish, each chain with its own reply', async () => {
    const e = setup();
    e.send(version);
    e.send(attach(0));
    await tick();
    assert.deepEqual(
      e.done().map((d) => d.type),
      [P9.Rversion, P9.Rattach],
    );
    const a = e.send(walk(10, 1, 'a'));
    const b = e.send(walk(11, 2, 'b'));
    await tick();
    assert.equal(e.dev.inFlight, 2);
    e.backend.take('b').answer(dirAttr(22));
    await tick();
    const first = e.done();
    assert.deepEqual(
      first.map((d) => [d.head, d.type, d.tag]),
      [[b, P9.Rwalk, 11]],
    );
    assert.equal(first[0]!.r.u16(), 1);
    assert.deepEqual([first[0]!.r.u8(), first[0]!.r.u32(), first[0]!.r.u64()], [QidType.DIR, 0 ^ (4096 * 256), 22]);
    e.backend.take('a').fail(new P9Error(Errno.ENOENT));
    await tick();
    const second = e.done();
    assert.deepEqual(
      second.map((d) => [d.head, d.type, d.tag]),
      [[a, P9.Rlerror, 10]],
    );
    assert.equal(second[0]!.r.u32(), Errno.ENOENT);
    assert.equal(e.dev.inFlight, 0);
    assert.equal(e.irq.level, true);
  });

  test('Tflush is answered after the request it names', async () => {
    const e = setup();
    e.send(version);
    e.send(attach(0));
    await tick();
    e.done();
    e.send(walk(20, 1, 'slow'));
    e.send(tmessage(P9.Tflush, 21, (w) => w.u16(20)));
    await tick();
    assert.deepEqual(e.done(), []);
    e.backend.take('slow').answer(dirAttr(5));
    await tick();
    await tick();
    assert.deepEqual(
      e.done().map((d) => [d.type, d.tag]),
      [
        [P9.Rwalk, 20],
        [P9.Rflush, 21],
      ],
    );
  });

  test('a reset drops replies still in flight and every fid', async () => {
    const e = setup();
    e.send(version);
    e.send(attach(0));
    await tick();
    e.done();
    e.send(walk(30, 1, 'x'));
    await tick();
    e.drv.w32(MmioReg.STATUS, 0);
    e.backend.take('x').answer(dirAttr(9));
    await tick();
    assert.deepEqual(e.q.takeUsed(), []);
    assert.equal(e.dev.server.fidCount, 0);
  });

  test('short or missing reply buffers: the reply is cut, nothing else is touched', async () => {
    const e = setup();
    e.send(version);
    await tick();
    e.done();
    // Room for less than Rversion: the server answers Rlerror(EMSGSIZE) instead.
    e.send(
      tmessage(P9.Tversion, 0xffff, (w) => w.u32(8192).str('9P2000.L')),
      12,
    );
    // No writable buffer at all: the chain comes back with 0 bytes.
    const out = e.drv.put(attach(0));
    const head = e.q.add([{ addr: out, len: 20 }]);
    e.q.kick();
    await tick();
    const used = e.q.takeUsed();
    assert.deepEqual(
      used.map((u) => u.len),
      [11, 0],
    );
    assert.equal(used[1]!.id, head);
  });

  test('snapshot: fids saved with the transport and restored into a fresh device', async () => {
    const e = setup();
    e.send(version);
    e.send(attach(0));
    await tick();
    e.send(walk(40, 7, 'dir'));
    await tick();
    e.backend.take('dir').answer(dirAttr(3));
    await tick();
    await e.dev.drain();
    const blob = e.mmio.saveState();
    const fresh = setup();
    assert.equal(fresh.mmio.restoreState(blob), null);
    assert.deepEqual(fresh.dev.server.saveSession(), e.dev.server.saveSession());
    assert.deepEqual(fresh.mmio.saveState(), blob, 'identical state bytes');
    assert.equal(fresh.dev.server.fidCount, 2);
    // A damaged device part is refused by the transport, which then changes nothing.
    const third = setup();
    assert.match(third.mmio.restoreState(blob.subarray(0, blob.length - 2)) ?? '', /not readable/);
    assert.equal(third.dev.server.fidCount, 0);
    await e.dev.close();
    assert.equal(e.backend.closed, 1);
  });
});

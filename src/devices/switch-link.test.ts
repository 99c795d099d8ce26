import assert from 'node:assert/strict';
import { test } from 'node:test';
import { announceFrame, formatMac, MAX_FRAME, parseMac, type SwitchEndpoint, VirtualSwitch } from './switch.js';
import {
  decodeFrames,
  encodeFrames,
  type LinkChannel,
  MAX_LINK_BACKLOG,
  MAX_LINK_MESSAGE,
  SwitchLinkPort,
} from './switch-link.js';

const BCAST = 'ff:ff:ff:ff:ff:ff';

class Nic implements SwitchEndpoint {
  readonly mac: Uint8Array;
  got: string[] = [];
  constructor(mac: string) {
    this.mac = parseMac(mac)!;
  }
  deliver(frame: Uint8Array): void {
    this.got.push(`${formatMac(frame.subarray(6, 12))}>${formatMac(frame.subarray(0, 6))}:${frame[14] ?? ''}`);
  }
}

function frame(dst: string, src: string, payload = 0, length = 60): Uint8Array {
  const f = new Uint8Array(length);
  f.set(parseMac(dst)!, 0);
  f.set(parseMac(src)!, 6);
  f[12] = 0x08;
  f[14] = payload;
  return f;
}

/** Two link ports wired back to back, synchronously (each batch goes at once). */
function join(a: VirtualSwitch, b: VirtualSwitch) {
  const wire: { to: SwitchLinkPort | null; closed: string | null; queued: number } = {
    to: null,
    closed: null,
    queued: 0,
  };
  const channel = (peer: () => SwitchLinkPort): LinkChannel => ({
    send: (m) => peer().receive(m),
    get queuedBytes() {
      return wire.queued;
    },
    close: (reason) => {
      wire.closed = reason;
    },
  });
  let pa: SwitchLinkPort;
  let pb: SwitchLinkPort;
  pa = new SwitchLinkPort(
    channel(() => pb),
    (fn) => fn(),
  );
  pb = new SwitchLinkPort(
    channel(() => pa),
    (fn) => fn(),
  );
  return { pa, pb, portA: a.attachPeer(pa), portB: b.attachPeer(pb), wire };
}

test('frames round-trip through the link codec, in order', () => {
  const fs = [frame(BCAST, '52:54:00:00:00:01', 1), frame(BCAST, '52:54:00:00:00:02', 2, 1514), new Uint8Array(14)];
  const msg = encodeFrames(fs);
  assert.equal(msg.length, 60 + 1514 + 14 + 12);
  const back = decodeFrames(msg);
  assert.ok(Array.isArray(back));
  assert.deepEqual(
    back.map((f) => [...f]),
    fs.map((f) => [...f]),
  );
});

test('malformed link messages are refused with the reason, never thrown', () => {
  const len = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  assert.equal(decodeFrames(new Uint8Array(0)), 'empty message');
  assert.equal(decodeFrames(Uint8Array.of(0, 0)), '2 stray bytes at offset 0');
  assert.equal(
    decodeFrames(Uint8Array.of(...len(13), ...new Uint8Array(13))),
    'frame length 13 at offset 0 (14 to 65568)',
  );
  assert.equal(decodeFrames(Uint8Array.of(...len(MAX_FRAME + 1))), 'frame length 65569 at offset 0 (14 to 65568)');
  assert.equal(decodeFrames(Uint8Array.of(...len(0xffff_ffff))), 'frame length 4294967295 at offset 0 (14 to 65568)');
  assert.equal(
    decodeFrames(Uint8Array.of(...len(20), ...new Uint8Array(19))),
    'frame of 20 bytes at offset 0 is cut short',
  );
  const good = encodeFrames([new Uint8Array(14)]);
  assert.equal(decodeFrames(Uint8Array.of(...good, 1)), '1 stray bytes at offset 18');
  assert.equal(
    decodeFrames(new Uint8Array(MAX_LINK_MESSAGE + 1)),
    `message of ${MAX_LINK_MESSAGE + 1} bytes is larger than ${MAX_LINK_MESSAGE}`,
  );
});

test('two switches joined by a link: broadcast, learning and unicast cross it, counted', () => {
  const sa = new VirtualSwitch('lan');
  const sb = new VirtualSwitch('lan');
  const a = new Nic('52:54:00:00:00:0a');
  const b = new Nic('52:54:00:00:00:0b');
  const pa = sa.attach(a);
  const pb = sb.attach(b);
  const { portA, portB } = join(sa, sb);
  pa.transmit(frame(BCAST, '52:54:00:00:00:0a', 1));
  assert.deepEqual(b.got, ['52:54:00:00:00:0a>ff:ff:ff:ff:ff:ff:1']);
  pb.transmit(frame('52:54:00:00:00:0a', '52:54:00:00:00:0b', 2));
  assert.deepEqual(a.got, ['52:54:00:00:00:0b>52:54:00:00:00:0a:2']);
  // Each switch learned the other's NIC behind its peer port.
  assert.equal(sa.lookup(parseMac('52:54:00:00:00:0b')!), portA);
  assert.equal(sb.lookup(parseMac('52:54:00:00:00:0a')!), portB);
  assert.deepEqual(sa.portStats()[1], {
    port: 1,
    mac: '00:00:00:00:00:00',
    uplink: false,
    peer: true,
    txFrames: 1,
    txBytes: 60,
    rxFrames: 1,
    rxBytes: 60,
  });
});

test('split horizon: three switches in a full mesh carry each frame once, and no loop forms', () => {
  const sws = [new VirtualSwitch('lan'), new VirtualSwitch('lan'), new VirtualSwitch('lan')];
  const nics = sws.map((sw, i) => {
    const n = new Nic(`52:54:00:00:00:0${i}`);
    return { n, port: sw.attach(n) };
  });
  join(sws[0]!, sws[1]!);
  join(sws[1]!, sws[2]!);
  join(sws[0]!, sws[2]!);
  nics[0]!.port.transmit(frame(BCAST, '52:54:00:00:00:00', 7));
  assert.deepEqual(
    nics.map((x) => x.n.got),
    [[], ['52:54:00:00:00:00>ff:ff:ff:ff:ff:ff:7'], ['52:54:00:00:00:00>ff:ff:ff:ff:ff:ff:7']],
  );
  // Unknown unicast floods once too; the answer then goes straight back.
  nics[2]!.port.transmit(frame('52:54:00:00:00:00', '52:54:00:00:00:02', 8));
  assert.deepEqual(nics[0]!.n.got, ['52:54:00:00:00:02>52:54:00:00:00:00:8']);
  assert.deepEqual(nics[1]!.n.got, ['52:54:00:00:00:00>ff:ff:ff:ff:ff:ff:7']);
});

test('a peer port may send from any MAC; a NIC port still may not', () => {
  const sa = new VirtualSwitch('lan');
  const sb = new VirtualSwitch('lan');
  const a = new Nic('52:54:00:00:00:0a');
  sa.attach(a);
  const b = new Nic('52:54:00:00:00:0b');
  const pb = sb.attach(b);
  join(sa, sb);
  pb.transmit(frame(BCAST, '52:54:00:00:00:99', 1)); // spoofed on b's own switch: dropped there
  assert.deepEqual(a.got, []);
  assert.equal(sb.stats.spoofed, 1);
});

test('a peer that does not read: frames beyond the backlog are dropped and counted, memory stays bounded', () => {
  const sw = new VirtualSwitch('lan');
  const a = new Nic('52:54:00:00:00:0a');
  const pa = sw.attach(a);
  const sent: Uint8Array[] = [];
  let queued = 0;
  const link = new SwitchLinkPort(
    {
      send: (m) => {
        sent.push(m);
        queued += m.length; // nothing ever leaves
      },
      get queuedBytes() {
        return queued;
      },
      close: () => {},
    },
    (fn) => fn(),
  );
  sw.attachPeer(link);
  const n = 10_000;
  for (let i = 0; i < n; i++) pa.transmit(frame(BCAST, '52:54:00:00:00:0a', i & 0xff, 1514));
  assert.ok(queued <= MAX_LINK_BACKLOG, `${queued} bytes queued`);
  const carried = Math.floor(MAX_LINK_BACKLOG / 1518);
  assert.equal(link.stats.dropped, n - carried);
  assert.equal(
    sent.reduce((k, m) => k + (decodeFrames(m) as Uint8Array[]).length, 0),
    carried,
  );
});

test('frames are batched into one message per turn', () => {
  const sw = new VirtualSwitch('lan');
  const pa = sw.attach(new Nic('52:54:00:00:00:0a'));
  const sent: Uint8Array[] = [];
  const later: (() => void)[] = [];
  const link = new SwitchLinkPort(
    { send: (m) => void sent.push(m), queuedBytes: 0, close: () => {} },
    (fn) => void later.push(fn),
  );
  sw.attachPeer(link);
  for (let i = 0; i < 5; i++) pa.transmit(frame(BCAST, '52:54:00:00:00:0a', i));
  assert.equal(sent.length, 0);
  assert.equal(later.length, 1);
  later[0]!();
  assert.equal(sent.length, 1);
  assert.deepEqual(
    (decodeFrames(sent[0]!) as Uint8Array[]).map((f) => f[14]),
    [0, 1, 2, 3, 4],
  );
});

test('a malformed message from the peer is counted and ends the link; nothing reaches the switch', () => {
  const sw = new VirtualSwitch('lan');
  const a = new Nic('52:54:00:00:00:0a');
  sw.attach(a);
  let closed: string | null = null;
  const link = new SwitchLinkPort(
    {
      send: () => {},
      queuedBytes: 0,
      close: (r) => {
        closed = r;
      },
    },
    (fn) => fn(),
  );
  sw.attachPeer(link);
  const good = encodeFrames([frame(BCAST, '52:54:00:00:00:0b', 1)]);
  const bad = Uint8Array.of(...good, 0, 0, 0, 3);
  assert.equal(link.receive(bad), 'frame length 3 at offset 64 (14 to 65568)');
  assert.equal(closed, 'frame length 3 at offset 64 (14 to 65568)');
  assert.equal(link.stats.malformed, 1);
  assert.deepEqual(a.got, []); // not even the good frame before the bad bytes
});

test('announce: after a MAC moves to another daemon, its RARP turns the peer switch towards the new port at once', () => {
  // Daemon A: domain z talks to m; m's old NIC (the paused source copy) is still plugged there.
  const sa = new VirtualSwitch('lan');
  const sb = new VirtualSwitch('lan');
  const z = new Nic('52:54:00:00:00:0f');
  const oldM = new Nic('52:54:00:00:00:0e');
  const pz = sa.attach(z);
  const pOld = sa.attach(oldM);
  const { portA } = join(sa, sb);
  // Daemon B: m resumed there with the same MAC.
  const newM = new Nic('52:54:00:00:00:0e');
  const pNew = sb.attach(newM);
  pz.transmit(frame('52:54:00:00:00:0e', '52:54:00:00:00:0f', 1));
  assert.deepEqual([oldM.got.length, newM.got.length], [1, 0], 'before the announce, A sends to the old port');
  // The announce from B's new port (BuiltDomain.announce sends this frame from each NIC).
  const rarp = announceFrame(newM.mac);
  pNew.transmit(rarp);
  assert.equal(sa.lookup(newM.mac), portA);
  assert.equal(sa.lookup(pOld.endpoint.mac), portA);
  pz.transmit(frame('52:54:00:00:00:0e', '52:54:00:00:00:0f', 2));
  assert.deepEqual(newM.got, ['52:54:00:00:00:0f>52:54:00:00:00:0e:2']);
  // The old copy saw only the first frame and the broadcast announce itself.
  assert.deepEqual(oldM.got, ['52:54:00:00:00:0f>52:54:00:00:00:0e:1', '52:54:00:00:00:0e>ff:ff:ff:ff:ff:ff:0']);
  // The frame is QEMU's: broadcast RARP, opcode 3, sender and target the MAC, no IPs, 60 bytes.
  assert.deepEqual(
    [...rarp],
    [
      ...[255, 255, 255, 255, 255, 255, 0x52, 0x54, 0, 0, 0, 0x0e, 0x80, 0x35, 0, 1, 8, 0, 6, 4, 0, 3],
      ...[0x52, 0x54, 0, 0, 0, 0x0e, 0, 0, 0, 0, 0x52, 0x54, 0, 0, 0, 0x0e, 0, 0, 0, 0],
      ...new Array(18).fill(0),
    ],
  );
});

test('a NIC plugged with a MAC that lives behind a peer gets its traffic only once it speaks (migration)', () => {
  const sa = new VirtualSwitch('lan');
  const sb = new VirtualSwitch('lan');
  const src = new Nic('52:54:00:00:00:0e'); // the running source on daemon a
  const z = new Nic('52:54:00:00:00:0f'); // a domain on daemon b talking to it
  const pSrc = sa.attach(src);
  const pz = sb.attach(z);
  const { portB } = join(sa, sb);
  pSrc.transmit(frame(BCAST, '52:54:00:00:00:0e', 1)); // b learns the MAC behind its peer port
  assert.equal(sb.lookup(src.mac), portB);
  // The destination copy is plugged on b, paused: b keeps sending to the source.
  const dst = new Nic('52:54:00:00:00:0e');
  const pDst = sb.attach(dst);
  pz.transmit(frame('52:54:00:00:00:0e', '52:54:00:00:00:0f', 2));
  assert.deepEqual([src.got.length, dst.got.length], [1, 0]);
  // Resumed and announced: b's switch now sends to the new port.
  pDst.transmit(announceFrame(dst.mac));
  pz.transmit(frame('52:54:00:00:00:0e', '52:54:00:00:00:0f', 3));
  assert.deepEqual(dst.got, ['52:54:00:00:00:0f>52:54:00:00:00:0e:3']);
  assert.equal(sb.lookup(dst.mac), pDst);
});

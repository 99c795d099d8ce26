import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpa } from '../../../core/types.js';
import { GuestRam } from '../../../memory/ram.js';
import { tcpChecksumOk, tcpFrame } from '../../net-frames.js';
import { formatMac, parseMac, VirtualSwitch } from '../../switch.js';
import { MmioReg } from '../constants.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver, type MockQueue } from '../mock-driver.js';
import { NET_S_LINK_UP, NetConfig, NetFeature, VirtioNet } from './device.js';
import { NET_HDR_SIZE } from './header.js';

interface Host {
  ram: GuestRam;
  net: VirtioNet;
  mmio: VirtioMmio;
  drv: MockDriver;
  rx: MockQueue;
  tx: MockQueue;
  irq: { level: boolean };
}

/** One domain with one NIC: its own RAM, driver and queues (`accept`: the driver's features, default all). */
function domain(mac: string, sw?: VirtualSwitch, accept?: bigint): Host {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const net = new VirtioNet({ mac: parseMac(mac)!, queueSize: 16 });
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const mmio = new VirtioMmio(net, ram, irq);
  sw?.attach(net);
  const drv = new MockDriver(ram, mmio);
  const [rx, tx] = drv.start([16, 16], accept);
  return { ram, net, mmio, drv, rx: rx!, tx: tx!, irq };
}

function ethernet(dst: string, src: string, payload: string): Uint8Array {
  const p = new TextEncoder().encode(payload);
  const f = new Uint8Array(14 + p.length);
  f.set(parseMac(dst)!, 0);
  f.set(parseMac(src)!, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  f.set(p, 14);
  return f;
}

/** Transmits `frame` the way Linux does: header and frame in one readable buffer. */
function send(h: Host, frame: Uint8Array): void {
  const buf = new Uint8Array(NET_HDR_SIZE + frame.length);
  buf.set(frame, NET_HDR_SIZE);
  h.tx.add([{ addr: h.drv.put(buf), len: buf.length }]);
  h.tx.kick();
}

/** Posts `n` receive buffers of 1526 bytes; returns their addresses. */
function post(h: Host, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = h.drv.alloc(1526);
    h.rx.add([{ addr: a, len: 1526, write: true }]);
    out.push(a);
  }
  h.rx.kick();
  return out;
}

test('net: config space holds the MAC and link status', () => {
  const sw = new VirtualSwitch('lan');
  const h = domain('52:54:00:12:34:56', sw);
  const mac = Uint8Array.from({ length: 6 }, (_, i) => h.mmio.read(MmioReg.CONFIG + NetConfig.MAC + i, 1));
  assert.equal(formatMac(mac), '52:54:00:12:34:56');
  assert.equal(h.mmio.read(MmioReg.CONFIG + NetConfig.STATUS, 2), NET_S_LINK_UP);
  sw.detach(sw.lookup(h.net.mac)!);
  assert.equal(h.mmio.read(MmioReg.CONFIG + NetConfig.STATUS, 2), 0);
  assert.equal(h.drv.r32(MmioReg.CONFIG_GENERATION) > 0, true);
});

test('net: two ports exchange frames through the switch', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  const [bufB] = post(b, 1);
  const [bufA] = post(a, 1);

  const ping = ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'ping');
  send(a, ping);
  assert.deepEqual(a.tx.takeUsed(), [{ id: 0, len: 0 }]);
  assert.deepEqual(b.rx.takeUsed(), [{ id: 0, len: NET_HDR_SIZE + ping.length }]);
  assert.deepEqual([...b.ram.slice(gpa(bufB!), 10)], new Array(10).fill(0)); // no offloads
  assert.deepEqual(b.ram.slice(gpa(bufB! + NET_HDR_SIZE), ping.length), ping);
  assert.equal(b.ram.readU16(gpa(bufB! + 10)), 1); // num_buffers
  assert.equal(b.irq.level, true);

  const pong = ethernet('52:54:00:00:00:01', '52:54:00:00:00:02', 'pong');
  send(b, pong);
  assert.deepEqual(a.rx.takeUsed(), [{ id: 0, len: NET_HDR_SIZE + pong.length }]);
  assert.deepEqual(a.ram.slice(gpa(bufA! + NET_HDR_SIZE), pong.length), pong);
  assert.equal(a.net.stats.rxFrames, 1);
  assert.equal(b.net.stats.txFrames, 1);
});

test('net: frames wait for receive buffers, and overflow is dropped', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  for (let i = 0; i < 3; i++) send(a, ethernet('ff:ff:ff:ff:ff:ff', '52:54:00:00:00:01', `m${i}`));
  assert.equal(b.net.pendingFrames, 3);
  const bufs = post(b, 2);
  assert.equal(b.rx.takeUsed().length, 2);
  assert.equal(new TextDecoder().decode(b.ram.slice(gpa(bufs[1]! + NET_HDR_SIZE + 14), 2)), 'm1');
  assert.equal(b.net.pendingFrames, 1);
  for (let i = 0; i < 300; i++) send(a, ethernet('ff:ff:ff:ff:ff:ff', '52:54:00:00:00:01', 'x'));
  assert.equal(b.net.pendingFrames, 256);
  assert.equal(b.net.stats.rxDropped, 45);
});

test('net without MRG_RXBUF: a frame larger than the receive buffer is dropped, the buffer returned empty', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domainWithout('52:54:00:00:00:02', sw, 1n << BigInt(NetFeature.MRG_RXBUF));
  const small = b.drv.alloc(20);
  b.rx.add([{ addr: small, len: 20, write: true }]);
  b.rx.kick();
  send(a, ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'this payload is too long'));
  assert.deepEqual(b.rx.takeUsed(), [{ id: 0, len: 0 }]);
  assert.equal(b.net.stats.rxDropped, 1);
});

test('net: transmit chains with a writable buffer or no frame are errors, not frames', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  post(b, 2);
  const frame = new Uint8Array(NET_HDR_SIZE + 60);
  a.tx.add([
    { addr: a.drv.put(frame), len: frame.length },
    { addr: a.drv.alloc(4), len: 4, write: true },
  ]);
  a.tx.add([{ addr: a.drv.alloc(NET_HDR_SIZE), len: NET_HDR_SIZE }]);
  a.tx.kick();
  assert.equal(a.tx.takeUsed().length, 2);
  assert.equal(a.net.stats.txErrors, 2);
  assert.equal(b.rx.takeUsed().length, 0);
  assert.equal(a.drv.needsReset, false);
});

test('net: frames for a domain whose driver is not up are dropped', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  b.drv.w32(MmioReg.STATUS, 0);
  send(a, ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'lost'));
  assert.equal(b.net.pendingFrames, 0);
  assert.equal(b.net.stats.rxDropped, 1);
});

/** Ones'-complement sum of big-endian 16-bit words. */
function sum16(bytes: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** An Ethernet/IPv4/UDP frame; `partial` puts the pseudo-header sum in the checksum field, as Linux does. */
function udpFrame(payload: string, partial: boolean): { frame: Uint8Array; full: number } {
  const data = new TextEncoder().encode(payload);
  const udpLen = 8 + data.length;
  const f = new Uint8Array(14 + 20 + udpLen);
  f.set(parseMac('52:54:00:00:00:02')!, 0);
  f.set(parseMac('52:54:00:00:00:01')!, 6);
  f[12] = 0x08; // IPv4
  const ip = f.subarray(14, 34);
  ip[0] = 0x45;
  ip[3] = 20 + udpLen;
  ip[8] = 64;
  ip[9] = 17; // UDP
  ip.set([10, 0, 0, 1], 12);
  ip.set([10, 0, 0, 2], 16);
  const udp = f.subarray(34);
  udp.set([0x30, 0x39, 0x00, 0x35, udpLen >> 8, udpLen & 0xff, 0, 0]);
  udp.set(data, 8);
  const pseudo = new Uint8Array([10, 0, 0, 1, 10, 0, 0, 2, 0, 17, udpLen >> 8, udpLen & 0xff]);
  const full = ~sum16(udp, sum16(pseudo)) & 0xffff || 0xffff;
  if (partial) {
    const p = sum16(pseudo);
    udp[6] = p >> 8;
    udp[7] = p & 0xff;
  } else {
    udp[6] = full >> 8;
    udp[7] = full & 0xff;
  }
  return { frame: f, full };
}

/** Transmits with a NEEDS_CSUM header (csum_start = UDP header, csum_offset = 6). */
function sendPartial(h: Host, frame: Uint8Array, start = 34, offset = 6): void {
  const buf = new Uint8Array(NET_HDR_SIZE + frame.length);
  buf[0] = 1; // NEEDS_CSUM
  new DataView(buf.buffer).setUint16(6, start, true);
  new DataView(buf.buffer).setUint16(8, offset, true);
  buf.set(frame, NET_HDR_SIZE);
  h.tx.add([{ addr: h.drv.put(buf), len: buf.length }]);
  h.tx.kick();
}

test('net checksum offload: a receiver without GUEST_CSUM gets the checksum finished', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const net = new VirtioNet({ mac: parseMac('52:54:00:00:00:02')!, queueSize: 16 });
  const mmio = new VirtioMmio(net, ram, { set() {} });
  sw.attach(net);
  const drv = new MockDriver(ram, mmio);
  const [rx, tx] = drv.start([16, 16], drv.deviceFeatures() & ~(1n << 1n)); // decline GUEST_CSUM
  const b: Host = { ram, net, mmio, drv, rx: rx!, tx: tx!, irq: { level: false } };
  const [buf] = post(b, 1);
  const { frame, full } = udpFrame('hello over udp!', true);
  assert.deepEqual(udpFrame('hello over udp!', false).full, full);
  sendPartial(a, frame);
  const got = ram.slice(gpa(buf! + NET_HDR_SIZE), frame.length);
  assert.equal((got[40]! << 8) | got[41]!, full);
  assert.deepEqual(got, udpFrame('hello over udp!', false).frame);
  assert.equal(ram.readU8(gpa(buf!)), 0); // header flags: nothing left to do
  assert.equal(net.stats.checksumsFinished, 1);
});

test('net checksum offload: a receiver with GUEST_CSUM gets the partial frame and its offsets', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  const [buf] = post(b, 1);
  const { frame } = udpFrame('partial', true);
  sendPartial(a, frame);
  assert.equal(b.ram.readU8(gpa(buf!)), 1); // NEEDS_CSUM
  assert.equal(b.ram.readU16(gpa(buf! + 6)), 34);
  assert.equal(b.ram.readU16(gpa(buf! + 8)), 6);
  assert.deepEqual(b.ram.slice(gpa(buf! + NET_HDR_SIZE), frame.length), frame);
  assert.equal(b.net.stats.checksumsFinished, 0);
});

test('net checksum offload: offsets outside the frame and GSO frames are transmit errors', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  post(b, 2);
  const { frame } = udpFrame('x', true);
  sendPartial(a, frame, 34, 0xfff0);
  sendPartial(a, frame, 0xffff, 0);
  const gso = new Uint8Array(NET_HDR_SIZE + frame.length);
  gso[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
  gso.set(frame, NET_HDR_SIZE);
  a.tx.add([{ addr: a.drv.put(gso), len: gso.length }]);
  a.tx.kick();
  assert.equal(a.net.stats.txErrors, 3);
  assert.equal(b.rx.takeUsed().length, 0);
});

test('net: checksum offload can be turned off', () => {
  const net = new VirtioNet({ mac: parseMac('52:54:00:00:00:09')!, checksumOffload: false });
  assert.equal(net.features & 3n, 0n);
});

/** Transmits `frame` as one TCP segmentation frame (gso tcp4/tcp6, NEEDS_CSUM at the TCP checksum). */
function sendGso(h: Host, frame: Uint8Array, v6: boolean, mss: number, gsoType = v6 ? 4 : 1): void {
  const buf = new Uint8Array(NET_HDR_SIZE + frame.length);
  const v = new DataView(buf.buffer);
  buf[0] = 1; // NEEDS_CSUM
  buf[1] = gsoType;
  v.setUint16(4, mss, true);
  v.setUint16(6, v6 ? 54 : 34, true);
  v.setUint16(8, 16, true);
  buf.set(frame, NET_HDR_SIZE);
  h.tx.add([{ addr: h.drv.put(buf), len: buf.length }]);
  h.tx.kick();
}

/** A domain whose driver declines `decline` feature bits. */
function domainWithout(mac: string, sw: VirtualSwitch, decline: bigint): Host {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const net = new VirtioNet({ mac: parseMac(mac)!, queueSize: 16 });
  const mmio = new VirtioMmio(net, ram, { set() {} });
  sw.attach(net);
  const drv = new MockDriver(ram, mmio);
  const [rx, tx] = drv.start([16, 16], drv.deviceFeatures() & ~decline);
  return { ram, net, mmio, drv, rx: rx!, tx: tx!, irq: { level: false } };
}

for (const v6 of [false, true]) {
  test(`net TSO (${v6 ? 'IPv6' : 'IPv4'}): GUEST_TSO receivers get the frame whole, others MSS-sized segments`, () => {
    const sw = new VirtualSwitch('lan', { enforceSourceMac: false });
    const a = domain('52:54:00:00:00:01', sw);
    const whole = domain('52:54:00:00:00:02', sw);
    const tso = v6 ? NetFeature.GUEST_TSO6 : NetFeature.GUEST_TSO4;
    const small = domainWithout('52:54:00:00:00:03', sw, 1n << BigInt(tso));
    const payload = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const frame = tcpFrame(v6, payload);
    frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0); // broadcast: both receivers get it
    const big = whole.drv.alloc(0x1_0100);
    whole.rx.add([{ addr: big, len: 0x1_0100, write: true }]);
    whole.rx.kick();
    const bufs = post(small, 4);
    const mss = v6 ? 1428 : 1448; // a 1500-byte MTU with TCP timestamps
    sendGso(a, frame, v6, mss);

    const hdr = new DataView(whole.ram.slice(gpa(big), NET_HDR_SIZE).slice().buffer);
    assert.deepEqual(whole.rx.takeUsed(), [{ id: 0, len: NET_HDR_SIZE + frame.length }]);
    assert.equal(hdr.getUint8(0), 1); // NEEDS_CSUM
    assert.equal(hdr.getUint8(1), v6 ? 4 : 1); // gso_type
    assert.equal(hdr.getUint16(4, true), mss); // gso_size
    assert.equal(hdr.getUint16(2, true), (v6 ? 54 : 34) + 20); // hdr_len

    const used = small.rx.takeUsed();
    assert.equal(used.length, 3);
    assert.equal(small.net.stats.framesSegmented, 1);
    const l4 = v6 ? 54 : 34;
    const data: number[] = [];
    used.forEach((u, i) => {
      const seg = small.ram.slice(gpa(bufs[i]! + NET_HDR_SIZE), u.len - NET_HDR_SIZE);
      assert.equal(small.ram.readU8(gpa(bufs[i]!)), 0); // a plain frame: nothing left to do
      assert.ok(tcpChecksumOk(seg), `segment ${i} checksum`);
      data.push(...seg.subarray(l4 + 20));
    });
    assert.deepEqual(Uint8Array.from(data), payload);
  });
}

test('net TSO: segmentation frames the driver may not send are transmit errors', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const noTso = domainWithout('52:54:00:00:00:02', sw, 1n << BigInt(NetFeature.HOST_TSO4));
  const b = domain('52:54:00:00:00:03', sw);
  post(b, 4);
  const frame = tcpFrame(false, new Uint8Array(3000));
  frame.set(parseMac('52:54:00:00:00:03')!, 0);
  sendGso(a, frame, false, 1448, 0x81); // ECN without HOST_ECN
  sendGso(a, frame, false, 1448, 3); // UDP fragmentation offload, not offered
  sendGso(a, frame, false, 0); // gso_size 0
  assert.equal(a.net.stats.txErrors, 3);
  const from2 = frame.slice();
  from2.set(parseMac('52:54:00:00:00:02')!, 6);
  sendGso(noTso, from2, false, 1448); // HOST_TSO4 not negotiated
  assert.equal(noTso.net.stats.txErrors, 1);
  assert.equal(b.rx.takeUsed().length, 0);
});

test('net MRG_RXBUF: a frame spans several buffers, num_buffers says how many', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  const bufs = [0, 1, 2, 3].map(() => b.drv.alloc(512));
  for (const x of bufs) b.rx.add([{ addr: x, len: 512, write: true }]);
  b.rx.kick();
  const frame = ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'y'.repeat(1200)); // 1214 + 12 = 1226 bytes
  send(a, frame);
  assert.deepEqual(b.rx.takeUsed(), [
    { id: 0, len: 512 },
    { id: 1, len: 512 },
    { id: 2, len: 202 },
  ]);
  assert.equal(b.ram.readU16(gpa(bufs[0]! + 10)), 3); // num_buffers
  const got = [...b.ram.slice(bufs[0]!, 512), ...b.ram.slice(bufs[1]!, 512), ...b.ram.slice(bufs[2]!, 202)];
  assert.deepEqual(Uint8Array.from(got.slice(NET_HDR_SIZE)), frame);
  // The fourth buffer is still the guest's to be used by the next frame.
  send(a, ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'z'));
  assert.deepEqual(b.rx.takeUsed(), [{ id: 3, len: NET_HDR_SIZE + 15 }]);
  assert.equal(b.ram.readU16(gpa(bufs[3]! + 10)), 1);
});

test('net MRG_RXBUF: a frame waits until enough buffers are posted', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  b.rx.add([{ addr: b.drv.alloc(1024), len: 1024, write: true }]);
  b.rx.kick();
  const frame = ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'w'.repeat(1400));
  send(a, frame);
  assert.equal(b.rx.usedIdx, 0);
  assert.equal(b.net.pendingFrames, 1);
  assert.equal(b.rx.availEvent, 1); // notify me when you add the next buffer
  b.rx.add([{ addr: b.drv.alloc(1024), len: 1024, write: true }]);
  b.rx.kick();
  assert.deepEqual(
    b.rx.takeUsed().map((u) => u.len),
    [1024, NET_HDR_SIZE + frame.length - 1024],
  );
  assert.equal(b.net.pendingFrames, 0);
});

test('net MRG_RXBUF: a frame no full ring of buffers can hold is dropped, the buffers kept', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
  for (let i = 0; i < 16; i++) b.rx.add([{ addr: b.drv.alloc(64), len: 64, write: true }]);
  b.rx.kick();
  send(a, ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'v'.repeat(1400))); // needs 23 buffers of 64
  assert.equal(b.rx.usedIdx, 0);
  assert.equal(b.net.stats.rxDropped, 1);
  send(a, ethernet('52:54:00:00:00:02', '52:54:00:00:00:01', 'ok'));
  assert.deepEqual(b.rx.takeUsed(), [{ id: 0, len: NET_HDR_SIZE + 16 }]);
});

test('net: a driver without VERSION_1 or MRG_RXBUF uses the 10-byte legacy header both ways (§5.1.6.1)', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:0a', sw, 0n); // no features at all: what QEMU serves as legacy
  const b = domain('52:54:00:00:00:0b', sw);
  assert.equal(a.mmio.hasFeature(32), false);
  const [at] = post(a, 1);
  const frame = ethernet('52:54:00:00:00:0a', '52:54:00:00:00:0b', 'to the legacy driver');
  send(b, frame);
  const used = a.rx.takeUsed();
  assert.deepEqual(
    used.map((u) => u.len),
    [10 + frame.length],
  );
  assert.deepEqual([...a.ram.slice(gpa(at! + 10), frame.length)], [...frame]);
  // Transmit with a 10-byte header: the frame starts right after it.
  const out = ethernet('52:54:00:00:00:0b', '52:54:00:00:00:0a', 'from the legacy driver');
  const buf = new Uint8Array(10 + out.length);
  buf.set(out, 10);
  const [bt] = post(b, 1);
  a.tx.add([{ addr: a.drv.put(buf), len: buf.length }]);
  a.tx.kick();
  assert.equal(a.net.stats.txErrors, 0);
  assert.deepEqual(
    b.rx.takeUsed().map((u) => u.len),
    [NET_HDR_SIZE + out.length],
  );
  assert.deepEqual([...b.ram.slice(gpa(bt! + NET_HDR_SIZE), out.length)], [...out]);
});

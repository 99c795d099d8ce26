import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpa } from '../../../core/types.js';
import { GuestRam } from '../../../memory/ram.js';
import { formatMac, parseMac, VirtualSwitch } from '../../switch.js';
import { MmioReg } from '../constants.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver, type MockQueue } from '../mock-driver.js';
import { NET_S_LINK_UP, NetConfig, VirtioNet } from './device.js';
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

/** One domain with one NIC: its own RAM, driver and queues. */
function domain(mac: string, sw?: VirtualSwitch): Host {
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
  const [rx, tx] = drv.start([16, 16]);
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

test('net: a frame larger than the receive buffer is dropped, the buffer returned empty', () => {
  const sw = new VirtualSwitch('lan');
  const a = domain('52:54:00:00:00:01', sw);
  const b = domain('52:54:00:00:00:02', sw);
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

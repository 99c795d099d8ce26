import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMac, macKey, parseMac, type SwitchEndpoint, VirtualSwitch } from './switch.js';

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

function frame(dst: string, src: string, payload = 0): Uint8Array {
  const f = new Uint8Array(60);
  f.set(parseMac(dst)!, 0);
  f.set(parseMac(src)!, 6);
  f[12] = 0x08;
  f[14] = payload;
  return f;
}

function three() {
  const sw = new VirtualSwitch('lan');
  const a = new Nic('52:54:00:00:00:0a');
  const b = new Nic('52:54:00:00:00:0b');
  const c = new Nic('52:54:00:00:00:0c');
  const pa = sw.attach(a);
  const pb = sw.attach(b);
  const pc = sw.attach(c);
  return { sw, a, b, c, pa, pb, pc };
}

test('MAC helpers parse, format and key 48-bit addresses', () => {
  assert.equal(formatMac(parseMac('52:54:00:AB:cd:ef')!), '52:54:00:ab:cd:ef');
  assert.equal(parseMac('52:54:00:ab:cd'), null);
  assert.equal(parseMac('52-54-00-ab-cd-ef'), null);
  assert.equal(macKey(parseMac('ff:ff:ff:ff:ff:ff')!), 2 ** 48 - 1);
  assert.equal(macKey(parseMac('00:00:00:00:00:01')!), 1);
  assert.equal(macKey(parseMac('80:00:00:00:00:00')!), 2 ** 47);
});

test('broadcast floods to every other port', () => {
  const { a, b, c, pa } = three();
  pa.transmit(frame(BCAST, '52:54:00:00:00:0a', 1));
  assert.deepEqual(a.got, []);
  assert.deepEqual(b.got, ['52:54:00:00:00:0a>ff:ff:ff:ff:ff:ff:1']);
  assert.deepEqual(c.got, ['52:54:00:00:00:0a>ff:ff:ff:ff:ff:ff:1']);
});

test('unicast goes only to the port of the destination MAC', () => {
  const { sw, a, b, c, pa, pb } = three();
  pb.transmit(frame('52:54:00:00:00:0a', '52:54:00:00:00:0b', 2));
  assert.deepEqual(a.got, ['52:54:00:00:00:0b>52:54:00:00:00:0a:2']);
  assert.deepEqual(c.got, []);
  assert.equal(sw.stats.forwarded, 1);
  pa.transmit(frame('52:54:00:00:00:0b', '52:54:00:00:00:0a', 3));
  assert.deepEqual(b.got, ['52:54:00:00:00:0a>52:54:00:00:00:0b:3']);
  assert.deepEqual(c.got, []);
});

test('unknown unicast destinations are flooded; learned sources are not', () => {
  const sw = new VirtualSwitch('lan', { enforceSourceMac: false });
  const a = new Nic('52:54:00:00:00:0a');
  const b = new Nic('52:54:00:00:00:0b');
  const c = new Nic('52:54:00:00:00:0c');
  const pa = sw.attach(a);
  sw.attach(b);
  sw.attach(c);
  // A bridge behind port a sends from 02:...:99; the switch learns it there.
  pa.transmit(frame('02:00:00:00:00:77', '02:00:00:00:00:99', 4));
  assert.equal(b.got.length, 1);
  assert.equal(c.got.length, 1);
  assert.equal(sw.lookup(parseMac('02:00:00:00:00:99')!)?.endpoint, a);
  sw.forward(sw.lookup(parseMac('52:54:00:00:00:0b')!)!, frame('02:00:00:00:00:99', '52:54:00:00:00:0b', 5));
  assert.deepEqual(a.got, ['52:54:00:00:00:0b>02:00:00:00:00:99:5']);
  assert.equal(c.got.length, 1);
});

test('a port cannot send from another port’s MAC (spoofing is dropped)', () => {
  const { sw, a, b, c, pc } = three();
  pc.transmit(frame(BCAST, '52:54:00:00:00:0a', 6));
  assert.deepEqual([a.got, b.got], [[], []]);
  assert.equal(sw.stats.spoofed, 1);
  assert.equal(sw.lookup(a.mac)?.endpoint, a);
  assert.deepEqual(c.got, []);
});

test('runts and multicast source addresses are dropped', () => {
  const { sw, b, pa } = three();
  pa.transmit(new Uint8Array(10));
  pa.transmit(frame(BCAST, '53:54:00:00:00:0a'));
  assert.deepEqual(b.got, []);
  assert.equal(sw.stats.dropped, 2);
});

test('detached ports receive nothing and forget their MACs; duplicate MACs are refused', () => {
  const { sw, a, b, pa, pb } = three();
  pb.detach();
  pa.transmit(frame('52:54:00:00:00:0b', '52:54:00:00:00:0a'));
  pb.transmit(frame('52:54:00:00:00:0a', '52:54:00:00:00:0b'));
  assert.deepEqual(b.got, []);
  assert.deepEqual(a.got, []);
  assert.equal(sw.portCount, 2);
  assert.throws(() => sw.attach(new Nic('52:54:00:00:00:0a')), /already attached/);
});

test('the uplink sends from any MAC (learned behind it); guests still may not spoof; one uplink per switch', () => {
  const { sw, a, b, pa, pc } = three();
  const net = new Nic('52:55:0a:00:02:02');
  const up = sw.attachUplink(net);
  assert.equal(sw.uplink, up);
  up.transmit(frame('52:54:00:00:00:0a', '02:00:00:00:01:01', 7));
  assert.deepEqual(a.got, ['02:00:00:00:01:01>52:54:00:00:00:0a:7']);
  assert.equal(sw.lookup(parseMac('02:00:00:00:01:01')!), up);
  pa.transmit(frame('02:00:00:00:01:01', '52:54:00:00:00:0a', 8));
  assert.deepEqual(net.got, ['52:54:00:00:00:0a>02:00:00:00:01:01:8']);
  assert.deepEqual(b.got, []);
  pc.transmit(frame(BCAST, '52:55:0a:00:02:02', 9)); // a guest posing as the uplink
  assert.equal(sw.stats.spoofed, 1);
  assert.equal(net.got.length, 1);
  assert.throws(() => sw.attachUplink(new Nic('52:55:0a:00:02:03')), /already has an uplink/);
});

test('each port counts frames and bytes both ways', () => {
  const { sw, pa, pb } = three();
  const up = sw.attachUplink(new Nic('52:55:0a:00:02:02'));
  pa.transmit(frame(BCAST, '52:54:00:00:00:0a')); // 60 bytes to b, c and the uplink
  pb.transmit(frame('52:54:00:00:00:0a', '52:54:00:00:00:0b')); // 60 bytes to a
  pa.transmit(new Uint8Array(5)); // a runt: sent, dropped
  up.transmit(frame('52:54:00:00:00:0b', '02:00:00:00:01:01')); // to b
  assert.deepEqual(sw.portStats(), [
    { port: 0, mac: '52:54:00:00:00:0a', uplink: false, txFrames: 2, txBytes: 65, rxFrames: 1, rxBytes: 60 },
    { port: 1, mac: '52:54:00:00:00:0b', uplink: false, txFrames: 1, txBytes: 60, rxFrames: 2, rxBytes: 120 },
    { port: 2, mac: '52:54:00:00:00:0c', uplink: false, txFrames: 0, txBytes: 0, rxFrames: 1, rxBytes: 60 },
    { port: 3, mac: '52:55:0a:00:02:02', uplink: true, txFrames: 1, txBytes: 60, rxFrames: 1, rxBytes: 60 },
  ]);
});

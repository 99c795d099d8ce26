import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { tcpChecksumOk, tcpFrame } from './net-frames.js';
import { finishChecksum, gsoHeaderLength, type Offload, segmentTcp, sum16 } from './net-offload.js';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;

const gso = (v6: boolean, mss: number): Offload => ({
  csumStart: v6 ? 54 : 34,
  csumOffset: 16,
  gso: { kind: v6 ? 'tcp6' : 'tcp4', mss },
});

for (const v6 of [false, true]) {
  test(`TCP segmentation over ${v6 ? 'IPv6' : 'IPv4'}: lengths, sequence numbers, flags, checksums`, () => {
    const payload = Uint8Array.from({ length: 4000 }, (_, i) => (i * 13) & 0xff);
    const frame = tcpFrame(v6, payload, 0xffff_fff0, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR);
    const segs = segmentTcp(frame, gso(v6, 1448))!;
    assert.deepEqual(
      segs.map((s) => s.length),
      [1448, 1448, 1104].map((n) => n + (v6 ? 74 : 54)),
    );
    const l4 = v6 ? 54 : 34;
    const got: number[] = [];
    segs.forEach((s, i) => {
      assert.ok(tcpChecksumOk(s), `segment ${i} TCP checksum`);
      if (!v6) {
        assert.equal(sum16(s, 14, 34), 0xffff, `segment ${i} IPv4 header checksum`);
        assert.equal((s[16]! << 8) | s[17]!, s.length - 14);
        assert.equal((s[18]! << 8) | s[19]!, 0x1234 + i);
      } else {
        assert.equal((s[18]! << 8) | s[19]!, s.length - 54);
      }
      const seq = ((s[l4 + 4]! << 24) | (s[l4 + 5]! << 16) | (s[l4 + 6]! << 8) | s[l4 + 7]!) >>> 0;
      assert.equal(seq, (0xffff_fff0 + 1448 * i) >>> 0);
      const fl = s[l4 + 13]!;
      assert.equal(Boolean(fl & TCP_FIN), i === 2);
      assert.equal(Boolean(fl & TCP_PSH), i === 2);
      assert.equal(Boolean(fl & TCP_CWR), i === 0);
      assert.ok(fl & TCP_ACK);
      got.push(...s.subarray(l4 + 20));
    });
    assert.deepEqual(Uint8Array.from(got), payload);
    assert.equal(gsoHeaderLength(frame, gso(v6, 1448)), l4 + 20);
  });
}

test('finishing a partial TCP checksum gives the same checksum as segmenting into one piece', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.boolean(), (payload, v6) => {
      const frame = tcpFrame(v6, payload);
      const whole = frame.slice();
      assert.ok(finishChecksum(whole, gso(v6, 65535)));
      assert.ok(tcpChecksumOk(whole));
      const one = segmentTcp(frame, gso(v6, 65535))!;
      assert.equal(one.length, 1);
      assert.ok(tcpChecksumOk(one[0]!));
      assert.deepEqual(one[0]!.subarray(v6 ? 54 : 34), whole.subarray(v6 ? 54 : 34));
    }),
    { numRuns: 100 },
  );
});

test('segmentation refuses frames that are not what the offload claims, and tiny MSS', () => {
  const f = tcpFrame(false, new Uint8Array(3000));
  assert.equal(segmentTcp(f, gso(false, 63)), null);
  assert.equal(segmentTcp(f, gso(true, 1448)), null); // IPv4 frame claimed as IPv6
  const udp = f.slice();
  udp[23] = 17;
  assert.equal(segmentTcp(udp, gso(false, 1448)), null);
  assert.equal(segmentTcp(f.subarray(0, 40), gso(false, 1448)), null);
  const badThl = f.slice();
  badThl[34 + 12] = 0x10; // 4-byte TCP header
  assert.equal(segmentTcp(badThl, gso(false, 1448)), null);
  assert.equal(finishChecksum(f, { csumStart: f.length, csumOffset: 0 }), false);
  assert.equal(finishChecksum(f, { csumStart: 34, csumOffset: f.length }), false);
});

test('segmentation handles one 802.1Q VLAN tag', () => {
  const plain = tcpFrame(
    false,
    Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff),
  );
  const tagged = new Uint8Array(plain.length + 4);
  tagged.set(plain.subarray(0, 12));
  tagged.set([0x81, 0x00, 0x00, 0x07], 12);
  tagged.set(plain.subarray(12), 16);
  const segs = segmentTcp(tagged, { csumStart: 38, csumOffset: 16, gso: { kind: 'tcp4', mss: 1448 } })!;
  assert.equal(segs.length, 3);
  const untag = (s: Uint8Array) => Uint8Array.from([...s.subarray(0, 12), ...s.subarray(16)]);
  const ref = segmentTcp(plain, gso(false, 1448))!;
  segs.forEach((s, i) => {
    assert.deepEqual([...s.subarray(12, 16)], [0x81, 0x00, 0x00, 0x07]);
    assert.deepEqual(untag(s), ref[i]);
  });
});

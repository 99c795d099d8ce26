/**
 * Ethernet/IP/TCP frame builders and checkers, for tests and benchmarks of the network
 * path (not used by the devices themselves).
 */
import { sum16 } from './net-offload.js';

export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** An Ethernet + IPv4/IPv6 + TCP frame carrying `payload`, with the pseudo-header sum in the TCP checksum field. */
export function tcpFrame(v6: boolean, payload: Uint8Array, seq = 1000, flags = TCP_ACK | TCP_PSH): Uint8Array {
  const l3 = 14;
  const l4 = l3 + (v6 ? 40 : 20);
  const f = new Uint8Array(l4 + 20 + payload.length);
  f.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1], 0);
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  const tcpLen = 20 + payload.length;
  if (v6) {
    f[l3] = 0x60;
    f[l3 + 4] = tcpLen >> 8;
    f[l3 + 5] = tcpLen & 0xff;
    f[l3 + 6] = 6;
    f[l3 + 7] = 64;
    f[l3 + 8] = 0xfd;
    f[l3 + 23] = 1;
    f[l3 + 24] = 0xfd;
    f[l3 + 39] = 2;
  } else {
    f[l3] = 0x45;
    f[l3 + 2] = (20 + tcpLen) >> 8;
    f[l3 + 3] = (20 + tcpLen) & 0xff;
    f[l3 + 4] = 0x12;
    f[l3 + 5] = 0x34;
    f[l3 + 8] = 64;
    f[l3 + 9] = 6;
    f.set([10, 0, 0, 1, 10, 0, 0, 2], l3 + 12);
    const c = ~sum16(f, l3, l4) & 0xffff;
    f[l3 + 10] = c >> 8;
    f[l3 + 11] = c & 0xff;
  }
  f.set([0x30, 0x39, 0x00, 0x50], l4);
  f[l4 + 4] = seq >>> 24;
  f[l4 + 5] = (seq >>> 16) & 0xff;
  f[l4 + 6] = (seq >>> 8) & 0xff;
  f[l4 + 7] = seq & 0xff;
  f[l4 + 12] = 0x50;
  f[l4 + 13] = flags;
  f[l4 + 14] = 0xff;
  f.set(payload, l4 + 20);
  const pseudo = (v6 ? sum16(f, l3 + 8, l3 + 40) : sum16(f, l3 + 12, l3 + 20)) + 6 + tcpLen;
  const p = sum16(new Uint8Array(0), 0, 0, pseudo);
  f[l4 + 16] = p >> 8;
  f[l4 + 17] = p & 0xff;
  return f;
}

/** True when the TCP checksum of `f` verifies (sum over pseudo-header and segment is 0xffff). */
export function tcpChecksumOk(f: Uint8Array): boolean {
  const v6 = f[12] === 0x86;
  const l3 = 14;
  const l4 = l3 + (v6 ? 40 : (f[l3]! & 15) * 4);
  const pseudo = (v6 ? sum16(f, l3 + 8, l3 + 40) : sum16(f, l3 + 12, l3 + 20)) + 6 + (f.length - l4);
  return sum16(f, l4, f.length, pseudo) === 0xffff;
}

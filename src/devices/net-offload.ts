/**
 * Offloads carried with a frame between virtio-net devices (virtio 1.2 §5.1.6.2, §5.1.6.4):
 * a transport checksum left for the receiver to finish, and TCP segmentation (a frame
 * with up to 64 KiB of payload that stands for `mss`-sized segments). A receiver that
 * accepted the matching guest feature takes the frame as it is; for any other receiver
 * the device finishes the work here first, as a NIC would.
 */

export interface Offload {
  /** Ones'-complement sum of [csumStart, end) goes at csumStart + csumOffset. */
  readonly csumStart: number;
  readonly csumOffset: number;
  /** TCP segmentation, or null for a single frame. */
  readonly gso: { readonly kind: 'tcp4' | 'tcp6'; readonly mss: number } | null;
}

/** Smallest MSS accepted for segmentation: bounds how many frames one frame becomes. */
export const MIN_MSS = 64;

const be16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >> 8) & 0xff;
  b[o + 1] = v & 0xff;
};

/** 16-bit ones'-complement sum of big-endian words of b[start, end), added to `init`, folded. */
export function sum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x1_0000);
  return s;
}

/**
 * Completes a partial checksum in place: the sum of [start, end) (which includes the
 * pseudo-header sum the sender left in the field), complemented; 0 is written as 0xffff
 * (as Linux's skb_checksum_help does). False when the offsets do not fit the frame.
 */
export function finishChecksum(frame: Uint8Array, o: { csumStart: number; csumOffset: number }): boolean {
  const at = o.csumStart + o.csumOffset;
  if (o.csumStart >= frame.length || at + 2 > frame.length) return false;
  put16(frame, at, ~sum16(frame, o.csumStart, frame.length) & 0xffff || 0xffff);
  return true;
}

/** Offsets of the layers of a TCP frame (Ethernet II with at most one VLAN tag; IPv4, or IPv6 without extension headers). */
interface TcpLayout {
  readonly v4: boolean;
  readonly l3: number;
  readonly l4: number;
  /** End of the TCP header = start of the payload. */
  readonly hdr: number;
}

function tcpLayout(f: Uint8Array, kind: 'tcp4' | 'tcp6'): TcpLayout | null {
  if (f.length < 14 + 40) return null;
  // One 802.1Q tag is allowed between the MAC addresses and the ethertype.
  const l3 = be16(f, 12) === 0x8100 ? 18 : 14;
  const type = be16(f, l3 - 2);
  let l4: number;
  if (kind === 'tcp4') {
    if (type !== 0x0800 || f[l3]! >> 4 !== 4 || f[l3 + 9] !== 6) return null;
    const ihl = (f[l3]! & 0x0f) * 4;
    if (ihl < 20) return null;
    l4 = l3 + ihl;
  } else {
    if (type !== 0x86dd || f[l3]! >> 4 !== 6 || f[l3 + 6] !== 6) return null;
    l4 = l3 + 40;
  }
  if (l4 + 20 > f.length) return null;
  const thl = (f[l4 + 12]! >> 4) * 4;
  if (thl < 20 || l4 + thl > f.length) return null;
  return { v4: kind === 'tcp4', l3, l4, hdr: l4 + thl };
}

/** Header length (Ethernet + IP + TCP) of a GSO frame, for virtio_net_hdr.hdr_len; 0 if unparsable. */
export function gsoHeaderLength(frame: Uint8Array, o: Offload): number {
  return o.gso ? (tcpLayout(frame, o.gso.kind)?.hdr ?? 0) : 0;
}

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * Cuts a TCP segmentation frame into MSS-sized frames with complete IP and TCP checksums
 * (what a NIC does for TSO): IP lengths and IPv4 ids adjusted, sequence numbers advanced,
 * FIN and PSH only on the last segment, CWR only on the first. Null when the frame is not
 * the TCP frame its offload claims or the MSS is below MIN_MSS.
 */
export function segmentTcp(frame: Uint8Array, o: Offload): Uint8Array[] | null {
  if (o.gso === null || o.gso.mss < MIN_MSS) return null;
  const L = tcpLayout(frame, o.gso.kind);
  if (L === null) return null;
  const { l3, l4, hdr } = L;
  const payload = frame.length - hdr;
  const mss = o.gso.mss;
  const seq = ((frame[l4 + 4]! << 24) | (frame[l4 + 5]! << 16) | (frame[l4 + 6]! << 8) | frame[l4 + 7]!) >>> 0;
  const flags = frame[l4 + 13]!;
  const ipId = L.v4 ? be16(frame, l3 + 4) : 0;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < payload || (payload === 0 && i === 0); off += mss, i++) {
    const n = Math.min(mss, payload - off);
    const seg = new Uint8Array(hdr + n);
    seg.set(frame.subarray(0, hdr));
    seg.set(frame.subarray(hdr + off, hdr + off + n), hdr);
    const tcpLen = hdr - l4 + n;
    if (L.v4) {
      put16(seg, l3 + 2, l4 - l3 + tcpLen);
      put16(seg, l3 + 4, (ipId + i) & 0xffff);
      put16(seg, l3 + 10, 0);
      put16(seg, l3 + 10, ~sum16(seg, l3, l4) & 0xffff);
    } else {
      put16(seg, l3 + 4, tcpLen);
    }
    const s = (seq + off) >>> 0;
    seg[l4 + 4] = s >>> 24;
    seg[l4 + 5] = (s >>> 16) & 0xff;
    seg[l4 + 6] = (s >>> 8) & 0xff;
    seg[l4 + 7] = s & 0xff;
    let f = flags;
    if (off + n < payload) f &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= ~TCP_CWR;
    seg[l4 + 13] = f;
    // Pseudo-header (RFC 793 / RFC 8200 §8.1): addresses, protocol 6, TCP length.
    let p = L.v4 ? sum16(seg, l3 + 12, l3 + 20) : sum16(seg, l3 + 8, l3 + 40);
    p += 6 + tcpLen;
    put16(seg, l4 + 16, 0);
    put16(seg, l4 + 16, ~sum16(seg, l4, seg.length, p) & 0xffff);
    out.push(seg);
  }
  return out;
}

/**
 * `frame` as plain Ethernet frames for a port that takes no offloads (passt, a switch link):
 * TSO segmented, a partial checksum finished; null when the offload data is unusable (the
 * caller counts a drop). A frame without offloads comes back as itself, still lent.
 */
export function finishOffloads(frame: Uint8Array, offload: Offload | null): Uint8Array[] | null {
  if (offload?.gso) return segmentTcp(frame, offload);
  if (offload) {
    const copy = frame.slice();
    return finishChecksum(copy, offload) ? [copy] : null;
  }
  return [frame];
}

/**
 * The virtio-net packet header (virtio 1.2 §5.1.6). With VIRTIO_F_VERSION_1 it is always
 * 12 bytes (num_buffers present); a legacy driver's is 10 unless it took MRG_RXBUF. pvm offers checksum and TCP segmentation offload, no
 * MRG_RXBUF (num_buffers is always 1).
 */
export const NET_HDR_SIZE = 12;
/** §5.1.6.1: without VIRTIO_F_VERSION_1 (and without MRG_RXBUF) the header ends before num_buffers. */
export const LEGACY_NET_HDR_SIZE = 10;

/** §5.1.6 virtio_net_hdr fields. */
export const NetHdr = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
  NUM_BUFFERS: 10,
} as const;

/** §5.1.6 flags. */
export const NET_HDR_F_NEEDS_CSUM = 1;
export const NET_HDR_F_DATA_VALID = 2;
/** §5.1.6 gso_type values. */
export const GsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  ECN: 0x80,
} as const;

export interface TxHeader {
  readonly flags: number;
  readonly gsoType: number;
  readonly csumStart: number;
  readonly csumOffset: number;
  readonly gsoSize: number;
}

export function parseTxHeader(h: Uint8Array): TxHeader {
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  return {
    flags: h[NetHdr.FLAGS]!,
    gsoType: h[NetHdr.GSO_TYPE]!,
    csumStart: v.getUint16(NetHdr.CSUM_START, true),
    csumOffset: v.getUint16(NetHdr.CSUM_OFFSET, true),
    gsoSize: v.getUint16(NetHdr.GSO_SIZE, true),
  };
}

/**
 * Header for a received frame, one buffer (§5.1.6.4). With offloads (for a driver that
 * accepted GUEST_CSUM / GUEST_TSO): NEEDS_CSUM with its offsets, and for a segmentation
 * frame its gso_type, gso_size and hdr_len.
 */
export function rxHeader(
  offload: { csumStart: number; csumOffset: number; gso: { kind: 'tcp4' | 'tcp6'; mss: number } | null } | null = null,
  hdrLen = 0,
): Uint8Array {
  const h = new Uint8Array(NET_HDR_SIZE);
  const v = new DataView(h.buffer);
  h[NetHdr.NUM_BUFFERS] = 1;
  if (offload !== null) {
    h[NetHdr.FLAGS] = NET_HDR_F_NEEDS_CSUM;
    v.setUint16(NetHdr.CSUM_START, offload.csumStart, true);
    v.setUint16(NetHdr.CSUM_OFFSET, offload.csumOffset, true);
    if (offload.gso !== null) {
      h[NetHdr.GSO_TYPE] = offload.gso.kind === 'tcp4' ? GsoType.TCPV4 : GsoType.TCPV6;
      v.setUint16(NetHdr.GSO_SIZE, offload.gso.mss, true);
      v.setUint16(NetHdr.HDR_LEN, hdrLen, true);
    }
  }
  return h;
}

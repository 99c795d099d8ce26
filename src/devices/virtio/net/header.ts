/**
 * The virtio-net packet header (virtio 1.2 §5.1.6). With VIRTIO_F_VERSION_1 it is always
 * 12 bytes (num_buffers present). pvm offers checksum offload (CSUM, GUEST_CSUM) but no
 * segmentation offload, so gso_type is always NONE and num_buffers 1.
 */
export const NET_HDR_SIZE = 12;

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
export const NET_HDR_GSO_NONE = 0;

export interface TxHeader {
  readonly flags: number;
  readonly gsoType: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

export function parseTxHeader(h: Uint8Array): TxHeader {
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  return {
    flags: h[NetHdr.FLAGS]!,
    gsoType: h[NetHdr.GSO_TYPE]!,
    csumStart: v.getUint16(NetHdr.CSUM_START, true),
    csumOffset: v.getUint16(NetHdr.CSUM_OFFSET, true),
  };
}

/**
 * Header for a received frame, one buffer (§5.1.6.4); with a partial checksum (for a
 * driver that negotiated VIRTIO_NET_F_GUEST_CSUM) NEEDS_CSUM and its offsets.
 */
export function rxHeader(csum: { start: number; offset: number } | null = null): Uint8Array {
  const h = new Uint8Array(NET_HDR_SIZE);
  const v = new DataView(h.buffer);
  h[NetHdr.NUM_BUFFERS] = 1;
  if (csum !== null) {
    h[NetHdr.FLAGS] = NET_HDR_F_NEEDS_CSUM;
    v.setUint16(NetHdr.CSUM_START, csum.start, true);
    v.setUint16(NetHdr.CSUM_OFFSET, csum.offset, true);
  }
  return h;
}

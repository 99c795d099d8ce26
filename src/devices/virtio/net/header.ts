/**
 * The virtio-net packet header (virtio 1.2 §5.1.6). With VIRTIO_F_VERSION_1 it is always
 * 12 bytes (num_buffers present). pvm offers no checksum or segmentation offload, so the
 * device writes a header of zeroes with num_buffers = 1 and ignores what the driver sends.
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

/** Header for a received frame: no offloads, one buffer (§5.1.6.4). */
export function rxHeader(): Uint8Array {
  const h = new Uint8Array(NET_HDR_SIZE);
  h[NetHdr.NUM_BUFFERS] = 1;
  return h;
}

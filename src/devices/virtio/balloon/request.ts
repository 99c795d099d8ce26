/**
 * virtio-balloon page lists (virtio 1.2 §5.5.6): an inflate or deflate buffer is an array
 * of le32 page frame numbers of 4096-byte frames (VIRTIO_BALLOON_PFN_SHIFT = 12),
 * whatever the guest's own page size.
 */
import type { Gpa } from '../../../core/types.js';
import { gpa } from '../../../core/types.js';
import type { GuestRam } from '../../../memory/ram.js';
import { type Chain, readChain } from '../chain.js';

export const BALLOON_PAGE = 4096;
/** Linux sends at most 256 PFNs per buffer; accept up to a queue-size multiple of that. */
export const MAX_PFNS_PER_REQUEST = 64 * 1024;

export interface PageList {
  /** Frames inside guest RAM, in the order given. */
  readonly pages: Gpa[];
  /** PFNs that name memory outside RAM (ignored). */
  readonly invalid: number;
}

/** Parses a page list, or returns an error message for a malformed request. */
export function parsePageList(ram: GuestRam, chain: Chain): PageList | string {
  if (chain.writable.length > 0) return 'page list with device-writable buffers';
  if (chain.readableLen % 4 !== 0) return `page list of ${chain.readableLen} bytes, not a multiple of 4`;
  if (chain.readableLen / 4 > MAX_PFNS_PER_REQUEST) return `page list of ${chain.readableLen / 4} frames`;
  const bytes = readChain(ram, chain.readable);
  const v = new DataView(bytes.buffer);
  const pages: Gpa[] = [];
  let invalid = 0;
  for (let off = 0; off < bytes.length; off += 4) {
    const addr = v.getUint32(off, true) * BALLOON_PAGE;
    if (ram.contains(addr, BALLOON_PAGE)) pages.push(gpa(addr));
    else invalid++;
  }
  return { pages, invalid };
}

/** §5.5.6.3 statistics tags, by name. */
export const BalloonStatTag: Record<number, string> = {
  0: 'swapIn',
  1: 'swapOut',
  2: 'majorFaults',
  3: 'minorFaults',
  4: 'freeMemory',
  5: 'totalMemory',
  6: 'availableMemory',
  7: 'diskCaches',
  8: 'hugetlbAllocations',
  9: 'hugetlbFailures',
};

/** §5.5.6.3: struct virtio_balloon_stat { le16 tag; le64 val; } packed, 10 bytes. */
export const STAT_SIZE = 10;

/** Parses a statistics buffer into name -> value (unknown tags by number); error message if malformed. */
export function parseStats(ram: GuestRam, chain: Chain): Record<string, number> | string {
  if (chain.writable.length > 0) return 'statistics with device-writable buffers';
  if (chain.readableLen % STAT_SIZE !== 0 || chain.readableLen > 64 * STAT_SIZE) {
    return `statistics buffer of ${chain.readableLen} bytes`;
  }
  const b = readChain(ram, chain.readable);
  const v = new DataView(b.buffer);
  const out: Record<string, number> = Object.create(null);
  for (let off = 0; off < b.length; off += STAT_SIZE) {
    const tag = v.getUint16(off, true);
    const val = v.getUint32(off + 2, true) + v.getUint32(off + 6, true) * 0x1_0000_0000;
    out[BalloonStatTag[tag] ?? `tag${tag}`] = val;
  }
  return out;
}

/**
 * Parsing of virtio-blk requests (virtio 1.2 §5.2.6): a 16-byte header the device reads,
 * data in either direction, and a status byte the device writes last. The parser checks
 * everything the guest controls and turns it into a plain request or a status to return.
 */
import type { GuestRam } from '../../../memory/ram.js';
import { type Chain, lastWritableByte, readChain, type Segment } from '../chain.js';

/** §5.2.6 request types. */
export const BlkType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** §5.2.6 status values. */
export const BlkStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;

export const SECTOR = 512;
export const HEADER_SIZE = 16;
/** §5.2.6: GET_ID answers with a 20-byte string. */
export const ID_BYTES = 20;
/** §5.2.6: discard / write-zeroes segment: le64 sector, le32 num_sectors, le32 flags. */
export const RANGE_SEGMENT = 16;
const WRITE_ZEROES_FLAG_UNMAP = 1;
/**
 * Largest data transfer accepted in one request. Linux sends at most max_sectors_kb
 * (1280 KiB by default); the limit keeps a hostile chain (the same RAM named many
 * times) from making the host allocate gigabytes.
 */
export const MAX_TRANSFER = 32 << 20;

export interface DiskGeometry {
  /** Capacity in 512-byte sectors. */
  readonly sectors: number;
  readonly readOnly: boolean;
  /** Request types whose features were negotiated. */
  readonly discard: boolean;
  readonly writeZeroes: boolean;
}

export type BlkRequest =
  | { readonly op: 'read'; readonly offset: number; readonly length: number; readonly data: readonly Segment[] }
  | { readonly op: 'write'; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly op: 'flush' }
  | { readonly op: 'get-id'; readonly data: readonly Segment[]; readonly length: number }
  | { readonly op: 'discard' | 'write-zeroes'; readonly offset: number; readonly length: number }
  /** Answered at once with `status` (an error found while parsing). */
  | { readonly op: 'fail'; readonly status: number; readonly reason: string };

export interface Parsed {
  /** Guest-physical address of the status byte, or -1 when the chain has no writable byte. */
  readonly statusAddr: number;
  readonly request: BlkRequest;
}

/** Writable segments without their last byte (the status byte). */
function withoutLastByte(segs: readonly Segment[]): Segment[] {
  const out = segs.slice();
  const last = out.pop();
  if (last !== undefined && last.len > 1) out.push({ addr: last.addr, len: last.len - 1 });
  return out;
}

const fail = (status: number, reason: string): BlkRequest => ({ op: 'fail', status, reason });

export function parseRequest(ram: GuestRam, chain: Chain, disk: DiskGeometry): Parsed {
  const statusAddr = lastWritableByte(chain);
  if (statusAddr < 0) return { statusAddr, request: fail(BlkStatus.IOERR, 'no device-writable status byte') };
  if (chain.readableLen < HEADER_SIZE) {
    return { statusAddr, request: fail(BlkStatus.IOERR, `header of ${chain.readableLen} bytes`) };
  }
  const h = readChain(ram, chain.readable, 0, HEADER_SIZE);
  const hv = new DataView(h.buffer);
  const type = hv.getUint32(0, true);
  const sector = hv.getUint32(12, true) * 0x1_0000_0000 + hv.getUint32(8, true);
  const inLen = chain.writableLen - 1;
  const outLen = chain.readableLen - HEADER_SIZE;

  /** §5.2.6.2: requests past the end of the disk fail with IOERR. */
  const range = (len: number): BlkRequest | null => {
    if (len % SECTOR !== 0) return fail(BlkStatus.IOERR, `length ${len} not a multiple of ${SECTOR}`);
    if (len > MAX_TRANSFER) return fail(BlkStatus.IOERR, `transfer of ${len} bytes over ${MAX_TRANSFER}`);
    if (sector + len / SECTOR > disk.sectors) return fail(BlkStatus.IOERR, `sector ${sector}+${len / SECTOR} past end`);
    return null;
  };

  switch (type) {
    case BlkType.IN: {
      const bad = range(inLen);
      if (bad) return { statusAddr, request: bad };
      const data = withoutLastByte(chain.writable);
      return { statusAddr, request: { op: 'read', offset: sector * SECTOR, length: inLen, data } };
    }
    case BlkType.OUT: {
      // §5.2.6.2: with VIRTIO_BLK_F_RO offered, writes fail with IOERR and write nothing.
      if (disk.readOnly) return { statusAddr, request: fail(BlkStatus.IOERR, 'write to a read-only disk') };
      const bad = range(outLen);
      if (bad) return { statusAddr, request: bad };
      const bytes = readChain(ram, chain.readable, HEADER_SIZE);
      return { statusAddr, request: { op: 'write', offset: sector * SECTOR, bytes } };
    }
    case BlkType.FLUSH:
      return { statusAddr, request: { op: 'flush' } };
    case BlkType.GET_ID: {
      const data = withoutLastByte(chain.writable);
      return { statusAddr, request: { op: 'get-id', data, length: Math.min(inLen, ID_BYTES) } };
    }
    case BlkType.DISCARD:
    case BlkType.WRITE_ZEROES: {
      const discard = type === BlkType.DISCARD;
      if (discard ? !disk.discard : !disk.writeZeroes) {
        return { statusAddr, request: fail(BlkStatus.UNSUPP, `request type ${type} not negotiated`) };
      }
      if (disk.readOnly) return { statusAddr, request: fail(BlkStatus.IOERR, 'discard on a read-only disk') };
      // We advertise max_discard_seg = max_write_zeroes_seg = 1.
      if (outLen !== RANGE_SEGMENT) return { statusAddr, request: fail(BlkStatus.IOERR, `${outLen} bytes of ranges`) };
      const seg = new DataView(readChain(ram, chain.readable, HEADER_SIZE, RANGE_SEGMENT).buffer);
      const start = seg.getUint32(4, true) * 0x1_0000_0000 + seg.getUint32(0, true);
      const count = seg.getUint32(8, true);
      const flags = seg.getUint32(12, true);
      // §5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP.
      if (flags & ~(discard ? 0 : WRITE_ZEROES_FLAG_UNMAP)) {
        return { statusAddr, request: fail(BlkStatus.UNSUPP, `range flags 0x${flags.toString(16)}`) };
      }
      if (count > MAX_RANGE_SECTORS || start + count > disk.sectors) {
        return { statusAddr, request: fail(BlkStatus.IOERR, `range ${start}+${count} past end`) };
      }
      const op = discard ? 'discard' : 'write-zeroes';
      return { statusAddr, request: { op, offset: start * SECTOR, length: count * SECTOR } };
    }
    default:
      return { statusAddr, request: fail(BlkStatus.UNSUPP, `request type ${type}`) };
  }
}

/** Largest discard / write-zeroes range, in sectors (advertised in the config space). */
export const MAX_RANGE_SECTORS = 0x40_0000; // 2 GiB

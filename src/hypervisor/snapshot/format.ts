import type { StateCodec } from '../../core/state.js';

/**
 * The pvm save file, format version 2. All integers little-endian; every
 * section and every state inside one is written with the state codec of
 * src/core/state.ts.
 *
 *   offset  size  field
 *   0       8     magic "PVMSNAP\0"
 *   8       4     format version (2)
 *   12      4     header size (48)
 *   16      4     compression algorithm (1 = zlib deflate)
 *   20      4     checksum algorithm (1 = SHA-256, 2 = CRC-32)
 *   24      8     total file size in bytes, checksum included
 *   32      4     number of sections
 *   36      12    reserved, zero
 *   48      ...   sections: tag u32, section version u32, payload length u64, payload
 *   end-N   N     checksum of every byte before it (N = 32 for SHA-256, 4 for CRC-32)
 *
 * Sections (each at most once; META, CPU and RAM required):
 *   META  UTF-8 JSON: domain name, config and whatever the domain needs to rebuild itself
 *   CPU   list of per-hart states (src/cpu/snapshot.ts)
 *   RAM   see ram.ts: zero pages skipped, the others compressed in chunks
 *   DEVS  list of (name, state): the board's devices (src/machine/snapshot.ts), the run loop
 *         (`hypervisor`, src/hypervisor/domain-snapshot.ts), virtio transports (`virtio:SLOT:KIND`)
 *   PARA  the PVX state (src/hypervisor/pvx/pvx-domain.ts); empty in full mode
 *   DISK  the disks' device names, host paths and modes (their contents are not in the file)
 *
 * A list is a u32 count and its items; a name or path a u32-prefixed UTF-8 string.
 *
 * Older versions are refused with a message naming both versions; there is no
 * converter. Version 1 (pvm 0.1): JSON and float64 component states; version 2:
 * harts without Sstc (menvcfg.STCE, stimecmp).
 *
 * The file is written in full before it is renamed into place (host adapter),
 * and read in full, verified and decoded before anything is restored.
 */

export const SNAPSHOT_MAGIC = Uint8Array.from([0x50, 0x56, 0x4d, 0x53, 0x4e, 0x41, 0x50, 0x00]); // "PVMSNAP\0"
export const SNAPSHOT_VERSION = 3;
export const HEADER_SIZE = 48;
export const SECTION_HEADER_SIZE = 16;
export const PAGE_SIZE = 4096;

export const COMPRESSION = { deflate: 1 } as const;
export const CHECKSUM = { sha256: 1, crc32: 2 } as const;
export type CompressionName = keyof typeof COMPRESSION;
export type ChecksumName = keyof typeof CHECKSUM;

const fourcc = (s: string): number =>
  (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;

export const SECTION = {
  meta: fourcc('META'),
  cpu: fourcc('CPU '),
  ram: fourcc('RAM '),
  devices: fourcc('DEVS'),
  para: fourcc('PARA'),
  disks: fourcc('DISK'),
} as const;

export const sectionName = (tag: number): string =>
  String.fromCharCode(tag & 0xff, (tag >>> 8) & 0xff, (tag >>> 16) & 0xff, tag >>> 24);

/** One disk of the domain: the file stays where it is; the snapshot records the path. */
export interface SnapshotDisk {
  readonly device: string;
  readonly path: string;
  readonly readOnly: boolean;
}

export const snapshotDisksCodec: StateCodec<readonly SnapshotDisk[]> = {
  write(w, disks) {
    w.list(disks, (w, d) => w.string(d.device).string(d.path).bool(d.readOnly));
  },
  read(r) {
    return r.list('disks', 26, 9, (r) => ({
      device: r.string('disk device', 64),
      path: r.string('disk path', 4096),
      readOnly: r.bool('disk read-only'),
    }));
  },
};

/** Everything a save file holds, decoded. */
export interface DomainSnapshot {
  /** Domain name, config, and any JSON-able facts needed to rebuild the domain. */
  readonly meta: { readonly name: string; readonly [key: string]: unknown };
  /** Per-hart CPU state, as the CPU's own serializer wrote it. */
  readonly harts: readonly Uint8Array[];
  /** Guest RAM: base guest-physical address and every byte. */
  readonly ram: { readonly base: number; readonly bytes: Uint8Array };
  /** Device state blobs by device name (board and virtio devices). */
  readonly devices: readonly { readonly name: string; readonly state: Uint8Array }[];
  /** Para-API state blob. */
  readonly para: Uint8Array;
  readonly disks: readonly SnapshotDisk[];
}

/** Compression used for RAM chunks; Node's zlib in src/host/snapshot-file.ts. */
export interface Compressor {
  readonly name: CompressionName;
  compress(data: Uint8Array): Uint8Array;
  /** Must refuse (throw) output longer than `rawLength`: a hostile file cannot balloon. */
  decompress(data: Uint8Array, rawLength: number): Uint8Array;
}

export interface HashState {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** Checksum of the file; SHA-256 from node:crypto on the host, CRC-32 here. */
export interface Hasher {
  readonly name: ChecksumName;
  readonly size: number;
  create(): HashState;
}

export interface SnapshotCodecs {
  readonly compressor: Compressor;
  readonly hasher: Hasher;
}

/** Progress of a save or restore, in bytes of guest RAM processed. */
export interface SnapshotProgress {
  readonly phase: 'ram';
  readonly done: number;
  readonly total: number;
}

/** The machine part of a snapshot: what the hypervisor captures (the control plane adds meta and disks). */
export type MachineState = Pick<DomainSnapshot, 'harts' | 'ram' | 'devices' | 'para'>;

/**
 * What a running domain implements to be saved and restored. The daemon's
 * domain manager uses it as soon as the hypervisor's Domain provides it.
 */
export interface Snapshottable {
  /** Called only while the run loop is parked between rounds (every hart at an instruction boundary). */
  saveState(): MachineState;
  /**
   * Loads state into a freshly built domain of the same config that has not run yet.
   * Throws PvmError('image') when the state does not fit (other hart count, RAM size, devices).
   */
  loadState(state: MachineState): void;
}

export const isSnapshottable = (x: unknown): x is Snapshottable =>
  typeof (x as Partial<Snapshottable> | null)?.saveState === 'function' &&
  typeof (x as Partial<Snapshottable> | null)?.loadState === 'function';

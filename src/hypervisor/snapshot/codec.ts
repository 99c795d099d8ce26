import { SnapshotError, StateReader, StateWriter } from '../../core/state.js';
import { utf8Decode, utf8Encode } from '../../core/utf8.js';
import {
  CHECKSUM,
  COMPRESSION,
  type DomainSnapshot,
  HEADER_SIZE,
  SECTION,
  SECTION_HEADER_SIZE,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  type SnapshotCodecs,
  type SnapshotProgress,
  sectionName,
  snapshotDisksCodec,
} from './format.js';
import { DEFAULT_CHUNK_PAGES, decodeRam, encodeRam, MAX_RAM_BYTES } from './ram.js';

const SECTION_VERSION = 1;

/**
 * Encodes a snapshot. A generator: it yields progress while compressing RAM
 * (so a host adapter can report it and let its event loop breathe) and
 * returns the file as a list of byte chunks to write in order.
 */
export function* encodeSnapshot(
  snap: DomainSnapshot,
  codecs: SnapshotCodecs,
  options: { chunkPages?: number } = {},
): Generator<SnapshotProgress, Uint8Array[], void> {
  const sections: [number, Uint8Array][] = [];
  sections.push([SECTION.meta, utf8Encode(JSON.stringify(snap.meta))]);
  sections.push([SECTION.cpu, new StateWriter().list(snap.harts, (w, h) => w.bytes(h)).finish()]);
  const ram = yield* encodeRam(snap.ram, codecs.compressor, options.chunkPages ?? DEFAULT_CHUNK_PAGES);
  sections.push([SECTION.ram, ram]);
  const devs = new StateWriter().list(snap.devices, (w, d) => w.string(d.name).bytes(d.state));
  sections.push([SECTION.devices, devs.finish()]);
  sections.push([SECTION.para, snap.para]);
  const disks = new StateWriter();
  snapshotDisksCodec.write(disks, snap.disks);
  sections.push([SECTION.disks, disks.finish()]);

  const parts: Uint8Array[] = [];
  let total = HEADER_SIZE + codecs.hasher.size;
  for (const [tag, payload] of sections) {
    parts.push(new StateWriter().u32(tag).u32(SECTION_VERSION).uint(payload.length).finish(), payload);
    total += SECTION_HEADER_SIZE + payload.length;
  }
  const header = new StateWriter()
    .raw(SNAPSHOT_MAGIC)
    .u32(SNAPSHOT_VERSION)
    .u32(HEADER_SIZE)
    .u32(COMPRESSION[codecs.compressor.name])
    .u32(CHECKSUM[codecs.hasher.name])
    .uint(total)
    .u32(sections.length)
    .raw(new Uint8Array(RESERVED))
    .finish();
  const hash = codecs.hasher.create();
  hash.update(header);
  for (const p of parts) hash.update(p);
  return [header, ...parts, hash.digest()];
}

/** The header fields, after the checks that need no checksum. */
export interface SnapshotHeader {
  readonly version: number;
  readonly totalSize: number;
  readonly sectionCount: number;
  readonly compression: number;
  readonly checksum: number;
}

/**
 * Checks a whole file's framing: size, magic, version, header, declared
 * length against the actual one, then the checksum. Throws SnapshotError.
 */
export function verifySnapshot(file: Uint8Array, codecs: SnapshotCodecs): SnapshotHeader {
  if (file.length < HEADER_SIZE) {
    throw new SnapshotError(
      'too-small',
      `not a pvm snapshot: ${file.length} bytes, smaller than the ${HEADER_SIZE}-byte header`,
    );
  }
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) {
    if (file[i] !== SNAPSHOT_MAGIC[i]) throw new SnapshotError('bad-magic', 'not a pvm snapshot (bad magic number)');
  }
  const r = new StateReader(file.subarray(0, HEADER_SIZE), 'the snapshot header', 'bad-header');
  r.raw(SNAPSHOT_MAGIC.length, 'magic');
  const version = r.u32('format version');
  if (version !== SNAPSHOT_VERSION) throw versionError(version);
  const headerSize = r.u32('header size');
  const compression = r.u32('compression');
  const checksum = r.u32('checksum');
  const totalSize = r.uint('total size');
  const sectionCount = r.u32('section count');
  if (r.raw(RESERVED, 'reserved').some((b) => b !== 0)) {
    throw new SnapshotError('bad-header', 'snapshot header: reserved bytes are not zero');
  }
  if (headerSize !== HEADER_SIZE) {
    throw new SnapshotError('bad-header', `snapshot header: size ${headerSize}, expected ${HEADER_SIZE}`);
  }
  if (compression !== COMPRESSION[codecs.compressor.name]) {
    throw new SnapshotError('unsupported', `snapshot uses compression algorithm ${compression}, not available here`);
  }
  if (checksum !== CHECKSUM[codecs.hasher.name]) {
    throw new SnapshotError('unsupported', `snapshot uses checksum algorithm ${checksum}, not available here`);
  }
  if (totalSize < HEADER_SIZE + codecs.hasher.size) {
    throw new SnapshotError('bad-header', `snapshot header: total size ${totalSize} is smaller than the framing`);
  }
  if (file.length < totalSize) {
    throw new SnapshotError('truncated', `snapshot is truncated: ${file.length} of ${totalSize} bytes`);
  }
  if (file.length > totalSize) {
    throw new SnapshotError(
      'bad-size',
      `snapshot has ${file.length - totalSize} unexpected bytes after its end (${totalSize} bytes)`,
    );
  }
  const bodyEnd = totalSize - codecs.hasher.size;
  const hash = codecs.hasher.create();
  hash.update(file.subarray(0, bodyEnd));
  const want = hash.digest();
  const got = file.subarray(bodyEnd);
  if (want.length !== got.length || want.some((b, i) => b !== got[i])) {
    throw new SnapshotError('bad-checksum', 'snapshot checksum does not match: the file is corrupted');
  }
  return { version, totalSize, sectionCount, compression, checksum };
}

/** The header's reserved bytes (36..47). */
const RESERVED = 12;

/** A file of another format version: older ones are refused, not converted (docs/control-plane.md). */
function versionError(version: number): SnapshotError {
  const which =
    version < SNAPSHOT_VERSION
      ? `was written by an older pvm; this pvm reads version ${SNAPSHOT_VERSION} only (restore it with the pvm that saved it)`
      : `is newer than this pvm, which reads version ${SNAPSHOT_VERSION}`;
  return new SnapshotError('bad-version', `snapshot format version ${version} ${which}`);
}

function parseMeta(b: Uint8Array): DomainSnapshot['meta'] {
  const text = utf8Decode(b);
  let meta: unknown;
  try {
    meta = text === null ? undefined : JSON.parse(text);
  } catch {
    meta = undefined;
  }
  if (text === null || meta === undefined) throw new SnapshotError('bad-section', 'META section: not valid JSON');
  if (typeof meta !== 'object' || meta === null || typeof (meta as { name?: unknown }).name !== 'string') {
    throw new SnapshotError('bad-section', 'META section: expected an object with a name');
  }
  return meta as DomainSnapshot['meta'];
}

const sectionReader = (b: Uint8Array, what: string) => new StateReader(b, what, 'bad-section');

/** Bounds on the counts a file may declare (far above what a domain has: 8 harts, a dozen devices). */
const MAX_HARTS = 1024;
const MAX_DEVICES = 1024;

/**
 * Decodes a whole file into a fresh DomainSnapshot. Pure: it reads `file`
 * and allocates new objects, so a refused file leaves nothing behind.
 */
export function* decodeSnapshot(
  file: Uint8Array,
  codecs: SnapshotCodecs,
  options: { maxRamBytes?: number } = {},
): Generator<SnapshotProgress, DomainSnapshot, void> {
  const header = verifySnapshot(file, codecs);
  const body = sectionReader(file.subarray(HEADER_SIZE, header.totalSize - codecs.hasher.size), 'the section table');
  const found = new Map<number, Uint8Array>();
  for (let i = 0; i < header.sectionCount; i++) {
    const tag = body.u32('section tag');
    const version = body.u32('section version');
    const length = body.uint('section length');
    const name = sectionName(tag);
    if (!Object.values(SECTION).includes(tag as never)) {
      throw new SnapshotError('bad-section', `unknown section ${JSON.stringify(name)}`);
    }
    if (version !== SECTION_VERSION) {
      throw new SnapshotError('bad-section', `section ${name} has version ${version}, expected ${SECTION_VERSION}`);
    }
    if (found.has(tag)) throw new SnapshotError('bad-section', `section ${name} appears twice`);
    found.set(tag, body.raw(length, `section ${name}`));
  }
  body.end();
  for (const tag of [SECTION.meta, SECTION.cpu, SECTION.ram]) {
    if (!found.has(tag)) throw new SnapshotError('bad-section', `required section ${sectionName(tag)} is missing`);
  }
  const meta = parseMeta(found.get(SECTION.meta)!);
  const cpu = sectionReader(found.get(SECTION.cpu)!, 'CPU section');
  const harts = cpu.list('harts', MAX_HARTS, 4, (r, i) => r.bytes(`hart ${i}`).slice());
  cpu.end();
  const ram = yield* decodeRam(found.get(SECTION.ram)!, codecs.compressor, options.maxRamBytes ?? MAX_RAM_BYTES);
  const devices: { name: string; state: Uint8Array }[] = [];
  const devBytes = found.get(SECTION.devices);
  if (devBytes) {
    const d = sectionReader(devBytes, 'DEVS section');
    devices.push(
      ...d.list('devices', MAX_DEVICES, 8, (r) => ({
        name: r.string('device name', 256),
        state: r.bytes('device state').slice(),
      })),
    );
    d.end();
  }
  const para = found.get(SECTION.para)?.slice() ?? new Uint8Array(0);
  const disksBytes = found.get(SECTION.disks);
  let disks: DomainSnapshot['disks'] = [];
  if (disksBytes) {
    const d = sectionReader(disksBytes, 'DISK section');
    disks = snapshotDisksCodec.read(d);
    d.end();
  }
  return { meta, harts, ram, devices, para, disks };
}

/** Runs a snapshot generator to completion, reporting progress to `onProgress`. */
export function drain<T>(gen: Generator<SnapshotProgress, T, void>, onProgress?: (p: SnapshotProgress) => void): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    onProgress?.(r.value);
  }
}

/** The file as one byte array (for tests and small domains). */
export function encodeSnapshotBytes(snap: DomainSnapshot, codecs: SnapshotCodecs): Uint8Array {
  const parts = drain(encodeSnapshot(snap, codecs));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function decodeSnapshotBytes(file: Uint8Array, codecs: SnapshotCodecs): DomainSnapshot {
  return drain(decodeSnapshot(file, codecs));
}

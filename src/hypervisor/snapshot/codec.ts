import { ByteReader, ByteWriter, utf8Decode, utf8Encode } from './bytes.js';
import { SnapshotError } from './errors.js';
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
  type SnapshotDisk,
  type SnapshotProgress,
  sectionName,
} from './format.js';
import { DEFAULT_CHUNK_PAGES, decodeRam, encodeRam, MAX_RAM_BYTES } from './ram.js';

const SECTION_VERSION = 1;

function json(value: unknown): Uint8Array {
  return utf8Encode(JSON.stringify(value));
}

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
  sections.push([SECTION.meta, json(snap.meta)]);
  const cpu = new ByteWriter().u32(snap.harts.length);
  for (const h of snap.harts) cpu.blob(h);
  sections.push([SECTION.cpu, cpu.finish()]);
  const ram = yield* encodeRam(snap.ram, codecs.compressor, options.chunkPages ?? DEFAULT_CHUNK_PAGES);
  sections.push([SECTION.ram, ram]);
  const devs = new ByteWriter().u32(snap.devices.length);
  for (const d of snap.devices) devs.blob(utf8Encode(d.name)).blob(d.state);
  sections.push([SECTION.devices, devs.finish()]);
  sections.push([SECTION.para, snap.para]);
  sections.push([SECTION.disks, json(snap.disks)]);

  const parts: Uint8Array[] = [];
  let total = HEADER_SIZE + codecs.hasher.size;
  for (const [tag, payload] of sections) {
    parts.push(new ByteWriter().u32(tag).u32(SECTION_VERSION).u64(payload.length).finish(), payload);
    total += SECTION_HEADER_SIZE + payload.length;
  }
  const header = new ByteWriter()
    .bytes(SNAPSHOT_MAGIC)
    .u32(SNAPSHOT_VERSION)
    .u32(HEADER_SIZE)
    .u32(COMPRESSION[codecs.compressor.name])
    .u32(CHECKSUM[codecs.hasher.name])
    .u64(total)
    .u32(sections.length)
    .bytes(new Uint8Array(12))
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
  const r = new ByteReader(file.subarray(0, HEADER_SIZE), 'header');
  r.bytes(SNAPSHOT_MAGIC.length);
  const version = r.u32();
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(
      'bad-version',
      `snapshot format version ${version} is not supported (this pvm reads version ${SNAPSHOT_VERSION})`,
    );
  }
  const headerSize = r.u32();
  const compression = r.u32();
  const checksum = r.u32();
  let totalSize: number;
  try {
    totalSize = r.u64();
  } catch {
    throw new SnapshotError('bad-header', 'snapshot header: total size field is out of range');
  }
  const sectionCount = r.u32();
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

function parseJson(b: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(utf8Decode(b, what));
  } catch (e) {
    if (e instanceof SnapshotError) throw e;
    throw new SnapshotError('bad-section', `${what}: not valid JSON`);
  }
}

function parseDisks(v: unknown): SnapshotDisk[] {
  const ok =
    Array.isArray(v) &&
    v.every(
      (d) =>
        typeof d === 'object' &&
        d !== null &&
        typeof d.device === 'string' &&
        typeof d.path === 'string' &&
        typeof d.readOnly === 'boolean',
    );
  if (!ok) throw new SnapshotError('bad-section', 'DISK section: expected a list of {device, path, readOnly}');
  return (v as SnapshotDisk[]).map((d) => ({ device: d.device, path: d.path, readOnly: d.readOnly }));
}

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
  const body = new ByteReader(file.subarray(HEADER_SIZE, header.totalSize - codecs.hasher.size), 'sections');
  const found = new Map<number, Uint8Array>();
  for (let i = 0; i < header.sectionCount; i++) {
    const tag = body.u32();
    const version = body.u32();
    const length = body.u64();
    const name = sectionName(tag);
    if (!Object.values(SECTION).includes(tag as never)) {
      throw new SnapshotError('bad-section', `unknown section ${JSON.stringify(name)}`);
    }
    if (version !== SECTION_VERSION) {
      throw new SnapshotError('bad-section', `section ${name} has version ${version}, expected ${SECTION_VERSION}`);
    }
    if (found.has(tag)) throw new SnapshotError('bad-section', `section ${name} appears twice`);
    found.set(tag, body.bytes(length));
  }
  body.end();
  for (const tag of [SECTION.meta, SECTION.cpu, SECTION.ram]) {
    if (!found.has(tag)) throw new SnapshotError('bad-section', `required section ${sectionName(tag)} is missing`);
  }
  const meta = parseJson(found.get(SECTION.meta)!, 'META section');
  if (typeof meta !== 'object' || meta === null || typeof (meta as { name?: unknown }).name !== 'string') {
    throw new SnapshotError('bad-section', 'META section: expected an object with a name');
  }
  const cpu = new ByteReader(found.get(SECTION.cpu)!, 'CPU section');
  const harts: Uint8Array[] = [];
  for (let n = cpu.u32(), i = 0; i < n; i++) harts.push(cpu.blob().slice());
  cpu.end();
  const ram = yield* decodeRam(found.get(SECTION.ram)!, codecs.compressor, options.maxRamBytes ?? MAX_RAM_BYTES);
  const devices: { name: string; state: Uint8Array }[] = [];
  const devBytes = found.get(SECTION.devices);
  if (devBytes) {
    const d = new ByteReader(devBytes, 'DEVS section');
    for (let n = d.u32(), i = 0; i < n; i++) {
      devices.push({ name: utf8Decode(d.blob(), 'DEVS section'), state: d.blob().slice() });
    }
    d.end();
  }
  const para = found.get(SECTION.para)?.slice() ?? new Uint8Array(0);
  const disksBytes = found.get(SECTION.disks);
  const disks = disksBytes ? parseDisks(parseJson(disksBytes, 'DISK section')) : [];
  return { meta: meta as DomainSnapshot['meta'], harts, ram, devices, para, disks };
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

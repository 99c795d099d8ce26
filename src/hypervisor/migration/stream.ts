/**
 * The live-migration stream (docs/migration.md): the messages two pvm daemons exchange to move a
 * running domain. Each message is one WebSocket binary message: a type byte, then its body.
 * Pure: encoding and decoding touch no I/O, and the decoder refuses anything malformed with a
 * MigrationStreamError naming what is wrong (it is input from the network).
 *
 *   type  name     from         body
 *   1     HELLO    source       UTF-8 JSON Hello (protocol, versions, domain config, RAM, disks)
 *   2     ACCEPT   destination  empty: the destination will take the domain; pre-copy may start
 *   3     PAGES    source       u32 round, u32 count, count x (u32 page number, u8 kind, [4096 bytes])
 *                               kind 0 = the page is all zero, 1 = its bytes follow
 *   4     STATE    source       a pvm snapshot (src/hypervisor/snapshot, format version
 *                               SNAPSHOT_VERSION) of the stopped domain: CPU, board, run loop,
 *                               PVX and virtio state; its RAM section holds one zero page, RAM
 *                               came as PAGES
 *   5     LOADED   destination  empty: the domain is built and loaded, paused
 *   6     GO       source       empty: the source has let go; the destination resumes
 *   7     RESUMED  destination  empty: the domain runs on the destination
 *   8     ERROR    either       UTF-8 JSON { code, message }: the sender gives up
 *   9     SYNC     source       empty: answer SYNCED once everything sent before is applied
 *   10    SYNCED   destination  empty: every PAGES before the SYNC is in the domain's RAM
 *
 * Integers are little-endian.
 */

import { utf8Decode, utf8Encode } from '../../core/utf8.js';

/** 2: SYNC and SYNCED before stop-and-copy. */
export const MIGRATION_PROTOCOL = 2;
/** The WebSocket subprotocol both ends ask for. */
export const MIGRATION_SUBPROTOCOL = 'pvm-migrate.1';
export const MIGRATION_PAGE_SIZE = 4096;
/** Pages in one PAGES message at most (about 1 MiB). */
export const MAX_PAGES_PER_MESSAGE = 256;
/** Largest message either side accepts: a full PAGES message, or a STATE snapshot. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest HELLO or ERROR body. */
const MAX_JSON_BYTES = 1024 * 1024;

export const MSG = {
  hello: 1,
  accept: 2,
  pages: 3,
  state: 4,
  loaded: 5,
  go: 6,
  resumed: 7,
  error: 8,
  sync: 9,
  synced: 10,
} as const;
export type MessageType = (typeof MSG)[keyof typeof MSG];
const NAMES = ['', 'HELLO', 'ACCEPT', 'PAGES', 'STATE', 'LOADED', 'GO', 'RESUMED', 'ERROR', 'SYNC', 'SYNCED'];
export const messageName = (t: number): string => NAMES[t] ?? `type ${t}`;

export interface HelloDisk {
  /** The image's path: the same on both daemons (shared storage). */
  readonly path: string;
  readonly size: number;
  /** The file's inode number: the same file on shared storage has the same one on every client. */
  readonly ino: number;
  readonly readOnly: boolean;
}

export interface Hello {
  readonly protocol: number;
  /** The snapshot format version the STATE message uses. */
  readonly snapshotVersion: number;
  /** The source's pvm version (for messages). */
  readonly pvm: string;
  readonly name: string;
  /** The domain's spec in its document form (as save files carry it). */
  readonly config: Record<string, unknown>;
  readonly ramBase: number;
  readonly ramBytes: number;
  readonly disks: readonly HelloDisk[];
  /** PV mode: the PVX domain id the guest has (the destination gives it the same one when free). */
  readonly pvxDomid?: number;
}

export interface PageRecord {
  readonly page: number;
  /** Null: the page is all zero. */
  readonly data: Uint8Array | null;
}

/** A checked PAGES message: `count` records in `records` (the message's bytes, not a copy). */
export interface PagesMessage {
  readonly type: typeof MSG.pages;
  readonly round: number;
  readonly count: number;
  readonly records: Uint8Array;
}

export type MigrationMessage =
  | { readonly type: typeof MSG.hello; readonly hello: Hello }
  | { readonly type: typeof MSG.accept }
  | PagesMessage
  | { readonly type: typeof MSG.state; readonly snapshot: Uint8Array }
  | { readonly type: typeof MSG.loaded }
  | { readonly type: typeof MSG.go }
  | { readonly type: typeof MSG.resumed }
  | { readonly type: typeof MSG.sync }
  | { readonly type: typeof MSG.synced }
  | { readonly type: typeof MSG.error; readonly code: string; readonly message: string };

/** The messages without a body. */
type EmptyType =
  | typeof MSG.accept
  | typeof MSG.loaded
  | typeof MSG.go
  | typeof MSG.resumed
  | typeof MSG.sync
  | typeof MSG.synced;

export class MigrationStreamError extends Error {
  override readonly name = 'MigrationStreamError';
}

const fail = (why: string): never => {
  throw new MigrationStreamError(why);
};

function jsonMessage(type: number, value: unknown): Uint8Array {
  const body = utf8Encode(JSON.stringify(value));
  const out = new Uint8Array(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
}

export const encodeHello = (h: Hello): Uint8Array => jsonMessage(MSG.hello, h);
export const encodeError = (code: string, message: string): Uint8Array => jsonMessage(MSG.error, { code, message });
export const encodeEmpty = (type: EmptyType) => Uint8Array.of(type);

export function encodeState(snapshot: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + snapshot.length);
  out[0] = MSG.state;
  out.set(snapshot, 1);
  return out;
}

/** True when the 4 KiB page at `off` of `ram` is all zero (read as 32-bit words). */
export function isZeroPage(words: Int32Array, off: number): boolean {
  const end = (off + MIGRATION_PAGE_SIZE) >> 2;
  for (let i = off >> 2; i < end; i++) if (words[i] !== 0) return false;
  return true;
}

/** The largest PAGES message: its header and MAX_PAGES_PER_MESSAGE pages with their bytes. */
export const MAX_PAGES_MESSAGE_BYTES = 9 + MAX_PAGES_PER_MESSAGE * (5 + MIGRATION_PAGE_SIZE);

/**
 * Writes into `out` a PAGES message with the pages `list[from..to)` of `ram` (page numbers,
 * offsets from RAM's start); zero pages are sent as a kind byte only. Returns its length. `out`
 * must hold 9 + (to - from) * 4101 bytes (MAX_PAGES_MESSAGE_BYTES for a full message): the sender
 * reuses a few such buffers instead of allocating a megabyte per message.
 */
export function encodePagesInto(
  out: Uint8Array,
  ram: Uint8Array,
  round: number,
  list: ArrayLike<number>,
  from: number,
  to: number,
): number {
  if (out.length < 9 + (to - from) * (5 + MIGRATION_PAGE_SIZE)) throw new RangeError('PAGES: buffer too small');
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length >> 2);
  const dv = new DataView(out.buffer, out.byteOffset, out.length);
  out[0] = MSG.pages;
  dv.setUint32(1, round, true);
  dv.setUint32(5, to - from, true);
  let o = 9;
  for (let i = from; i < to; i++) {
    const page = list[i]!;
    const at = page * MIGRATION_PAGE_SIZE;
    dv.setUint32(o, page, true);
    if (isZeroPage(words, at)) {
      out[o + 4] = 0;
      o += 5;
    } else {
      out[o + 4] = 1;
      out.set(ram.subarray(at, at + MIGRATION_PAGE_SIZE), o + 5);
      o += 5 + MIGRATION_PAGE_SIZE;
    }
  }
  return o;
}

/** encodePagesInto, into a new array of the message's size. */
export function encodePages(
  ram: Uint8Array,
  round: number,
  list: ArrayLike<number>,
  from: number,
  to: number,
): Uint8Array {
  const out = new Uint8Array(9 + (to - from) * (5 + MIGRATION_PAGE_SIZE));
  return out.subarray(0, encodePagesInto(out, ram, round, list, from, to));
}

/**
 * Copies the pages of a decoded PAGES message into `ram`, straight from the message's bytes (no
 * copy of the message, no list of records). A zero page is cleared only when it is not zero
 * already, as QEMU does: the destination's RAM starts zero, and writing zeros into it would make
 * the host back (and fault in) every untouched page of the guest. The decoder checked every
 * record, so this cannot fail for a `ram` of the `ramPages` the message was decoded against.
 */
export function writePages(m: PagesMessage, ram: Uint8Array): void {
  const r = m.records;
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length >> 2);
  let o = 0;
  for (let i = 0; i < m.count; i++) {
    const at = (r[o]! | (r[o + 1]! << 8) | (r[o + 2]! << 16) | (r[o + 3]! << 24)) >>> 0;
    const off = at * MIGRATION_PAGE_SIZE;
    if (r[o + 4] === 0) {
      if (!isZeroPage(words, off)) ram.fill(0, off, off + MIGRATION_PAGE_SIZE);
      o += 5;
    } else {
      ram.set(r.subarray(o + 5, o + 5 + MIGRATION_PAGE_SIZE), off);
      o += 5 + MIGRATION_PAGE_SIZE;
    }
  }
}

/** The records of a decoded PAGES message as a list (tests and diagnostics; the receiver uses writePages). */
export function pageRecords(m: PagesMessage): PageRecord[] {
  const out: PageRecord[] = [];
  const dv = new DataView(m.records.buffer, m.records.byteOffset, m.records.length);
  let o = 0;
  for (let i = 0; i < m.count; i++) {
    const page = dv.getUint32(o, true);
    if (m.records[o + 4] === 0) {
      out.push({ page, data: null });
      o += 5;
    } else {
      out.push({ page, data: m.records.subarray(o + 5, o + 5 + MIGRATION_PAGE_SIZE) });
      o += 5 + MIGRATION_PAGE_SIZE;
    }
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseJson(body: Uint8Array, what: string): Record<string, unknown> {
  if (body.length > MAX_JSON_BYTES) fail(`${what}: ${body.length} bytes, more than ${MAX_JSON_BYTES}`);
  const text = utf8Decode(body);
  let v: unknown;
  try {
    v = text === null ? undefined : JSON.parse(text);
  } catch {
    v = undefined;
  }
  if (v === undefined) fail(`${what}: not UTF-8 JSON`);
  if (!isRecord(v)) fail(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

function parseHello(body: Uint8Array): Hello {
  const h = parseJson(body, 'HELLO');
  const field = (k: string, ok: (v: unknown) => boolean, what: string): unknown => {
    if (!ok(h[k])) fail(`HELLO: ${k} must be ${what}`);
    return h[k];
  };
  const protocol = field('protocol', isCount, 'a non-negative integer') as number;
  const snapshotVersion = field('snapshotVersion', isCount, 'a non-negative integer') as number;
  const pvm = field('pvm', (v) => typeof v === 'string' && v.length <= 64, 'a version string') as string;
  const name = field('name', (v) => typeof v === 'string' && v.length <= 256, 'a string') as string;
  const config = field('config', isRecord, 'an object') as Record<string, unknown>;
  const ramBase = field('ramBase', isCount, 'a non-negative integer') as number;
  const ramBytes = field('ramBytes', isCount, 'a non-negative integer') as number;
  const list = field('disks', (v) => Array.isArray(v) && v.length <= 64, 'a list of at most 64 disks') as unknown[];
  const disks = list.map((d, i): HelloDisk => {
    if (
      !isRecord(d) ||
      typeof d.path !== 'string' ||
      d.path.length === 0 ||
      d.path.length > 4096 ||
      !isCount(d.size) ||
      !isCount(d.ino) ||
      typeof d.readOnly !== 'boolean'
    ) {
      return fail(`HELLO: disk ${i} must be { path, size, ino, readOnly }`);
    }
    return { path: d.path, size: d.size, ino: d.ino, readOnly: d.readOnly };
  });
  const pvxDomid = h.pvxDomid;
  if (pvxDomid !== undefined && !(isCount(pvxDomid) && pvxDomid < 0x10000)) fail('HELLO: pvxDomid must be a domain id');
  return {
    protocol,
    snapshotVersion,
    pvm,
    name,
    config,
    ramBase,
    ramBytes,
    disks,
    ...(pvxDomid !== undefined ? { pvxDomid: pvxDomid as number } : {}),
  };
}

/**
 * Decodes one message. `ramPages` bounds the page numbers of PAGES (the RAM the HELLO
 * announced; 0 before it). Throws MigrationStreamError; never returns a partial message.
 */
export function decodeMessage(bytes: Uint8Array, ramPages: number): MigrationMessage {
  if (bytes.length === 0) fail('empty message');
  if (bytes.length > MAX_MESSAGE_BYTES) fail(`message of ${bytes.length} bytes, more than ${MAX_MESSAGE_BYTES}`);
  const type = bytes[0]!;
  const body = bytes.subarray(1);
  const empty = (t: EmptyType) => {
    if (body.length !== 0) fail(`${messageName(t)}: ${body.length} unexpected bytes`);
    return { type: t };
  };
  switch (type) {
    case MSG.hello:
      return { type, hello: parseHello(body) };
    case MSG.accept:
    case MSG.loaded:
    case MSG.go:
    case MSG.resumed:
    case MSG.sync:
    case MSG.synced:
      return empty(type);
    case MSG.state:
      if (body.length === 0) fail('STATE: no snapshot');
      return { type, snapshot: body };
    case MSG.error: {
      const e = parseJson(body, 'ERROR');
      const code = typeof e.code === 'string' ? e.code.slice(0, 64) : 'error';
      const message = typeof e.message === 'string' ? e.message.slice(0, 4096) : 'no message';
      return { type, code, message };
    }
    case MSG.pages: {
      if (body.length < 8) fail(`PAGES: ${body.length} bytes, shorter than its 8-byte header`);
      const dv = new DataView(body.buffer, body.byteOffset, body.length);
      const round = dv.getUint32(0, true);
      const count = dv.getUint32(4, true);
      if (count > MAX_PAGES_PER_MESSAGE) fail(`PAGES: ${count} pages, more than ${MAX_PAGES_PER_MESSAGE}`);
      let o = 8;
      for (let i = 0; i < count; i++) {
        if (o + 5 > body.length) fail(`PAGES: truncated at page record ${i} of ${count}`);
        const page = dv.getUint32(o, true);
        const kind = body[o + 4]!;
        if (page >= ramPages) fail(`PAGES: page ${page} is beyond the end of RAM (${ramPages} pages)`);
        o += 5;
        if (kind === 1) {
          if (o + MIGRATION_PAGE_SIZE > body.length) fail(`PAGES: truncated in the bytes of page ${page}`);
          o += MIGRATION_PAGE_SIZE;
        } else if (kind !== 0) fail(`PAGES: page ${page} has unknown kind ${kind}`);
      }
      if (o !== body.length) fail(`PAGES: ${body.length - o} unexpected bytes after ${count} pages`);
      // Checked without copying: writePages reads the records from the message itself.
      return { type, round, count, records: body.subarray(8) };
    }
    default:
      return fail(`unknown message type ${type}`);
  }
}

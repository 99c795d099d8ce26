import { createHash } from 'node:crypto';
import { lstat, open, rename, rm } from 'node:fs/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import { ApiError } from '../api/errors.js';
import { PvmError } from '../core/errors.js';
import {
  type Compressor,
  type DomainSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  type Hasher,
  isSnapshotError,
  SNAPSHOT_MAGIC,
  type SnapshotCodecs,
  SnapshotError,
  type SnapshotProgress,
} from '../hypervisor/snapshot/index.js';
import { MAX_RAM_BYTES } from '../memory/ram.js';
import { HostFiles, openRegularFile, readAll } from './host-files.js';

/** zlib deflate; inflation is capped at the length the file announces. */
export const zlibCompressor: Compressor = {
  name: 'deflate',
  compress: (data) => deflateSync(data, { level: constants.Z_BEST_SPEED }),
  decompress: (data, rawLength) => inflateSync(data, { maxOutputLength: Math.max(1, rawLength) }),
};

export const sha256Hasher: Hasher = {
  name: 'sha256',
  size: 32,
  create() {
    const h = createHash('sha256');
    return {
      update: (data) => void h.update(data),
      digest: () => new Uint8Array(h.digest()),
    };
  },
};

export const nodeSnapshotCodecs: SnapshotCodecs = { compressor: zlibCompressor, hasher: sha256Hasher };

/** Runs a snapshot generator, giving the event loop a turn between steps. */
async function run<T>(gen: Generator<SnapshotProgress, T, void>, onProgress?: (p: SnapshotProgress) => void) {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    onProgress?.(r.value);
    await tick();
  }
}

const ioError = (what: string, path: string, e: unknown): PvmError => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code;
  return new PvmError('io', `cannot ${what} ${path}: ${why ?? String(e)}`, { cause: e });
};

/** The save file header (src/hypervisor/snapshot/format.ts). */
const SNAPSHOT_HEADER_BYTES = 48;

/** Largest save file read: the largest RAM plus room for the other sections. */
export const MAX_SNAPSHOT_FILE_BYTES = MAX_RAM_BYTES + 64 * 2 ** 20;

export interface SaveFileOptions {
  /** Where save files may be (default: any absolute path). */
  files?: HostFiles;
  /** Replace a regular file that is not a pvm save file (`pvm save --force`). */
  force?: boolean;
}

/** The first bytes of `path` (at most `n`) when it is a regular file; null when it is not one. */
async function head(path: string, n: number): Promise<Uint8Array | null> {
  let opened: Awaited<ReturnType<typeof openRegularFile>>;
  try {
    opened = await openRegularFile(path, 'file', {});
  } catch {
    return null;
  }
  try {
    return await readAll(opened.fh, Math.min(n, opened.size));
  } finally {
    await opened.fh.close();
  }
}

const isSaveFile = (b: Uint8Array): boolean =>
  b.length >= SNAPSHOT_MAGIC.length && SNAPSHOT_MAGIC.every((x, i) => b[i] === x);

/**
 * What `save` may replace at `path`: nothing, or a previous pvm save file; a regular file of
 * something else only with `force`; never a symlink, device, FIFO, socket or directory (it could
 * be the daemon's own socket, or a file a symlink points at).
 */
async function checkSaveTarget(path: string, force: boolean): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError('write snapshot', path, e);
  }
  const refuse = (what: string) =>
    new ApiError('bad-request', `cannot save to ${path}: it is ${what}; save never replaces one`);
  if (st.isSymbolicLink()) throw refuse('a symbolic link');
  if (st.isDirectory()) throw refuse('a directory');
  if (st.isSocket()) throw refuse('a socket');
  if (st.isFIFO()) throw refuse('a FIFO');
  if (!st.isFile()) throw refuse('a device or other special file');
  const b = await head(path, SNAPSHOT_MAGIC.length);
  if (b !== null && isSaveFile(b)) return; // a previous save: replaced
  if (!force) {
    throw new ApiError(
      'bad-request',
      `cannot save to ${path}: it exists and is not a pvm save file (pvm save --force replaces it)`,
    );
  }
}

/**
 * Writes a snapshot to `path` (mode 0600: it holds guest memory). The bytes go
 * to a temporary file beside it that is renamed into place once complete, so
 * a failed save never leaves a partial file under the final name. What is at
 * `path` already is replaced only when it is a previous save file (or any regular file
 * with `force`).
 */
export async function saveSnapshotFile(
  path: string,
  snap: DomainSnapshot,
  onProgress?: (p: SnapshotProgress) => void,
  codecs: SnapshotCodecs = nodeSnapshotCodecs,
  options: SaveFileOptions = {},
): Promise<{ bytes: number }> {
  const files = options.files ?? new HostFiles();
  files.check(path, 'save file', { mayCreate: true, write: true });
  await checkSaveTarget(path, options.force === true);
  const parts = await run(encodeSnapshot(snap, codecs), onProgress);
  const tmp = `${path}.partial-${process.pid}`;
  let bytes = 0;
  let created = false;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    created = true;
    try {
      for (const p of parts) {
        await fh.write(p);
        bytes += p.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await checkSaveTarget(path, options.force === true); // again: it may have changed meanwhile
    await rename(tmp, path);
  } catch (e) {
    if (created) await rm(tmp, { force: true }); // never another save's temporary file
    if (e instanceof PvmError) throw e;
    throw ioError('write snapshot', path, e);
  }
  return { bytes };
}

/**
 * Reads, verifies and decodes a snapshot file; throws SnapshotError or PvmError('io' | 'image').
 * The file must be a regular file (opened O_NONBLOCK: a FIFO is refused, never waited on) of at
 * most MAX_SNAPSHOT_FILE_BYTES, and its magic is checked before the rest is read.
 */
export async function loadSnapshotFile(
  path: string,
  onProgress?: (p: SnapshotProgress) => void,
  codecs: SnapshotCodecs = nodeSnapshotCodecs,
  options: Pick<SaveFileOptions, 'files'> = {},
): Promise<DomainSnapshot> {
  const files = options.files ?? new HostFiles();
  const { fh, size } = await files.openRegular(path, 'save file', { max: MAX_SNAPSHOT_FILE_BYTES });
  let file: Uint8Array;
  try {
    // A large file of something else is refused on its first bytes, not after reading it all (a
    // file shorter than a header is left to the decoder, which says so).
    const magic = await readAll(fh, Math.min(size, SNAPSHOT_MAGIC.length));
    if (size >= SNAPSHOT_HEADER_BYTES && !isSaveFile(magic)) {
      throw new SnapshotError('bad-magic', 'not a pvm snapshot (bad magic number)');
    }
    file = await readAll(fh, size);
  } catch (e) {
    if (e instanceof PvmError || isSnapshotError(e)) throw e;
    throw ioError('read snapshot', path, e);
  } finally {
    await fh.close();
  }
  return run(decodeSnapshot(file, codecs), onProgress);
}

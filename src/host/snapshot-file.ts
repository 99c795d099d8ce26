import { createHash } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import { PvmError } from '../core/errors.js';
import {
  type Compressor,
  type DomainSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  type Hasher,
  type SnapshotCodecs,
  type SnapshotProgress,
} from '../hypervisor/snapshot/index.js';

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

/**
 * Writes a snapshot to `path` (mode 0600: it holds guest memory). The bytes go
 * to a temporary file beside it that is renamed into place once complete, so
 * a failed save never leaves a partial file under the final name.
 */
export async function saveSnapshotFile(
  path: string,
  snap: DomainSnapshot,
  onProgress?: (p: SnapshotProgress) => void,
  codecs: SnapshotCodecs = nodeSnapshotCodecs,
): Promise<{ bytes: number }> {
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
    await rename(tmp, path);
  } catch (e) {
    if (created) await rm(tmp, { force: true }); // never another save's temporary file
    throw ioError('write snapshot', path, e);
  }
  return { bytes };
}

/** Reads, verifies and decodes a snapshot file; throws SnapshotError or PvmError('io'). */
export async function loadSnapshotFile(
  path: string,
  onProgress?: (p: SnapshotProgress) => void,
  codecs: SnapshotCodecs = nodeSnapshotCodecs,
): Promise<DomainSnapshot> {
  let file: Uint8Array;
  try {
    file = new Uint8Array(await readFile(path));
  } catch (e) {
    throw ioError('read snapshot', path, e);
  }
  return run(decodeSnapshot(file, codecs), onProgress);
}

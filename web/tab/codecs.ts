import { sha256 } from '@noble/hashes/sha2.js';
import { unzlibSync, zlibSync } from 'fflate';
import type { Compressor, Hasher, SnapshotCodecs } from '../../src/hypervisor/snapshot/index.js';

/**
 * The snapshot codecs of the Node host (zlib deflate, SHA-256: src/host/snapshot-file.ts) in
 * plain JavaScript, so a save file is the same bytes format in a tab and in the daemon.
 */
export const browserCompressor: Compressor = {
  name: 'deflate',
  compress: (data) => zlibSync(data, { level: 1 }),
  decompress: (data, rawLength) => {
    const out = unzlibSync(data, { out: new Uint8Array(Math.max(1, rawLength)) });
    if (out.length > rawLength) throw new Error('inflated data is longer than announced');
    return out;
  },
};

export const browserHasher: Hasher = {
  name: 'sha256',
  size: 32,
  create() {
    const h = sha256.create();
    return {
      update: (data) => void h.update(data),
      digest: () => h.digest(),
    };
  },
};

export const browserSnapshotCodecs: SnapshotCodecs = { compressor: browserCompressor, hasher: browserHasher };

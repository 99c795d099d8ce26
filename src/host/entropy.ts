/** The host's cryptographic RNG as a virtio-rng source. */
import { webcrypto } from 'node:crypto';
import type { EntropySource } from '../devices/virtio/rng/device.js';

/** getRandomValues fills at most 65536 bytes per call (Web Crypto). */
const MAX_CHUNK = 65536;

export const hostEntropy: EntropySource = {
  fill(buf: Uint8Array): void {
    for (let off = 0; off < buf.length; off += MAX_CHUNK) {
      webcrypto.getRandomValues(buf.subarray(off, Math.min(buf.length, off + MAX_CHUNK)));
    }
  },
};

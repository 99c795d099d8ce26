import type { Hasher, HashState } from './format.js';

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table-driven. */
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function crc32(data: Uint8Array, seed = 0): number {
  let c = ~seed;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** A Hasher for runtimes without SHA-256 at hand (the browser build); stored big-endian. */
export const crc32Hasher: Hasher = {
  name: 'crc32',
  size: 4,
  create(): HashState {
    let c = 0;
    return {
      update(data) {
        c = crc32(data, c);
      },
      digest() {
        return Uint8Array.from([c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff]);
      },
    };
  },
};

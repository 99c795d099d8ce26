/**
 * Snapshot words of a virtio-9p device: the session (negotiated, msize) and every fid
 * with its path, kind and open flags. Open host files are not saved: after a restore
 * each open fid opens its path again on first use (server.ts `restoreSession`).
 *
 * Words: [VERSION, negotiated, msize, nfids, then per fid: fid, kind, openFlags + 1,
 * names, then per name: length, ceil(length / 6) words of 6 bytes each].
 */
import { fidKindCode, fidKindOf, isPlainName, P9Limits, type P9SessionState } from './server.js';

export const P9_STATE_VERSION = 1;
const BYTES_PER_WORD = 6;

export function saveP9State(s: P9SessionState): number[] {
  const w = [P9_STATE_VERSION, s.negotiated ? 1 : 0, s.msize, s.fids.length];
  for (const f of s.fids) {
    w.push(f.fid, fidKindCode(f.kind), f.openFlags + 1, f.path.length);
    for (const name of f.path) {
      w.push(name.length);
      for (let i = 0; i < name.length; i += BYTES_PER_WORD) {
        let v = 0;
        for (let k = Math.min(name.length, i + BYTES_PER_WORD) - 1; k >= i; k--) v = v * 256 + name[k]!;
        w.push(v);
      }
    }
  }
  return w;
}

/** Decodes `saveP9State` output; an error message for anything that does not fit. */
export function loadP9State(words: readonly number[]): P9SessionState | string {
  let i = 0;
  const take = (): number => {
    if (i >= words.length) throw new Error('truncated');
    return words[i++]!;
  };
  try {
    if (take() !== P9_STATE_VERSION) return 'virtio-9p: state version';
    const negotiated = take() === 1;
    const msize = take();
    const n = take();
    if (n > P9Limits.MAX_FIDS * 16 || msize > P9Limits.MAX_MSIZE) return 'virtio-9p: state out of range';
    const fids: P9SessionState['fids'][number][] = [];
    for (let k = 0; k < n; k++) {
      const fid = take();
      const kind = fidKindOf(take());
      const openFlags = take() - 1;
      const depth = take();
      if (kind === undefined || fid > 0xffff_ffff || depth > P9Limits.MAX_PATH) return 'virtio-9p: bad fid in state';
      const path: Uint8Array[] = [];
      for (let d = 0; d < depth; d++) {
        const len = take();
        if (len === 0 || len > P9Limits.MAX_NAME) return 'virtio-9p: bad name in state';
        const name = new Uint8Array(len);
        for (let b = 0; b < len; b += BYTES_PER_WORD) {
          let v = take();
          for (let x = b; x < Math.min(len, b + BYTES_PER_WORD); x++) {
            name[x] = v % 256;
            v = Math.floor(v / 256);
          }
        }
        if (!isPlainName(name)) return 'virtio-9p: bad name in state';
        path.push(name);
      }
      fids.push({ fid, kind, openFlags, path });
    }
    if (i !== words.length) return 'virtio-9p: trailing state words';
    return { negotiated, msize, fids };
  } catch {
    return 'virtio-9p: state truncated';
  }
}

/**
 * Snapshot state of a virtio-9p device (beyond its transport's): the session (negotiated,
 * msize) and every fid with its path, kind and open flags. Open host files are not saved:
 * after a restore each open fid opens its path again on first use (server.ts
 * `restoreSession`). Read with validation: names must be plain names (no "/", ".", ".."),
 * counts and sizes within the server's limits, no fid twice.
 */
import type { StateCodec } from '../../../core/state.js';
import { fidKindCode, fidKindOf, isPlainName, P9Limits, type P9SessionState } from './server.js';

const KIND_CODES = [0, 1, 2, 3, 4] as const;

export const p9StateCodec: StateCodec<P9SessionState> = {
  write: (w, s) => {
    w.bool(s.negotiated).u32(s.msize);
    w.list(s.fids, (w, f) => {
      w.u32(f.fid).u8(fidKindCode(f.kind)).i32(f.openFlags);
      w.list(f.path, (w, name) => void w.bytes(name));
    });
  },
  read: (r) => {
    const negotiated = r.bool('negotiated');
    const msize = r.u32('msize', P9Limits.MAX_MSIZE);
    const seen = new Set<number>();
    // A fid is at least fid, kind, flags and a name count: 13 bytes.
    const fids = r.list('fids', P9Limits.MAX_FIDS, 13, (r) => {
      const fid = r.u32('fid');
      if (seen.has(fid)) r.fail(`fid ${fid} twice`);
      seen.add(fid);
      const kind = fidKindOf(r.oneOf('fid kind', KIND_CODES))!;
      const openFlags = r.i32('open flags');
      if (openFlags < -1) r.fail(`open flags ${openFlags}`);
      const path = r.list('path', P9Limits.MAX_PATH >> 1, 5, (r) => {
        const name = r.bytes('name', P9Limits.MAX_NAME).slice();
        if (!isPlainName(name)) r.fail('a name that is not a plain file name');
        return name;
      });
      return { fid, kind, openFlags, path };
    });
    return { negotiated, msize, fids };
  },
};

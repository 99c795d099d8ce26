/**
 * A 9P2000.L client in miniature, for tests: it encodes T-messages, sends them through
 * any transport (the server directly, or a virtqueue) and decodes the replies. An
 * Rlerror becomes a rejected `P9Error(errno)`, so a test asserts the errno.
 */
import { utf8Encode } from '../../../core/utf8.js';
import { Errno, NOFID, NOTAG, P9, P9Error, P9Reader, P9Writer, type Qid } from './protocol.js';

export type Name = string | Uint8Array;
const bytes = (n: Name): Uint8Array => (typeof n === 'string' ? utf8Encode(n) : n);

export interface Attr {
  qid: Qid;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atimeSec: number;
  mtimeSec: number;
}

export interface DirEntry {
  qid: Qid;
  offset: number;
  type: number;
  name: string;
}

/** A T-message: size, type, tag, then what `body` writes. */
export function tmessage(type: number, tag: number, body: (w: P9Writer) => unknown): Uint8Array {
  const w = new P9Writer();
  body(w);
  return w.finish(type, tag);
}

export class P9TestClient {
  private nextTag = 1;

  constructor(readonly send: (msg: Uint8Array) => Promise<Uint8Array>) {}

  /** Sends one request; resolves with a reader over the reply body (after checking type and tag). */
  async call(type: number, body: (w: P9Writer) => void, tag = this.takeTag()): Promise<P9Reader> {
    const reply = await this.send(tmessage(type, tag, body));
    const r = new P9Reader(reply, 0, reply.length);
    const size = r.u32();
    const rtype = r.u8();
    const rtag = r.u16();
    if (size !== reply.length) throw new Error(`reply size field ${size}, length ${reply.length}`);
    if (rtag !== tag) throw new Error(`reply tag ${rtag} for tag ${tag}`);
    if (rtype === P9.Rlerror) throw new P9Error(r.u32());
    if (rtype !== type + 1) throw new Error(`reply type ${rtype} to ${type}`);
    return r;
  }

  private takeTag(): number {
    const t = this.nextTag;
    this.nextTag = (this.nextTag % 0xfffe) + 1;
    return t;
  }

  async version(msize = 65536, version = '9P2000.L'): Promise<{ msize: number; version: string }> {
    const r = await this.call(P9.Tversion, (w) => w.u32(msize).str(version), NOTAG);
    return { msize: r.u32(), version: String.fromCharCode(...r.str()) };
  }

  async attach(fid: number, aname: Name = ''): Promise<Qid> {
    return qid(await this.call(P9.Tattach, (w) => w.u32(fid).u32(NOFID).str('root').str(bytes(aname)).u32(0)));
  }

  /** The qids walked (fewer than names on a partial walk). */
  async walk(fid: number, newfid: number, names: readonly Name[]): Promise<Qid[]> {
    const r = await this.call(P9.Twalk, (w) => {
      w.u32(fid).u32(newfid).u16(names.length);
      for (const n of names) w.str(bytes(n));
    });
    const n = r.u16();
    return Array.from({ length: n }, () => qid(r));
  }

  async lopen(fid: number, flags: number): Promise<Qid> {
    return qid(await this.call(P9.Tlopen, (w) => w.u32(fid).u32(flags)));
  }

  async lcreate(fid: number, name: Name, flags: number, mode = 0o644): Promise<Qid> {
    return qid(await this.call(P9.Tlcreate, (w) => w.u32(fid).str(bytes(name)).u32(flags).u32(mode).u32(0)));
  }

  async read(fid: number, offset: number, count: number): Promise<Uint8Array> {
    const r = await this.call(P9.Tread, (w) => w.u32(fid).u64(offset).u32(count));
    return r.bytes(r.u32()).slice();
  }

  async write(fid: number, offset: number, data: Uint8Array): Promise<number> {
    return (await this.call(P9.Twrite, (w) => w.u32(fid).u64(offset).u32(data.length).bytes(data))).u32();
  }

  async clunk(fid: number): Promise<void> {
    await this.call(P9.Tclunk, (w) => w.u32(fid));
  }

  async remove(fid: number): Promise<void> {
    await this.call(P9.Tremove, (w) => w.u32(fid));
  }

  async getattr(fid: number): Promise<Attr> {
    const r = await this.call(P9.Tgetattr, (w) => w.u32(fid).u64(0x3fff));
    r.u64();
    const q = qid(r);
    const mode = r.u32();
    const uid = r.u32();
    const gid = r.u32();
    const nlink = r.u64();
    r.u64();
    const size = r.u64();
    r.u64();
    r.u64();
    const atimeSec = r.u64();
    r.u64();
    const mtimeSec = r.u64();
    return { qid: q, mode, uid, gid, nlink, size, atimeSec, mtimeSec };
  }

  async setattr(
    fid: number,
    a: { valid: number; mode?: number; uid?: number; gid?: number; size?: number; atime?: number; mtime?: number },
  ): Promise<void> {
    await this.call(P9.Tsetattr, (w) =>
      w
        .u32(fid)
        .u32(a.valid)
        .u32(a.mode ?? 0)
        .u32(a.uid ?? 0)
        .u32(a.gid ?? 0)
        .u64(a.size ?? 0)
        .u64(a.atime ?? 0)
        .u64(0)
        .u64(a.mtime ?? 0)
        .u64(0),
    );
  }

  async readdir(fid: number, offset = 0, count = 8192): Promise<DirEntry[]> {
    const r = await this.call(P9.Treaddir, (w) => w.u32(fid).u64(offset).u32(count));
    const end = r.u32() + r.pos;
    const out: DirEntry[] = [];
    while (r.pos < end) {
      const q = qid(r);
      const off = r.u64();
      const type = r.u8();
      out.push({ qid: q, offset: off, type, name: String.fromCharCode(...r.str()) });
    }
    return out;
  }

  /** Every entry name of an open directory fid, reading on from each last offset. */
  async readdirAll(fid: number, count = 512): Promise<string[]> {
    const names: string[] = [];
    for (let off = 0; ; ) {
      const batch = await this.readdir(fid, off, count);
      if (batch.length === 0) return names;
      names.push(...batch.map((e) => e.name));
      off = batch[batch.length - 1]!.offset;
    }
  }

  async mkdir(dfid: number, name: Name, mode = 0o755): Promise<Qid> {
    return qid(await this.call(P9.Tmkdir, (w) => w.u32(dfid).str(bytes(name)).u32(mode).u32(0)));
  }

  async symlink(dfid: number, name: Name, target: Name): Promise<Qid> {
    return qid(await this.call(P9.Tsymlink, (w) => w.u32(dfid).str(bytes(name)).str(bytes(target)).u32(0)));
  }

  async readlink(fid: number): Promise<string> {
    return String.fromCharCode(...(await this.call(P9.Treadlink, (w) => w.u32(fid))).str());
  }

  async link(dfid: number, fid: number, name: Name): Promise<void> {
    await this.call(P9.Tlink, (w) => w.u32(dfid).u32(fid).str(bytes(name)));
  }

  async rename(fid: number, dfid: number, name: Name): Promise<void> {
    await this.call(P9.Trename, (w) => w.u32(fid).u32(dfid).str(bytes(name)));
  }

  async renameat(olddir: number, oldName: Name, newdir: number, newName: Name): Promise<void> {
    await this.call(P9.Trenameat, (w) => w.u32(olddir).str(bytes(oldName)).u32(newdir).str(bytes(newName)));
  }

  async unlinkat(dfid: number, name: Name, flags = 0): Promise<void> {
    await this.call(P9.Tunlinkat, (w) => w.u32(dfid).str(bytes(name)).u32(flags));
  }

  async fsync(fid: number): Promise<void> {
    await this.call(P9.Tfsync, (w) => w.u32(fid).u32(0));
  }

  async statfs(fid: number): Promise<{ bsize: number; blocks: number }> {
    const r = await this.call(P9.Tstatfs, (w) => w.u32(fid));
    r.u32();
    return { bsize: r.u32(), blocks: r.u64() };
  }

  async mknod(dfid: number, name: Name): Promise<void> {
    await this.call(P9.Tmknod, (w) => w.u32(dfid).str(bytes(name)).u32(0o10644).u32(0).u32(0).u32(0));
  }

  async xattrwalk(fid: number, newfid: number, name: Name): Promise<number> {
    return (await this.call(P9.Txattrwalk, (w) => w.u32(fid).u32(newfid).str(bytes(name)))).u64();
  }

  async flush(oldtag: number): Promise<void> {
    await this.call(P9.Tflush, (w) => w.u16(oldtag));
  }
}

function qid(r: P9Reader): Qid {
  return { type: r.u8(), version: r.u32(), path: BigInt(r.u32()) | (BigInt(r.u32()) << 32n) };
}

/** The errno of a rejected call, or null when it succeeded (for tables of expected errors). */
export async function errnoOf(p: Promise<unknown>): Promise<number | null> {
  try {
    await p;
    return null;
  } catch (e) {
    if (e instanceof P9Error) return e.errno;
    throw e;
  }
}

export { Errno };

/**
 * A 9P2000.L file server over a `P9Backend`: the protocol state (negotiated message
 * size, fids) and one handler per message. `handle(message, room)` always resolves
 * with one reply, an R-message or Rlerror(errno), whatever the message holds: fields
 * past the end, unknown fids, huge counts, 17 walk names, names with "/" all end as
 * Rlerror, never as a host exception.
 *
 * Confinement: a fid is a path of plain names from the share's root. ".." is resolved
 * here, by dropping the last name (at the root it stays at the root, as 9P defines
 * walking ".." from the root); every other name is checked before a backend sees it,
 * and the backend never follows a symbolic link. The guest's kernel resolves the links
 * it reads (Treadlink) in its own mount.
 *
 * Requests run concurrently and complete in any order; Tflush answers once the request
 * it names has been answered.
 */
import type { P9Attr, P9Backend, P9DirEntry, P9File, P9Path, P9SetAttr, P9Time } from './backend.js';
import {
  AT_REMOVEDIR,
  direntType,
  Errno,
  GETATTR_BASIC,
  HEADER_SIZE,
  LOCK_TYPE_UNLCK,
  LockStatus,
  lerror,
  MAX_WALK_NAMES,
  NOTAG,
  OpenFlag,
  P9,
  P9Error,
  P9Reader,
  P9Writer,
  type Qid,
  QidType,
  READ_HEADER,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SetattrMask,
  VERSION_9P2000_L,
} from './protocol.js';

/** Limits per device (per domain and share); each refusal is an Rlerror. */
export const P9Limits = {
  /** Largest msize granted (Linux's virtio transport caps at 500 KiB). */
  MAX_MSIZE: 512 * 1024,
  /** Smallest msize accepted in Tversion. */
  MIN_MSIZE: 4096,
  /** Fids alive at once (EMFILE past it). */
  MAX_FIDS: 4096,
  /** Fids holding an open host file at once (EMFILE past it). */
  MAX_OPEN: 1024,
  /** Bytes of one name (ENAMETOOLONG). */
  MAX_NAME: 255,
  /** Bytes of a path inside the share, names and separators (ENAMETOOLONG). */
  MAX_PATH: 4095,
} as const;

export interface P9ServerOptions {
  readonly backend: P9Backend;
  readonly maxFids?: number;
  readonly maxOpen?: number;
}

export interface P9Stats {
  requests: number;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
}

type FidKind = 'dir' | 'file' | 'symlink' | 'other' | 'xattr';

/** Serves one T-message: reads it from `r`, writes the reply body into `w`. */
type Handler = (s: Session, r: P9Reader, w: P9Writer, room: number) => unknown;

/** One fid: a place in the share and, once opened, its host file. */
interface Fid {
  path: Uint8Array[];
  kind: FidKind;
  file: P9File | null;
  /** Flags the file was opened with (OpenFlag bits), -1 while not open. */
  openFlags: number;
  /** After a restore: the file is opened again on first use with `openFlags`. */
  reopen: boolean;
  /** Directory listing of the current Treaddir pass (offset 0 starts a new one). */
  listing: { name: Uint8Array; qid: Qid; type: number }[] | null;
}

/** One protocol session (Tversion to Tversion or reset). */
class Session {
  readonly fids = new Map<number, Fid>();
  open = 0;
  closed = false;
  constructor(
    readonly negotiated: boolean,
    readonly msize: number,
  ) {}
}

/** The fid table of a session for a snapshot (state.ts encodes it). */
export interface P9SessionState {
  readonly negotiated: boolean;
  readonly msize: number;
  readonly fids: readonly { fid: number; path: P9Path; kind: FidKind; openFlags: number }[];
}

const FID_KINDS: readonly FidKind[] = ['dir', 'file', 'symlink', 'other', 'xattr'];
export const fidKindCode = (k: FidKind): number => FID_KINDS.indexOf(k);
export const fidKindOf = (code: number): FidKind | undefined => FID_KINDS[code];

const kindOf = (mode: number): FidKind => {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'dir';
    case S_IFREG:
      return 'file';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
};

const DOT = 0x2e;
const SLASH = 0x2f;
const isDot = (n: Uint8Array) => n.length === 1 && n[0] === DOT;
const isDotDot = (n: Uint8Array) => n.length === 2 && n[0] === DOT && n[1] === DOT;

/** ENOENT for names no file can have (as QEMU answers), ENAMETOOLONG past 255 bytes. */
function checkName(name: Uint8Array): void {
  if (name.length === 0 || name.includes(SLASH) || name.includes(0)) {
    throw new P9Error(Errno.ENOENT, 'not a file name');
  }
  if (name.length > P9Limits.MAX_NAME) throw new P9Error(Errno.ENAMETOOLONG, 'name too long');
}

/** A name for a new file: plain, and neither "." nor "..". */
function checkNewName(name: Uint8Array, dotErrno: number = Errno.EEXIST): void {
  checkName(name);
  if (isDot(name) || isDotDot(name)) throw new P9Error(dotErrno, 'name is . or ..');
}

/** A name a backend may be given: what `checkNewName` lets through. */
export function isPlainName(name: Uint8Array): boolean {
  return (
    name.length > 0 &&
    name.length <= P9Limits.MAX_NAME &&
    !name.includes(SLASH) &&
    !name.includes(0) &&
    !isDot(name) &&
    !isDotDot(name)
  );
}

function pathBytes(path: P9Path): number {
  let n = 0;
  for (const c of path) n += c.length + 1;
  return n;
}

function checkPath(path: P9Path): void {
  if (pathBytes(path) > P9Limits.MAX_PATH) throw new P9Error(Errno.ENAMETOOLONG, 'path too long');
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function hasPrefix(path: P9Path, prefix: P9Path): boolean {
  return prefix.length <= path.length && prefix.every((c, i) => sameBytes(c, path[i]!));
}

/**
 * A symbolic link the guest creates may not point outside the share: not absolute, and
 * its ".." never climbs above the root, counted from the link's directory (`depth`
 * names below the root). This keeps host tools that follow links in the share inside
 * it for links made this way; pvm itself never follows a link.
 */
function targetStaysInside(target: Uint8Array, depth: number): boolean {
  if (target[0] === SLASH) return false;
  let d = depth;
  let start = 0;
  for (let i = 0; i <= target.length; i++) {
    if (i < target.length && target[i] !== SLASH) continue;
    const c = target.subarray(start, i);
    start = i + 1;
    if (c.length === 0 || isDot(c)) continue;
    d += isDotDot(c) ? -1 : 1;
    if (d < 0) return false;
  }
  return true;
}

const DT_DIR = 4;

export class P9Server {
  readonly backend: P9Backend;
  readonly stats: P9Stats = { requests: 0, errors: 0, bytesRead: 0, bytesWritten: 0 };
  /** The last host-side failure that was not a plain errno (for diagnostics). */
  lastError: string | null = null;
  private session = new Session(false, P9Limits.MAX_MSIZE);
  private readonly maxFids: number;
  private readonly maxOpen: number;
  /** Requests being served, by tag (Tflush waits for them). */
  private readonly pending = new Map<number, Promise<unknown>>();
  /** Device numbers seen, for qid paths unique across mounts inside the share. */
  private readonly devices = new Map<bigint, number>();

  constructor(opts: P9ServerOptions) {
    this.backend = opts.backend;
    this.maxFids = opts.maxFids ?? P9Limits.MAX_FIDS;
    this.maxOpen = opts.maxOpen ?? P9Limits.MAX_OPEN;
  }

  /** The msize in force (MAX_MSIZE before Tversion): the largest message taken or sent. */
  get msize(): number {
    return this.session.msize;
  }

  get fidCount(): number {
    return this.session.fids.size;
  }

  get openCount(): number {
    return this.session.open;
  }

  /**
   * Serves one message. `room` is the space for the reply (the request's writable
   * buffers). Resolves with the reply; never rejects.
   */
  handle(msg: Uint8Array, room: number): Promise<Uint8Array> {
    this.stats.requests++;
    if (msg.length < HEADER_SIZE) {
      this.stats.errors++;
      return Promise.resolve(lerror(NOTAG, Errno.EPROTO));
    }
    const head = new P9Reader(msg, 0, msg.length);
    const size = head.u32();
    const type = head.u8();
    const tag = head.u16();
    const p = this.serve(msg, size, type, tag, Math.min(room, this.session.msize)).then(
      (reply) => reply,
      (e: unknown) => {
        this.stats.errors++;
        if (e instanceof P9Error) return lerror(tag, e.errno);
        this.lastError = `9p: ${e instanceof Error ? e.message : String(e)}`;
        return lerror(tag, Errno.EIO);
      },
    );
    if (type !== P9.Tflush) {
      this.pending.set(tag, p);
      void p.then(() => {
        if (this.pending.get(tag) === p) this.pending.delete(tag);
      });
    }
    return p;
  }

  private async serve(msg: Uint8Array, size: number, type: number, tag: number, room: number): Promise<Uint8Array> {
    if (size < HEADER_SIZE || size > msg.length) throw new P9Error(Errno.EPROTO, `message size ${size}`);
    if (size > this.session.msize) throw new P9Error(Errno.EMSGSIZE, `message of ${size} bytes over msize`);
    const r = new P9Reader(msg, HEADER_SIZE, size);
    let out: Uint8Array;
    if (type === P9.Tversion) {
      out = this.version(r, tag);
    } else {
      const s = this.session;
      if (!s.negotiated) throw new P9Error(Errno.EPROTO, 'no Tversion yet');
      const w = new P9Writer();
      out = w.finish(await this.dispatch(s, type, r, w, room), tag);
    }
    if (out.length > room) throw new P9Error(Errno.EMSGSIZE, 'reply larger than the buffer');
    return out;
  }

  /**
   * One handler per T-message: it reads the request from `r` and writes the reply body
   * into `w`; the reply's type is always the request's + 1. Messages of 9P2000 and
   * 9P2000.u, Tauth and anything unknown have none (EOPNOTSUPP).
   */
  private readonly handlers = new Map<number, Handler>([
    [P9.Tattach, (s, r, w) => this.attach(s, r, w)],
    [P9.Twalk, (s, r, w) => this.walk(s, r, w)],
    [P9.Tlopen, (s, r, w) => this.lopen(s, r, w)],
    [P9.Tlcreate, (s, r, w) => this.lcreate(s, r, w)],
    [P9.Tread, (s, r, w, room) => this.read(s, r, w, room)],
    [P9.Twrite, (s, r, w) => this.write(s, r, w)],
    [P9.Tclunk, (s, r) => this.clunk(s, r)],
    [P9.Tremove, (s, r) => this.remove(s, r)],
    [P9.Tgetattr, (s, r, w) => this.getattr(s, r, w)],
    [P9.Tsetattr, (s, r) => this.setattr(s, r)],
    [P9.Treaddir, (s, r, w, room) => this.readdir(s, r, w, room)],
    [P9.Tmkdir, (s, r, w) => this.mkdir(s, r, w)],
    [P9.Tsymlink, (s, r, w) => this.symlink(s, r, w)],
    [P9.Treadlink, (s, r, w) => this.readlink(s, r, w)],
    [P9.Tlink, (s, r) => this.link(s, r)],
    [P9.Trename, (s, r) => this.rename(s, r)],
    [P9.Trenameat, (s, r) => this.renameat(s, r)],
    [P9.Tunlinkat, (s, r) => this.unlinkat(s, r)],
    [P9.Tfsync, (s, r) => this.fsync(s, r)],
    [P9.Tstatfs, (s, r, w) => this.statfs(s, r, w)],
    [P9.Txattrwalk, (s, r, w) => this.xattrwalk(s, r, w)],
    [
      P9.Txattrcreate,
      (s, r) => {
        this.fid(s, r.u32());
        this.writable();
        throw new P9Error(Errno.EOPNOTSUPP, 'extended attributes are not stored');
      },
    ],
    [
      P9.Tmknod,
      (s, r) => {
        this.fid(s, r.u32());
        this.writable();
        throw new P9Error(Errno.EPERM, 'device nodes, FIFOs and sockets are not created in a share');
      },
    ],
    [
      P9.Tlock,
      // Advisory locks are granted, as QEMU's server does: the guest kernel keeps its own
      // lock state, and the share has one client.
      (s, r, w) => {
        this.fid(s, r.u32());
        w.u8(LockStatus.SUCCESS);
      },
    ],
    [P9.Tgetlock, (s, r, w) => this.getlock(s, r, w)],
    [P9.Tflush, (_s, r) => this.pending.get(r.u16())],
  ]);

  /** Runs one request on `s`; writes the reply body into `w` and returns its type. */
  private async dispatch(s: Session, type: number, r: P9Reader, w: P9Writer, room: number): Promise<number> {
    const handler = this.handlers.get(type);
    if (handler === undefined) throw new P9Error(Errno.EOPNOTSUPP, `message type ${type}`);
    await handler(s, r, w, room);
    return type + 1;
  }

  // ---- session ----

  private version(r: P9Reader, tag: number): Uint8Array {
    const msize = r.u32();
    const version = String.fromCharCode(...r.str().subarray(0, 64));
    this.closeSession();
    if (msize < P9Limits.MIN_MSIZE) throw new P9Error(Errno.EINVAL, `msize ${msize}`);
    const ok = version === VERSION_9P2000_L;
    const granted = Math.min(msize, P9Limits.MAX_MSIZE);
    this.session = new Session(ok, ok ? granted : P9Limits.MAX_MSIZE);
    return new P9Writer()
      .u32(granted)
      .str(ok ? VERSION_9P2000_L : 'unknown')
      .finish(P9.Rversion, tag);
  }

  /** Drops every fid and closes their files (device reset, Tversion, shutdown). */
  reset(): void {
    this.closeSession();
    this.session = new Session(false, P9Limits.MAX_MSIZE);
  }

  private closeSession(): void {
    const s = this.session;
    s.closed = true;
    for (const f of s.fids.values()) this.release(s, f);
    s.fids.clear();
  }

  private release(s: Session, f: Fid): void {
    if (f.file === null) return;
    const file = f.file;
    f.file = null;
    s.open--;
    file.close().catch((e: unknown) => {
      this.lastError = `9p: close: ${e instanceof Error ? e.message : String(e)}`;
    });
  }

  // ---- fids ----

  private fid(s: Session, n: number): Fid {
    const f = s.fids.get(n);
    if (f === undefined) throw new P9Error(Errno.EBADF, `unknown fid ${n}`);
    return f;
  }

  private dirFid(s: Session, n: number): Fid {
    const f = this.fid(s, n);
    if (f.kind !== 'dir') throw new P9Error(Errno.ENOTDIR, 'not a directory');
    return f;
  }

  private checkNewFid(s: Session, n: number): void {
    if (s.fids.has(n)) throw new P9Error(Errno.EINVAL, `fid ${n} in use`);
    if (s.fids.size >= this.maxFids) throw new P9Error(Errno.EMFILE, `more than ${this.maxFids} fids`);
  }

  /** Adds a fid after the awaits of its request (the limits are checked again). */
  private addFid(s: Session, n: number, f: Fid): void {
    const old = s.fids.get(n);
    if (old !== undefined) this.release(s, old);
    else if (s.fids.size >= this.maxFids) throw new P9Error(Errno.EMFILE, `more than ${this.maxFids} fids`);
    s.fids.set(n, f);
  }

  /** Gives `f` its open file; a session that ended meanwhile closes it instead. */
  private setOpen(s: Session, f: Fid, file: P9File, flags: number): void {
    if (s.closed || f.file !== null) {
      file.close().catch(() => {});
      throw new P9Error(Errno.EBADF, 'fid went away');
    }
    f.file = file;
    f.openFlags = flags;
    f.reopen = false;
    s.open++;
  }

  private checkOpenRoom(s: Session): void {
    if (s.open >= this.maxOpen) throw new P9Error(Errno.EMFILE, `more than ${this.maxOpen} open files`);
  }

  /** The open file of `f`; after a restore it is opened again from its path here. */
  private async openFile(s: Session, f: Fid): Promise<P9File> {
    if (f.file !== null) return f.file;
    if (!f.reopen) throw new P9Error(Errno.EBADF, 'fid not open');
    this.checkOpenRoom(s);
    const file = await this.backend.open(f.path, f.openFlags);
    if (f.file !== null) {
      file.close().catch(() => {});
      return f.file;
    }
    this.setOpen(s, f, file, f.openFlags);
    return file;
  }

  private writable(): void {
    if (this.backend.readOnly) throw new P9Error(Errno.EROFS, 'read-only share');
  }

  /** The path of a new entry `name` in directory fid `d`, once the share may change and the name is fine. */
  private newPath(d: Fid, name: Uint8Array): Uint8Array[] {
    this.writable();
    checkNewName(name);
    const path = [...d.path, name];
    checkPath(path);
    return path;
  }

  // ---- qids ----

  qidOf(a: P9Attr): Qid {
    let dev = this.devices.get(a.dev);
    if (dev === undefined) {
      dev = this.devices.size & 0xffff;
      this.devices.set(a.dev, dev);
    }
    const kind = a.mode & S_IFMT;
    return {
      type: kind === S_IFDIR ? QidType.DIR : kind === S_IFLNK ? QidType.SYMLINK : QidType.FILE,
      // As QEMU: changes with the modification time and the size (cache validation).
      version: (a.mtimeSec ^ (a.size * 256)) >>> 0,
      path: (BigInt(dev) << 48n) | (a.ino & 0xffff_ffff_ffffn),
    };
  }

  // ---- handlers ----

  private async attach(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const fid = r.u32();
    r.u32(); // afid: no authentication
    r.str(); // uname
    r.str(); // aname: always the share's root (an aname never names another directory)
    r.u32(); // n_uname: files are the pvm user's
    this.checkNewFid(s, fid);
    const attr = await this.backend.lstat([]);
    this.addFid(s, fid, { path: [], kind: 'dir', file: null, openFlags: -1, reopen: false, listing: null });
    w.qid(this.qidOf(attr));
  }

  private async walk(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const fromFid = r.u32();
    const from = this.fid(s, fromFid);
    const newfid = r.u32();
    const n = r.u16();
    if (n > MAX_WALK_NAMES) throw new P9Error(Errno.EINVAL, `walk of ${n} names`);
    const names: Uint8Array[] = [];
    for (let i = 0; i < n; i++) names.push(r.str());
    if (from.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'walk from an xattr fid');
    if (newfid !== fromFid) this.checkNewFid(s, newfid);
    else if (from.file !== null || from.reopen) throw new P9Error(Errno.EINVAL, 'walk of an open fid onto itself');
    let path = from.path.slice();
    let kind: FidKind = from.kind;
    const qids: Qid[] = [];
    for (const [i, name] of names.entries()) {
      try {
        checkName(name);
        if (kind !== 'dir') throw new P9Error(Errno.ENOTDIR, 'walk through a non-directory');
        const next = isDotDot(name) ? path.slice(0, -1) : isDot(name) ? path : [...path, name];
        checkPath(next);
        const attr = await this.backend.lstat(next);
        qids.push(this.qidOf(attr));
        path = next;
        kind = kindOf(attr.mode);
      } catch (e) {
        if (i === 0) throw e;
        break; // 9P: a partial walk answers the qids so far and leaves newfid alone
      }
    }
    w.u16(qids.length);
    for (const q of qids) w.qid(q);
    if (qids.length === n) {
      this.addFid(s, newfid, { path, kind, file: null, openFlags: -1, reopen: false, listing: null });
    }
  }

  private async lopen(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const f = this.fid(s, r.u32());
    const flags = r.u32();
    if (f.file !== null || f.reopen || f.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'fid already open');
    const access = flags & OpenFlag.ACCMODE;
    if (access === OpenFlag.ACCMODE) throw new P9Error(Errno.EINVAL, 'bad access mode');
    if (access !== OpenFlag.RDONLY || flags & OpenFlag.TRUNC) {
      this.writable();
      if (f.kind === 'dir') throw new P9Error(Errno.EISDIR, 'directory opened for writing');
    }
    this.checkOpenRoom(s);
    const hostFlags =
      flags &
      (OpenFlag.ACCMODE | OpenFlag.TRUNC | OpenFlag.APPEND | OpenFlag.DSYNC | OpenFlag.SYNC | OpenFlag.DIRECTORY);
    const file = await this.backend.open(f.path, hostFlags);
    const attr = await this.statNew(file);
    this.setOpen(s, f, file, hostFlags);
    f.listing = null;
    w.qid(this.qidOf(attr)).u32(0);
  }

  /** The attributes of a file just opened; closes it when they cannot be had. */
  private async statNew(file: P9File): Promise<P9Attr> {
    try {
      return await file.stat();
    } catch (e) {
      file.close().catch(() => {});
      throw e;
    }
  }

  private async lcreate(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const f = this.dirFid(s, r.u32());
    const name = r.str();
    const flags = r.u32();
    const mode = r.u32();
    r.u32(); // gid: files are the pvm user's
    const path = this.newPath(f, name);
    if (f.file !== null || f.reopen) throw new P9Error(Errno.EINVAL, 'fid already open');
    this.checkOpenRoom(s);
    const hostFlags =
      (flags & (OpenFlag.ACCMODE | OpenFlag.TRUNC | OpenFlag.APPEND | OpenFlag.DSYNC | OpenFlag.SYNC | OpenFlag.EXCL)) |
      OpenFlag.CREATE;
    if ((hostFlags & OpenFlag.ACCMODE) === OpenFlag.ACCMODE) throw new P9Error(Errno.EINVAL, 'bad access mode');
    // setuid and setgid bits are never set in a share (as a nosuid mount would ignore them).
    const file = await this.backend.create(f.path, name, hostFlags, mode & 0o1777);
    const attr = await this.statNew(file);
    // The fid now stands for the new, open file.
    this.setOpen(s, f, file, hostFlags & ~(OpenFlag.CREATE | OpenFlag.EXCL | OpenFlag.TRUNC));
    f.path = path;
    f.kind = 'file';
    f.listing = null;
    w.qid(this.qidOf(attr)).u32(0);
  }

  private async read(s: Session, r: P9Reader, w: P9Writer, room: number): Promise<void> {
    const f = this.fid(s, r.u32());
    const offset = r.u64();
    const count = r.u32();
    const n = Math.max(0, Math.min(count, room - READ_HEADER, s.msize - READ_HEADER));
    if (f.kind === 'xattr') {
      w.u32(0); // no extended attributes: the list is empty
      return;
    }
    const file = await this.openFile(s, f);
    if (f.kind === 'dir') throw new P9Error(Errno.EISDIR, 'read of a directory');
    if ((f.openFlags & OpenFlag.ACCMODE) === OpenFlag.WRONLY) throw new P9Error(Errno.EBADF, 'not open for reading');
    const data = n === 0 ? new Uint8Array(0) : await file.read(offset, n);
    this.stats.bytesRead += data.length;
    w.u32(data.length).bytes(data);
  }

  private async write(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const f = this.fid(s, r.u32());
    const offset = r.u64();
    const count = r.u32();
    if (count > r.remaining)
      throw new P9Error(Errno.EPROTO, `write of ${count} bytes with ${r.remaining} in the message`);
    const data = r.bytes(count);
    if (f.kind === 'xattr') throw new P9Error(Errno.EBADF, 'xattr fid');
    const file = await this.openFile(s, f);
    if ((f.openFlags & OpenFlag.ACCMODE) === OpenFlag.RDONLY) throw new P9Error(Errno.EBADF, 'not open for writing');
    this.writable();
    const n = await file.write(offset, data);
    this.stats.bytesWritten += n;
    w.u32(n);
  }

  private async clunk(s: Session, r: P9Reader): Promise<void> {
    const n = r.u32();
    const f = this.fid(s, n);
    s.fids.delete(n);
    this.release(s, f);
  }

  private async remove(s: Session, r: P9Reader): Promise<void> {
    const n = r.u32();
    const f = this.fid(s, n);
    // 9P: the fid is clunked whether or not the remove succeeds.
    s.fids.delete(n);
    this.release(s, f);
    this.writable();
    if (f.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'xattr fid');
    if (f.path.length === 0) throw new P9Error(Errno.EBUSY, 'the share root');
    await this.backend.remove(f.path.slice(0, -1), f.path[f.path.length - 1]!, f.kind === 'dir');
  }

  private async getattr(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const f = this.fid(s, r.u32());
    r.u64(); // request mask: the basic fields are always sent
    if (f.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'xattr fid');
    // An open file answers from its handle, so an unlinked open file still has attributes.
    const a = f.file !== null ? await f.file.stat() : await this.backend.lstat(f.path);
    w.u64(GETATTR_BASIC).qid(this.qidOf(a));
    w.u32(a.mode).u32(a.uid).u32(a.gid).u64(a.nlink).u64(a.rdev).u64(a.size).u64(a.blksize).u64(a.blocks);
    w.u64(a.atimeSec).u64(a.atimeNsec).u64(a.mtimeSec).u64(a.mtimeNsec).u64(a.ctimeSec).u64(a.ctimeNsec);
    w.u64(0).u64(0).u64(0).u64(0); // btime, gen, data_version
  }

  private async setattr(s: Session, r: P9Reader): Promise<void> {
    const f = this.fid(s, r.u32());
    const valid = r.u32();
    const mode = r.u32();
    const uid = r.u32();
    const gid = r.u32();
    const size = r.u64();
    const atime = { sec: r.u64(), nsec: r.u64() };
    const mtime = { sec: r.u64(), nsec: r.u64() };
    if (f.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'xattr fid');
    const changes = valid & ~SetattrMask.CTIME;
    if (changes === 0) return;
    this.writable();
    if (atime.nsec >= 1e9 || mtime.nsec >= 1e9) throw new P9Error(Errno.EINVAL, 'nanoseconds past a second');
    if (valid & (SetattrMask.UID | SetattrMask.GID)) {
      // Files belong to the user pvm runs as: a change of owner is refused unless it changes nothing.
      const a = f.file !== null ? await f.file.stat() : await this.backend.lstat(f.path);
      if ((valid & SetattrMask.UID && uid !== a.uid) || (valid & SetattrMask.GID && gid !== a.gid)) {
        throw new P9Error(Errno.EPERM, 'ownership is the host user');
      }
    }
    // ATIME/MTIME without their _SET bit mean "now" (utimensat's UTIME_NOW).
    const when = (given: P9Time, setBit: number): P9Time => (valid & setBit ? given : 'now');
    const attr: P9SetAttr = {
      ...(valid & SetattrMask.MODE ? { mode: mode & 0o1777 } : {}),
      ...(valid & SetattrMask.SIZE ? { size } : {}),
      ...(valid & SetattrMask.ATIME ? { atime: when(atime, SetattrMask.ATIME_SET) } : {}),
      ...(valid & SetattrMask.MTIME ? { mtime: when(mtime, SetattrMask.MTIME_SET) } : {}),
    };
    if (Object.keys(attr).length === 0) return;
    if (f.file !== null) await f.file.setattr(attr);
    else await this.backend.setattr(f.path, attr);
  }

  private async readdir(s: Session, r: P9Reader, w: P9Writer, room: number): Promise<void> {
    const f = this.fid(s, r.u32());
    const offset = r.u64();
    const count = r.u32();
    if (f.kind !== 'dir') throw new P9Error(Errno.ENOTDIR, 'not a directory');
    const file = await this.openFile(s, f);
    if (offset === 0 || f.listing === null) f.listing = await this.list(f, file);
    const listing = f.listing;
    const max = Math.max(0, Math.min(count, room - READ_HEADER, s.msize - READ_HEADER));
    const countAt = w.length;
    w.u32(0);
    let used = 0;
    for (let i = offset; i < listing.length; i++) {
      const e = listing[i]!;
      const size = 13 + 8 + 1 + 2 + e.name.length;
      if (used + size > max) break;
      w.qid(e.qid)
        .u64(i + 1)
        .u8(e.type)
        .str(e.name);
      used += size;
    }
    w.patchU32(countAt, used);
  }

  private async list(f: Fid, file: P9File): Promise<{ name: Uint8Array; qid: Qid; type: number }[]> {
    const self = await file.stat();
    const parent = f.path.length === 0 ? self : await this.backend.lstat(f.path.slice(0, -1));
    const entries: P9DirEntry[] = await file.list();
    return [
      { name: Uint8Array.of(DOT), qid: this.qidOf(self), type: DT_DIR },
      { name: Uint8Array.of(DOT, DOT), qid: this.qidOf(parent), type: DT_DIR },
      ...entries.map((e) => ({ name: e.name, qid: this.qidOf(e.attr), type: direntType(e.attr.mode) })),
    ];
  }

  private async mkdir(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const d = this.dirFid(s, r.u32());
    const name = r.str();
    const mode = r.u32();
    r.u32(); // gid
    const path = this.newPath(d, name);
    await this.backend.mkdir(d.path, name, mode & 0o1777);
    w.qid(this.qidOf(await this.backend.lstat(path)));
  }

  private async symlink(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const d = this.dirFid(s, r.u32());
    const name = r.str();
    const target = r.str();
    r.u32(); // gid
    const path = this.newPath(d, name);
    if (target.length === 0) throw new P9Error(Errno.ENOENT, 'empty link target');
    if (target.includes(0)) throw new P9Error(Errno.EINVAL, 'NUL in link target');
    if (!targetStaysInside(target, d.path.length)) {
      throw new P9Error(Errno.EPERM, 'a link in the share may not point outside it');
    }
    await this.backend.symlink(d.path, name, target);
    w.qid(this.qidOf(await this.backend.lstat(path)));
  }

  private async link(s: Session, r: P9Reader): Promise<void> {
    const d = this.dirFid(s, r.u32());
    const target = this.fid(s, r.u32());
    const name = r.str();
    this.newPath(d, name);
    // Hard links to directories (as Linux) and to symbolic links (a link made this way
    // would dodge the target check of Tsymlink) are refused.
    if (target.kind === 'dir' || target.kind === 'symlink' || target.kind === 'xattr' || target.path.length === 0) {
      throw new P9Error(Errno.EPERM, `hard link to a ${target.kind === 'symlink' ? 'symbolic link' : 'directory'}`);
    }
    await this.backend.link(target.path, d.path, name);
  }

  private async rename(s: Session, r: P9Reader): Promise<void> {
    const f = this.fid(s, r.u32());
    const d = this.dirFid(s, r.u32());
    const name = r.str();
    this.writable();
    checkNewName(name, Errno.EISDIR);
    if (f.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'xattr fid');
    if (f.path.length === 0) throw new P9Error(Errno.EBUSY, 'the share root');
    await this.moveTo(s, f.path.slice(0, -1), f.path[f.path.length - 1]!, d.path, name);
  }

  private async renameat(s: Session, r: P9Reader): Promise<void> {
    const od = this.dirFid(s, r.u32());
    const oldName = r.str();
    const nd = this.dirFid(s, r.u32());
    const newName = r.str();
    this.writable();
    checkNewName(oldName, Errno.EISDIR);
    checkNewName(newName, Errno.EISDIR);
    await this.moveTo(s, od.path, oldName, nd.path, newName);
  }

  /** Renames, then moves every fid under the old path to the new one (9P fids follow renames). */
  private async moveTo(s: Session, dir: P9Path, name: Uint8Array, newDir: P9Path, newName: Uint8Array): Promise<void> {
    const from = [...dir, name];
    const to = [...newDir, newName];
    checkPath(to);
    await this.backend.rename(dir, name, newDir, newName);
    for (const f of s.fids.values()) {
      if (hasPrefix(f.path, from)) f.path = [...to, ...f.path.slice(from.length)];
    }
  }

  private async unlinkat(s: Session, r: P9Reader): Promise<void> {
    const d = this.dirFid(s, r.u32());
    const name = r.str();
    const flags = r.u32();
    this.writable();
    checkName(name);
    if (isDot(name)) throw new P9Error(Errno.EINVAL, 'remove of .');
    if (isDotDot(name)) throw new P9Error(Errno.ENOTEMPTY, 'remove of ..');
    if (flags & ~AT_REMOVEDIR) throw new P9Error(Errno.EINVAL, `unlinkat flags 0x${flags.toString(16)}`);
    await this.backend.remove(d.path, name, (flags & AT_REMOVEDIR) !== 0);
  }

  private xattrwalk(s: Session, r: P9Reader, w: P9Writer): void {
    const f = this.fid(s, r.u32());
    const newfid = r.u32();
    const name = r.str();
    if (f.kind === 'xattr') throw new P9Error(Errno.EINVAL, 'xattr fid');
    // No extended attributes are stored: the list is empty, every named one is absent.
    if (name.length > 0) throw new P9Error(Errno.ENODATA, 'no such attribute');
    this.checkNewFid(s, newfid);
    this.addFid(s, newfid, { path: f.path, kind: 'xattr', file: null, openFlags: -1, reopen: false, listing: null });
    w.u64(0);
  }

  private async readlink(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const f = this.fid(s, r.u32());
    if (f.kind !== 'symlink') throw new P9Error(Errno.EINVAL, 'not a symbolic link');
    const target = await this.backend.readlink(f.path);
    if (target.length > 0xffff) throw new P9Error(Errno.ENAMETOOLONG, 'link target too long');
    w.str(target);
  }

  private async fsync(s: Session, r: P9Reader): Promise<void> {
    const f = this.fid(s, r.u32());
    const datasync = r.u32();
    await (await this.openFile(s, f)).sync(datasync !== 0);
  }

  private async statfs(s: Session, r: P9Reader, w: P9Writer): Promise<void> {
    const f = this.fid(s, r.u32());
    const st = await this.backend.statfs(f.kind === 'xattr' ? [] : f.path);
    w.u32(st.type).u32(st.bsize).u64(st.blocks).u64(st.bfree).u64(st.bavail);
    w.u64(st.files).u64(st.ffree).u64(0).u32(st.namelen);
  }

  /** Every range is unlocked (locks are granted, see Tlock). */
  private getlock(s: Session, r: P9Reader, w: P9Writer): void {
    this.fid(s, r.u32());
    r.u8(); // type
    const start = r.u64();
    const length = r.u64();
    const procId = r.u32();
    const client = r.str();
    w.u8(LOCK_TYPE_UNLCK).u64(start).u64(length).u32(procId).str(client);
  }

  // ---- snapshots ----

  /** The session for a snapshot; requests must be drained first. */
  saveSession(): P9SessionState {
    const s = this.session;
    return {
      negotiated: s.negotiated,
      msize: s.msize,
      fids: [...s.fids].map(([fid, f]) => ({
        fid,
        path: f.path,
        kind: f.kind,
        openFlags: f.file !== null || f.reopen ? f.openFlags : -1,
      })),
    };
  }

  /**
   * Takes a saved session in place of the current one. Fids come back with their paths;
   * open ones are opened again on first use (a file gone meanwhile answers that errno).
   */
  restoreSession(state: P9SessionState): void {
    this.closeSession();
    const s = new Session(state.negotiated, Math.min(Math.max(state.msize, P9Limits.MIN_MSIZE), P9Limits.MAX_MSIZE));
    for (const f of state.fids) {
      s.fids.set(f.fid, {
        path: f.path.map((c) => c.slice()),
        kind: f.kind,
        file: null,
        openFlags: f.openFlags,
        reopen: f.openFlags >= 0,
        listing: null,
      });
    }
    this.session = s;
  }
}

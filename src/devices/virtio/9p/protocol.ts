/**
 * The 9P2000.L wire format: message numbers, Linux errno values, and a bounded
 * reader and a writer for little-endian fields. Numbers come from Linux's
 * include/net/9p/9p.h (the reference client) and the 9P2000.L description shipped
 * with diod/QEMU; errno values are Linux's asm-generic ones, which a RISC-V Linux
 * guest uses too.
 */
import { utf8Encode } from '../../../core/utf8.js';

/** Message types (T = request, R = reply = T + 1). */
export const P9 = {
  Tlerror: 6,
  Rlerror: 7,
  Tstatfs: 8,
  Rstatfs: 9,
  Tlopen: 12,
  Rlopen: 13,
  Tlcreate: 14,
  Rlcreate: 15,
  Tsymlink: 16,
  Rsymlink: 17,
  Tmknod: 18,
  Rmknod: 19,
  Trename: 20,
  Rrename: 21,
  Treadlink: 22,
  Rreadlink: 23,
  Tgetattr: 24,
  Rgetattr: 25,
  Tsetattr: 26,
  Rsetattr: 27,
  Txattrwalk: 30,
  Rxattrwalk: 31,
  Txattrcreate: 32,
  Rxattrcreate: 33,
  Treaddir: 40,
  Rreaddir: 41,
  Tfsync: 50,
  Rfsync: 51,
  Tlock: 52,
  Rlock: 53,
  Tgetlock: 54,
  Rgetlock: 55,
  Tlink: 70,
  Rlink: 71,
  Tmkdir: 72,
  Rmkdir: 73,
  Trenameat: 74,
  Rrenameat: 75,
  Tunlinkat: 76,
  Runlinkat: 77,
  Tversion: 100,
  Rversion: 101,
  Tauth: 102,
  Rauth: 103,
  Tattach: 104,
  Rattach: 105,
  Tflush: 108,
  Rflush: 109,
  Twalk: 110,
  Rwalk: 111,
  Tread: 116,
  Rread: 117,
  Twrite: 118,
  Rwrite: 119,
  Tclunk: 120,
  Rclunk: 121,
  Tremove: 122,
  Rremove: 123,
} as const;

/** Linux errno values (asm-generic/errno-base.h, errno.h) carried by Rlerror. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ESTALE: 116,
  EDQUOT: 122,
} as const;

/** An error the server answers with Rlerror(errno). Backends throw it. */
export class P9Error extends Error {
  constructor(
    readonly errno: number,
    message = `errno ${errno}`,
  ) {
    super(message);
    this.name = 'P9Error';
  }
}

/** A message that does not parse (a field past its end, a bad size): answered with EPROTO. */
export class P9ParseError extends P9Error {
  constructor(message: string) {
    super(Errno.EPROTO, message);
  }
}

/** Qid types (the high byte of a Plan 9 mode). */
export const QidType = { DIR: 0x80, SYMLINK: 0x02, FILE: 0x00 } as const;
export const QID_SIZE = 13;
/** size[4] type[1] tag[2]. */
export const HEADER_SIZE = 7;
/** Rread/Rreaddir header: size[4] type[1] tag[2] count[4]. */
export const READ_HEADER = 11;
/** Twrite header: size[4] type[1] tag[2] fid[4] offset[8] count[4]. */
export const WRITE_HEADER = 23;
export const NOFID = 0xffff_ffff;
export const NOTAG = 0xffff;
/** Linux's P9_MAXWELEM: names in one Twalk. */
export const MAX_WALK_NAMES = 16;
export const VERSION_9P2000_L = '9P2000.L';

/** Tlopen / Tlcreate flags (P9_DOTL_*: Linux's generic O_* values). */
export const OpenFlag = {
  ACCMODE: 3,
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREATE: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  DSYNC: 0o10000,
  DIRECTORY: 0o200000,
  SYNC: 0o4000000,
} as const;

/** Tsetattr `valid` bits (P9_ATTR_*). */
export const SetattrMask = {
  MODE: 1,
  UID: 2,
  GID: 4,
  SIZE: 8,
  ATIME: 16,
  MTIME: 32,
  CTIME: 64,
  ATIME_SET: 128,
  MTIME_SET: 256,
} as const;

/** Rgetattr `valid`: the basic fields (P9_GETATTR_BASIC) are always filled. */
export const GETATTR_BASIC = 0x7ff;
/** Tunlinkat flag for directories (AT_REMOVEDIR). */
export const AT_REMOVEDIR = 0x200;
/** Rlock status and lock types. */
export const LockStatus = { SUCCESS: 0 } as const;
export const LOCK_TYPE_UNLCK = 2;

/** File type bits of a mode (S_IFMT) and the types the share serves. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Directory entry types (DT_*) for Rreaddir. */
export function direntType(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 4;
    case S_IFREG:
      return 8;
    case S_IFLNK:
      return 10;
    case 0o010000:
      return 1; // FIFO
    case 0o020000:
      return 2; // character device
    case 0o060000:
      return 6; // block device
    case 0o140000:
      return 12; // socket
    default:
      return 0;
  }
}

/** A server-side file identity: type, version, path (unique per file). */
export interface Qid {
  readonly type: number;
  readonly version: number;
  readonly path: bigint;
}

/**
 * Reads fields of one message, never past `end`. A field that does not fit throws
 * `P9ParseError` (the server turns it into Rlerror EPROTO).
 */
export class P9Reader {
  private readonly view: DataView;
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.end) throw new P9ParseError(`${what} past the end of the message`);
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.need(1, 'u8'));
  }
  u16(): number {
    return this.view.getUint16(this.need(2, 'u16'), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4, 'u32'), true);
  }
  /** A u64 as a number; values past 2^53 are refused (EOVERFLOW), no file offset gets there. */
  u64(): number {
    const at = this.need(8, 'u64');
    const hi = this.view.getUint32(at + 4, true);
    if (hi > 0x1f_ffff) throw new P9Error(Errno.EOVERFLOW, 'u64 field past 2^53');
    return hi * 0x1_0000_0000 + this.view.getUint32(at, true);
  }
  /** A string s[2]: the raw bytes (names are bytes, not necessarily UTF-8). */
  str(): Uint8Array {
    const n = this.u16();
    const at = this.need(n, `string of ${n} bytes`);
    return this.buf.slice(at, at + n);
  }
  /** `n` raw bytes. */
  bytes(n: number): Uint8Array {
    const at = this.need(n, `${n} data bytes`);
    return this.buf.subarray(at, at + n);
  }
  get remaining(): number {
    return this.end - this.pos;
  }
}

/** Builds one reply; `finish` writes size[4] type[1] tag[2] in front. */
export class P9Writer {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  private pos = HEADER_SIZE;

  /** Reserves `n` bytes and returns their offset; call it before touching buf or view (it may replace them). */
  private room(n: number): number {
    if (this.pos + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
      bigger.set(this.buf.subarray(0, this.pos));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  get length(): number {
    return this.pos;
  }
  u8(v: number): this {
    const at = this.room(1);
    this.view.setUint8(at, v);
    return this;
  }
  u16(v: number): this {
    const at = this.room(2);
    this.view.setUint16(at, v, true);
    return this;
  }
  u32(v: number): this {
    const at = this.room(4);
    this.view.setUint32(at, v >>> 0, true);
    return this;
  }
  u64(v: number | bigint): this {
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
    return this;
  }
  str(s: Uint8Array | string): this {
    const b = typeof s === 'string' ? utf8Encode(s) : s;
    this.u16(b.length);
    return this.bytes(b);
  }
  bytes(b: Uint8Array): this {
    const at = this.room(b.length); // first: room() may replace this.buf
    this.buf.set(b, at);
    return this;
  }
  qid(q: Qid): this {
    return this.u8(q.type).u32(q.version).u64(q.path);
  }
  /** Overwrites a u32 written earlier at `at` (a count known only at the end). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  finish(type: number, tag: number): Uint8Array {
    this.view.setUint32(0, this.pos, true);
    this.view.setUint8(4, type);
    this.view.setUint16(5, tag, true);
    return this.buf.slice(0, this.pos);
  }
}

/** Rlerror(errno) for `tag`. */
export function lerror(tag: number, errno: number): Uint8Array {
  return new P9Writer().u32(errno).finish(P9.Rlerror, tag);
}

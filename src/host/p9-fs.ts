/**
 * A host directory as a virtio-9p share (`P9Backend`), confined to that directory.
 *
 * Node has no openat(2), so the backend builds it from Linux's /proc/self/fd: the share's
 * root is opened once (O_PATH); every operation resolves its path one name at a time,
 * opening each directory with O_PATH | O_DIRECTORY | O_NOFOLLOW relative to the previous
 * one as `/proc/self/fd/N/NAME`, and acts on the last name relative to the last directory
 * in the same way. The kernel resolves `/proc/self/fd/N` to exactly the directory held
 * open, so no symbolic link is ever followed and no path is checked and then used
 * again: there is no window between a check and its use for a rename or a symlink
 * swap, by the guest or anyone else. Changes that act on a file itself (mode, size,
 * times) go through an O_PATH descriptor of that file, never through its name.
 *
 * What remains is the nature of openat: a directory that a host process moves out of
 * the share while an operation holds it open is acted on where it now is.
 *
 * Only regular files and directories are opened; FIFOs, sockets and device nodes
 * answer EPERM (they are opened with O_NONBLOCK and checked again after opening, so a
 * swapped-in FIFO cannot block a thread of the pool). All I/O is asynchronous
 * (fs.promises: libuv's thread pool), so the event loop never waits for the disk.
 */
import { type BigIntStats, constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import { PvmError } from '../core/errors.js';
import type {
  P9Attr,
  P9Backend,
  P9DirEntry,
  P9File,
  P9Path,
  P9SetAttr,
  P9StatFs,
  P9Time,
} from '../devices/virtio/9p/backend.js';
import { checkTag, VirtioP9 } from '../devices/virtio/9p/device.js';
import { Errno, OpenFlag, P9Error } from '../devices/virtio/9p/protocol.js';

/** Linux's O_PATH (Node has no constant for it). */
const O_PATH = 0o10000000;
const DIR_FLAGS = O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW;
/** Entries of one directory looked at in parallel (lstat each). */
const LIST_BATCH = 32;

/** A Node error (code "ENOENT", ...) as the errno the guest gets. */
export function toP9Error(e: unknown): P9Error {
  if (e instanceof P9Error) return e;
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && code in Errno) return new P9Error(Errno[code as keyof typeof Errno], code);
  if (typeof code === 'string' && code.startsWith('ERR_')) return new P9Error(Errno.EINVAL, code);
  return new P9Error(Errno.EIO, e instanceof Error ? e.message : String(e));
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw toP9Error(e);
  }
}

const NS = 1_000_000_000n;

function attrOf(s: BigIntStats): P9Attr {
  const split = (ns: bigint) => [Number(ns / NS), Number(ns % NS)] as const;
  const [atimeSec, atimeNsec] = split(s.atimeNs);
  const [mtimeSec, mtimeNsec] = split(s.mtimeNs);
  const [ctimeSec, ctimeNsec] = split(s.ctimeNs);
  return {
    mode: Number(s.mode),
    uid: Number(s.uid),
    gid: Number(s.gid),
    nlink: Number(s.nlink),
    rdev: Number(s.rdev),
    size: Number(s.size),
    blksize: Number(s.blksize),
    blocks: Number(s.blocks),
    atimeSec,
    atimeNsec,
    mtimeSec,
    mtimeNsec,
    ctimeSec,
    ctimeNsec,
    ino: s.ino,
    dev: s.dev,
  };
}

/** OpenFlag bits (Linux's generic O_* values) as this host's. */
function hostFlags(flags: number): number {
  const access = flags & OpenFlag.ACCMODE;
  let f = access === OpenFlag.WRONLY ? C.O_WRONLY : access === OpenFlag.RDWR ? C.O_RDWR : C.O_RDONLY;
  if (flags & OpenFlag.TRUNC) f |= C.O_TRUNC;
  if (flags & OpenFlag.APPEND) f |= C.O_APPEND;
  if (flags & OpenFlag.DSYNC) f |= C.O_DSYNC;
  if (flags & OpenFlag.SYNC) f |= C.O_SYNC;
  if (flags & OpenFlag.DIRECTORY) f |= C.O_DIRECTORY;
  if (flags & OpenFlag.CREATE) f |= C.O_CREAT;
  if (flags & OpenFlag.EXCL) f |= C.O_EXCL;
  return f | C.O_NOFOLLOW | C.O_NONBLOCK;
}

/** `/proc/self/fd/FD/NAME` (or the directory itself) as a byte path. */
function at(fd: number, name?: Uint8Array): Buffer {
  const dir = Buffer.from(`/proc/self/fd/${fd}${name === undefined ? '' : '/'}`);
  return name === undefined ? dir : Buffer.concat([dir, name]);
}

const seconds = (t: P9Time): number => (t === 'now' ? Date.now() / 1000 : t.sec + t.nsec / 1e9);

const isServed = (s: BigIntStats) => s.isFile() || s.isDirectory();

class NodeP9File implements P9File {
  constructor(private readonly fh: FileHandle) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    const { bytesRead } = await guard(this.fh.read(buf, 0, length, offset));
    return buf.subarray(0, bytesRead);
  }

  async write(offset: number, data: Uint8Array): Promise<number> {
    return (await guard(this.fh.write(data, 0, data.length, offset))).bytesWritten;
  }

  async stat(): Promise<P9Attr> {
    return attrOf(await guard(this.fh.stat({ bigint: true })));
  }

  async setattr(a: P9SetAttr): Promise<void> {
    if (a.mode !== undefined) await guard(this.fh.chmod(a.mode));
    if (a.size !== undefined) await guard(this.fh.truncate(a.size));
    if (a.atime !== undefined || a.mtime !== undefined) {
      const s = await this.stat();
      await guard(
        this.fh.utimes(
          a.atime === undefined ? s.atimeSec + s.atimeNsec / 1e9 : seconds(a.atime),
          a.mtime === undefined ? s.mtimeSec + s.mtimeNsec / 1e9 : seconds(a.mtime),
        ),
      );
    }
  }

  async sync(dataOnly: boolean): Promise<void> {
    await guard(dataOnly ? this.fh.datasync() : this.fh.sync());
  }

  async list(): Promise<P9DirEntry[]> {
    const names = await guard(fsp.readdir(at(this.fh.fd), { encoding: 'buffer' }));
    const out: P9DirEntry[] = [];
    for (let i = 0; i < names.length; i += LIST_BATCH) {
      const batch = names.slice(i, i + LIST_BATCH);
      const stats = await Promise.allSettled(batch.map((n) => fsp.lstat(at(this.fh.fd, n), { bigint: true })));
      stats.forEach((s, k) => {
        // An entry removed between readdir and lstat is left out.
        if (s.status === 'fulfilled') out.push({ name: new Uint8Array(batch[k]!), attr: attrOf(s.value) });
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await guard(this.fh.close());
  }
}

export interface NodeP9FsOptions {
  readonly readOnly?: boolean;
}

export class NodeP9Fs implements P9Backend {
  private constructor(
    /** The share's root as the host resolved it (no symbolic links). */
    readonly root: string,
    readonly readOnly: boolean,
    private readonly rootFd: FileHandle,
  ) {}

  /**
   * Opens `dir` as a share. Errors are `PvmError('usage')` with one line: the
   * directory does not exist or is not one, or the host is not Linux with /proc.
   */
  static async open(dir: string, opts: NodeP9FsOptions = {}): Promise<NodeP9Fs> {
    if (process.platform !== 'linux') {
      throw new PvmError('usage', 'host folders (virtio-9p) need a Linux host (/proc/self/fd)');
    }
    let root: string;
    try {
      root = await realpath(dir);
      if (!(await stat(root)).isDirectory()) throw new PvmError('usage', `share ${dir}: not a directory`);
    } catch (e) {
      if (e instanceof PvmError) throw e;
      const code = (e as { code?: string }).code;
      const why =
        code === 'ENOENT'
          ? 'no such directory'
          : code === 'ENOTDIR'
            ? 'not a directory'
            : code === 'EACCES'
              ? 'permission denied'
              : (code ?? String(e));
      throw new PvmError('usage', `share ${dir}: ${why}`);
    }
    const fd = await open(root, O_PATH | C.O_DIRECTORY);
    try {
      const [viaProc, direct] = await Promise.all([fsp.stat(at(fd.fd), { bigint: true }), fd.stat({ bigint: true })]);
      if (viaProc.ino !== direct.ino || viaProc.dev !== direct.dev) throw new Error('mismatch');
    } catch {
      await fd.close();
      throw new PvmError('usage', `share ${dir}: /proc/self/fd is not usable (is /proc mounted?)`);
    }
    return new NodeP9Fs(root, opts.readOnly === true, fd);
  }

  /** Runs `fn` with an O_PATH descriptor of directory `dir` (names resolved one by one). */
  private async inDir<T>(dir: P9Path, fn: (fd: number) => Promise<T>): Promise<T> {
    let cur: FileHandle | null = null;
    try {
      for (const name of dir) {
        const next: FileHandle = await open(at(cur?.fd ?? this.rootFd.fd, name), DIR_FLAGS);
        await cur?.close();
        cur = next;
      }
      return await fn(cur?.fd ?? this.rootFd.fd);
    } catch (e) {
      throw toP9Error(e);
    } finally {
      await cur?.close().catch(() => {});
    }
  }

  /** Runs `fn` with the parent directory's descriptor and the last name (path not the root). */
  private atName<T>(path: P9Path, fn: (dirFd: number, name: Uint8Array) => Promise<T>): Promise<T> {
    if (path.length === 0) throw new P9Error(Errno.EBUSY, 'the share root');
    return this.inDir(path.slice(0, -1), (fd) => fn(fd, path[path.length - 1]!));
  }

  /** An O_PATH descriptor of the object at `path` itself (a link stays a link). */
  private async pin<T>(path: P9Path, fn: (fd: number, s: BigIntStats) => Promise<T>): Promise<T> {
    const run = async (fh: FileHandle) => {
      try {
        return await fn(fh.fd, await fh.stat({ bigint: true }));
      } finally {
        await fh.close();
      }
    };
    if (path.length === 0) return guard(open(at(this.rootFd.fd), O_PATH | C.O_DIRECTORY).then(run));
    return this.atName(path, async (fd, name) => run(await open(at(fd, name), O_PATH | C.O_NOFOLLOW)));
  }

  async lstat(path: P9Path): Promise<P9Attr> {
    if (path.length === 0) return attrOf(await guard(this.rootFd.stat({ bigint: true })));
    return this.atName(path, async (fd, name) => attrOf(await fsp.lstat(at(fd, name), { bigint: true })));
  }

  /** Opens and checks the kind again on the descriptor (something may have been swapped in). */
  private async served(fh: FileHandle): Promise<P9File> {
    try {
      const s = await fh.stat({ bigint: true });
      if (!isServed(s)) throw new P9Error(Errno.EPERM, 'not a regular file or directory');
      return new NodeP9File(fh);
    } catch (e) {
      await fh.close().catch(() => {});
      throw toP9Error(e);
    }
  }

  async open(path: P9Path, flags: number): Promise<P9File> {
    if (path.length === 0) {
      // The root through its /proc link (the link itself is ours, so no O_NOFOLLOW here).
      const f = hostFlags(flags) & ~C.O_NOFOLLOW;
      return this.served(await guard(open(at(this.rootFd.fd), f)));
    }
    return this.atName(path, async (fd, name) => {
      const before = await fsp.lstat(at(fd, name), { bigint: true });
      if (before.isSymbolicLink()) throw new P9Error(Errno.ELOOP, 'symbolic link');
      if (!isServed(before)) throw new P9Error(Errno.EPERM, 'not a regular file or directory');
      return this.served(await open(at(fd, name), hostFlags(flags)));
    });
  }

  create(dir: P9Path, name: Uint8Array, flags: number, mode: number): Promise<P9File> {
    return this.inDir(dir, async (fd) =>
      this.served(await open(at(fd, name), hostFlags(flags | OpenFlag.CREATE), mode)),
    );
  }

  mkdir(dir: P9Path, name: Uint8Array, mode: number): Promise<void> {
    return this.inDir(dir, (fd) => fsp.mkdir(at(fd, name), { mode }).then(() => {}));
  }

  symlink(dir: P9Path, name: Uint8Array, target: Uint8Array): Promise<void> {
    return this.inDir(dir, (fd) => fsp.symlink(Buffer.from(target), at(fd, name)));
  }

  link(target: P9Path, dir: P9Path, name: Uint8Array): Promise<void> {
    // linkat without AT_SYMLINK_FOLLOW: a link to a symbolic link links the link itself.
    return this.atName(target, (tfd, tname) => this.inDir(dir, (dfd) => fsp.link(at(tfd, tname), at(dfd, name))));
  }

  rename(dir: P9Path, name: Uint8Array, newDir: P9Path, newName: Uint8Array): Promise<void> {
    return this.inDir(dir, (ofd) => this.inDir(newDir, (nfd) => fsp.rename(at(ofd, name), at(nfd, newName))));
  }

  remove(dir: P9Path, name: Uint8Array, directory: boolean): Promise<void> {
    return this.inDir(dir, (fd) => (directory ? fsp.rmdir(at(fd, name)) : fsp.unlink(at(fd, name))));
  }

  readlink(path: P9Path): Promise<Uint8Array> {
    return this.atName(
      path,
      async (fd, name) => new Uint8Array(await fsp.readlink(at(fd, name), { encoding: 'buffer' })),
    );
  }

  setattr(path: P9Path, a: P9SetAttr): Promise<void> {
    return this.pin(path, async (fd, s) => {
      if (s.isSymbolicLink()) {
        // Linux has no lchmod or ltruncate; times of the link itself are set by name.
        if (a.mode !== undefined || a.size !== undefined) throw new P9Error(Errno.EOPNOTSUPP, 'symbolic link');
        const times = [a.atime, a.mtime];
        if (times.every((t) => t === undefined)) return;
        const cur = attrOf(s);
        return this.atName(path, (dfd, name) =>
          fsp.lutimes(
            at(dfd, name),
            a.atime === undefined ? cur.atimeSec + cur.atimeNsec / 1e9 : seconds(a.atime),
            a.mtime === undefined ? cur.mtimeSec + cur.mtimeNsec / 1e9 : seconds(a.mtime),
          ),
        );
      }
      // /proc/self/fd/N of an O_PATH descriptor is the file itself, whatever its name is now.
      const self = at(fd);
      if (a.mode !== undefined) await fsp.chmod(self, a.mode);
      if (a.size !== undefined) {
        if (!s.isFile()) throw new P9Error(s.isDirectory() ? Errno.EISDIR : Errno.EINVAL, 'not a regular file');
        await fsp.truncate(self, a.size);
      }
      if (a.atime !== undefined || a.mtime !== undefined) {
        const cur = attrOf(s);
        await fsp.utimes(
          self,
          a.atime === undefined ? cur.atimeSec + cur.atimeNsec / 1e9 : seconds(a.atime),
          a.mtime === undefined ? cur.mtimeSec + cur.mtimeNsec / 1e9 : seconds(a.mtime),
        );
      }
    }).catch((e: unknown) => {
      throw toP9Error(e);
    });
  }

  statfs(path: P9Path): Promise<P9StatFs> {
    return this.pin(path, async (fd) => {
      const s = await fsp.statfs(at(fd));
      return {
        type: s.type,
        bsize: s.bsize,
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
        namelen: 255,
      };
    }).catch((e: unknown) => {
      throw toP9Error(e);
    });
  }

  async close(): Promise<void> {
    await this.rootFd.close().catch(() => {});
  }
}

export interface ShareSpec {
  /** Host directory. */
  readonly path: string;
  /** Mount tag the guest names. */
  readonly tag: string;
  readonly readonly: boolean;
}

/** A virtio-9p device serving `spec.path` (VirtioP9.close releases the directory). */
export async function openShare(spec: ShareSpec): Promise<VirtioP9> {
  const bad = checkTag(spec.tag);
  if (bad !== null) throw new PvmError('usage', bad);
  const backend = await NodeP9Fs.open(spec.path, { readOnly: spec.readonly });
  return new VirtioP9({ tag: spec.tag, backend });
}

/**
 * Where a 9p share keeps its files. The server (server.ts) speaks 9P2000.L, owns the
 * fids and checks every name; a backend only performs file operations on paths it is
 * given: component lists relative to the share's root, each component already a plain
 * name (never empty, ".", ".." or containing "/" or NUL). A backend never follows a
 * symbolic link, so whatever the components are, the object reached lies inside the
 * share (the Node backend, src/host/p9-fs.ts, resolves each component itself from an
 * open root directory).
 *
 * Failures are `P9Error(errno)`: the server answers them with Rlerror.
 */

/** A path inside the share: names from the root (the root itself is []). Names are raw bytes. */
export type P9Path = readonly Uint8Array[];

/** What Tgetattr reports about a file (struct stat, times split in seconds and nanoseconds). */
export interface P9Attr {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly rdev: number;
  readonly size: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly atimeSec: number;
  readonly atimeNsec: number;
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
  readonly ctimeSec: number;
  readonly ctimeNsec: number;
  /** Inode and device: the server turns them into the qid path. */
  readonly ino: bigint;
  readonly dev: bigint;
}

export interface P9DirEntry {
  readonly name: Uint8Array;
  readonly attr: P9Attr;
}

export interface P9StatFs {
  readonly type: number;
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
  readonly files: number;
  readonly ffree: number;
  readonly namelen: number;
}

/** A time to set: seconds and nanoseconds, or the host's current time. */
export type P9Time = { readonly sec: number; readonly nsec: number } | 'now';

/** Tsetattr changes a backend carries out (ownership is the server's business). */
export interface P9SetAttr {
  readonly mode?: number;
  readonly size?: number;
  readonly atime?: P9Time;
  readonly mtime?: P9Time;
}

/** An open file or directory. */
export interface P9File {
  /** Up to `length` bytes at `offset` (fewer at the end of the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at `offset`; returns the bytes written. */
  write(offset: number, data: Uint8Array): Promise<number>;
  stat(): Promise<P9Attr>;
  setattr(attr: P9SetAttr): Promise<void>;
  sync(dataOnly: boolean): Promise<void>;
  /** A directory's entries, without "." and "..". */
  list(): Promise<P9DirEntry[]>;
  close(): Promise<void>;
}

export interface P9Backend {
  /** Every change is refused (the server answers EROFS before asking the backend). */
  readonly readOnly: boolean;
  /** The object at `path` itself (a symbolic link is reported as one). */
  lstat(path: P9Path): Promise<P9Attr>;
  /**
   * Opens a regular file or directory. `flags`: OpenFlag access mode, TRUNC, APPEND,
   * DSYNC, SYNC, DIRECTORY. A symbolic link fails with ELOOP, other kinds with EPERM.
   */
  open(path: P9Path, flags: number): Promise<P9File>;
  /** Creates (OpenFlag.EXCL in `flags`: only if absent) and opens a regular file in `dir`. */
  create(dir: P9Path, name: Uint8Array, flags: number, mode: number): Promise<P9File>;
  mkdir(dir: P9Path, name: Uint8Array, mode: number): Promise<void>;
  symlink(dir: P9Path, name: Uint8Array, target: Uint8Array): Promise<void>;
  /** A hard link to `target` (never a directory) named `name` in `dir`. */
  link(target: P9Path, dir: P9Path, name: Uint8Array): Promise<void>;
  rename(dir: P9Path, name: Uint8Array, newDir: P9Path, newName: Uint8Array): Promise<void>;
  remove(dir: P9Path, name: Uint8Array, directory: boolean): Promise<void>;
  readlink(path: P9Path): Promise<Uint8Array>;
  setattr(path: P9Path, attr: P9SetAttr): Promise<void>;
  statfs(path: P9Path): Promise<P9StatFs>;
  /** Releases the backend (the share's root). */
  close(): Promise<void>;
}

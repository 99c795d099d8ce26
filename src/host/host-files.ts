/**
 * The host resources policy: which host files a domain spec, a save or a restore may use, and
 * how they are opened (docs/security.md, "Host files").
 *
 * - Every path is absolute (the API says so; a relative one would resolve against the daemon's
 *   working directory, which a client does not know).
 * - The path is resolved through its symlinks (`realpath`) and must lie inside one of the
 *   allowed directories. `pvm run` allows every path (the user names their own files); the
 *   daemon allows its `--allow-dir` directories, by default its working directory and the
 *   system's temporary directory. The package's own images (the embedded guest, Debian's
 *   OpenSBI) are always readable.
 * - Files are opened with O_NONBLOCK (a FIFO does not block the open, and so never the event
 *   loop nor a libuv worker), then `fstat`ed on the open descriptor: anything but a regular
 *   file (FIFO, device, socket, directory) is refused, and so is one larger than the caller's
 *   limit, before a byte is read.
 */
import { constants, realpathSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { ApiError } from '../api/errors.js';
import { DEFAULTS } from '../api/spec.js';
import { PvmError } from '../core/errors.js';

/** Directories whose files are always readable: the embedded guest's and the default firmware's. */
export const BUILTIN_IMAGE_DIRS: readonly string[] = [dirname(DEFAULTS.guest), dirname(DEFAULTS.firmware)];

/** The daemon's allowed directories when it is given no `--allow-dir`: its working directory and the temporary directory. */
export function defaultAllowDirs(cwd = process.cwd()): string[] {
  return [cwd, tmpdir()];
}

const errnoWhy = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return code ?? String(e);
  }
};

/** A directory as realpath gives it (it may not exist yet: then as written). */
function realDir(dir: string): string {
  const abs = resolve(dir);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

const inside = (path: string, dir: string): boolean =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Where host files may be. `null` dirs: everywhere (`pvm run`, the library's default);
 * a list: only inside those directories (after resolving symlinks).
 */
export class HostFiles {
  private readonly dirs: readonly string[] | null;
  private readonly builtin: readonly string[];

  constructor(allowDirs: readonly string[] | null = null) {
    this.dirs = allowDirs === null ? null : allowDirs.map(realDir);
    this.builtin = BUILTIN_IMAGE_DIRS.map(realDir);
  }

  /** The allowed directories (resolved), or null when any path is allowed. */
  get allowDirs(): readonly string[] | null {
    return this.dirs;
  }

  /**
   * Checks `path` against the policy and returns it with its symlinks resolved. The file need not
   * exist when `mayCreate` (a save file, a console file): its directory is resolved instead.
   */
  check(path: string, what: string, opts: { mayCreate?: boolean; write?: boolean } = {}): string {
    if (!isAbsolute(path)) {
      throw new ApiError(
        'bad-request',
        `${what} path ${JSON.stringify(path)} is relative: host paths must be absolute`,
      );
    }
    let real: string;
    try {
      real = realpathSync(path);
    } catch (e) {
      if (!opts.mayCreate || (e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new PvmError('io', `cannot ${opts.write ? 'open' : 'read'} ${what} ${path}: ${errnoWhy(e)}`, {
          cause: e,
        });
      }
      try {
        real = resolve(realpathSync(dirname(path)), path.slice(dirname(path).length + 1));
      } catch (e2) {
        throw new PvmError('io', `cannot create ${what} ${path}: ${errnoWhy(e2)}`, { cause: e2 });
      }
    }
    if (this.dirs === null) return real;
    if (this.dirs.some((d) => inside(real, d))) return real;
    if (!opts.write && this.builtin.some((d) => inside(real, d))) return real;
    throw new ApiError(
      'forbidden',
      `${what} ${path}${real !== path ? ` (${real})` : ''} is outside the directories this daemon may use (${this.dirs.join(', ')}; pvm daemon --allow-dir)`,
    );
  }

  /**
   * Opens an existing regular file under the policy: O_NONBLOCK, then fstat. Returns the handle
   * and its size; anything but a regular file, or one larger than `max`, is refused (closed).
   */
  async openRegular(
    path: string,
    what: string,
    opts: { write?: boolean; max?: number; extraFlags?: number } = {},
  ): Promise<{ fh: FileHandle; size: number; real: string }> {
    const real = this.check(path, what, { write: opts.write === true });
    return openRegularFile(real, what, { ...opts, shownAs: path });
  }

  /**
   * Reads a whole regular file of at most `max` bytes (a kernel, an initrd, firmware). Domains
   * keep their images for reboots, so the bytes of a file read before and still held by some
   * domain are returned again, not read into a new copy (`images`): never write into them.
   */
  async readImage(path: string, what: string, max: number): Promise<Uint8Array> {
    const { fh, size } = await this.openRegular(path, what, { max });
    try {
      const st = await fh.stat({ bigint: true });
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      const held = images.get(key)?.deref();
      if (held !== undefined) return held;
      const bytes = await readAll(fh, size);
      images.set(key, new WeakRef(bytes));
      imageGone.register(bytes, key);
      return bytes;
    } finally {
      await fh.close();
    }
  }
}

/**
 * Images read by `readImage` and still held, by file identity (device, inode, size, change
 * times): a thousand domains of one kernel hold one copy of it (docs/density.md). A file
 * changed since has another key and is read again.
 */
const images = new Map<string, WeakRef<Uint8Array>>();
const imageGone = new FinalizationRegistry<string>((key) => {
  if (images.get(key)?.deref() === undefined) images.delete(key);
});

/** Opens `path` O_NONBLOCK and refuses anything but a regular file of at most `max` bytes. */
export async function openRegularFile(
  path: string,
  what: string,
  opts: { write?: boolean; max?: number; extraFlags?: number; shownAs?: string } = {},
): Promise<{ fh: FileHandle; size: number; real: string }> {
  const shown = opts.shownAs ?? path;
  const flags = (opts.write ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK | (opts.extraFlags ?? 0);
  let fh: FileHandle;
  try {
    fh = await open(path, flags);
  } catch (e) {
    throw new PvmError('io', `cannot ${opts.write ? 'open' : 'read'} ${what} ${shown}: ${errnoWhy(e)}`, {
      cause: e,
    });
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new PvmError('io', `cannot use ${what} ${shown}: is a directory`);
    if (!st.isFile()) {
      const kind = st.isFIFO()
        ? 'a FIFO'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : st.isSocket()
            ? 'a socket'
            : 'not a regular file';
      throw new PvmError('io', `cannot use ${what} ${shown}: ${kind}, not a regular file`);
    }
    if (opts.max !== undefined && st.size > opts.max) {
      throw new PvmError('io', `cannot use ${what} ${shown}: ${st.size} bytes is more than ${opts.max}`);
    }
    return { fh, size: st.size, real: path };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Reads `size` bytes from the start of `fh` (fewer if the file shrank meanwhile). */
export async function readAll(fh: FileHandle, size: number): Promise<Uint8Array> {
  const b = new Uint8Array(size);
  let o = 0;
  while (o < size) {
    const { bytesRead } = await fh.read(b, o, size - o, o);
    if (bytesRead === 0) break;
    o += bytesRead;
  }
  return o === size ? b : b.subarray(0, o);
}

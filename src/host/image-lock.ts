/**
 * Disk image locks, as QEMU takes them: a domain that writes an image holds an exclusive lock on
 * it, one that only reads it a shared lock. So two writers, or a writer and a reader, of one
 * image refuse to start, whether they are two domains of one daemon, two daemons or two
 * `pvm run` processes; any number of readers share it.
 *
 * The lock is `flock(2)` on the image's open file description (Node has no API for it; the
 * `fs-ext` module is the binding). It is released when the file is closed, or when the process
 * ends however it ends. flock locks and the POSIX/OFD byte-range locks QEMU uses are separate
 * on Linux, so pvm and QEMU do not see each other's locks (docs/security.md).
 */
import { createRequire } from 'node:module';
import { ApiError } from '../api/errors.js';

type FsExt = { flockSync(fd: number, flags: 'exnb' | 'shnb' | 'un'): void };
let fsExt: FsExt | null = null;
const binding = (): FsExt => {
  fsExt ??= createRequire(import.meta.url)('fs-ext') as FsExt;
  return fsExt;
};

/** Releases the lock held on `fd` (live migration hands it to the destination; docs/migration.md). */
export function unlockImage(fd: number): void {
  binding().flockSync(fd, 'un');
}

/**
 * Locks the image open on `fd`: exclusive for a writer, shared for a reader; never waits. A lock
 * another holder has is ApiError('in-use') naming the image.
 */
export function lockImage(fd: number, path: string, mode: 'write' | 'read'): void {
  try {
    binding().flockSync(fd, mode === 'write' ? 'exnb' : 'shnb');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
      throw new ApiError(
        'in-use',
        mode === 'write'
          ? `disk ${path} is in use by another domain or process: cannot get its write lock (open it ,ro everywhere to share it)`
          : `disk ${path} is being written by another domain or process: cannot get its shared read lock`,
        { cause: e },
      );
    }
    throw e;
  }
}

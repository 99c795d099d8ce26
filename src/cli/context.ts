import type { DomainEnd } from '../hypervisor/domain.js';

/**
 * What every `pvm` subcommand gets: where to write, and a slot for the
 * process exit status its action decides.
 */
export interface CliIo {
  /** Guest console and command output (bytes or text). */
  stdout(data: Uint8Array | string): void;
  /** Diagnostics: one line per message, prefixed `pvm: ` by the caller. */
  stderr(text: string): void;
}

export interface CliContext {
  readonly io: CliIo;
  /** Exit status set by the action that ran (0 when none set it). */
  status: number;
}

/** Process exit statuses of `pvm`. */
export const ExitStatus = {
  OK: 0,
  /** The guest failed (its own code is used when it gives one). */
  GUEST_FAILED: 1,
  /** Bad command line, or an image/file that cannot be used. */
  USAGE: 2,
  /** Stopped by --max-instructions (as timeout(1) does). */
  LIMIT: 124,
  /** A bug in pvm. */
  INTERNAL: 70,
} as const;

/** Maps a guest exit code to a process status: the low 8 bits, but never 0 for a non-zero code. */
export function guestStatus(code: number): number {
  if (code === 0) return 0;
  const s = code & 0xff;
  return s === 0 ? 1 : s;
}

/** The process exit status of a domain's end: 0 at poweroff, the guest's code on failure, the host's on a host stop, 124 at --max-instructions. */
export function endStatus(end: DomainEnd): number {
  switch (end.kind) {
    case 'poweroff':
      return ExitStatus.OK;
    case 'fail':
      return guestStatus(end.code);
    case 'host-stop':
      return end.code;
    case 'limit':
      return ExitStatus.LIMIT;
  }
}

export const nodeIo: CliIo = {
  stdout: (data) => {
    process.stdout.write(data);
  },
  stderr: (text) => {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  },
};

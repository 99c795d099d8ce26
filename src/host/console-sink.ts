/**
 * Where a domain's console output goes, as its spec's `console` field says:
 * - `stdio`: straight to the terminal;
 * - `prefix`: each line led by `name| ` (several domains on one terminal). A partial line
 *   (a prompt) is shown at once; when another domain writes meanwhile, the partial line is ended
 *   and the rest comes later on a line of its own, so lines of two domains never mix;
 * - `none`: dropped;
 * - `{ file }`: appended to a regular file (created if missing), in `pvm run` and the daemon alike.
 */
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import type { ConsoleTarget } from '../api/spec.js';
import { PvmError } from '../core/errors.js';

export interface ConsoleSink {
  write(bytes: Uint8Array): void;
  /** Ends a pending partial line (prefix mode) and closes a file. */
  close(): Promise<void>;
}

/** Anything with a Node-stream-like write (process.stdout, a test buffer). */
export interface ByteStream {
  write(chunk: Uint8Array | string): unknown;
}

const NL = 0x0a;

/**
 * One terminal shared by the consoles of a run: it knows which console left the cursor in the
 * middle of a line, so another console's output starts on a fresh line.
 */
export class SharedTerminal {
  /** The writer whose partial line is on screen, and how it is told its line was broken. */
  private midLine: { readonly broken: () => void } | null = null;

  constructor(private readonly out: ByteStream) {}

  /** A writer of lines led by `prefix` (empty: raw bytes, as `stdio`). */
  writer(prefix: string): ConsoleSink {
    const lead = new TextEncoder().encode(prefix);
    let atLineStart = true;
    const self = { broken: () => (atLineStart = true) };
    const write = (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      if (this.midLine !== null && this.midLine !== self) {
        this.out.write(Uint8Array.of(NL));
        this.midLine.broken();
        this.midLine = null;
      }
      if (lead.length === 0) {
        this.out.write(bytes);
      } else {
        let start = 0;
        while (start < bytes.length) {
          const nl = bytes.indexOf(NL, start);
          const end = nl < 0 ? bytes.length : nl + 1;
          this.out.write(atLineStart ? concat(lead, bytes.subarray(start, end)) : bytes.slice(start, end));
          atLineStart = nl >= 0;
          start = end;
        }
      }
      if (lead.length > 0) this.midLine = atLineStart ? null : self;
      else this.midLine = bytes[bytes.length - 1] === NL ? null : self;
    };
    return {
      write,
      close: async () => {
        if (this.midLine === self) {
          this.out.write(Uint8Array.of(NL));
          this.midLine = null;
        }
      },
    };
  }
}

/** A sink appending to `path`: opened now, so a bad path is refused before the domain runs. */
export function fileSink(path: string): ConsoleSink {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO without a reader must not hang the open (it is refused below anyway).
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    throw new PvmError('io', `cannot open console file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new PvmError('io', `cannot open console file ${path}: not a regular file`);
  }
  let open = true;
  return {
    write(bytes) {
      if (!open) return;
      try {
        for (let o = 0; o < bytes.length; ) o += writeSync(fd, bytes, o);
      } catch {
        // A full disk loses console output, never the domain.
      }
    },
    async close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** The sink for `target`; `terminal` is shared by the run's domains, `name` leads prefixed lines. */
export function consoleSink(target: ConsoleTarget, name: string, terminal: SharedTerminal): ConsoleSink {
  if (target === 'none') return { write() {}, close: async () => {} };
  if (target === 'stdio') return terminal.writer('');
  if (target === 'prefix') return terminal.writer(`${name}| `);
  return fileSink(target.file);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

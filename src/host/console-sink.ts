/**
 * Where a domain's console output goes, as its spec's `console` field says:
 * - `stdio`: straight to the terminal;
 * - `prefix`: each line led by `name| ` (several domains on one terminal), whole lines at a
 *   time; a partial line (a prompt) is shown once its domain has been quiet for PROMPT_DELAY_MS;
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

/** How long a partial line (a prompt) waits for the rest of its line before it is shown. */
export const PROMPT_DELAY_MS = 100;

/**
 * One terminal shared by the consoles of a run. In prefix mode a partial line is held until its
 * newline, or shown after PROMPT_DELAY_MS without more output (a prompt waiting for input): a
 * guest's line often reaches the host in two turns, with another domain's output between them.
 * The terminal knows which console left the cursor in the middle of a line, so another console's
 * output then starts on a fresh line.
 */
export class SharedTerminal {
  /** The writer whose partial line is on screen, and how it is told its line was broken. */
  private midLine: { readonly broken: () => void } | null = null;

  constructor(
    private readonly out: ByteStream,
    private readonly promptDelayMs = PROMPT_DELAY_MS,
  ) {}

  /** Ends a partial line another writer left on screen. */
  private claim(self: object): void {
    if (this.midLine !== null && this.midLine !== self) {
      this.out.write(Uint8Array.of(NL));
      this.midLine.broken();
      this.midLine = null;
    }
  }

  /** A writer of lines led by `prefix` (empty: raw bytes, as `stdio`). */
  writer(prefix: string): ConsoleSink {
    const lead = new TextEncoder().encode(prefix);
    let atLineStart = true;
    /** The held back end of a partial line, not yet on screen. */
    let held: Uint8Array | null = null;
    let timer: NodeJS.Timeout | null = null;
    const self = { broken: () => (atLineStart = true) };
    const show = (bytes: Uint8Array) => {
      this.claim(self);
      this.out.write(atLineStart ? concat(lead, bytes) : bytes);
      atLineStart = bytes[bytes.length - 1] === NL;
      this.midLine = atLineStart ? null : self;
    };
    const flushHeld = () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (held === null) return;
      const bytes = held;
      held = null;
      show(bytes);
    };
    const write = (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      if (lead.length === 0) {
        this.claim(self);
        this.out.write(bytes);
        this.midLine = bytes[bytes.length - 1] === NL ? null : self;
        return;
      }
      const lastNl = bytes.lastIndexOf(NL);
      if (lastNl >= 0) {
        const complete = held === null ? bytes.subarray(0, lastNl + 1) : concat(held, bytes.subarray(0, lastNl + 1));
        held = null;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        let start = 0;
        while (start < complete.length) {
          const end = complete.indexOf(NL, start) + 1;
          show(complete.subarray(start, end));
          start = end;
        }
      }
      const rest = bytes.subarray(lastNl + 1);
      if (rest.length === 0) return;
      held = held === null ? rest.slice() : concat(held, rest);
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(flushHeld, this.promptDelayMs);
      timer.unref();
    };
    return {
      write,
      close: async () => {
        flushHeld();
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

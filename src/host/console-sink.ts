/**
 * Where a domain's console output goes, as the config's `console` field says:
 * - `stdio`: straight to the output stream;
 * - `prefix`: line by line, each line led by `name| ` (several domains on one terminal);
 *   a partial line waits for its newline (or `flush`), so lines of two domains never mix;
 * - `none`: dropped;
 * - `{ file }`: appended to a file (created if missing).
 */
import { createWriteStream } from 'node:fs';

export type ConsoleTargetSpec = 'stdio' | 'prefix' | 'none' | { file: string };

export interface ConsoleSink {
  write(bytes: Uint8Array): void;
  /** Emits a pending partial line (prefix mode) and closes a file. */
  close(): Promise<void>;
}

/** Anything with a Node-stream-like write (process.stdout, a test buffer). */
export interface ByteStream {
  write(chunk: Uint8Array | string): unknown;
}

/** Longest partial line kept in prefix mode before it is emitted anyway. */
const MAX_PARTIAL = 4096;

export function consoleSink(target: ConsoleTargetSpec, name: string, out: ByteStream): ConsoleSink {
  if (target === 'none') return { write() {}, close: async () => {} };
  if (target === 'stdio') return { write: (b) => void out.write(b), close: async () => {} };
  if (typeof target === 'object') {
    const f = createWriteStream(target.file, { flags: 'a' });
    return {
      write: (b) => void f.write(b),
      close: () => new Promise<void>((resolve, reject) => f.end((e?: Error | null) => (e ? reject(e) : resolve()))),
    };
  }
  const prefix = new TextEncoder().encode(`${name}| `);
  let partial: Uint8Array[] = [];
  let partialLen = 0;
  const emit = (line: Uint8Array) => {
    out.write(concat([prefix, ...partial, line]));
    partial = [];
    partialLen = 0;
  };
  return {
    write(bytes) {
      let start = 0;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === 0x0a) {
          emit(bytes.subarray(start, i + 1));
          start = i + 1;
        }
      }
      if (start < bytes.length) {
        partial.push(bytes.slice(start));
        partialLen += bytes.length - start;
        if (partialLen > MAX_PARTIAL) emit(Uint8Array.of(0x0a));
      }
    },
    async close() {
      if (partialLen > 0) emit(Uint8Array.of(0x0a));
    },
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

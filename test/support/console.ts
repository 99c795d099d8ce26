/**
 * A guest console driven like a person at a terminal, for guests that are only reachable
 * through their console (U-Boot): `pvm run ARGS` from bin/pvm.js in a child process, stdin
 * the keyboard, stdout the screen. `expect` waits for text after what was already matched;
 * `command` types a line and returns what the guest printed up to its next prompt. The one
 * place that knows how the CLI is started, so a change of flags touches only `pvmArgs`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { pvm } from './linux-guest.js';

export interface ConsoleSession {
  /** Everything the guest printed so far. */
  readonly output: string;
  /** Waits until `pattern` appears after the last match; returns the text up to and including it. */
  expect(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Types `text` (no newline added). */
  type(text: string): void;
  /** Types `line` and Enter, then waits for `prompt`; returns what was printed in between (echo removed). */
  command(line: string, prompt: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit status once the process ends. */
  readonly exited: Promise<number | null>;
  /** Ends the process (SIGKILL) if it still runs. */
  kill(): void;
}

/** `pvm run` with its console on pipes. */
export function startConsole(pvmArgs: readonly string[]): ConsoleSession {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [pvm, 'run', ...pvmArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let mark = 0;
  let wake: (() => void) | null = null;
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    wake?.();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      resolve(code);
      wake?.();
    });
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
  });

  const expect = async (pattern: RegExp | string, timeoutMs = 60_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = out.slice(mark);
      const at = typeof pattern === 'string' ? rest.indexOf(pattern) : rest.search(pattern);
      if (at >= 0) {
        const len = typeof pattern === 'string' ? pattern.length : (rest.slice(at).match(pattern)?.[0].length ?? 0);
        const seen = rest.slice(0, at + len);
        mark += at + len;
        return seen;
      }
      const left = deadline - Date.now();
      if (ended || left <= 0) {
        const why = ended ? 'the process ended' : `${timeoutMs} ms passed`;
        throw new Error(
          `console: ${why} before ${pattern}; output since the last match:\n${rest.slice(-3000)}\nstderr:\n${err}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  };
  const type = (text: string) => {
    child.stdin.write(text);
  };
  return {
    get output() {
      return out;
    },
    expect,
    type,
    async command(line, prompt, timeoutMs) {
      type(`${line}\r`);
      const seen = await expect(prompt, timeoutMs);
      const echo = seen.indexOf(line);
      return (echo >= 0 ? seen.slice(echo + line.length) : seen).replace(/\r/g, '');
    },
    exited,
    kill: () => {
      if (!ended) child.kill('SIGKILL');
    },
  };
}

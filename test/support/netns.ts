/**
 * Network tests run in a network namespace of their own, so no packet leaves the
 * machine: `unshare -n` (as root) or `unshare -rn` (a user namespace too, as anyone
 * else) around a child process, set up by netns.sh (a veth pair as passt's template:
 * 10.0.2.15/24, default route via 10.0.2.2). passt hands the guest the same numbers, as
 * QEMU's user-mode network does, and maps connections to 10.0.2.2 to the namespace's
 * loopback.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { root } from './linux-guest.js';

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The setup script (also used by bench/io.ts). */
export const NETNS_SCRIPT = join(root, 'test/support/netns.sh');

/** `unshare` arguments that run `argv` in a fresh network namespace set up by netns.sh. */
export function netnsArgv(argv: readonly string[]): string[] {
  return ['unshare', process.getuid?.() === 0 ? '-n' : '-rn', 'sh', NETNS_SCRIPT, ...argv];
}

/** Runs `argv` in a fresh namespace; `onStdout` sees output as it comes. */
export function runInNetns(
  argv: readonly string[],
  opts: { setup?: boolean; onStdout?: (all: string) => void } = {},
): { pid: number | undefined; done: Promise<Finished>; kill: (sig?: NodeJS.Signals) => void } {
  const [bin, ...args] = netnsArgv(argv);
  const env = { ...process.env, ...(opts.setup === false ? { PVM_NETNS_BARE: '1' } : {}) };
  const child = spawn(bin!, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s: string) => {
    stdout += s;
    opts.onStdout?.(stdout);
  });
  child.stderr.on('data', (s: string) => {
    stderr += s;
    if (process.env.PVM_TEST_TRACE) process.stderr.write(s);
  });
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { pid: child.pid, done, kill: (sig = 'SIGKILL') => child.kill(sig) };
}

/**
 * Network tests run in a network namespace of their own, so no packet leaves the
 * machine: `unshare -n` (as root) or `unshare -rn` (a user namespace too, as anyone
 * else) around a child process. Inside, a veth pair gives passt the template it copies:
 * veth0 has 10.0.2.15/24 and a default route via 10.0.2.2 (nothing answers there; the
 * peer is in the same namespace). passt hands the guest the same numbers, as QEMU's
 * user-mode network does, and maps connections to 10.0.2.2 to the namespace's loopback.
 */
import { spawn } from 'node:child_process';

export const NETNS_SETUP = [
  'ip link set lo up',
  'ip link add veth0 type veth peer name veth1',
  'ip addr add 10.0.2.15/24 dev veth0',
  'ip link set veth0 up',
  'ip link set veth1 up',
  'ip route add default via 10.0.2.2 dev veth0',
].join(' && ');

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `unshare` arguments that run `argv` in a fresh network namespace, set up (or bare, with only lo). */
export function netnsArgv(argv: readonly string[], setup = true): string[] {
  const userns = process.getuid?.() === 0 ? '-n' : '-rn';
  const script = `${setup ? NETNS_SETUP : 'ip link set lo up'} && exec "$@"`;
  return ['unshare', userns, 'sh', '-c', script, 'netns', ...argv];
}

/** Runs `argv` in a fresh namespace; `onStdout` sees output as it comes. */
export function runInNetns(
  argv: readonly string[],
  opts: { setup?: boolean; onStdout?: (all: string) => void; env?: NodeJS.ProcessEnv } = {},
): { pid: number | undefined; done: Promise<Finished>; kill: (sig?: NodeJS.Signals) => void } {
  const [bin, ...args] = netnsArgv(argv, opts.setup ?? true);
  const child = spawn(bin!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
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

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PvmClient } from '../../src/cli/client.js';
import { until } from './daemon.js';
import { kernel, pvm } from './linux-guest.js';

/** The one token of the daemons these tests start (a cluster's shared token). */
export const CLUSTER_TOKEN = 'a-token-both-daemons-share-0123';

export interface DaemonProcess {
  readonly proc: ChildProcess;
  readonly socket: string;
  readonly port: number;
  readonly client: PvmClient;
}

/**
 * `pvm daemon` NAME in a child process, its socket in `dir`, with a TCP listener on a free
 * loopback port (read from its log) and CLUSTER_TOKEN; it may read `dir` and the Linux guest's
 * folder. `extra` are more daemon flags.
 */
export async function startDaemonProcess(dir: string, name: string, extra: string[] = []): Promise<DaemonProcess> {
  const socket = join(dir, `${name}.sock`);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, CLUSTER_TOKEN);
  const proc = spawn(
    process.execPath,
    [
      pvm,
      'daemon',
      '--socket',
      socket,
      '--tcp',
      '127.0.0.1:0',
      '--token-file',
      tokenFile,
      '--allow-dir',
      dir,
      '--allow-dir',
      dirname(realpathSync(kernel)),
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
  );
  let log = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => {
    log += s;
  });
  const port = await until(
    `daemon ${name} listening`,
    () => {
      if (proc.exitCode !== null) assert.fail(`daemon ${name} exited: ${log}`);
      const m = /"tcp":\{"host":"127\.0\.0\.1","port":(\d+)\}/.exec(log);
      return m ? Number(m[1]) : undefined;
    },
    6000,
  );
  return { proc, socket, port, client: new PvmClient({ socketPath: socket }) };
}

/** Stops a daemon process with SIGTERM and waits for it to exit. */
export async function stopDaemonProcess(d: DaemonProcess): Promise<void> {
  if (d.proc.exitCode !== null) return;
  const done = new Promise((r) => d.proc.once('exit', r));
  d.proc.kill('SIGTERM');
  await done;
}

/** A kernel command line that makes the test initramfs run `cmds` (one shell line, `; ` between). */
export const runCommands = (cmds: string[]): string =>
  `console=ttyS0 pvm.run=${cmds.join('; ').replaceAll(' ', '%20')}`;

/**
 * bench/migrate: live migration of the Linux test guest (256 MiB) between two daemons on
 * loopback: an idle guest (its shell waiting on hvc0) and one dirtying memory continuously
 * (rewriting a 32 MiB file in tmpfs in a loop). Each guest boots once and is migrated RUNS times
 * back and forth; prints one JSON object with the downtime (last guest instruction on the source
 * to the destination's RESUMED, host ms), the total time, the rounds and the bytes of each
 * migration, their medians and maxima. Not part of `npm test`.
 *
 * By default both daemons run in this process (one heap, one event loop: each side's garbage
 * and work land in the other's downtime too). --separate runs each as a `pvm daemon` process,
 * as on two hosts; Node flags given to this process (e.g. --trace-gc) are passed on to them,
 * their output goes to standard error.
 *
 * --workers N gives both daemons a pool of N worker threads (`pvm daemon --workers N`): the guest
 * then runs on a worker on both sides, and its migration is sent and received there
 * (docs/migration.md, "Daemons with workers").
 *
 *   node dist/bench/migrate.js [--runs N] [--only idle|dirtying] [--separate] [--workers N]
 *
 * With --separate, BENCH_LOG_LEVEL (default warn) is the daemons' --log-level.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrateResult } from '../src/api/commands.js';
import { ControlPlane } from '../src/api/control.js';
import type { DomainSpecInput } from '../src/api/spec.js';
import { PvmClient } from '../src/cli/client.js';
import { createLogger } from '../src/host/logger.js';
import { startDaemon } from '../src/server/daemon.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { fileSnapshotStore } from '../src/server/local.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { freePort } from './free-port.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
/** The prebuilt test guest beside the repository when present, else the output of guests/linux/build.sh. */
const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');
const kernel = join(guest, 'Image');
const initrd = join(guest, 'initramfs.cpio.gz');
const TOKEN = 'bench-migrate-token-0123456789';
const flag = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(flag('--runs') ?? 3);
const ONLY = flag('--only');
const SEPARATE = process.argv.includes('--separate');
const WORKERS = Number(flag('--workers') ?? 0);

/** What the bench asks of a daemon, in this process or another. */
interface BenchDaemon {
  readonly url: string;
  create(spec: DomainSpecInput): Promise<unknown>;
  /** Resolves once the domain's console (history included) has shown `text`. */
  waitFor(name: string, text: string): Promise<void>;
  migrate(name: string, to: string): Promise<MigrateResult>;
  close(): Promise<void>;
}

/** Resolves once `text` has been seen in the chunks `feed` delivers. */
function seen(text: string, feed: (on: (chunk: Uint8Array) => void) => void): Promise<void> {
  let out = '';
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${text}" within 60 s`)), 60_000);
    feed((b) => {
      out += Buffer.from(b).toString('latin1');
      if (out.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

async function inProcessDaemon(name: string): Promise<BenchDaemon> {
  const dir = mkdtempSync(join(tmpdir(), `pvm-bench-mig-${name}-`));
  const manager =
    WORKERS > 0 ? new PoolDomainManager({ workers: WORKERS, rebalanceMs: 0 }) : new HypervisorDomainManager();
  const control = new ControlPlane({ manager, store: fileSnapshotStore });
  const d = await startDaemon({
    control,
    logger: createLogger({ level: 'silent' }),
    socketPath: join(dir, 'pvmd.sock'),
    tcp: { host: '127.0.0.1', port: 0, token: TOKEN },
  });
  return {
    url: `http://127.0.0.1:${d.tcp!.port}`,
    create: (spec) => control.create(spec),
    waitFor: async (name, text) => {
      const s = await control.attachConsole(name);
      try {
        await seen(text, (on) => {
          on(s.history);
          s.onOutput(on);
        });
      } finally {
        s.detach();
      }
    },
    migrate: (name, to) => control.migrate(name, to, { token: TOKEN }),
    close: async () => {
      await d.close();
      await control.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A `pvm daemon` process, driven over its Unix socket. */
async function processDaemon(name: string): Promise<BenchDaemon> {
  const dir = mkdtempSync(join(tmpdir(), `pvm-bench-mig-${name}-`));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const port = await freePort();
  const socketPath = join(dir, 'pvmd.sock');
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      join(root, 'bin/pvm.js'),
      'daemon',
      '--socket',
      socketPath,
      '--tcp',
      `127.0.0.1:${port}`,
      '--token-file',
      tokenFile,
      '--allow-dir',
      guest,
      '--log-level',
      process.env.BENCH_LOG_LEVEL ?? 'warn',
      '--workers',
      String(WORKERS),
    ],
    { stdio: ['ignore', 2, 2], cwd: dir },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const client = new PvmClient({ socketPath });
  for (let i = 0; ; i++) {
    try {
      await client.version();
      break;
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    create: (spec) => client.create(spec),
    waitFor: async (name, text) => {
      const s = await client.attachConsole(name);
      try {
        await seen(text, (on) => s.on('data', on));
      } finally {
        s.destroy();
      }
    },
    migrate: (name, to) => client.migrate(name, to, { token: TOKEN }),
    close: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const daemon = SEPARATE ? processDaemon : inProcessDaemon;

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

async function scenario(label: string, append: string, ready: string) {
  const [a, b] = [await daemon('a'), await daemon('b')];
  try {
    await a.create({ name: label, kernel, initrd, memory: '256M', append });
    await a.waitFor(label, ready);
    await new Promise((r) => setTimeout(r, 1000));
    const results: MigrateResult[] = [];
    let [from, to] = [a, b];
    for (let i = 0; i < RUNS; i++) {
      results.push(await from.migrate(label, to.url));
      [from, to] = [to, from];
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      downtimeMs: median(results.map((r) => r.downtimeMs)),
      maxDowntimeMs: Math.max(...results.map((r) => r.downtimeMs)),
      totalMs: median(results.map((r) => r.totalMs)),
      runs: results.map((r) => ({
        downtimeMs: r.downtimeMs,
        downtimeParts: r.downtimeParts,
        totalMs: r.totalMs,
        bytes: r.bytes,
        pagesPerRound: r.rounds.map((x) => x.pages),
      })),
    };
  } finally {
    await a.close();
    await b.close();
  }
}

const idle = ONLY === 'dirtying' ? undefined : await scenario('idle', 'console=hvc0 quiet', 'pvm-guest: init ready');
const dirtying =
  ONLY === 'idle'
    ? undefined
    : await scenario(
        'dirtying',
        'console=hvc0 quiet pvm.run=echo%20go;while%20true;do%20dd%20if=/dev/zero%20of=/tmp/f%20bs=1M%20count=32%202>/dev/null;done',
        'go',
      );
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'migrate',
      guest: `test Linux guest, 256 MiB, 1 vCPU, two daemons ${SEPARATE ? 'in two processes' : 'in one process'} over loopback TCP${WORKERS > 0 ? `, each with ${WORKERS} worker thread(s)` : ''}`,
      runs: RUNS,
      idle,
      dirtying,
      host: { node: process.version, loadavg1: Math.round(loadavg()[0]! * 100) / 100 },
    },
    null,
    2,
  )}\n`,
);

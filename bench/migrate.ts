/**
 * bench/migrate: live migration of the Linux test guest (256 MiB) between two daemons on
 * loopback, in this process: an idle guest (its shell waiting on hvc0) and one dirtying memory
 * continuously (rewriting a 32 MiB file in tmpfs in a loop). Each guest boots once and is
 * migrated RUNS times back and forth; prints one JSON object with the downtime (last guest
 * instruction on the source to the destination's RESUMED, host ms), the total time, the rounds
 * and the bytes of each migration, and their medians. Not part of `npm test`.
 *
 *   node dist/bench/migrate.js [--runs N]
 */

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrateResult } from '../src/api/commands.js';
import { ControlPlane } from '../src/api/control.js';
import { createLogger } from '../src/host/logger.js';
import { startDaemon } from '../src/server/daemon.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { fileSnapshotStore } from '../src/server/local.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
/** The prebuilt test guest beside the repository when present, else the output of guests/linux/build.sh. */
const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');
const kernel = join(guest, 'Image');
const initrd = join(guest, 'initramfs.cpio.gz');
const TOKEN = 'bench-migrate-token-0123456789';
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

async function daemon(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `pvm-bench-mig-${name}-`));
  const manager = new HypervisorDomainManager();
  const control = new ControlPlane({ manager, store: fileSnapshotStore });
  const d = await startDaemon({
    control,
    logger: createLogger({ level: 'silent' }),
    socketPath: join(dir, 'pvmd.sock'),
    tcp: { host: '127.0.0.1', port: 0, token: TOKEN },
  });
  return {
    control,
    url: `http://127.0.0.1:${d.tcp!.port}`,
    close: async () => {
      await d.close();
      await control.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

async function waitFor(control: ControlPlane, name: string, text: string): Promise<void> {
  const s = await control.attachConsole(name);
  let out = Buffer.from(s.history).toString('latin1');
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${text}" within 60 s`)), 60_000);
    const check = () => {
      if (out.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    };
    s.onOutput((b) => {
      out += Buffer.from(b).toString('latin1');
      check();
    });
    check();
  });
  s.detach();
}

async function scenario(label: string, append: string, ready: string) {
  const [a, b] = [await daemon('a'), await daemon('b')];
  try {
    await a.control.create({ name: label, kernel, initrd, memory: '256M', append });
    await waitFor(a.control, label, ready);
    await new Promise((r) => setTimeout(r, 1000));
    const results: MigrateResult[] = [];
    let [from, to] = [a, b];
    for (let i = 0; i < RUNS; i++) {
      results.push(await from.control.migrate(label, to.url, { token: TOKEN }));
      [from, to] = [to, from];
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      downtimeMs: median(results.map((r) => r.downtimeMs)),
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

const idle = await scenario('idle', 'console=hvc0 quiet', 'pvm-guest: init ready');
const dirtying = await scenario(
  'dirtying',
  'console=hvc0 quiet pvm.run=echo%20go;while%20true;do%20dd%20if=/dev/zero%20of=/tmp/f%20bs=1M%20count=32%202>/dev/null;done',
  'go',
);
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'migrate',
      guest: 'test Linux guest, 256 MiB, 1 vCPU, two daemons in one process over loopback TCP',
      runs: RUNS,
      idle,
      dirtying,
      host: { node: process.version, loadavg1: Math.round(loadavg()[0]! * 100) / 100 },
    },
    null,
    2,
  )}\n`,
);

/**
 * Harts on threads (docs/scheduler.md): Linux in PV mode with 2 harts runs two CPU-bound
 * processes (busybox shell loops) at once, with every hart on the domain's thread and with
 * hart 1 on a thread of its own (--threads). The guest measures the time of the two processes
 * itself (/proc/uptime: guest time follows the host clock); prints JSON.
 *
 *     node dist/bench/smp.js [--loops N] [--rounds R]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMP_RESULT, smpCmdline, smpWork } from './smp-work.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const pvm = join(root, 'bin/pvm.js');
const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');
const kernel = join(guest, 'Image');
const initrd = join(guest, 'initramfs.cpio.gz');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const loops = arg('--loops', 300_000);
const rounds = arg('--rounds', 1);

const work = smpWork(loops);

interface Result {
  /** The two processes' time, measured by the guest. */
  seconds: number;
  /** The whole run (boot, the work, poweroff): host wall clock, host CPU, guest instructions. */
  wallMs: number;
  cpuMs: number;
  instructions: number;
}

function run(extra: string[]): Promise<Result> {
  const t0 = performance.now();
  const stats = join(mkdtempSync(join(tmpdir(), 'pvm-smp-bench-')), 'stats.json');
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        pvm,
        'run',
        '--kernel',
        kernel,
        '--initrd',
        initrd,
        '--smp',
        '2',
        ...extra,
        '--append',
        smpCmdline(work),
        '--stats-json',
        stats,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    p.on('error', reject);
    p.on('close', () => {
      const m = SMP_RESULT.exec(out);
      if (m === null) {
        reject(new Error(`no result: ${out.slice(-500)} ${err.slice(-500)}`));
        return;
      }
      const s = JSON.parse(readFileSync(stats, 'utf8')) as { instructions: number; time: { cpuMs: number } };
      resolve({
        seconds: Number((Number(m[2]) - Number(m[1])).toFixed(2)),
        wallMs: Math.round(performance.now() - t0),
        cpuMs: Math.round(s.time.cpuMs),
        instructions: s.instructions,
      });
    });
  });
}

const oneThread: Result[] = [];
const threads: Result[] = [];
for (let r = 0; r < rounds; r++) {
  oneThread.push(await run([]));
  threads.push(await run(['--threads']));
}
const best = (a: Result[]) => Math.min(...a.map((x) => x.seconds));
console.log(
  JSON.stringify(
    {
      loops,
      rounds,
      oneThread,
      threads,
      /** best time of the two processes on one thread / on threads */
      speedup: Number((best(oneThread) / best(threads)).toFixed(2)),
    },
    null,
    2,
  ),
);

/**
 * bench/browser-smp: harts on threads in the tab (docs/web.md). Linux in PV mode with 2 vCPUs,
 * booted in Chromium's tab from the shared Image and initramfs, runs two CPU-bound processes at
 * once (bench/smp-work.ts, the workload of bench/smp.ts), with both harts in the tab's worker
 * and with hart 1 in a Web Worker of its own; alternating, `--rounds` times. The guest times the
 * two processes itself. Prints one JSON object. Not part of `npm test`.
 *
 *   npm run build && node dist/bench/browser-smp.js [--loops N] [--rounds R]
 *
 * Needs Debian's chromium (/usr/bin/chromium), driven by playwright-core.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { startWebSite, WEB_SITE_ROOT, type WebSite } from '../src/server/web-site.js';
import { CHROMIUM, chromiumContext } from './chromium.js';
import { SMP_RESULT, smpCmdline, smpWork } from './smp-work.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const loops = arg('--loops', 50_000);
const rounds = arg('--rounds', 1);

function fail(message: string): never {
  process.stderr.write(`bench/browser-smp: ${message}\n`);
  process.exit(1);
}

interface Result {
  /** The two processes' time, measured by the guest. */
  seconds: number;
  /** The whole run, Boot to poweroff: host wall clock, Chromium's host CPU, the guest's instructions. */
  wallMs: number;
  cpuMs: number;
  instructions: number;
  /** Harts on threads: instructions hart 1 retired on its worker. */
  hart1OnThread?: number;
  loadavg: number[];
}

/**
 * Host CPU ms of every process below this one (Chromium's browser, renderer and utility
 * processes) by pid, from /proc (Linux): utime + stime at 100 ticks per second.
 */
function descendantsCpu(): Map<number, number> {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // ended meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(name), Number(f[1]));
    cpu.set(Number(name), (Number(f[11]) + Number(f[12])) * 10);
  }
  const out = new Map<number, number>();
  for (const [pid, ms] of cpu) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === process.pid) {
        out.set(pid, ms);
        break;
      }
    }
  }
  return out;
}

/** CPU ms the processes alive at `after` spent since `before`. */
function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? 0);
  return ms;
}

const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

async function run(context: BrowserContext, site: WebSite, threads: boolean): Promise<Result> {
  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${site.port}/?smp=2${threads ? '&threads=1' : ''}`);
    await page.check('input[name="guest"][value="kernel"]');
    await page.fill('#kernel-url', '/images/Image');
    await page.fill('#initrd-url', '/images/initramfs.cpio.gz');
    await page.fill('#cmdline', smpCmdline(smpWork(loops)));
    await page.fill('#memory', '128');
    const c0 = descendantsCpu();
    const t0 = performance.now();
    await page.click('#boot');
    await page.waitForFunction("document.querySelector('#state').textContent.startsWith('shutoff')", undefined, {
      timeout: 3_600_000,
      polling: 500,
    });
    const wallMs = Math.round(performance.now() - t0);
    const cpuMs = cpuSince(c0, descendantsCpu());
    const text = (await page.evaluate('window.pvmConsoleText()')) as string;
    const m = SMP_RESULT.exec(text);
    if (m === null) fail(`no result: ${text.slice(-500)}`);
    const s = (await page.evaluate('window.pvmStats()')) as {
      instructions: number;
      threads?: { hart: number; instret: number }[];
    };
    const hart1 = s.threads?.find((t) => t.hart === 1)?.instret;
    return {
      seconds: Number((Number(m[2]) - Number(m[1])).toFixed(2)),
      wallMs,
      cpuMs,
      instructions: s.instructions,
      ...(hart1 !== undefined ? { hart1OnThread: hart1 } : {}),
      loadavg: load(),
    };
  } finally {
    await page.close();
  }
}

if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: install Debian's chromium package`);
if (!existsSync(join(WEB_SITE_ROOT, 'index.html'))) fail(`${WEB_SITE_ROOT} is missing: run npm run build`);
if (!existsSync(join(guest, 'Image'))) fail(`${guest}/Image is missing: build the Linux guest (guests/linux)`);
const site = await startWebSite({
  port: 0,
  extra: { '/images/Image': join(guest, 'Image'), '/images/initramfs.cpio.gz': join(guest, 'initramfs.cpio.gz') },
});
const profile = mkdtempSync(join(tmpdir(), 'pvm-bench-chromium-'));
const context = await chromiumContext(profile);
const before = load();
const oneWorker: Result[] = [];
const threads: Result[] = [];
let browser = '';
try {
  browser = context.browser()?.version() ?? '';
  for (let r = 0; r < rounds; r++) {
    oneWorker.push(await run(context, site, false));
    threads.push(await run(context, site, true));
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await site.close();
}
const best = (a: Result[]) => Math.min(...a.map((x) => x.seconds));
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'browser-smp',
      guest: 'Linux (shared Image, initramfs), PV mode, 2 vCPUs, in the tab',
      loops,
      rounds,
      chromium: browser,
      host: { cpus: cpus().length, model: cpus()[0]?.model, loadavgBefore: before },
      oneWorker,
      threads,
      /** best time of the two processes with both harts in the tab's worker / with hart 1 on its own */
      speedup: Number((best(oneWorker) / best(threads)).toFixed(2)),
    },
    null,
    2,
  )}\n`,
);

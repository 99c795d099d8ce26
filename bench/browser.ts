/**
 * bench/browser: the same guest and workload in Chromium (pvm in a tab, its Web Worker) and in
 * Node (the daemon's hypervisor, in this process), in one run. The guest is the embedded pvos;
 * the workload is its `bench mask N` loop (CPU-bound; in PV mode interrupt masking is a store
 * to the shared info page, no exit). MIPS = instructions retired / host ms spent in guest code,
 * measured across the command. Prints one JSON object. Not part of `npm test`.
 *
 *   npm run build && node dist/bench/browser.js [--ops N]
 *
 * Needs Debian's chromium (/usr/bin/chromium), driven by playwright-core.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openControlPlane } from '../src/server/local.js';
import { startWebSite, WEB_SITE_ROOT } from '../src/server/web-site.js';
import { CHROMIUM, chromiumContext } from './chromium.js';

const ops = Number(process.argv[process.argv.indexOf('--ops') + 1]) || 3_000_000;
const command = `bench mask ${ops}`;
const done = /bench mask: \d+ ops/;

function fail(message: string): never {
  process.stderr.write(`bench/browser: ${message}\n`);
  process.exit(1);
}

interface Figure {
  instructions: number;
  guestMs: number;
  mips: number;
  wallSeconds: number;
}

const figure = (i0: number, g0: number, i1: number, g1: number, wall: number): Figure => ({
  instructions: i1 - i0,
  guestMs: Math.round((g1 - g0) * 10) / 10,
  mips: Math.round(((i1 - i0) / (g1 - g0) / 1000) * 10) / 10,
  wallSeconds: Math.round(wall * 100) / 100,
});

async function inNode(): Promise<Figure> {
  const cp = openControlPlane();
  try {
    await cp.create({ name: 'bench', memory: '64M' });
    const session = await cp.attachConsole('bench', true);
    let out = '';
    const seen = (re: RegExp | string) =>
      new Promise<void>((resolve) => {
        const check = () => (typeof re === 'string' ? out.includes(re) : re.test(out));
        if (check()) return resolve();
        session.onOutput(() => {
          if (check()) resolve();
        });
      });
    session.onOutput((d) => {
      out += Buffer.from(d).toString('latin1');
    });
    await seen('pvos> ');
    const s0 = await cp.stats('bench');
    const t0 = performance.now();
    session.write(new TextEncoder().encode(`${command}\r`));
    await seen(done);
    const t1 = performance.now();
    const s1 = await cp.stats('bench');
    session.detach();
    return figure(s0.instructions, s0.guestMs, s1.instructions, s1.guestMs, (t1 - t0) / 1000);
  } finally {
    await cp.close();
  }
}

async function inChromium(): Promise<Figure & { browser: string }> {
  if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: install Debian's chromium package`);
  if (!existsSync(join(WEB_SITE_ROOT, 'index.html'))) fail(`${WEB_SITE_ROOT} is missing: run npm run build`);
  const site = await startWebSite({ port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'pvm-bench-chromium-'));
  const context = await chromiumContext(profile);
  try {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${site.port}/?boot=pvos`);
    await page.waitForFunction("window.pvmConsoleText().includes('pvos> ')", undefined, { timeout: 120_000 });
    type S = { instructions: number; guestMs: number };
    const s0 = (await page.evaluate('window.pvmStats()')) as S;
    const t0 = performance.now();
    await page.locator('#terminal').click();
    await page.keyboard.type(`${command}\r`);
    await page.waitForFunction(`/${done.source}/.test(window.pvmConsoleText())`, undefined, { timeout: 600_000 });
    const t1 = performance.now();
    const s1 = (await page.evaluate('window.pvmStats()')) as S;
    return {
      browser: context.browser()?.version() ?? ((await page.evaluate('navigator.userAgent')) as string),
      ...figure(s0.instructions, s0.guestMs, s1.instructions, s1.guestMs, (t1 - t0) / 1000),
    };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await site.close();
  }
}

const node = await inNode();
const browser = await inChromium();
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'browser',
      guest: 'pvos (embedded), PV mode, 1 vCPU',
      workload: command,
      host: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) },
      node: { version: process.version, ...node },
      chromium: browser,
      chromiumOverNode: Math.round((browser.mips / node.mips) * 100) / 100,
    },
    null,
    2,
  )}\n`,
);

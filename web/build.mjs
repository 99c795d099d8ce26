// Bundles the browser code with esbuild (run by `npm run build`, so `npm ci` builds it too):
//   dist/dashboard/  the daemon's dashboard (served by `pvm daemon --http`)
//   dist/web/        pvm in a browser tab, a static site (served by `pvm web`)
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
};

async function dashboard() {
  const out = join(root, 'dist/dashboard');
  mkdirSync(out, { recursive: true });
  await build({ ...common, entryPoints: { app: 'web/dashboard/main.ts' }, outdir: out, platform: 'browser' });
  copyFileSync(join(root, 'web/dashboard/index.html'), join(out, 'index.html'));
}

async function tab() {
  const out = join(root, 'dist/web');
  mkdirSync(out, { recursive: true });
  await build({
    ...common,
    entryPoints: { app: 'web/tab/main.ts', worker: 'web/tab/worker.ts', 'hart-worker': 'web/tab/hart-worker.ts' },
    outdir: out,
    platform: 'browser',
  });
  copyFileSync(join(root, 'web/tab/index.html'), join(out, 'index.html'));
  copyFileSync(join(root, 'guests/pvos/pvos.elf'), join(out, 'pvos.elf'));
}

const which = process.argv[2];
if (which !== 'tab') await dashboard();
if (which !== 'dashboard') await tab();

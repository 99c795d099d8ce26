/**
 * The layering rule (README, "Layout"), checked on the sources: lower layers
 * never import higher ones, and devices never import the CPU. Within one
 * rank only devices may reach the machine layer (they plug into its bus).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');
const src = join(root, 'src');

const rank: Record<string, number> = {
  core: 0,
  cpu: 1,
  memory: 1,
  machine: 2,
  devices: 2,
  sbi: 2,
  hypervisor: 3,
  // The domain spec (api) is what the host's builder turns into a domain, so host sits above api.
  api: 4,
  host: 5,
  server: 6,
  cli: 7,
};

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) yield p;
  }
}

test('lower layers never import higher ones', () => {
  const bad: string[] = [];
  for (const file of tsFiles(src)) {
    const layer = relative(src, file).split('/')[0]!;
    if (!(layer in rank)) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(src, join(file, '..', m[1]!)).split('/')[0]!;
      if (!(target in rank) || target === layer) continue;
      const forbidden =
        rank[target]! > rank[layer]! ||
        (rank[target] === rank[layer] && !(layer === 'devices' && target === 'machine')) ||
        (layer === 'devices' && target === 'cpu');
      if (forbidden) bad.push(`${relative(root, file)} imports ${m[1]}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the browser code (web/) reaches only the core layers, never Node', () => {
  const bad: string[] = [];
  const files = [...tsFiles(join(root, 'web'))];
  assert.ok(
    files.some((f) => f.endsWith('worker.ts')),
    'the scan finds the worker',
  );
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from '([^']+)'/g)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) bad.push(`${relative(root, file)} imports ${spec}`);
      if (!spec.startsWith('.')) continue;
      const target = relative(root, join(file, '..', spec)).split('/');
      if (target[0] === 'src' && !(rank[target[1]!]! <= rank.hypervisor!)) {
        bad.push(`${relative(root, file)} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

/**
 * What `import` loads before it runs anything: the static imports of a built module and of
 * everything they import (dynamic `import()` calls are not followed), as paths under dist/src
 * and package names.
 */
function staticClosure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'";]*?from\s*'([^']+)'|^\s*import\s*'([^']+)'/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) walk(join(file, '..', spec));
      else if (!spec.startsWith('node:'))
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  walk(entry);
  const dist = join(root, 'dist/src');
  return { files: [...files].map((f) => relative(dist, f)).sort(), packages: [...packages].sort() };
}

test('the pvm command loads what running a domain needs, not the daemon or the client libraries', () => {
  const { files, packages } = staticClosure(join(root, 'dist/src/cli/main.js'));
  assert.ok(files.includes('cli/commands/run.js') && files.includes('hypervisor/vm.js'), 'the scan follows imports');
  // the daemon (HTTP, WebSocket, logging), the console client, progress bars, `pvm top` and
  // config files load when their command runs (dynamic imports)
  assert.deepEqual(
    files.filter((f) => f.startsWith('server/') || f === 'host/logger.js' || f === 'api/config-file.js'),
    [],
  );
  assert.deepEqual(
    packages.filter((p) => ['ws', 'pino', 'yaml', 'cli-progress', 'log-update'].includes(p)),
    [],
  );
});

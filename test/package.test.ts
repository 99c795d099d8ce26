/**
 * The npm tarball: what `npm pack` would publish holds the program and nothing of its tests.
 * Every shipped module is reachable from the entry points (bin/pvm.js, the library's index),
 * every module they import is shipped, and no test, test helper or source map (whose
 * TypeScript sources are not shipped) is in it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');

function packed(): string[] {
  // --ignore-scripts: no build from inside the test run (npm test has just built)
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
}

test('the tarball holds no tests, test helpers or source maps', () => {
  const files = packed();
  const bad = files.filter(
    (f) =>
      /^(test|bench)\//.test(f) ||
      (f.startsWith('dist/') && /\.test\.|\/testing\.|\/test-[^/]*$|mock-driver|\.map$|^dist\/(test|bench)\//.test(f)),
  );
  assert.deepEqual(bad, []);
  for (const f of [
    'bin/pvm.js',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'guests/pvos/pvos.elf',
    'docs/api/openapi.yaml',
    'dist/dashboard/index.html',
    'dist/web/index.html',
    'dist/web/worker.js',
  ]) {
    assert.ok(files.includes(f), `${f} is shipped`);
  }
});

test('every shipped module is reachable from bin/pvm.js or the library, and everything they import is shipped', () => {
  const files = new Set(packed());
  // The browser bundles (dist/dashboard, dist/web) are pages the daemon and `pvm web` serve, not modules.
  const js = [...files].filter((f) => f.endsWith('.js') && !/^dist\/(dashboard|web)\//.test(f));
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = (f: string): void => {
    if (seen.has(f)) return;
    seen.add(f);
    if (!files.has(f)) {
      missing.push(f);
      return;
    }
    // The declarations too: a module of types only is imported by nothing at run time.
    const dts = f.replace(/\.js$/, '.d.ts');
    const text = readFileSync(join(root, f), 'utf8') + (files.has(dts) ? readFileSync(join(root, dts), 'utf8') : '');
    // `new URL('./x.js', import.meta.url)`: a module started as a worker thread.
    for (const m of text.matchAll(/(?:from|import|new URL)\s*\(?\s*'(\.{1,2}\/[^']+\.js)'/g)) {
      visit(normalize(join(dirname(f), m[1]!)));
    }
  };
  visit('bin/pvm.js');
  visit('dist/src/index.js');
  assert.deepEqual(missing, [], 'imported but not shipped');
  assert.deepEqual(
    js.filter((f) => !seen.has(f)),
    [],
    'shipped but used by nothing',
  );
});

/**
 * The library as a program that installed the package uses it: `import ... from 'pvm'`
 * resolves through package.json's exports to the compiled index and its declarations. The
 * domain document is typed (`tsc --strict` refuses a misspelt field), and the example in
 * docs/control-plane.md type-checks and runs, printing the guest's console.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(fileURLToPath(import.meta.url), '../../..');

/** A directory where `pvm` is an installed package (a link to this checkout). */
const app = mkdtempSync(join(tmpdir(), 'pvm-lib-'));
after(() => rmSync(app, { recursive: true, force: true }));
mkdirSync(join(app, 'node_modules'));
symlinkSync(root, join(app, 'node_modules/pvm'));
writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');

const options: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
  typeRoots: [join(root, 'node_modules/@types')],
};

/** Type-checks `source` as app/NAME.ts; returns the diagnostics as `TSnnnn: message` lines. */
function typeCheck(name: string, source: string): string[] {
  const file = join(app, `${name}.ts`);
  writeFileSync(file, source);
  const program = ts.createProgram([file], options);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]}`);
}

test('the domain document is typed: tsc --strict refuses memroy', () => {
  const good =
    "import { openControlPlane } from 'pvm';\nawait openControlPlane().create({ name: 'x', memory: '256M' });\n";
  assert.deepEqual(typeCheck('good', good), []);
  const bad = good.replace('memory:', 'memroy:');
  const errors = typeCheck('bad', bad);
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(
    errors[0]!,
    /^TS(2353|2561): Object literal may only specify known properties, (and|but) 'memroy' does not exist/,
  );
  // and a wrong value type for a known field
  assert.match(typeCheck('smp', good.replace("memory: '256M'", "smp: '2'")).join('\n'), /^TS2322: Type 'string'/);
});

test('everything the docs name is exported from pvm', async () => {
  const pvm = await import('../src/index.js');
  for (const name of [
    'openControlPlane',
    'ControlPlane',
    'PvmClient',
    'startDaemon',
    'buildDomain',
    'HostResources',
    'SwitchRegistry',
    'parseDomainSpec',
    'toDocument',
    'validateConfig',
    'loadConfigFile',
    'LIMITS',
    'DEFAULTS',
    'HypervisorDomainManager',
    'FakeDomainManager',
    'runBare',
    'BareControl',
    'openDevices',
    'SwitchLinks',
  ]) {
    assert.ok(name in pvm, `pvm exports ${name}`);
  }
  assert.equal(
    typeCheck('types', "import type { DomainSpec, DomainSpecInput, DomainInfo, DomainEvent, SwitchInfo } from 'pvm';\n")
      .length,
    0,
  );
});

test('the library example in docs/control-plane.md type-checks, runs and prints the console', () => {
  const md = readFileSync(join(root, 'docs/control-plane.md'), 'utf8');
  const section = md.slice(md.indexOf('## Library'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example, 'docs/control-plane.md has a ts example under "Library"');
  assert.deepEqual(typeCheck('example', example), []);
  const js = ts.transpileModule(example, {
    fileName: 'example.mts',
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  writeFileSync(join(app, 'example.mjs'), js);
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.replace(/\r/g, '').split('\n');
  assert.equal(lines[0], 'demo: paused, 1 vCPU, 64 MiB');
  assert.match(r.stdout, /^pvos: PVX 1\.0 present \(domain 1, features 0x1ff\)\r?$/m);
  assert.match(r.stdout, /^pvos> ticks\r?\nticks: \d+ \(100 Hz, uptime \d+\.\d\d s\)\r?$/m);
  assert.match(r.stdout, /pvos: shutdown requested by the host \(poweroff\)/);
  assert.equal(lines.at(-2), 'demo: shutoff (poweroff)');
});

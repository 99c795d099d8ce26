/**
 * CI installs every tool the tests run: each command a test, a test helper or a benchmark
 * spawns is listed here with the Debian package that provides it, and each such package is in
 * `.ci/run`'s list and in the README. A new tool fails this test until both name its package.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');

/** Command -> Debian package ('essential': part of every Debian system; 'node': comes with Node.js). */
const TOOLS: Record<string, string> = {
  'riscv64-unknown-elf-gcc': 'gcc-riscv64-unknown-elf',
  'riscv64-unknown-elf-nm': 'gcc-riscv64-unknown-elf', // its binutils come with it
  'riscv64-unknown-elf-objcopy': 'gcc-riscv64-unknown-elf',
  'qemu-system-riscv64': 'qemu-system-misc',
  'qemu-img': 'qemu-utils',
  mke2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  dtc: 'device-tree-compiler',
  make: 'make',
  cpio: 'cpio', // in a shell pipeline (test/virtio-cli.test.ts)
  sh: 'essential',
  bash: 'essential',
  flock: 'essential', // util-linux
  unshare: 'essential', // util-linux
  mkfifo: 'essential', // coreutils
  script: 'essential', // bsdutils
  zcat: 'essential', // gzip
  node: 'node',
  chromium: 'chromium', // launched by playwright-core (test/support/browser.ts)
  npm: 'node',
  openssl: 'openssl', // test certificates for the TLS listener (test/migrate*.test.ts)
};

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (name.endsWith('.ts')) yield p;
  }
}

test('every command the tests and benchmarks spawn is known, with its package', () => {
  const spawned = new Set<string>();
  for (const dir of ['test', 'bench', 'src']) {
    for (const f of sources(join(root, dir))) {
      if (dir === 'src' && !f.endsWith('.test.ts')) continue;
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\b(?:spawn|spawnSync|execFile|execFileSync)\(\s*'([^']+)'/g)) spawned.add(m[1]!);
      // commands inside `sh -c` pipelines
      for (const m of text.matchAll(/\|\s*([a-z][\w-]*)/g)) if (m[1] === 'cpio') spawned.add(m[1]);
    }
  }
  assert.ok(spawned.has('cpio') && spawned.has('qemu-img'), 'the scan finds commands');
  assert.deepEqual(
    [...spawned].filter((c) => !(c in TOOLS)),
    [],
  );
});

test('.ci/run installs, and the README lists, the package of every tool', () => {
  const ci = readFileSync(join(root, '.ci/run'), 'utf8');
  const pkgs = /^pkgs=\(([^)]*)\)/m.exec(ci)?.[1]?.split(/\s+/) ?? [];
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const needed = [...new Set(Object.values(TOOLS))].filter((p) => p !== 'essential' && p !== 'node');
  assert.deepEqual(
    needed.filter((p) => !pkgs.includes(p)),
    [],
    '.ci/run',
  );
  assert.deepEqual(
    needed.filter((p) => !readme.includes(`\`${p}\``)),
    [],
    'README',
  );
});

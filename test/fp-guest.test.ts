/**
 * The FPU reference programs (src/cpu/fpu/vectors/) run under `pvm run --bare` and must print exactly what
 * they printed under qemu-system-riscv64:
 * - gen.c: the vectors of fpvectors.txt.gz, some 120 000 F/D instructions executed from a self-modified code
 *   buffer, with FLD/FSD, frm/fflags CSR accesses and illegal-instruction traps for reserved rounding modes;
 * - plumbing.c (plumbing.expected): fcsr/frm/fflags, FP loads/stores and NaN boxing, compressed FP
 *   loads/stores, misa.F/D, mstatus.FS Off/Initial/Clean/Dirty and SD.
 * This checks the hart's FP plumbing end to end, not only the FPU module.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = join(fileURLToPath(import.meta.url), '../../..');
const vectors = join(root, 'src/cpu/fpu/vectors');
const dir = mkdtempSync(join(tmpdir(), 'pvm-fp-'));

before(() => {
  const b = spawnSync(join(vectors, 'gen.sh'), ['--elf', dir], { encoding: 'utf8' });
  if (b.error || b.status !== 0) {
    throw new Error(`gen.sh --elf failed (needs riscv64-unknown-elf-gcc): ${b.error?.message ?? ''}${b.stderr}`);
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

function runPvm(elf: string): string {
  const r = spawnSync(process.execPath, [join(root, 'bin/pvm.js'), 'run', '--bare', join(dir, elf)], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replace(/\r/g, '');
}

function firstDiffs(want: string[], got: string[]): string[] {
  const diff: string[] = [];
  for (let i = 0; i < Math.max(want.length, got.length) && diff.length < 10; i++) {
    if (got[i] !== want[i]) diff.push(`line ${i + 1}: qemu ${want[i]} / pvm ${got[i]}`);
  }
  return diff;
}

test('gen.c under pvm prints the same FP results, flags and traps as under QEMU', () => {
  const got = runPvm('gen.elf')
    .split('\n')
    .filter((l) => /^[0-9a-f]+ [0-9a-f]+ /.test(l));
  const want = gunzipSync(readFileSync(join(vectors, 'fpvectors.txt.gz')))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  assert.equal(got.length, want.length);
  assert.deepEqual(firstDiffs(want, got), []);
});

test('plumbing.c under pvm: FP CSRs, loads/stores, NaN boxing and mstatus.FS as under QEMU', () => {
  const want = readFileSync(join(vectors, 'plumbing.expected'), 'utf8').split('\n');
  const got = runPvm('plumbing.elf').split('\n');
  assert.ok(want.includes('done'));
  assert.deepEqual(firstDiffs(want, got), []);
});

/**
 * The FPU reference generator (src/cpu/fpu/vectors/gen.c) runs under `pvm run --bare` and must print
 * exactly the vectors QEMU printed (src/cpu/fpu/vectors/fpvectors.txt.gz): some 120 000 F/D instructions
 * executed from a self-modified code buffer, with FLD/FSD, frm/fflags CSR accesses and illegal-instruction
 * traps for reserved rounding modes. This checks the hart's FP plumbing end to end, not only the FPU module.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = join(fileURLToPath(import.meta.url), '../../..');
const vectors = join(root, 'src/cpu/fpu/vectors');

test('gen.c under pvm prints the same FP results, flags and traps as under QEMU', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-fp-'));
  try {
    const elf = join(dir, 'gen.elf');
    const b = spawnSync(join(vectors, 'gen.sh'), ['--elf', elf], { encoding: 'utf8' });
    if (b.error || b.status !== 0) {
      throw new Error(`gen.sh --elf failed (needs riscv64-unknown-elf-gcc): ${b.error?.message ?? ''}${b.stderr}`);
    }
    const r = spawnSync(process.execPath, [join(root, 'bin/pvm.js'), 'run', '--bare', elf], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout
      .replace(/\r/g, '')
      .split('\n')
      .filter((l) => /^[0-9a-f]+ [0-9a-f]+ /.test(l));
    const want = gunzipSync(readFileSync(join(vectors, 'fpvectors.txt.gz')))
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(got.length, want.length);
    const diff: string[] = [];
    for (let i = 0; i < want.length && diff.length < 10; i++) {
      if (got[i] !== want[i]) diff.push(`line ${i + 1}: qemu ${want[i]} / pvm ${got[i]}`);
    }
    assert.deepEqual(diff, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

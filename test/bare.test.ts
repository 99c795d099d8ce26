/**
 * Bare-metal conformance programs (guests/bare): each one runs under
 * `pvm run --bare` and must print exactly what guests/bare/expected/NAME.out
 * holds. Those files come from QEMU (guests/bare/regen-expected.sh), with the
 * deliberate differences listed in docs/testing.md patched in, so this is a
 * differential test against qemu-system-riscv64 as well as a self-checking one
 * (every program prints "ok"/"FAIL" per check and a verdict).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');
const bare = join(root, 'guests/bare');
const pvm = join(root, 'bin/pvm.js');
/** Far above what any program needs (the largest runs a few million instructions). */
const MAX_INSTRUCTIONS = '500000000';

/** Console output plus the exit status, in the format of the expected files. */
export function transcript(stdout: string, status: number | null, signal: NodeJS.Signals | null): string {
  const out = stdout.replace(/\n+$/, '');
  const end = status === null ? `killed by ${signal}` : `exit ${status}`;
  return `${out ? `${out}\n` : ''}${end}\n`;
}

before(() => {
  const r = spawnSync(join(bare, 'build.sh'), [], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `guests/bare/build.sh failed (needs riscv64-unknown-elf-gcc from gcc-riscv64-unknown-elf): ${r.error?.message ?? ''}${r.stderr}`,
    );
  }
});

const names = readdirSync(join(bare, 'expected'))
  .filter((f) => f.endsWith('.out'))
  .map((f) => f.slice(0, -'.out'.length))
  .sort();

test('there are bare-metal programs to run', () => {
  assert.ok(names.length >= 10, `only ${names.length} expected outputs in guests/bare/expected`);
});

/** A fresh copy of the disk the virtio-blk* programs read (guests/bare/make-disk.sh), in `dir`. */
function makeDisk(dir: string): string {
  const disk = join(dir, 'disk.img');
  const r = spawnSync(join(bare, 'make-disk.sh'), [disk], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`make-disk.sh failed: ${r.error?.message ?? ''}${r.stderr}`);
  return disk;
}

// Each program runs with the translation tier (the default) and with the interpreter alone.
for (const name of names)
  for (const jit of [[], ['--no-jit']]) {
    test(`pvm run --bare ${name}.elf ${jit.join(' ')} matches expected/${name}.out`, () => {
      const want = readFileSync(join(bare, 'expected', `${name}.out`), 'utf8');
      const elf = join(bare, 'build', `${name}.elf`);
      const dir = mkdtempSync(join(tmpdir(), 'pvm-bare-'));
      try {
        // As regen-expected.sh runs them under QEMU: programs named smp* with two harts, the
        // virtio-blk* ones with their disk on the first transport (QEMU's virtio-mmio-bus.0).
        const extra = name.startsWith('smp')
          ? ['--smp', '2']
          : name.startsWith('virtio-blk')
            ? ['--disk', `${makeDisk(dir)},slot=0`]
            : [];
        const r = spawnSync(
          process.execPath,
          [pvm, 'run', '--bare', elf, ...extra, ...jit, '--max-instructions', MAX_INSTRUCTIONS],
          {
            encoding: 'utf8',
            timeout: 120_000,
            maxBuffer: 16 << 20,
          },
        );
        if (r.error) throw r.error;
        const got = transcript(r.stdout, r.status, r.signal);
        assert.equal(got, want, `stderr:\n${r.stderr}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

test('the disk is where --disk slot=N puts it: the program that looks at slot 0 finds it there only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-bare-slot-'));
  try {
    const elf = join(bare, 'build', 'virtio-blk.elf');
    const disk = makeDisk(dir);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [pvm, 'run', '--bare', elf, ...args, '--max-instructions', MAX_INSTRUCTIONS], {
        encoding: 'utf8',
        timeout: 120_000,
      });
    // In slot 3 (with an rng in slot 0), slot 0 holds no block device and the program stops there.
    const elsewhere = run('--disk', `${disk},slot=3`, '--rng', 'slot=0');
    assert.notEqual(elsewhere.status, 0, elsewhere.stderr);
    assert.match(
      elsewhere.stdout,
      /^ok slot 0: magic "virt"\nok slot 0: version 2 \(modern\)\nFAIL slot 0: a block device: got 0x4 want 0x2\n/,
    );
    // The write of sector 2 went to the host file.
    const placed = run('--disk', `${disk},slot=0`, '--virtio-console', 'slot=7');
    assert.equal(placed.status, 1, 'slot 7 is not empty now');
    assert.match(placed.stdout, /FAIL slots 1\.\.7 are empty transports \(device id 0\): got 0x6 want 0x7\n/);
    assert.match(placed.stdout, /ok sector 2 reads back what was written\n/);
    const sector2 = readFileSync(disk).subarray(1024, 1536);
    assert.deepEqual([...sector2.subarray(0, 4)], [3, 10, 17, 24]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('HTIF requests are served when tohost is written, not at the end of a slice', () => {
  // htif-calls-htif prints 50 lines one character per HTIF call and waits for each to be
  // served. Served at the store, a call costs the guest a few dozen instructions; polled
  // between 20 000-instruction slices it cost a whole slice of spinning (over 40 M in all).
  const dir = mkdtempSync(join(tmpdir(), 'pvm-htif-'));
  try {
    const json = join(dir, 'stats.json');
    const elf = join(bare, 'build', 'htif-calls-htif.elf');
    const r = spawnSync(process.execPath, [pvm, 'run', '--bare', elf, '--stats-json', json], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const calls = r.stdout.length; // one call per character
    assert.ok(calls > 2000, `${calls} calls`);
    const stats = JSON.parse(readFileSync(json, 'utf8')) as { instructions: number; exits: { slice: number } };
    assert.ok(stats.instructions < calls * 150, `${stats.instructions} instructions for ${calls} calls`);
    assert.ok(stats.exits.slice < 10, `${stats.exits.slice} whole slices`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Full mode: Debian's OpenSBI protects its own memory with PMP, and pvm enforces it. The S-mode
 * payload guests/sbi-probes/pmp-probe.S (assembled here with riscv64-unknown-elf-gcc; a missing
 * toolchain or firmware fails the test) stores into and loads from 0x8000_0000 and prints the
 * traps OpenSBI redirects to it. QEMU 7.2 prints the same two lines (`-bios fw_jump.bin`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pvm, root } from './support/linux-guest.js';

const FIRMWARE = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';

test('full mode: an S-mode store into OpenSBI memory is a store access fault (PMP), and a load a load fault', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-pmp-'));
  try {
    const elf = join(dir, 'pmp-probe.elf');
    const cc = spawnSync(
      'riscv64-unknown-elf-gcc',
      [
        '-march=rv64imac_zicsr',
        '-mabi=lp64',
        '-nostdlib',
        '-nostartfiles',
        '-static',
        '-Wl,-Ttext=0x80200000',
        '-Wl,--no-warn-rwx-segments',
        '-o',
        elf,
        join(root, 'guests/sbi-probes/pmp-probe.S'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(cc.status, 0, `riscv64-unknown-elf-gcc: ${cc.error?.message ?? cc.stderr}`);
    const run = spawnSync(
      'node',
      [pvm, 'run', '--mode', 'full', '--firmware', FIRMWARE, '--kernel', elf, '--max-instructions', '50000000'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.replace(/\r/g, '').trimEnd().split('\n');
    assert.ok(
      lines.some((l) => l.startsWith('OpenSBI v')),
      'OpenSBI booted',
    );
    assert.deepEqual(lines.slice(-2), ['store: scause 7 stval 80000000', 'load: scause 5 stval 80000008']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

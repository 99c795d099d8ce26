/**
 * The embedded default guest. guests/pvos/pvos.elf is committed and shipped in
 * the npm package; this test rebuilds it from a copy of the sources in a
 * temporary directory with Debian's riscv64-unknown-elf-gcc (a missing
 * toolchain fails the test) and requires the same bytes. Then `pvm run` with
 * no image boots it: PV mode with the PVX back ends, stdin as the console.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULTS } from '../src/api/spec.js';
import { Console, guestDir, PROMPT, processTransport, root } from './pvos-console.js';

const pvm = join(root, 'bin/pvm.js');

test('the committed pvos image is what the Debian toolchain builds from guests/pvos', () => {
  assert.equal(DEFAULTS.guest, join(guestDir, 'pvos.elf'));
  const gcc = spawnSync('riscv64-unknown-elf-gcc', ['--version'], { encoding: 'utf8' });
  assert.equal(
    gcc.error,
    undefined,
    `riscv64-unknown-elf-gcc is missing (Debian gcc-riscv64-unknown-elf): ${gcc.error}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'pvos-image-'));
  try {
    for (const part of ['Makefile', 'kernel.ld', 'include', 'src', 'pvxfw']) {
      cpSync(join(guestDir, part), join(dir, part), { recursive: true });
    }
    const r = spawnSync('make', ['-s', '-C', dir, 'O=out', 'out/pvos.elf'], { encoding: 'utf8' });
    assert.equal(r.error, undefined, `make could not run: ${r.error}`);
    assert.equal(r.status, 0, `the pvos build failed:\n${r.stdout}${r.stderr}`);
    const built = readFileSync(join(dir, 'out/pvos.elf'));
    const committed = readFileSync(DEFAULTS.guest);
    assert.ok(
      built.equals(committed),
      `guests/pvos/pvos.elf (${committed.length} bytes) differs from a fresh build (${built.length} bytes): ` +
        'run `make -C guests/pvos image` and commit guests/pvos/pvos.elf',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the npm package ships the default guest', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files?: string[] };
  assert.ok(pkg.files?.includes('guests/pvos/pvos.elf'), 'package.json "files" lists guests/pvos/pvos.elf');
});

/** `pvm run ARGS` as a child process, its shell driven through stdin/stdout. */
function pvmRun(...args: string[]): Console {
  return new Console(processTransport(spawn('node', [pvm, 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })));
}

test('pvm run with no image boots pvos in PV mode, its shell on stdin/stdout', async () => {
  const con = pvmRun();
  try {
    assert.match(
      await con.until(PROMPT),
      /^pvos 0\.1: boot hart 0, harts 1, ram 64 MiB at 0x80000000, timebase 10000000 Hz\npvos: PVX 1\.0 present \(domain 1, features 0x1ff\)\npvos: backends: pvx 1\.0\n/,
    );
    assert.match(await con.run('ticks'), /^ticks: \d+ \(100 Hz, uptime \d+\.\d\d s\)\n$/);
    assert.match(await con.run('info'), /\nbackends: pvx 1\.0\n {2}console {2}sbi-dbcn\n/);
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvm run --mode full with no image boots the same pvos on OpenSBI: native back ends', async () => {
  const con = pvmRun('--mode', 'full');
  try {
    const boot = await con.until(PROMPT);
    assert.match(boot, /^\nOpenSBI v/);
    assert.match(boot, /\npvos: PVX absent \(probe_extension 0x0a505658 -> 0\)\npvos: backends: native\n/);
    assert.match(
      await con.run('info'),
      /\nsbi: spec 1\.0, implementation 1 \(OpenSBI\)\npvx: absent\nbackends: native\n {2}console {2}uart16550\n/,
    );
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvm run with a stray argument and no --kernel/--bare is a usage error', () => {
  const r = spawnSync('node', [pvm, 'run', 'guest.elf'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    "pvm: unexpected argument 'guest.elf': use --kernel FILE, --bare FILE or a config file (.yaml, .json)\n",
  );
});

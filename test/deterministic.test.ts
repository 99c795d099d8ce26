/**
 * `pvm run --deterministic` (VmOptions.time 'instret'): guest time follows
 * instructions retired and idle time is skipped, so two boots of the same
 * Linux guest with the same (no) input print the same console output, byte
 * for byte, and retire the same number of instructions.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initrd, kernel, pvm } from './support/linux-guest.js';

function boot(
  dir: string,
  n: number,
  extra: string[] = [],
): { stdout: string; instructions: number; perHart: number[] } {
  const json = join(dir, `stats${n}.json`);
  const r = spawnSync(
    process.execPath,
    [
      pvm,
      'run',
      '--deterministic',
      '--kernel',
      kernel,
      '--initrd',
      initrd,
      '--append',
      'console=ttyS0 pvm.selftest',
      ...extra,
    ].concat(['--stats-json', json]),
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 },
  );
  assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
  const s = JSON.parse(readFileSync(json, 'utf8'));
  return { stdout: r.stdout, instructions: s.instructions, perHart: s.instructionsPerHart };
}

test('Linux booted with --deterministic, with the translator and without: identical output and instruction counts', () => {
  for (const f of [kernel, initrd]) assert.ok(existsSync(f), `missing ${f}: build it with guests/linux/build.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'pvm-det-'));
  const a = boot(dir, 1);
  const b = boot(dir, 2, ['--no-jit']);
  assert.equal([...a.stdout.matchAll(/^selftest ok: /gm)].length, 8, a.stdout.slice(-2000));
  assert.match(a.stdout, /reboot: Power down/);
  assert.equal(b.stdout, a.stdout);
  assert.equal(b.instructions, a.instructions);
  assert.deepEqual(b.perHart, a.perHart);
});

/**
 * FP benchmark: builds guests/bench/fp.c (matrix multiply, FFT, normalisation; F and D instructions) and
 * runs it in one go under pvm (in-process, for the retired instruction count, and as `pvm run --bare`)
 * and under qemu-system-riscv64. Prints JSON; the guest prints result checksums, which must match.
 * QEMU's time includes its start-up (most of it for this guest): a build of the same guest with no work
 * measures it, and `qemu.computeMs` / `ratioCompute` use the time without it. `pvmInProcess` has no Node
 * start-up in it.
 * Usage: node dist/bench/fp.js [runs]   (needs riscv64-unknown-elf-gcc and qemu-system-riscv64)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, renameSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBare } from '../src/hypervisor/bare.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.argv[2] ?? 3);

const build = (args: string[]) =>
  execFileSync(join(root, 'guests/bench/fp-build.sh'), args, { encoding: 'utf8' }).trim();
const empty = build(['-DMM_REPS=0', '-DFFT_REPS=0']).replace(/fp\.elf$/, 'fp-empty.elf');
renameSync(join(root, 'guests/bench/build/fp.elf'), empty);
const elf = build([]);

function timed(cmd: string, args: string[]): { ms: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: '', timeout: 600_000 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} exited with ${r.status}: ${r.stderr}`);
  return { ms, out: r.stdout.replace(/\r/g, '') };
}

function best(cmd: string, args: string[]): { ms: number; out: string } {
  let b = timed(cmd, args);
  for (let i = 1; i < runs; i++) {
    const r = timed(cmd, args);
    if (r.ms < b.ms) b = r;
  }
  return b;
}

// In-process run: instruction count and the speed of the run loop without Node start-up.
let inOut = '';
const t0 = performance.now();
const res = await runBare(
  readFileSync(elf),
  {
    nowMs: () => performance.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    console: (b) => {
      inOut += Buffer.from(b).toString('latin1');
    },
  },
  { memory: 64 << 20 },
);
const inMs = performance.now() - t0;

const pvm = best(process.execPath, [join(root, 'bin/pvm.js'), 'run', '--bare', elf]);
const qemuArgs = ['-machine', 'virt', '-bios', 'none', '-nographic', '-monitor', 'none', '-kernel'];
const qemu = best('qemu-system-riscv64', [...qemuArgs, elf]);
const qemuStart = best('qemu-system-riscv64', [...qemuArgs, empty]);
const qemuCompute = Math.max(1, qemu.ms - qemuStart.ms);

const clean = (s: string) => s.trim();
console.log(
  JSON.stringify(
    {
      bench: 'fp',
      guest: 'guests/bench/fp.c',
      instructions: res.instructions,
      end: res.end.kind,
      pvmInProcess: { ms: Math.round(inMs), mips: Math.round(res.instructions / inMs / 10) / 100 },
      pvmCli: { ms: Math.round(pvm.ms), mips: Math.round(res.instructions / pvm.ms / 10) / 100 },
      qemu: {
        ms: Math.round(qemu.ms),
        startupMs: Math.round(qemuStart.ms),
        computeMs: Math.round(qemuCompute),
        mips: Math.round(res.instructions / qemuCompute / 10) / 100,
      },
      ratio: Math.round((pvm.ms / qemu.ms) * 10) / 10,
      ratioCompute: Math.round((inMs / qemuCompute) * 10) / 10,
      loadavg1: Math.round(loadavg()[0]! * 100) / 100,
      outputsMatch: clean(inOut) === clean(qemu.out) && clean(pvm.out) === clean(qemu.out),
      output: clean(qemu.out),
    },
    null,
    2,
  ),
);

/**
 * bench/cpu: the CPU-bound bare-metal guest (guests/bench/cpu.c: CRC32,
 * sorting, matrix multiply) run under pvm (in this process, through the
 * library's bare runner) and under qemu-system-riscv64 in the same run.
 * Prints one JSON object: instructions retired (counted by pvm; the guest is
 * deterministic, so QEMU retires the same ones), seconds, MIPS, and the
 * pvm/QEMU time ratio. Not part of `npm test`.
 *
 *   npm run bench:cpu            (or: node dist/bench/cpu.js [--scale N] [--shared-ram])
 *
 * QEMU's time includes its start-up; `qemu.startupSeconds` (a run of the
 * smallest bare program) is reported so it can be subtracted, and
 * `qemu.mips` uses the time without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBare } from '../src/hypervisor/bare.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const benchDir = join(root, 'guests/bench');
const elfPath = join(benchDir, 'build/cpu.elf');
const helloPath = join(root, 'guests/bare/build/hello.elf');
const QEMU = 'qemu-system-riscv64';
const QEMU_ARGS = ['-machine', 'virt', '-cpu', 'rv64,h=false', '-bios', 'none', '-nographic', '-monitor', 'none'];

function fail(message: string): never {
  process.stderr.write(`bench/cpu: ${message}\n`);
  process.exit(1);
}

function scaleArg(): number {
  const i = process.argv.indexOf('--scale');
  if (i < 0) return 8;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) fail('--scale needs a positive integer');
  return n;
}

function build(scale: number): void {
  // Always rebuild so --scale takes effect.
  const r = spawnSync('make', ['-s', '-B', '-C', benchDir, `SCALE=${scale}`], { encoding: 'utf8' });
  if (r.error || r.status !== 0) fail(`building guests/bench failed (needs gcc-riscv64-unknown-elf): ${r.stderr}`);
  const b = spawnSync(join(root, 'guests/bare/build.sh'), [], { encoding: 'utf8' });
  if (b.error || b.status !== 0) fail(`guests/bare/build.sh failed: ${b.stderr}`);
}

async function runPvm(
  elf: Uint8Array,
  sharedRam = false,
): Promise<{ seconds: number; instructions: number; output: string }> {
  const chunks: Uint8Array[] = [];
  const t0 = performance.now();
  const result = await runBare(
    elf,
    {
      nowMs: () => performance.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      console: (bytes) => chunks.push(bytes.slice()),
    },
    { memory: 128 * 1024 * 1024, ...(sharedRam && { sharedRam }) },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (result.end.kind !== 'syscon' || result.end.code !== 0)
    fail(`pvm: the guest did not power off cleanly (${JSON.stringify(result.end)})`);
  return { seconds, instructions: result.instructions, output: Buffer.concat(chunks).toString('latin1') };
}

function runQemu(path: string): { seconds: number; output: string } {
  const t0 = performance.now();
  const r = spawnSync(QEMU, [...QEMU_ARGS, '-serial', 'stdio', '-kernel', path], {
    encoding: 'latin1',
    timeout: 600_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.error) fail(`${QEMU}: ${r.error.message}`);
  if (r.status !== 0) fail(`${QEMU} exited with ${r.status}: ${r.stderr}`);
  return { seconds, output: r.stdout };
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const scale = scaleArg();
  build(scale);
  if (!existsSync(elfPath)) fail(`${elfPath} was not built`);
  const elf = new Uint8Array(readFileSync(elfPath));

  const loadBefore = loadavg()[0] ?? 0;
  const pvm = await runPvm(elf);
  // --shared-ram: the same guest on RAM in shared memory (a pool domain's) and private RAM,
  // alternating three times after the first run (which also warms the process up)
  const shared: { private: number[]; shared: number[] } = { private: [], shared: [] };
  if (process.argv.includes('--shared-ram')) {
    for (let i = 0; i < 3; i++) {
      const s = await runPvm(elf, true);
      if (s.output !== pvm.output) fail('pvm on shared RAM printed something else');
      shared.shared.push(round(s.seconds));
      shared.private.push(round((await runPvm(elf)).seconds));
    }
  }
  const startup = runQemu(helloPath);
  const qemu = runQemu(elfPath);
  const checksum = /checksum ([0-9a-f]{8})/.exec(pvm.output)?.[1] ?? null;
  const qemuCompute = Math.max(qemu.seconds - startup.seconds, 1e-6);
  const report = {
    benchmark: 'cpu',
    guest: 'guests/bench/cpu.c',
    scale,
    instructions: pvm.instructions,
    checksum,
    outputsMatch: pvm.output === qemu.output,
    pvm: {
      seconds: round(pvm.seconds),
      mips: round(pvm.instructions / pvm.seconds / 1e6, 1),
    },
    qemu: {
      command: [QEMU, ...QEMU_ARGS].join(' '),
      seconds: round(qemu.seconds),
      startupSeconds: round(startup.seconds),
      mips: round(pvm.instructions / qemuCompute / 1e6, 1),
    },
    /** pvm time / QEMU time (QEMU start-up included; >1 means pvm is slower). */
    ratio: round(pvm.seconds / qemu.seconds, 2),
    /** The same, with QEMU's start-up subtracted. */
    ratioCompute: round(pvm.seconds / qemuCompute, 2),
    ...(shared.shared.length > 0 && {
      sharedRam: {
        privateSeconds: shared.private.map((s) => round(s)),
        sharedSeconds: shared.shared,
        /** best shared / best private: above 1, shared RAM is slower. */
        ratio: round(Math.min(...shared.shared) / Math.min(...shared.private), 3),
      },
    }),
    /** Context for reading the numbers: a loaded host slows both unevenly. */
    host: { node: process.version, cpus: cpus().length, loadavg1: round(loadBefore, 2) },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (!report.outputsMatch) process.exitCode = 1;
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));

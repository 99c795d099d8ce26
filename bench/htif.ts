/**
 * bench/htif: the cost of an HTIF call in a bare-metal run. guests/bare/src/htif-calls-htif.c
 * prints 50 lines one character per HTIF console call (device 1, command 1), waiting each
 * time for the host to clear tohost; the runner (the library's runBare, in this process) is
 * given the program `--runs` times after one warm-up run. Prints one JSON object: calls per
 * run, instructions per call (what the guest spins while it waits), milliseconds per run,
 * calls per second, and the runner's exits. Not part of `npm test`.
 *
 *   node dist/bench/htif.js [--runs N]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBare } from '../src/hypervisor/bare.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const elfPath = join(root, 'guests/bare/build/htif-calls-htif.elf');

function fail(message: string): never {
  process.stderr.write(`bench/htif: ${message}\n`);
  process.exit(1);
}

function runsArg(): number {
  const i = process.argv.indexOf('--runs');
  if (i < 0) return 5;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) fail('--runs needs a positive integer');
  return n;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const b = spawnSync(join(root, 'guests/bare/build.sh'), [], { encoding: 'utf8' });
  if (b.error || b.status !== 0) fail(`guests/bare/build.sh failed (needs gcc-riscv64-unknown-elf): ${b.stderr}`);
  const elf = new Uint8Array(readFileSync(elfPath));
  const runs = runsArg();
  const loadBefore = loadavg()[0] ?? 0;
  let calls = 0;
  const once = async () => {
    calls = 0;
    const t0 = performance.now();
    const r = await runBare(
      elf,
      {
        nowMs: () => performance.now(),
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        console: (bytes) => {
          calls += bytes.length; // one HTIF call per character
        },
      },
      {},
    );
    if (r.end.kind !== 'htif' || r.end.code !== 0) fail(`the guest ended with ${JSON.stringify(r.end)}`);
    return { ms: performance.now() - t0, result: r };
  };
  await once(); // warm-up: the JIT compiles the runner and the interpreter
  const times: number[] = [];
  let last: Awaited<ReturnType<typeof once>> | undefined;
  for (let i = 0; i < runs; i++) {
    last = await once();
    times.push(last.ms);
  }
  const r = last!.result;
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const report = {
    benchmark: 'htif',
    guest: 'guests/bare/src/htif-calls-htif.c',
    runs,
    callsPerRun: calls,
    instructionsPerRun: r.instructions,
    instructionsPerCall: round(r.instructions / calls),
    msPerRunMedian: round(median),
    msPerRunMin: round(times[0]!),
    callsPerSecond: Math.round(calls / (median / 1000)),
    exits: { slice: r.stats.exits.slice, stop: r.stats.exits.stop },
    host: { node: process.version, cpus: cpus().length, loadavg1: round(loadBefore, 2) },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));

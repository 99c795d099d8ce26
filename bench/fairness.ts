/**
 * bench/fairness: the API's latency and a bystander's share of the host while a hostile guest
 * runs next to it in one daemon (a real `pvm daemon` process; this process is only its client).
 *
 * The guests are guests/hostile (assembled here with riscv64-unknown-elf-gcc): `spin` is the
 * bystander; `trap-storm`, `fault-loop` and `ecall-storm` each make their instructions
 * expensive in another way. For the bystander alone and then next to each hostile guest, it
 * reports the bystander's instruction rate (and its ratio to the solo rate: 0.5 is a fair half
 * of one thread) and the latency of `GET /v1/domains` (list), sampled every 20 ms: p50, p99
 * and max. Prints one JSON object.
 *
 *   node dist/bench/fairness.js [--seconds 5]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { PvmClient } from '../src/cli/client.js';
import { assemblePvGuest } from './pv-guest.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const args = process.argv.slice(2);
const i = args.indexOf('--seconds');
const seconds = i >= 0 ? Number(args[i + 1]) : 5;
const HOSTILE = ['trap-storm', 'fault-loop', 'ecall-storm'];

function fail(message: string): never {
  process.stderr.write(`bench/fairness: ${message}\n`);
  process.exit(1);
}

function assemble(dir: string, name: string): string {
  return assemblePvGuest(dir, name, readFileSync(join(root, 'guests/hostile', `${name}.S`), 'utf8'));
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
};

async function window(client: PvmClient): Promise<{ rate: number; list: { p50: number; p99: number; max: number } }> {
  const i0 = (await client.stats('bystander')).instructions;
  const t0 = performance.now();
  const lat: number[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    const s = performance.now();
    await client.list();
    lat.push(performance.now() - s);
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = ((await client.stats('bystander')).instructions - i0) / ((performance.now() - t0) / 1000);
  return { rate, list: { p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: pct(lat, 1) } };
}

const dir = mkdtempSync(join(tmpdir(), 'pvm-fairness-'));
const socketPath = join(dir, 'pvmd.sock');
const daemon = spawn(
  process.execPath,
  // one thread: the credit scheduler's share of it is what this measures
  [join(root, 'bin/pvm.js'), 'daemon', '--socket', socketPath, '--log-level', 'error', '--workers', '0'],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: dir,
  },
);
try {
  const client = new PvmClient({ socketPath });
  for (let k = 0; ; k++) {
    try {
      await client.version();
      break;
    } catch {
      if (k > 200) fail('the daemon did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const kernels = Object.fromEntries(['spin', ...HOSTILE].map((n) => [n, assemble(join(dir, 'guests'), n)]));
  await client.create({ name: 'bystander', kernel: kernels.spin!, memory: '16M' });
  await window(client); // warm up
  const solo = await window(client);
  const out: Record<string, unknown> = {};
  for (const h of HOSTILE) {
    await client.create({ name: h, kernel: kernels[h]!, memory: '16M' });
    const w = await window(client);
    const hs = await client.stats(h);
    await client.destroy(h);
    const after = await window(client);
    const soloRate = (solo.rate + after.rate) / 2;
    out[h] = {
      bystanderRate: Math.round(w.rate),
      bystanderShare: Math.round((w.rate / soloRate) * 100) / 100,
      listMs: w.list,
      hostile: { instructions: hs.instructions, exits: Object.values(hs.exits).reduce((a, b) => a + b, 0) },
    };
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'fairness',
        secondsPerWindow: seconds,
        solo: { bystanderRate: Math.round(solo.rate), listMs: solo.list },
        withHostile: out,
        host: { node: process.version, loadavg1: Math.round(loadavg()[0]! * 10) / 10 },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

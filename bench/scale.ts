/**
 * bench/scale: how pvm shares the host's cores among domains (docs/scheduler.md). Each figure
 * comes from real `pvm daemon` processes (this process is only their client):
 *
 * - `parallel`: two CPU-bound domains (a counting loop of `--iterations`, then SBI poweroff),
 *   the time until both are off — one alone, both on the main thread (no workers), both with
 *   `--workers 2` — and the ratio to running them one after the other (2 × alone), with the
 *   daemon's CPU time over the wall time (above 100 %: it used several cores); the cases are
 *   interleaved over `--rounds` rounds and the fastest of each is compared;
 * - `apiLatency`: `list` and `stats` round trips sampled every 20 ms while those two domains run
 *   (every core busy with guests): p50, p99, max in ms, with and without workers;
 * - `sideBySide`: a one-thread daemon and a `--workers 2` daemon at the same time, each with two
 *   spinning domains: the ratio of their instruction rates (how many threads the pool keeps
 *   busy, independent of the machine's other load);
 * - `weights`: two spinning domains with weights 256 and 512 on one thread, the instruction ratio
 *   over `--seconds`;
 * - `cap`: a spinning domain with cap 25 alone, its guest time and the daemon's CPU time as a
 *   share of the wall clock over `--seconds`;
 * - `pool`: weights and caps across a pool's workers (`--workers N`): two spinning domains with
 *   weights 256 and 512 on one worker; three, with weights 256, 256 and 512, on two workers
 *   once the rebalancer has had `--settle` seconds to place them (each domain's instruction
 *   share against its share of the pool by weight: 1/4, 1/4, 1/2 of two cores, i.e. 0.5, 0.5
 *   and 1 core); as a control, two equal domains on two workers (their instruction ratio is
 *   how evenly the host shares its cores between the workers); and a domain with cap 25 next
 *   to two uncapped spinning domains on two workers (its guest time as a share of the wall
 *   clock);
 * - `idle`: `--idle` idle domains of the embedded guest (pvos at its prompt) — the time to create
 *   them (and per domain in the first and the last tenth: a cost growing with the domains there
 *   shows as a slower last tenth), the daemon's host CPU (% of one core) and resident memory per
 *   domain, with and without workers.
 *
 * `--root DIR` runs the daemons of another checkout (built) with this client: before and after
 * figures of two builds from one invocation after the other.
 *
 * Prints one JSON object.
 *
 *   node dist/bench/scale.js [--iterations 2000000000] [--rounds 2] [--seconds 4] [--idle 100]
 *                            [--settle 6] [--only parallel,sideBySide,weights,pool,idle]
 *                            [--root OTHER-CHECKOUT]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PvmClient } from '../src/cli/client.js';
import { assemblePvGuest } from './pv-guest.js';

const { values: opts } = parseArgs({
  options: {
    /** The pvm checkout whose daemon runs (default this one): compares two builds with one client. */
    root: { type: 'string' },
    iterations: { type: 'string', default: '2000000000' },
    seconds: { type: 'string', default: '4' },
    idle: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2' },
    settle: { type: 'string', default: '6' },
    only: { type: 'string' },
  },
});
const root = opts.root ?? join(fileURLToPath(import.meta.url), '../../..');
const ITERATIONS = Number(opts.iterations);
const SECONDS = Number(opts.seconds);
const IDLE = Number(opts.idle);
const ROUNDS = Number(opts.rounds);
/** Seconds the pool's rebalancer gets to place busy domains before a window is measured. */
const SETTLE = Number(opts.settle);
/** Sections to run (parallel, sideBySide, weights, pool, idle; weights includes cap), default all. */
const ONLY = opts.only?.split(',') ?? ['parallel', 'sideBySide', 'weights', 'pool', 'idle'];

/** Daemons started and not stopped yet: a failure stops them before exiting. */
const children = new Set<ReturnType<typeof spawn>>();

function fail(message: string): never {
  process.stderr.write(`bench/scale: ${message}\n`);
  for (const c of children) c.kill('SIGTERM');
  process.exit(1);
}

const COUNT_GUEST = `
.section .text
.globl _start
_start:
  li t0, ${ITERATIONS}
1: addi t0, t0, -1
  bnez t0, 1b
  li a7, 0x53525354  # SRST system_reset(shutdown, no reason)
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
2: j 2b
`;

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
};
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process, in ms (/proc/PID/stat, clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory of a process, in bytes (/proc/PID/status VmRSS). */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

interface Daemon {
  readonly client: PvmClient;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startDaemon(dir: string, workers: number): Promise<Daemon> {
  const socketPath = join(dir, `pvmd-${workers}-${Math.random().toString(36).slice(2)}.sock`);
  const args = [join(root, 'bin/pvm.js'), 'daemon', '--socket', socketPath, '--log-level', 'error'];
  args.push('--workers', String(workers));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir });
  children.add(child);
  const client = new PvmClient({ socketPath });
  for (let k = 0; ; k++) {
    try {
      await client.version();
      break;
    } catch {
      if (k > 1200) fail('the daemon did not start within a minute');
      await sleep(50);
    }
  }
  return {
    client,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      children.delete(child);
    },
  };
}

/** Creates the named domains with `kernel` and times until every one is shut off, sampling the API meanwhile. */
/**
 * Creates the named domains with `kernel` and times until every one is shut off, sampling the
 * API meanwhile; also the daemon's CPU time over the wall time (above 100 %: several cores).
 */
async function race(d: Daemon, kernel: string, names: string[]) {
  const c0 = cpuMsOf(d.pid);
  const t0 = performance.now();
  for (const name of names) await d.client.create({ name, kernel, memory: '16M' });
  const list: number[] = [];
  const stats: number[] = [];
  for (;;) {
    let s = performance.now();
    const all = await d.client.list();
    list.push(performance.now() - s);
    s = performance.now();
    await d.client.stats(names[0]!).catch(() => undefined);
    stats.push(performance.now() - s);
    if (names.every((n) => all.find((x) => x.name === n)?.state === 'shutoff')) break;
    if (performance.now() - t0 > 600_000) fail('the counting guests did not finish in 10 minutes');
    await sleep(20);
  }
  const ms = performance.now() - t0;
  const cpuPercent = (100 * (cpuMsOf(d.pid) - c0)) / ms;
  for (const name of names) await d.client.destroy(name);
  return { ms, cpuPercent, list, stats };
}

const latency = (xs: number[]) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: pct(xs, 1) });

/**
 * The three cases, interleaved over `ROUNDS` rounds so that the load of the machine's other
 * processes falls on each alike; the fastest round of each case is reported.
 */
async function parallel(dir: string, kernel: string) {
  const single = await startDaemon(dir, 0);
  const pool = await startDaemon(dir, 2);
  const runs = { alone: [] as Race[], oneThread: [] as Race[], workers: [] as Race[] };
  type Race = Awaited<ReturnType<typeof race>>;
  try {
    await race(single, kernel, ['warm']);
    await race(pool, kernel, ['warm1', 'warm2']);
    for (let r = 0; r < ROUNDS; r++) {
      runs.alone.push(await race(single, kernel, ['solo']));
      runs.oneThread.push(await race(single, kernel, ['a', 'b']));
      runs.workers.push(await race(pool, kernel, ['a', 'b']));
    }
  } finally {
    await single.stop();
    await pool.stop();
  }
  const best = (xs: Race[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const alone = best(runs.alone);
  const oneThread = best(runs.oneThread);
  const workers = best(runs.workers);
  const all = (k: keyof typeof runs) => runs[k].map((x) => Math.round(x.ms));
  return {
    iterations: ITERATIONS,
    rounds: ROUNDS,
    aloneMs: all('alone'),
    twoOnOneThreadMs: all('oneThread'),
    twoOnWorkersMs: all('workers'),
    sequentialMs: Math.round(2 * alone.ms),
    ratioOneThread: round(oneThread.ms / (2 * alone.ms)),
    ratioWorkers: round(workers.ms / (2 * alone.ms)),
    daemonCpuPercent: {
      alone: Math.round(alone.cpuPercent),
      oneThread: Math.round(oneThread.cpuPercent),
      workers: Math.round(workers.cpuPercent),
    },
    apiLatency: {
      oneThread: {
        list: latency(runs.oneThread.flatMap((x) => x.list)),
        stats: latency(runs.oneThread.flatMap((x) => x.stats)),
      },
      workers: {
        list: latency(runs.workers.flatMap((x) => x.list)),
        stats: latency(runs.workers.flatMap((x) => x.stats)),
      },
    },
  };
}

/**
 * Both daemons at once, each with two spinning domains: under the same load from the rest of
 * the machine, the host's scheduler gives each runnable thread a like share, so the ratio of the
 * two daemons' instruction rates and CPU times shows how many threads the pool keeps busy,
 * whatever else the machine runs (2 on an idle or a loaded 2-core host).
 */
async function sideBySide(dir: string, spin: string) {
  const single = await startDaemon(dir, 0);
  const pool = await startDaemon(dir, 2);
  try {
    for (const d of [single, pool]) {
      await d.client.create({ name: 'a', kernel: spin, memory: '16M' });
      await d.client.create({ name: 'b', kernel: spin, memory: '16M' });
    }
    await sleep(1000);
    const [s, p] = await Promise.all([windowOf(single, ['a', 'b']), windowOf(pool, ['a', 'b'])]);
    const mips = (w: typeof s) => (w.instructions[0]! + w.instructions[1]!) / w.ms / 1000;
    return {
      oneThread: { mips: Math.round(mips(s)), cpuPercent: Math.round((100 * s.cpuMs) / s.ms) },
      workers: { mips: Math.round(mips(p)), cpuPercent: Math.round((100 * p.cpuMs) / p.ms) },
      instructionRateRatio: round(mips(p) / mips(s)),
    };
  } finally {
    await single.stop();
    await pool.stop();
  }
}

async function windowOf(d: Daemon, names: string[]) {
  const s0 = await Promise.all(names.map((n) => d.client.stats(n)));
  const c0 = cpuMsOf(d.pid);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const s1 = await Promise.all(names.map((n) => d.client.stats(n)));
  const ms = performance.now() - t0;
  return {
    ms,
    cpuMs: cpuMsOf(d.pid) - c0,
    instructions: s1.map((s, i) => s.instructions - s0[i]!.instructions),
    guestMs: s1.map((s, i) => s.guestMs - s0[i]!.guestMs),
    stealMs: s1.map((s, i) => (s.stealMs ?? 0) - (s0[i]!.stealMs ?? 0)),
  };
}

async function weightsAndCap(dir: string, spin: string) {
  const d = await startDaemon(dir, 0);
  try {
    await d.client.create({ name: 'w256', kernel: spin, memory: '16M' });
    await d.client.create({ name: 'w512', kernel: spin, memory: '16M', weight: 512 });
    await windowOf(d, ['w256', 'w512']); // warm up
    const w = await windowOf(d, ['w256', 'w512']);
    await d.client.destroy('w256');
    await d.client.destroy('w512');
    await d.client.create({ name: 'capped', kernel: spin, memory: '16M', cap: 25 });
    await windowOf(d, ['capped']);
    const c = await windowOf(d, ['capped']);
    await d.client.destroy('capped');
    return {
      weights: {
        instructions: { w256: w.instructions[0], w512: w.instructions[1] },
        ratio: round(w.instructions[1]! / w.instructions[0]!),
        errorVsTwo: round(Math.abs(w.instructions[1]! / w.instructions[0]! / 2 - 1), 3),
        // What the scheduler shares: host time of the turns. Instructions per ms of it vary when
        // the host itself preempts the daemon mid-turn (a loaded machine).
        hostTimeRatio: round(w.guestMs[1]! / w.guestMs[0]!),
      },
      cap: {
        cap: 25,
        guestPercent: round((100 * c.guestMs[0]!) / c.ms, 1),
        daemonCpuPercent: round((100 * c.cpuMs) / c.ms, 1),
        stealPercent: round((100 * c.stealMs[0]!) / c.ms, 1),
      },
    };
  } finally {
    await d.stop();
  }
}

/**
 * Weights and caps across a pool (docs/scheduler.md, "Weights and caps across the pool"): each
 * case its own daemon, given SETTLE seconds for the rebalancer, a warm-up window and a measured
 * one.
 */
async function pool(dir: string, spin: string) {
  async function run(workers: number, domains: { name: string; weight?: number; cap?: number }[]) {
    const d = await startDaemon(dir, workers);
    try {
      for (const x of domains) await d.client.create({ kernel: spin, memory: '16M', ...x });
      await sleep(SETTLE * 1000);
      const names = domains.map((x) => x.name);
      await windowOf(d, names);
      return await windowOf(d, names);
    } finally {
      await d.stop();
    }
  }
  // Two busy domains on one worker: its credit scheduler splits the thread 1:2.
  const one = await run(1, [{ name: 'w256' }, { name: 'w512', weight: 512 }]);
  // Three on two workers, placed by count as w256a and w512 on worker 0, w256b on worker 1:
  // the rebalancer moves w256a next to w256b, so the shares are 1 : 1 : 2.
  const three = await run(2, [{ name: 'w256a' }, { name: 'w256b' }, { name: 'w512', weight: 512 }]);
  const total = three.instructions.reduce((a, b) => a + b, 0);
  const ideal = [0.25, 0.25, 0.5];
  // The control: two equal domains, one per worker. Their instruction ratio is how evenly the
  // host itself shares its cores between the two workers (1 on an idle host).
  const pair = await run(2, [{ name: 'left' }, { name: 'right' }]);
  // A cap of 25 % with two busy neighbours on two workers: it holds, they take the rest.
  const capped = await run(2, [{ name: 'capped', cap: 25 }, { name: 'x' }, { name: 'y' }]);
  return {
    pool: {
      settleSeconds: SETTLE,
      weightsOneWorker: {
        instructions: { w256: one.instructions[0], w512: one.instructions[1] },
        ratio: round(one.instructions[1]! / one.instructions[0]!),
        errorVsTwo: round(Math.abs(one.instructions[1]! / one.instructions[0]! / 2 - 1), 3),
        hostTimeRatio: round(one.guestMs[1]! / one.guestMs[0]!),
      },
      weightsTwoWorkers: {
        instructions: { w256a: three.instructions[0], w256b: three.instructions[1], w512: three.instructions[2] },
        ratioToW256a: round(three.instructions[2]! / three.instructions[0]!),
        ratioToW256b: round(three.instructions[2]! / three.instructions[1]!),
        // Each domain's share of all instructions against its weight's (1/4, 1/4, 1/2).
        worstErrorVsWeights: round(
          Math.max(...three.instructions.map((n, i) => Math.abs(n / total / ideal[i]! - 1))),
          3,
        ),
        coresByHostTime: three.guestMs.map((ms) => round(ms / three.ms)),
      },
      equalTwoWorkers: {
        instructionRatio: round(pair.instructions[1]! / pair.instructions[0]!),
        coresByHostTime: pair.guestMs.map((ms) => round(ms / pair.ms)),
      },
      capTwoWorkers: {
        cap: 25,
        guestPercent: round((100 * capped.guestMs[0]!) / capped.ms, 1),
        stealPercent: round((100 * capped.stealMs[0]!) / capped.ms, 1),
        neighboursGuestPercent: capped.guestMs.slice(1).map((ms) => round((100 * ms) / capped.ms, 1)),
        daemonCpuPercent: round((100 * capped.cpuMs) / capped.ms, 1),
      },
    },
  };
}

async function idle(dir: string, workers: number) {
  const d = await startDaemon(dir, workers);
  try {
    await sleep(500);
    const rss0 = rssOf(d.pid);
    const t0 = performance.now();
    // The first and the last tenth timed apart: creation cost that grows with the domains
    // already there shows as a last tenth slower than the first.
    const tenth = Math.max(1, Math.floor(IDLE / 10));
    let firstTenthMs = 0;
    let lastTenthStart = 0;
    for (let i = 0; i < IDLE; i++) {
      if (i === IDLE - tenth) lastTenthStart = performance.now();
      await d.client.create({ name: `idle${i}`, memory: '16M' });
      if (i === tenth - 1) firstTenthMs = performance.now() - t0;
    }
    const createMs = performance.now() - t0;
    const lastTenthMs = performance.now() - lastTenthStart;
    await sleep(3000); // every guest at its prompt
    const c0 = cpuMsOf(d.pid);
    const w0 = performance.now();
    await sleep(SECONDS * 1000);
    const cpuPercent = (100 * (cpuMsOf(d.pid) - c0)) / (performance.now() - w0);
    const rss = rssOf(d.pid);
    const l0 = performance.now();
    await d.client.list();
    const listMs = performance.now() - l0;
    return {
      domains: IDLE,
      workers,
      createMs: Math.round(createMs),
      createMsPerDomain: {
        firstTenth: round(firstTenthMs / tenth, 1),
        lastTenth: round(lastTenthMs / tenth, 1),
      },
      cpuPercentOfOneCore: round(cpuPercent, 1),
      cpuPercentPerDomain: round(cpuPercent / IDLE, 3),
      rssMiB: round(rss / 2 ** 20, 1),
      rssKiBPerDomain: Math.round((rss - rss0) / IDLE / 1024),
      listMs: round(listMs, 1),
    };
  } finally {
    await d.stop();
  }
}

const load0 = loadavg()[0]!;
const dir = mkdtempSync(join(tmpdir(), 'pvm-scale-'));
try {
  const count = assemblePvGuest(join(dir, 'guests'), 'count', COUNT_GUEST);
  const spin = assemblePvGuest(join(dir, 'guests'), 'spin', readFileSync(join(root, 'guests/hostile/spin.S'), 'utf8'));
  const out = {
    benchmark: 'scale',
    hostCores: availableParallelism(),
    ...(ONLY.includes('parallel') && { parallel: await parallel(dir, count) }),
    ...(ONLY.includes('sideBySide') && { sideBySide: await sideBySide(dir, spin) }),
    ...(ONLY.includes('weights') && (await weightsAndCap(dir, spin))),
    ...(ONLY.includes('pool') && (await pool(dir, spin))),
    ...(ONLY.includes('idle') && { idle: { oneThread: await idle(dir, 0), workers: await idle(dir, 2) } }),
    host: { node: process.version, loadavg1: round(loadavg()[0]!, 1), loadavgAtStart: round(load0, 1) },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

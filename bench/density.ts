/**
 * Density: how many idle pvos domains one pvm process holds.
 *
 * Boots N pvos guests (the embedded default guest, PV mode, 1 vCPU, --memory MiB
 * each, one shared PVX registry) one after the other in this process; each is
 * booted when its shell prompt appears, and all earlier ones keep running (idle:
 * SCHED_BLOCK between their 100 Hz ticks). Reports the boot time of each (from
 * createVm to the prompt: mean, median, p90, max, first and last), host memory per
 * domain (growth of RSS, V8 heap and ArrayBuffers over the baseline, divided by N),
 * then the host CPU the N idle domains take over a few seconds, their exits per
 * second, and whether a sample of them keeps time (tick count 100 per second), the time for all N to answer
 * a shell command, and finally every guest powers off. Prints JSON (and writes it to --out FILE).
 *
 * With --no-jit the domains run on the interpreter alone (docs/cpu.md, the translation tier).
 *
 *   node --expose-gc dist/bench/density.js [--n 100,1000] [--memory 3] [--idle-s 3] [--no-jit] [--shared-ram] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { PvxHost } from '../src/hypervisor/pvx/host.js';
import type { PvxDomain } from '../src/hypervisor/pvx/pvx-domain.js';
import { PvosSession } from './pvos-session.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const counts = opt('--n', '100,1000').split(',').map(Number);
const memMiB = Number(opt('--memory', '3'));
const idleS = Number(opt('--idle-s', '3'));
const outFile = opt('--out', '');
const jit = !args.includes('--no-jit');
/** --shared-ram: each domain's RAM in shared memory, as on the daemon's pool. */
const sharedRam = args.includes('--shared-ram');
const MiB = 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;
function memory() {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    mean: r(xs.reduce((a, b) => a + b, 0) / xs.length),
    p50: r(at(0.5)),
    p90: r(at(0.9)),
    max: r(s[s.length - 1]!),
    first: r(xs[0]!),
    last: r(xs[xs.length - 1]!),
  };
};

async function density(n: number) {
  const pvxHost = new PvxHost<PvxDomain>();
  const base = memory();
  const t0 = performance.now();
  const sessions: PvosSession[] = [];
  const bootMs: number[] = [];
  let failed: string | null = null;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    try {
      const s = new PvosSession({ mode: 'pv', memory: memMiB * MiB, pvxHost, jit, sharedRam });
      sessions.push(s);
      await s.prompt();
    } catch (e) {
      failed = `domain ${i + 1}: ${(e as Error).message}`;
      break;
    }
    bootMs.push(performance.now() - t);
    if ((i + 1) % 100 === 0) process.stderr.write(`density: ${i + 1}/${n} booted\n`);
  }
  const allBootedMs = performance.now() - t0;
  const booted = memory();
  // all idle: how much host CPU do they take, and do their 100 Hz ticks keep up? (ticks of a sample)
  const sample = sessions.filter((_, i) => i % Math.max(1, Math.floor(sessions.length / 10)) === 0);
  const ticksOf = async () =>
    Promise.all(sample.map(async (s) => Number(/ticks: (\d+)/.exec(await s.run('ticks'))?.[1] ?? Number.NaN)));
  const ticks0 = await ticksOf();
  const exitsOf = () => sessions.reduce((a, s) => a + s.vm.statistics().exitsTotal, 0);
  const exits0 = exitsOf();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const idleMs = performance.now() - w0;
  const idleExits = exitsOf() - exits0;
  const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / idleMs) * 100;
  const ticks1 = await ticksOf();
  const tickHz = ticks1.map((t, i) => (t - ticks0[i]!) / (idleMs / 1000));
  // still alive? each answers a command
  const t1 = performance.now();
  const answers = await Promise.all(sessions.map((s) => s.run('ticks')));
  const answerAllMs = performance.now() - t1;
  const ok = answers.filter((a) => /ticks: \d+/.test(a)).length;
  const poweredOff = (await Promise.all(sessions.map((s) => s.poweroff()))).filter((e) => e.kind === 'poweroff').length;
  const k = bootMs.length;
  const per = (x: number) => Math.round((x / Math.max(1, k) / 1024) * 10) / 10;
  return {
    n,
    booted: k,
    failed,
    memoryMiBPerDomain: memMiB,
    bootMs: stats(bootMs),
    allBootedMs: Math.round(allBootedMs),
    hostKiBPerDomain: {
      rss: per(booted.rss - base.rss),
      heapUsed: per(booted.heapUsed - base.heapUsed),
      arrayBuffers: per(booted.arrayBuffers - base.arrayBuffers),
    },
    hostMiBTotal: { rss: Math.round(booted.rss / MiB), heapUsed: Math.round(booted.heapUsed / MiB) },
    idleCpuPercent: Math.round(idleCpuPercent),
    /** Exits (hypercalls: timer, SCHED_BLOCK, ...) per domain per second while idle. */
    idleExitsPerSecondPerDomain: Math.round((idleExits / Math.max(1, sessions.length) / (idleMs / 1000)) * 10) / 10,
    /** The guests' clock while idle: tick count per second (100 when it keeps time), min and mean of a sample. */
    idleTickHz: {
      min: Math.round(Math.min(...tickHz)),
      mean: Math.round(tickHz.reduce((a, b) => a + b, 0) / tickHz.length),
    },
    answeredTicks: ok,
    answerAllMs: Math.round(answerAllMs),
    poweredOff,
  };
}

const runs = [];
for (const n of counts) {
  runs.push(await density(n));
  process.stderr.write(`${JSON.stringify(runs[runs.length - 1])}\n`);
}
const json = `${JSON.stringify({ bench: 'density', guest: 'guests/pvos/pvos.elf', node: process.version, gcExposed: gc !== undefined, jit, runs }, null, 2)}\n`;
process.stdout.write(json);
if (outFile) writeFileSync(outFile, json);

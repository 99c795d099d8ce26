/**
 * Density: how many idle pvos domains one pvm process holds.
 *
 * Boots N pvos guests (the embedded default guest, PV mode, 1 vCPU, --memory MiB
 * each, one shared PVX registry) one after the other in this process; each is
 * booted when its shell prompt appears, and all earlier ones keep running (idle:
 * SCHED_BLOCK between their 100 Hz ticks). Reports the boot time of each (from
 * createVm to the prompt: mean, median, p90, max, first and last), host memory per
 * domain (growth of RSS, V8 heap and ArrayBuffers over the baseline, divided by N; each the
 * median of --samples samples taken after a full GC; and where the resident bytes are, from
 * /proc/self/smaps and pagemap: bench/resident.ts, docs/density.md "Measuring"),
 * then the host CPU the N idle domains take over a few seconds, their exits per
 * second, and whether a sample of them keeps time (tick count 100 per second), the time for all N to answer
 * a shell command, and finally every guest powers off. Prints JSON (and writes it to --out FILE).
 *
 * With --no-jit the domains run on the interpreter alone (docs/cpu.md, the translation tier).
 *
 *   node --expose-gc dist/bench/density.js [--n 100,1000] [--memory 3] [--idle-s 3] [--no-jit] [--shared-ram] [--samples 5] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as st from '../src/cpu/jit/state.js';
import { PvxHost } from '../src/hypervisor/pvx/host.js';
import type { PvxDomain } from '../src/hypervisor/pvx/pvx-domain.js';
import { PvosSession } from './pvos-session.js';
import { minus, perKiB, type Region, resident } from './resident.js';

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
/** Samples per memory figure (median); each after a full GC and a turn of the event loop. */
const SAMPLES = Number(opt('--samples', '5'));
const ramBytes = memMiB * MiB;
/** A domain's WebAssembly.Memory: RAM, then one hart's state area (src/cpu/jit/state.ts), in 64 KiB pages. */
const wasmBytes = Math.ceil((ramBytes + Math.ceil(st.HART_STATE_BYTES / 4096) * 4096) / 65536) * 65536;
/** Where a pvos domain's resident pages are: RAM below and above pvos's load address, and the state area's parts. */
const LOAD = 2 * MiB;
const regions: Region[] = [
  { name: 'ramBelowKernel', start: 0, end: Math.min(LOAD, ramBytes) },
  { name: 'ram', start: Math.min(LOAD, ramBytes), end: ramBytes },
  { name: 'stateRegs', start: ramBytes, end: ramBytes + st.R_TAG },
  { name: 'stateDataTlb', start: ramBytes + st.R_TAG, end: ramBytes + st.X_TAG },
  { name: 'stateFetchTlb', start: ramBytes + st.X_TAG, end: ramBytes + st.SLOT_PC },
  { name: 'stateJitSlots', start: ramBytes + st.SLOT_PC, end: ramBytes + st.HART_STATE_BYTES },
  { name: 'pageTail', start: ramBytes + st.HART_STATE_BYTES, end: wasmBytes },
];
type Res = NonNullable<ReturnType<typeof resident>>;
/** Committed bytes of V8's young generation. */
const youngGen = (r: Res) => (r.v8.new_space?.committed ?? 0) + (r.v8.new_large_object_space?.committed ?? 0);
const withoutCount = (r: Res) => ({ ...r, wasm: { rss: r.wasm.rss, regions: r.wasm.regions } });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/**
 * Host memory: SAMPLES samples, each after a full GC (gc() runs it when node has --expose-gc)
 * and a short pause so the GC's background threads finish freeing; the median of each figure.
 */
async function memory() {
  const rows: { rss: number; heapUsed: number; arrayBuffers: number }[] = [];
  const smaps: Res[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
    const m = process.memoryUsage();
    rows.push({ rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers });
    const r = resident(wasmBytes, regions);
    if (r) smaps.push(r);
  }
  const at = smaps.length > 0 ? smaps.map((r) => r.rss) : [];
  const mid = at.length > 0 ? smaps[at.indexOf(median(at))]! : null;
  return {
    rss: median(rows.map((r) => r.rss)),
    rssRange: [Math.min(...rows.map((r) => r.rss)), Math.max(...rows.map((r) => r.rss))],
    heapUsed: median(rows.map((r) => r.heapUsed)),
    arrayBuffers: median(rows.map((r) => r.arrayBuffers)),
    resident: mid,
  };
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
  const base = await memory();
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
  const booted = await memory();
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
      /** Spread of the RSS samples at N domains (max - min), per domain: the noise of the rss figure. */
      rssSpread: per(booted.rssRange[1]! - booted.rssRange[0]!),
      /**
       * RSS less the growth of V8's young generation (docs/density.md, "Measuring"): a buffer of
       * the process the GC sizes to the allocation rate, not memory any domain holds.
       */
      rssLessYoungGen:
        booted.resident && base.resident
          ? per(booted.rss - base.rss - (youngGen(booted.resident) - youngGen(base.resident)))
          : null,
    },
    /** Per domain, from smaps and pagemap (bench/resident.ts): where the resident bytes are. */
    residentKiBPerDomain:
      booted.resident && base.resident
        ? perKiB(minus(withoutCount(booted.resident), withoutCount(base.resident)), Math.max(1, k))
        : null,
    wasmMemories: booted.resident?.wasm.memories ?? null,
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

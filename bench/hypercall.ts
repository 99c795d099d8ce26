/**
 * Hypercall round trip: the cost of one PVX hypercall (guest `ecall` → the
 * hypervisor's handler → back to the guest), measured with pvos's `bench timer N`
 * (N one-shot timer programmings, one hypercall and ~30 guest instructions each)
 * in a PV-mode domain with 2 harts, the translation tier on and then off, in one
 * run. Each is repeated --repeat times (default 5) and the fastest run is kept (the
 * first ones warm V8 and the translator). Reports the guest's own figure (rdtime,
 * the host clock: ns per operation), the host wall time and the process's CPU time
 * per operation (steadier than wall time on a loaded machine). Prints JSON.
 *
 *   node dist/bench/hypercall.js [--n 20000] [--repeat 5] [--no-jit-too]
 */
import { performance } from 'node:perf_hooks';
import { PvosSession } from './pvos-session.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const n = Number(opt('--n', '20000'));
const repeat = Number(opt('--repeat', '5'));
const withInterp = args.includes('--no-jit-too');

interface Result {
  guestNsPerOp: number;
  hostNsPerOp: number;
  cpuNsPerOp: number;
  hypercallsPerOp: number;
  instructionsPerOp: number;
  /** Share of those instructions run by translated code. */
  translatedShare: number;
}

async function measure(jit: boolean): Promise<Result> {
  const s = new PvosSession({ mode: 'pv', harts: 2, memory: 64 << 20, jit });
  await s.prompt();
  let best: Result = {
    guestNsPerOp: Infinity,
    hostNsPerOp: Infinity,
    cpuNsPerOp: Infinity,
    hypercallsPerOp: 0,
    instructionsPerOp: 0,
    translatedShare: 0,
  };
  for (let r = 0; r < repeat; r++) {
    const st0 = s.vm.statistics();
    const before = st0.exits.hypercall;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = await s.run(`bench timer ${n}`);
    const hostNs = ((performance.now() - t0) * 1e6) / n;
    const c = process.cpuUsage(c0);
    const cpuNs = ((c.user + c.system) * 1e3) / n;
    const m = new RegExp(`bench timer: ${n} ops via (\\S+), \\d+ ticks, (\\d+) ns/op$`).exec(out);
    if (!m) throw new Error(`bench timer: unexpected output ${JSON.stringify(out.slice(-200))}`);
    const guestNs = Number(m[2]);
    const st1 = s.vm.statistics();
    const calls = (st1.exits.hypercall - before) / n;
    const instructions = st1.instructions - st0.instructions;
    const translated = (st1.jit?.instructions ?? 0) - (st0.jit?.instructions ?? 0);
    if (guestNs < best.guestNsPerOp) {
      best = {
        guestNsPerOp: guestNs,
        hostNsPerOp: Math.round(hostNs),
        cpuNsPerOp: Math.round(cpuNs),
        hypercallsPerOp: calls,
        instructionsPerOp: instructions / n,
        translatedShare: Math.round((translated / instructions) * 1000) / 1000,
      };
    }
  }
  const end = await s.poweroff();
  if (end.kind !== 'poweroff') throw new Error(`guest ended with ${JSON.stringify(end)}`);
  return best;
}

const result: Record<string, unknown> = {
  bench: 'hypercall',
  what: `pvos bench timer ${n}`,
  repeat,
  node: process.version,
};
result.jit = await measure(true);
if (withInterp) result.interpreter = await measure(false);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);

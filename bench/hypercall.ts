/**
 * Hypercall round trip: the cost of one PVX hypercall (guest `ecall` → the
 * hypervisor's handler → back to the guest), measured with pvos's `bench timer N`
 * (N one-shot timer programmings, one hypercall and ~30 guest instructions each)
 * in a PV-mode domain with 2 harts, the translation tier on and then off, in one
 * run. Each is repeated --repeat times (default 5) and the fastest run is kept (the
 * first ones warm V8 and the translator). Reports the guest's own figure (rdtime,
 * the host clock: ns per operation) and the host wall time per operation. Prints JSON.
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

async function measure(jit: boolean): Promise<{ guestNsPerOp: number; hostNsPerOp: number; hypercallsPerOp: number }> {
  const s = new PvosSession({ mode: 'pv', harts: 2, memory: 64 << 20, jit });
  await s.prompt();
  let best = { guestNsPerOp: Infinity, hostNsPerOp: Infinity, hypercallsPerOp: 0 };
  for (let r = 0; r < repeat; r++) {
    const before = s.vm.statistics().exits.hypercall;
    const t0 = performance.now();
    const out = await s.run(`bench timer ${n}`);
    const hostNs = ((performance.now() - t0) * 1e6) / n;
    const m = new RegExp(`bench timer: ${n} ops via (\\S+), \\d+ ticks, (\\d+) ns/op$`).exec(out);
    if (!m) throw new Error(`bench timer: unexpected output ${JSON.stringify(out.slice(-200))}`);
    const guestNs = Number(m[2]);
    const calls = (s.vm.statistics().exits.hypercall - before) / n;
    if (guestNs < best.guestNsPerOp)
      best = { guestNsPerOp: guestNs, hostNsPerOp: Math.round(hostNs), hypercallsPerOp: calls };
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

/**
 * The hypervisor's side of a hypercall alone: `SbiDispatcher.handleEcallFast` for PVX TIMER_SET
 * (naming, policy, counting, the PVX call, the timer and its clock read), called in a loop on a
 * booted pvos domain (PV mode, 2 harts) with a deadline far in the future, so no guest code runs
 * in between. The guest's `bench timer` first binds the timer VIRQ and warms the path. Reports
 * the host wall time and the process's CPU time per call, best of --repeat. Prints JSON.
 *
 *   node dist/bench/hypercall-side.js [--n 2000000] [--repeat 7]
 */
import { performance } from 'node:perf_hooks';
import { PVX_EID, PvxFid } from '../src/sbi/pvx/consts.js';
import type { SbiHart } from '../src/sbi/types.js';
import { PvosSession } from './pvos-session.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const n = Number(opt('--n', '2000000'));
const repeat = Number(opt('--repeat', '7'));

const s = new PvosSession({ mode: 'pv', harts: 2, memory: 64 << 20, jit: true });
await s.prompt();
await s.run('bench timer 1000');
// the registers of a hart 0 that is not the guest's: the call reads a7, a6, a0 and writes a0, a1
const x = new Int32Array(64);
const h: SbiHart = { id: 0, x, getX: () => 0n, setX: () => {} };
let best = { wallNsPerCall: Infinity, cpuNsPerCall: Infinity };
for (let r = 0; r < repeat; r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    x[34] = PVX_EID;
    x[35] = 0;
    x[32] = PvxFid.TIMER_SET;
    x[33] = 0;
    x[20] = 0x4000_0000 + (i & 1023);
    x[21] = 0x1_0000; // a deadline near 2^48 ticks: never due
    if (!s.vm.sbi.handleEcallFast(h) || x[20] !== 0)
      throw new Error(`TIMER_SET not made on the fast path (a0 ${x[20]})`);
  }
  const c = process.cpuUsage(c0);
  const cpuNs = ((c.user + c.system) * 1e3) / n;
  if (cpuNs < best.cpuNsPerCall) {
    best = { wallNsPerCall: Math.round(((performance.now() - t0) * 1e6) / n), cpuNsPerCall: Math.round(cpuNs) };
  }
}
process.stdout.write(
  `${JSON.stringify({ bench: 'hypercall-side', what: `PVX TIMER_SET x ${n}`, repeat, node: process.version, ...best }, null, 2)}\n`,
);
process.exit(0);

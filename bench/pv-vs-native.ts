/**
 * PV vs native back ends of one guest binary, side by side in one run.
 *
 * pvos (guests/pvos/pvos.elf, the embedded default guest) boots twice on pvm
 * with 2 harts: in PV mode, where it finds PVX and fills its pv-ops with the
 * paravirtual back ends, and in full mode on Debian's OpenSBI, where PVX is
 * absent and it takes the native ones (sstatus.SIE, SBI TIME through the
 * firmware, UART registers, SBI RFENCE, WFI). Each runs the shell's
 * `bench mask|timer|console|tlb|ipi|idle N`; around each command the domain's
 * statistics give the exits and instructions it cost.
 *
 * Per operation: exits (PV: hypercalls, trap redirects, WFI, MMIO; full: traps into
 * the M-mode firmware, MMIO to emulated devices, WFI), instructions (all privilege
 * levels) and the firmware's (M-mode) share of them, the guest's own time per op
 * (rdtime, the host clock) and the host wall
 * time per op; for each benchmark the ratio native / PV (> 1: PV is cheaper).
 * Prints JSON (and writes it to --out FILE).
 *
 * Each benchmark runs --repeat times (default 3) and the fastest run is reported: the
 * first runs of a code path pay for the CPU's JIT warm-up.
 *
 *   node dist/bench/pv-vs-native.js [--scale 1] [--repeat 3] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { DomainStatsJson } from '../src/hypervisor/stats.js';
import { PvosSession } from './pvos-session.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const scale = Number(opt('--scale', '1'));
const outFile = opt('--out', '');
/** Each benchmark runs this many times per mode; the fastest run is kept (the first ones warm the JIT). */
const repeat = Number(opt('--repeat', '3'));
const HARTS = 2;

/** Operation counts: console is bytes (1 MiB); the others are calls. */
const WORK: Array<[string, number]> = [
  ['mask', 100_000],
  ['timer', 10_000],
  ['console', 1 << 20],
  ['tlb', 2_000],
  ['ipi', 1_000],
  ['idle', 1_000],
].map(([w, n]) => [w as string, Math.max(1, Math.round((n as number) * scale))]);

interface OpResult {
  n: number;
  backend: string;
  exits: number;
  exitsPerOp: number;
  exitKinds: Record<string, number>;
  instructionsPerOp: number;
  firmwareInstructionsPerOp: number;
  guestNsPerOp: number;
  hostNsPerOp: number;
}

function exitParts(s: DomainStatsJson): Record<string, number> {
  return {
    hypercall: s.exits.hypercall,
    'trap-redirect': s.exits['trap-redirect'],
    wfi: s.exits.wfi,
    mmio: s.mmioTotal,
    'firmware-trap': s.firmware.traps,
  };
}

async function measure(mode: 'pv' | 'full'): Promise<{ boot: string; ops: Record<string, OpResult> }> {
  const s = new PvosSession({ mode, harts: HARTS, memory: 64 << 20 });
  const bootOut = await s.prompt();
  const boot = /pvos: backends: [^\n]+/.exec(bootOut)?.[0] ?? '?';
  const ops: Record<string, OpResult> = {};
  for (const [what, n] of WORK) {
    for (let r = 0; r < repeat; r++) {
      const one = await once(s, mode, what, n);
      if (ops[what] === undefined || one.hostNsPerOp < ops[what].hostNsPerOp) ops[what] = one;
    }
    const o = ops[what]!;
    process.stderr.write(`${mode} ${what}: ${o.backend} ${o.exitsPerOp.toFixed(2)} exits/op ${o.guestNsPerOp} ns/op\n`);
  }
  const end = await s.poweroff();
  if (end.kind !== 'poweroff') throw new Error(`${mode}: guest ended with ${JSON.stringify(end)}`);
  return { boot, ops };
}

/** One `bench WHAT N` command and what it cost. */
async function once(s: PvosSession, mode: string, what: string, n: number): Promise<OpResult> {
  const before = structuredClone(s.vm.statistics()); // statistics() may share live objects
  const t0 = performance.now();
  const out = await s.run(`bench ${what} ${n}`);
  const hostMs = performance.now() - t0;
  const after = s.vm.statistics();
  const m = new RegExp(`bench ${what}: ${n} ops via (\\S+), \\d+ ticks, (\\d+) ns/op$`).exec(out);
  if (!m) throw new Error(`${mode} bench ${what}: unexpected output ${JSON.stringify(out.slice(-200))}`);
  const b = exitParts(before);
  const a = exitParts(after);
  const kinds: Record<string, number> = {};
  let exits = 0;
  for (const k of Object.keys(a)) {
    kinds[k] = a[k]! - b[k]!;
    exits += kinds[k];
  }
  return {
    n,
    backend: m[1]!,
    exits,
    exitsPerOp: exits / n,
    exitKinds: kinds,
    instructionsPerOp: (after.instructions - before.instructions) / n,
    firmwareInstructionsPerOp: (after.firmware.instructions - before.firmware.instructions) / n,
    guestNsPerOp: Number(m[2]),
    hostNsPerOp: (hostMs * 1e6) / n,
  };
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const ratio = (native: number, pv: number) => (pv > 0 ? round(native / pv, 2) : native > 0 ? null : 1);

const pv = await measure('pv');
const native = await measure('full');
const comparison: Record<string, unknown> = {};
for (const [what] of WORK) {
  const p = pv.ops[what]!;
  const f = native.ops[what]!;
  comparison[what] = {
    pv: { ...p, exitsPerOp: round(p.exitsPerOp), instructionsPerOp: round(p.instructionsPerOp, 1) },
    native: { ...f, exitsPerOp: round(f.exitsPerOp), instructionsPerOp: round(f.instructionsPerOp, 1) },
    /** native / PV: how many times cheaper the paravirtual back end is (null: PV has none where native has some). */
    ratioExits: ratio(f.exitsPerOp, p.exitsPerOp),
    ratioGuestTime: ratio(f.guestNsPerOp, p.guestNsPerOp),
    ratioHostTime: ratio(f.hostNsPerOp, p.hostNsPerOp),
    ratioInstructions: ratio(f.instructionsPerOp, p.instructionsPerOp),
  };
}
const result = {
  bench: 'pv-vs-native',
  guest: 'guests/pvos/pvos.elf',
  harts: HARTS,
  repeat,
  node: process.version,
  pvBackends: pv.boot,
  nativeBackends: native.boot,
  ops: comparison,
};
const json = `${JSON.stringify(result, null, 2)}\n`;
process.stdout.write(json);
if (outFile) writeFileSync(outFile, json);

/**
 * bench/fuzz: runs every fuzz target (bench/fuzz/targets.ts) for a given time each and prints
 * one JSON object: per target the executions, executions per second and findings (with the
 * seed that replays the batch), and the totals. Exit status 1 when there is a finding.
 *
 *   node dist/bench/fuzz.js [--seconds-per-target 10] [--only NAME,NAME] [--seed N]
 *
 * Targets run in batches of fast-check runs; each batch starts a fresh domain or device and
 * its runs go on from the state the previous ones left (see targets.ts). Unhandled promise
 * rejections while a target runs (a device completion that throws) count as findings.
 */
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { FUZZ_TARGETS, type FuzzTarget } from './fuzz/targets.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const seconds = Number(opt('--seconds-per-target', '10'));
const only = opt('--only', '')
  .split(',')
  .filter((s) => s !== '');
let seed = Number(opt('--seed', String(Date.now() % 2 ** 31)));
const BATCH = 2000;

interface Finding {
  readonly seed: number;
  readonly error: string;
  readonly counterexample?: string;
}

const stray: string[] = [];
process.on('unhandledRejection', (e) => {
  stray.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
});

async function run(t: FuzzTarget): Promise<{ executions: number; findings: Finding[]; ms: number }> {
  const findings: Finding[] = [];
  let executions = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 && findings.length < 5) {
    const s = seed++;
    const params = { numRuns: BATCH, seed: s, endOnFailure: true };
    const r = t.async
      ? await fc.check(t.start() as fc.IAsyncPropertyWithHooks<unknown>, params)
      : fc.check(t.start() as fc.IPropertyWithHooks<unknown>, params);
    executions += r.numRuns;
    if (r.failed) {
      findings.push({
        seed: s,
        error: String(r.errorInstance),
        ...(r.counterexample ? { counterexample: fc.stringify(r.counterexample).slice(0, 2000) } : {}),
      });
    }
    if (t.async) await new Promise((r) => setImmediate(r));
    for (const e of stray.splice(0)) findings.push({ seed: s, error: `unhandled rejection: ${e}` });
  }
  return { executions, findings, ms: performance.now() - t0 };
}

const startSeed = seed;
const results: Record<string, unknown> = {};
let total = 0;
let totalFindings = 0;
for (const t of FUZZ_TARGETS) {
  if (only.length > 0 && !only.includes(t.name)) continue;
  const r = await run(t);
  await t.close?.();
  total += r.executions;
  totalFindings += r.findings.length;
  results[t.name] = {
    about: t.about,
    executions: r.executions,
    perSecond: Math.round((r.executions / r.ms) * 1000),
    seconds: Math.round(r.ms / 100) / 10,
    findings: r.findings,
  };
  process.stderr.write(`bench/fuzz: ${t.name}: ${r.executions} executions, ${r.findings.length} findings\n`);
}
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'fuzz',
      secondsPerTarget: seconds,
      seed: startSeed,
      targets: results,
      totalExecutions: total,
      totalFindings,
    },
    null,
    2,
  )}\n`,
);
process.exitCode = totalFindings > 0 ? 1 : 0;

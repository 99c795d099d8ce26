/**
 * bench/pool-move: how long moving a domain between two workers of a pool takes
 * (PoolDomainManager.move, docs/scheduler.md "Moving a domain between workers"): a spinning PV
 * domain of each `--memory` size moves back and forth `--moves` times; the time of each move
 * (the domain paused, its state and RAM copied through the main thread, restored) in ms, min
 * and median, and whether it ran on after each move. In-process (this process is the daemon's
 * main thread), with the rebalancer's timer off.
 *
 * Prints one JSON object.
 *
 *   node dist/bench/pool-move.js [--memory 16M,64M,256M] [--moves 6]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDomainSpec } from '../src/api/spec.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { assemblePvGuest } from './pv-guest.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const { values } = parseArgs({
  options: { memory: { type: 'string', default: '16M,64M,256M' }, moves: { type: 'string', default: '6' } },
});
const moves = Number(values.moves);
const dir = mkdtempSync(join(tmpdir(), 'pvm-bench-move-'));
const spin = assemblePvGuest(join(dir, 'guests'), 'spin', readFileSync(join(root, 'guests/hostile/spin.S'), 'utf8'));
const m = new PoolDomainManager({ workers: 2, rebalanceMs: 0 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function instructions(id: number): Promise<number> {
  const [s] = await m.statsOf([id]);
  return s?.instructions ?? 0;
}

const results: Record<string, unknown>[] = [];
try {
  for (const memory of (values.memory ?? '').split(',')) {
    const d = await m.create(parseDomainSpec({ name: `spin-${memory}`, kernel: spin, memory }), { paused: false });
    const ms: number[] = [];
    let ranOn = 0;
    for (let i = 0; i < moves; i++) {
      await sleep(100);
      const to = 1 - (m.placement(d.id) as number);
      const t0 = performance.now();
      await m.move(d.id, to);
      ms.push(performance.now() - t0);
      const n0 = await instructions(d.id);
      await sleep(100);
      if ((await instructions(d.id)) > n0) ranOn++;
    }
    await m.destroy(d.id);
    ms.sort((a, b) => a - b);
    results.push({
      memory,
      moves,
      minMs: Math.round(ms[0]! * 10) / 10,
      medianMs: Math.round(ms[Math.floor(ms.length / 2)]! * 10) / 10,
      ranOnAfter: ranOn,
    });
  }
} finally {
  await m.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ loadavg: loadavg().map((x) => Math.round(x * 10) / 10), results }, null, 2));

/**
 * The fuzz targets of bench/fuzz (bench/fuzz/targets.ts), each run a bounded number of times
 * with a fixed seed so CI is repeatable: the SBI/PVX dispatcher, the snapshot reader (files with
 * recomputed checksums, damaged component states, also into a domain with a hart on a
 * thread), each virtio device, the daemon's API router
 * the config loader, the switch link's frame decoder, the live-migration stream decoder and the
 * migration's messages between a pool's threads. `npm run bench:fuzz`
 * runs them for minutes with fresh seeds.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { FUZZ_TARGETS } from '../bench/fuzz/targets.js';

const RUNS: Record<string, number> = {
  'sbi-dispatcher': 5000,
  'pvx-dispatcher': 3000,
  'pvx-remote': 3000,
  'config-loader': 2000,
  'migration-stream': 3000,
  'pool-migration': 2000,
};

after(() => Promise.all(FUZZ_TARGETS.map((t) => t.close?.())));

for (const t of FUZZ_TARGETS) {
  test(`fuzz target ${t.name}: ${t.about}`, async () => {
    const params = { numRuns: RUNS[t.name] ?? 400, seed: 0x5eed };
    if (t.async) await fc.assert(t.start() as fc.IAsyncPropertyWithHooks<unknown>, params);
    else fc.assert(t.start() as fc.IPropertyWithHooks<unknown>, params);
  });
}

test('every surface named by the hardening work has a target', () => {
  assert.deepEqual(
    FUZZ_TARGETS.map((t) => t.name),
    [
      'sbi-dispatcher',
      'worker-calls',
      'pvx-dispatcher',
      'pvx-remote',
      'snapshot-file',
      'snapshot-state',
      'snapshot-threads',
      'virtio-blk',
      'virtio-console',
      'virtio-net',
      'virtio-rng',
      'virtio-balloon',
      'api-router',
      'config-loader',
      'switch-link',
      'migration-stream',
      'pool-migration',
    ],
  );
});

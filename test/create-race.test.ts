/**
 * Requests that build domains at the same time: each create, restore or incoming migration
 * holds its name and its id while its domain boots, so concurrent requests neither share an
 * id nor list two domains under one name.
 */

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ControlPlane } from '../src/api/control.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { fileSnapshotStore } from '../src/server/local.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const kernel = join(root, 'guests/pvos/pvos.elf');

test('concurrent creates get distinct ids; a second create of one name is refused', async () => {
  const manager = new HypervisorDomainManager();
  const control = new ControlPlane({ manager, store: fileSnapshotStore });
  try {
    const results = await Promise.allSettled([
      control.create({ name: 'a', kernel }, { paused: true }),
      control.create({ name: 'b', kernel }, { paused: true }),
      control.create({ name: 'b', kernel }, { paused: true }),
      control.create({ name: 'c', kernel: join(root, 'no-such-kernel') }, { paused: true }),
      control.create({ name: 'd', kernel }, { paused: true }),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? `${r.value.name}:${r.value.id}` : (r.reason as Error).message)),
      [
        'a:1',
        'b:2',
        'a domain named b already exists',
        `domain c: cannot read kernel ${join(root, 'no-such-kernel')}: no such file`,
        'd:4',
      ],
    );
    assert.deepEqual(
      manager
        .list()
        .map((d) => `${d.name}:${d.id}`)
        .sort(),
      ['a:1', 'b:2', 'd:4'],
    );
    // Once the names are listed or let go, they can be used again.
    assert.equal(control.nameInUse('c'), false);
    const e = (await control.create({ name: 'e', kernel }, { paused: true })) as { id: number };
    assert.equal(e.id, 5);
  } finally {
    for (const d of manager.list()) await control.destroy(d.name);
  }
});

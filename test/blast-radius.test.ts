/**
 * Blast radius inside domain execution: an exception from one domain's own code (its CPU and
 * hypercall path in the run loop, its snapshot code) ends at most that domain (state `crashed`
 * with the reason) or that request, never the daemon or another domain. The exceptions are
 * injected (no guest can cause one: that is what the fuzz targets check). Entry points from
 * sockets and other domains (console input, NIC frames) are guarded by the daemon's domain
 * wrapper and tested with it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PvmClient } from '../src/cli/client.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const root = join(fileURLToPath(import.meta.url), '../../..');

describe('blast radius: one domain fails, the daemon and the others go on', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let client: PvmClient;
  let spin: string;
  let storm: string;

  const guest = (name: string): string => {
    const sub = join(h.dir, name);
    mkdirSync(sub, { recursive: true });
    return assembleGuest(sub, readFileSync(join(root, 'guests/hostile', `${name}.S`), 'utf8'), 'rv64imac_zicsr');
  };

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-blast-' });
    client = h.client;
    spin = guest('spin');
    storm = guest('ecall-storm');
    await client.create({ name: 'bystander', kernel: spin, memory: '16M' });
  });
  after(() => h.close());

  /** The bystander still runs and the daemon answers. */
  async function othersGoOn(): Promise<void> {
    const i0 = (await client.stats('bystander')).instructions;
    await until('the bystander runs on', async () => (await client.stats('bystander')).instructions > i0);
    assert.equal((await client.info('bystander')).state, 'running');
  }

  test('an exception in the run loop (hypercall path) crashes that domain only', async () => {
    const d = await client.create({ name: 'victim', kernel: storm, memory: '16M' }, { paused: true });
    h.manager.vmOf(d.id).sbi.handleEcall = () => {
      throw new Error('injected hypercall failure');
    };
    await client.unpause('victim');
    const info = await until('victim crashed', async () => {
      const i = await client.info('victim');
      return i.state === 'crashed' && i;
    });
    assert.equal(info.exitReason, 'injected hypercall failure');
    await othersGoOn();
    await client.destroy('victim');
  });

  test('an exception in snapshot code fails that request only', async () => {
    const d = await client.create({ name: 'victim', kernel: spin, memory: '16M' }, { paused: true });
    h.manager.vmOf(d.id).saveState = () => {
      throw new Error('injected snapshot failure');
    };
    const e = await refusal(client.save('victim', join(h.dir, 'victim.pvmsnap')));
    assert.match(e.message, /internal error in pvm \(see the daemon log\)/);
    assert.equal((await client.info('victim')).state, 'paused', 'the domain is as it was');
    await othersGoOn();
    await client.destroy('victim');
  });
});

/**
 * Blast radius: an exception from one domain's own code (its CPU/hypercall path in the run loop,
 * its console input, its NIC receiving a frame from another domain, its snapshot code) ends at
 * most that domain (state `crashed` with the reason) or that request, never the daemon or
 * another domain. The exceptions are injected (no guest can cause one: that is what the fuzz
 * targets check), each at one entry point.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDomainSpec } from '../src/api/spec.js';
import type { PvmClient } from '../src/cli/client.js';
import { buildDomain, HostResources } from '../src/host/builder.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const root = join(fileURLToPath(import.meta.url), '../../..');

describe('blast radius: one domain fails, the daemon and the others go on', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let client: PvmClient;
  let spin: string;
  let storm: string;
  const crashes: string[] = [];

  const guest = (name: string): string => {
    const sub = join(h.dir, name);
    mkdirSync(sub, { recursive: true });
    return assembleGuest(sub, readFileSync(join(root, 'guests/hostile', `${name}.S`), 'utf8'), 'rv64imac_zicsr');
  };

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager({ onCrash: (d, why) => void crashes.push(`${d}: ${why}`) }), {
      prefix: 'pvm-blast-',
    });
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

  test('an exception from console input crashes that domain only', async () => {
    const d = await client.create({ name: 'victim', kernel: spin, memory: '16M', append: 'console=hvc0' });
    h.manager.vmOf(d.id).input = () => {
      throw new Error('injected console failure');
    };
    const con = await client.attachConsole('victim', { write: true });
    con.write('x');
    const info = await until('victim crashed', async () => {
      const i = await client.info('victim');
      return i.state === 'crashed' && i;
    });
    assert.equal(info.exitReason, 'console input: injected console failure (code 70)');
    assert.ok(crashes.includes('victim: console input: injected console failure'));
    con.write('more input after the crash is ignored');
    con.destroy();
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

test('an exception in a NIC receiving a frame from another domain goes to that domain, not the sender', async () => {
  const resources = new HostResources();
  const faults: string[] = [];
  const build = async (name: string, mac: string) =>
    buildDomain(parseDomainSpec({ name, memory: '16M', nets: [{ switch: 'lan', mac }] }), resources, {
      host: new NodeDomainHost(() => {}, { paused: true }),
      onFault: (where, e) => void faults.push(`${name}: ${where}: ${(e as Error).message}`),
    });
  const a = await build('a', '52:54:00:00:00:0a');
  const b = await build('b', '52:54:00:00:00:0b');
  const nicOf = (d: typeof a) =>
    d.devices.find((x) => x.spec.kind === 'net')!.model as unknown as {
      deliver: (f: Uint8Array) => void;
    };
  nicOf(b).deliver = () => {
    throw new Error('injected receive failure');
  };
  // a's NIC sends a broadcast frame: the switch hands it to b in a's (the sender's) call.
  const frame = new Uint8Array(60).fill(0xff, 0, 6);
  frame.set([0x52, 0x54, 0, 0, 0, 0x0a], 6);
  const port = (nicOf(a) as unknown as { link: { transmit(f: Uint8Array): void } }).link;
  assert.doesNotThrow(() => port.transmit(frame));
  assert.deepEqual(faults, ['b: virtio-net 52:54:00:00:00:0b: receiving a frame: injected receive failure']);
  a.domain.pvx?.destroy();
  b.domain.pvx?.destroy();
  await a.close();
  await b.close();
});

/**
 * The daemon with host folders and user-mode NICs, in a network namespace the test creates
 * (support/daemon-netshare-scenario.ts runs there): domains created through the API and
 * `pvm create` get their 9p devices and passt-backed NICs; one passt per switch that asks
 * for one (a private `user` switch each, a named one shared); refused creates leave no
 * passt behind; `pvm stats` shows each NIC's port and its uplink; a reboot gives a fresh passt; destroying the domains,
 * and stopping the daemon, ends every passt and closes the forwarded port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { HostFiles } from '../src/host/host-files.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { root } from './support/linux-guest.js';
import { runInNetns } from './support/netns.js';

interface Step {
  passt: number;
  pids: number[];
  forward: boolean;
  [k: string]: unknown;
}

test('daemon: shares and user-mode NICs from the API; passt per switch, none left after destroy', {
  timeout: 120_000,
}, async () => {
  const r = await runInNetns(['node', join(root, 'dist/test/support/daemon-netshare-scenario.js')]).done;
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Step>;
  const at = (name: string) => [s[name]?.passt, s[name]?.forward];
  assert.deepEqual(at('start'), [0, false]);
  // a: a private user network and the shared switch wan, with its forward.
  assert.deepEqual(at('a'), [2, true]);
  const sharePath = (s.a!.devices as { path?: string }[])[2]?.path ?? '';
  assert.match(sharePath, /^\/.*\/pvm-netshare-daemon-\w+\/share$/);
  assert.deepEqual(s.a!.devices, [
    { slot: 0, kind: 'net', mac: '52:54:00:00:01:00', switch: 'user', uplink: 'user' },
    { slot: 1, kind: 'net', mac: '52:54:00:00:01:01', switch: 'wan', uplink: 'user' },
    { slot: 2, kind: '9p', tag: 'host', path: sharePath, readonly: true },
  ]);
  assert.deepEqual((s.a!.config as { nets: unknown }).nets, [
    { switch: 'user', mac: '52:54:00:00:01:00', uplink: 'user', slot: 0 },
    { switch: 'wan', mac: '52:54:00:00:01:01', uplink: 'user', publish: ['127.0.0.1:18090:80/tcp'], slot: 1 },
  ]);
  // b on wan shares a's passt.
  assert.deepEqual(at('b'), [2, true]);
  // Refusals leave nothing running (d's private passt was started, then stopped).
  assert.equal(
    s.c!.refused,
    'bad-request: domain c: switch wan: its passt was started by domain a with port forwards [127.0.0.1:18090:80/tcp]; forwards of another NIC on it must be the same or none',
  );
  assert.deepEqual(at('c'), [2, true]);
  assert.match(String(s.d!.refused), /^bad-request: domain d: share \/.*\/plain: not a directory$/);
  assert.deepEqual(at('d'), [2, true]);
  assert.equal(
    s.e!.refused,
    `bad-request: config.shares[0]: share "${sharePath}:${'t'.repeat(33)}": 9p tag "${'t'.repeat(33)}": at most 32 characters`,
  );
  // pvm stats: each NIC with its uplink.
  const nets = s.stats!.nets as { slot: number; switch: string; uplink?: { dropped: number } }[];
  assert.deepEqual(
    nets.map((n) => [n.slot, n.switch, n.uplink?.dropped]),
    [
      [0, 'user', 0],
      [1, 'wan', 0],
    ],
  );
  assert.match(
    String(s.stats!.text),
    /\n {2}network\n {4}slot 0 52:54:00:00:01:00 on user: tx \d+ frames \d+ bytes, rx \d+ frames \d+ bytes\n {6}uplink \(passt\): tx \d+ frames/,
  );
  // Destroying a keeps wan's passt, and the forward it was started with, for b; destroying b
  // ends it and closes the forward.
  assert.deepEqual(at('destroy-a'), [1, true]);
  assert.deepEqual(at('destroy-b'), [0, false]);
  // pvm create with flags: the share path resolved against the client's directory.
  assert.match(String(s['create-f']!.out), /^created domain f \(id \d+\), paused\n$/);
  const f = s['create-f']!.info as { devices: { kind: string; path?: string; tag?: string }[] };
  assert.deepEqual(
    f.devices.filter((d) => d.kind === '9p').map((d) => [d.tag, d.path?.endsWith('/share')]),
    [['rel', true]],
  );
  assert.deepEqual(at('create-f'), [1, true]);
  // A reboot rebuilds the devices: the old passt ends, a new one forwards the port again.
  assert.deepEqual(at('reboot-f'), [1, true]);
  assert.notDeepEqual(s['reboot-f']!.pids, s['create-f']!.pids);
  assert.equal(s['reboot-f']!.state, 'running');
  // Stopping the daemon ends the last passt.
  assert.deepEqual(at('closed'), [0, false]);
});

test('daemon: the host files policy covers shared folders', async () => {
  const allowed = mkdtempSync(join(tmpdir(), 'pvm-allow-'));
  const outside = mkdtempSync(join(tmpdir(), 'pvm-outside-'));
  const m = new HypervisorDomainManager({ files: new HostFiles([allowed]) });
  try {
    await assert.rejects(m.create(parseDomainSpec({ name: 'out', shares: [`${outside}:t`] }), { paused: true }), {
      message: `domain out: share ${outside} is outside the directories this daemon may use (${realpathSync(allowed)}; pvm daemon --allow-dir)`,
    });
    const ok = await m.create(parseDomainSpec({ name: 'in', shares: [`${allowed}:t,ro`] }), { paused: true });
    assert.deepEqual(
      m.info(ok.id).devices.map((d) => [d.kind, d.tag, d.readonly]),
      [['9p', 't', true]],
    );
    assert.deepEqual(
      m.list().map((d) => d.name),
      ['in'],
    );
  } finally {
    await m.close();
    rmSync(allowed, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

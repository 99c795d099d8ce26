/**
 * Run inside a network namespace by test/netshare-daemon.test.ts: a daemon
 * (HypervisorDomainManager) on a temporary socket, domains created through its API and
 * `pvm create` with shares and user-mode NICs (the embedded guest, so nothing boots for
 * long), one of them rebooted. After each step it records the passt processes of this namespace and whether the
 * forwarded host port accepts connections. Prints one JSON line; the test judges it.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { isApiError } from '../../src/api/errors.js';
import { HypervisorDomainManager } from '../../src/server/hypervisor-domains.js';
import { runPvm, startTestDaemon } from './daemon.js';

/** The pids of the passt processes in this network namespace. */
function passtPids(): number[] {
  const mine = readlinkSync('/proc/self/ns/net');
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8');
      if (comm.startsWith('passt') && readlinkSync(`/proc/${pid}/ns/net`) === mine) pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

const h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-netshare-daemon-' });
const share = join(h.dir, 'share');
mkdirSync(share);
writeFileSync(join(h.dir, 'plain'), 'x');
const steps: Record<string, unknown> = {};
const record = async (name: string, extra: Record<string, unknown> = {}) => {
  const pids = passtPids();
  steps[name] = { passt: pids.length, pids, forward: await listening(18090), ...extra };
};
const refused = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'created';
  } catch (e) {
    return isApiError(e) ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
  }
};

try {
  await record('start');
  const a = await h.client.create({
    name: 'a',
    shares: [{ path: share, tag: 'host', readonly: true }],
    nets: ['user', { switch: 'wan', uplink: 'user', publish: ['127.0.0.1:18090:80'] }],
  });
  await record('a', { devices: a.devices, config: a.config });
  const b = await h.client.create({ name: 'b', nets: ['wan,uplink=user'] }, { paused: true });
  await record('b', { devices: b.devices });
  const c = await refused(
    h.client.create({ name: 'c', nets: [{ switch: 'wan', uplink: 'user', publish: ['18091:80'] }] }),
  );
  await record('c', { refused: c });
  const d = await refused(h.client.create({ name: 'd', nets: ['user'], shares: [`${join(h.dir, 'plain')}:p`] }));
  await record('d', { refused: d });
  const e = await refused(h.client.create({ name: 'e', shares: [`${share}:${'t'.repeat(33)}`] }));
  await record('e', { refused: e });
  const stats = await h.client.stats('a');
  const statsText = (await runPvm(h.daemon.socketPath, h.dir, ['stats', 'a'])).out;
  await record('stats', { nets: stats.nets, text: statsText });
  await h.client.destroy('a');
  await record('destroy-a');
  await h.client.destroy('b');
  await record('destroy-b', { domains: (await h.client.list()).length });
  const created = await runPvm(h.daemon.socketPath, h.dir, [
    'create',
    '--name',
    'f',
    '--paused',
    '--share',
    'share:rel,ro',
    '--net',
    'user',
    '--publish',
    '18090:80',
  ]);
  await record('create-f', { out: created.out, info: await h.client.info('f') });
  await h.client.reboot('f');
  await record('reboot-f', { state: (await h.client.info('f')).state });
} finally {
  await h.close();
}
await record('closed');
console.log(JSON.stringify(steps));

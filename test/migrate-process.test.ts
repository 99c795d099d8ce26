/**
 * Live migration between two `pvm daemon` processes, as on two hosts: the destination serves its
 * TCP listener over TLS with a self-signed certificate (`--tls-cert`, `--tls-key`), the source is
 * driven by `pvm migrate --to https://... --token-file F --ca CERT`. The disk's lock moves from one
 * process to the other; the counter guest's console goes on without a gap. Then the same between
 * two daemons with a worker pool (`--workers 1`): the domain goes from a worker to a worker, the
 * source's worker making the TLS connection.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '../bench/free-port.js';
import { isApiError } from '../src/api/errors.js';
import { PvmClient } from '../src/cli/client.js';
import { FileDisk } from '../src/host/disk.js';
import { assertContinuous, COUNTER, counts } from './support/counter-guest.js';
import { assembleGuest, runPvm, until } from './support/daemon.js';
import { selfSignedCert } from './support/tls.js';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'pvm-mig-proc-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function daemon(name: string, extra: string[]): { socket: string; client: PvmClient } {
  const socket = join(dir, `${name}.sock`);
  const child = spawn(
    'node',
    [
      join(root, 'bin/pvm.js'),
      'daemon',
      '--socket',
      socket,
      '--log-file',
      join(dir, `${name}.log`),
      '--allow-dir',
      dir,
      ...extra,
    ],
    { stdio: 'ignore', cwd: dir },
  );
  children.push(child);
  return { socket, client: new PvmClient({ socketPath: socket }) };
}

async function locked(path: string): Promise<boolean> {
  try {
    await (await FileDisk.open(path)).close();
    return false;
  } catch (e) {
    if (isApiError(e) && e.code === 'in-use') return true;
    throw e;
  }
}

test('two daemon processes without workers, TLS: the domain, its console and its disk lock move', () =>
  moves('', ['--workers', '0']));
test('two daemon processes with --workers 1, TLS: the domain moves from a worker to a worker', () =>
  moves('-pool', ['--workers', '1']));

async function moves(suffix: string, workers: string[]): Promise<void> {
  const { key, cert } = selfSignedCert(dir, `b${suffix}`);
  const tokenFile = join(dir, `b${suffix}.token`);
  writeFileSync(tokenFile, 'process-destination-token-0123\n', { mode: 0o600 });
  const port = await freePort();
  const a = daemon(`a${suffix}`, workers);
  const b = daemon(`b${suffix}`, [
    ...workers,
    '--tcp',
    `127.0.0.1:${port}`,
    '--token-file',
    tokenFile,
    '--tls-cert',
    cert,
    '--tls-key',
    key,
  ]);
  for (const d of [a, b]) {
    await until('the daemon answers', () =>
      d.client.version().then(
        () => true,
        () => false,
      ),
    );
  }
  const kernel = assembleGuest(dir, COUNTER, 'rv64imac_zicsr');
  const disk = join(dir, `count${suffix}.img`);
  writeFileSync(disk, new Uint8Array(1 << 20));
  await a.client.create(
    { name: 'count', kernel, memory: '16M', append: 'console=hvc0', disks: [disk] },
    { paused: true },
  );
  const sa = await a.client.attachConsole('count');
  let text = '';
  sa.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  await a.client.unpause('count');
  await until('counting', () => counts(text).length > 30);
  assert.equal(await locked(disk), true, 'A holds the disk');
  const { out, err } = await runPvm(a.socket, dir, [
    'migrate',
    'count',
    '--to',
    `https://127.0.0.1:${port}`,
    '--token-file',
    tokenFile,
    '--ca',
    cert,
  ]);
  assert.equal(err, '');
  assert.match(out, new RegExp(`^migrated count to https://127\\.0\\.0\\.1:${port}: downtime [\\d.]+ ms`));
  assert.deepEqual(await a.client.list(), []);
  const moved = await b.client.info('count');
  assert.equal(moved.state, 'running');
  const sb = await b.client.attachConsole('count');
  sb.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  const before = counts(text).length;
  await until('counting on B', () => counts(text).length > before + 30);
  sa.destroy();
  sb.destroy();
  // A's output then B's (B's console history starts where it resumed).
  assertContinuous(counts(text));
  assert.equal(await locked(disk), true, 'B holds the disk');
  await b.client.destroy('count');
  assert.equal(await locked(disk), false, 'no process holds it any more');
}

/**
 * The `pvm daemon` process across a stop and a start: on SIGTERM it logs each domain it stops;
 * its domain list stays on disk, so the next daemon shows what ran and `pvm create` starts those
 * domains again (docs/control-plane.md, "After a restart").
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PvmClient } from '../src/cli/client.js';
import { runPvm, until } from './support/daemon.js';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'pvm-restart-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const socket = join(dir, 'pvmd.sock');
const log = join(dir, 'daemon.log');

function startDaemon(): ChildProcess {
  return spawn(
    'node',
    [join(root, 'bin/pvm.js'), 'daemon', '--socket', socket, '--log-file', log, '--allow-dir', dir],
    { stdio: 'ignore', cwd: dir },
  );
}

const logLines = (): { msg: string; [k: string]: unknown }[] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l))
    : [];

test('SIGTERM logs every domain it stops; the next daemon keeps their list for pvm create', async () => {
  let daemon = startDaemon();
  const client = new PvmClient({ socketPath: socket });
  await until('the daemon answers', () =>
    client.version().then(
      () => true,
      () => false,
    ),
  );
  await client.create({ name: 'web', memory: '16M' });
  await client.create({ name: 'db', memory: '16M' }, { paused: true });
  const list = join(dir, 'domains.yaml');
  await until('the list on disk', () => existsSync(list) && readFileSync(list, 'utf8').includes('# db: paused'));
  assert.match(readFileSync(list, 'utf8'), /^ {2}# web: running \(id 1, started .*\)$/m);

  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  assert.equal(await exited, 0);
  const msgs = logLines().map((l) => l.msg);
  for (const name of ['web', 'db']) {
    assert.ok(msgs.includes(`stopping domain ${name}`), `logs stopping ${name}`);
    assert.ok(msgs.includes(`domain ${name} destroyed`), `logs ${name} destroyed`);
  }
  assert.ok(existsSync(list), 'the list survives the stop');

  daemon = startDaemon();
  await until('the daemon answers again', () =>
    client.version().then(
      () => true,
      () => false,
    ),
  );
  const previous = join(dir, 'domains.previous.yaml');
  assert.ok(existsSync(previous));
  const warned = await until('the previous list logged', () =>
    logLines().find((l) => String(l.msg).startsWith('the previous daemon left 2 domains')),
  );
  assert.deepEqual(warned.domains, ['web (running)', 'db (paused)']);
  assert.deepEqual(await client.list(), []);
  const { out } = await runPvm(socket, dir, ['create', previous]);
  assert.equal(out, 'created domain web (id 1), running\ncreated domain db (id 2), running\n');
  const stopped = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  assert.equal(await stopped, 0);
});

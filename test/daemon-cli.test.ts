/**
 * The control commands of the pvm CLI against a daemon on a temporary socket
 * (fake domains): what a person and a script see.
 */
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { isApiError } from '../src/api/errors.js';
import { FakeDomainManager } from '../src/api/fake-domain.js';
import { runPvm, startTestDaemon, type TestDaemon } from './support/daemon.js';

describe('pvm control commands', () => {
  let h: TestDaemon<FakeDomainManager>;
  let dir: string;

  before(async () => {
    h = await startTestDaemon(new FakeDomainManager(), { prefix: 'pvm-cli-' });
    dir = h.dir;
  });
  after(() => h.close());

  /** Runs `pvm ARGS` in-process; returns what it printed. */
  const pvm = (args: string[], stdin = new PassThrough()) => runPvm(h.daemon.socketPath, dir, args, stdin);

  test('create from a YAML file with two domains; relative paths become absolute', async () => {
    writeFileSync(
      join(dir, 'vms.yaml'),
      'domains:\n  - name: web\n    kernel: images/Image\n    memory: 16M\n  - name: db\n    memory: 32M\n    smp: 2\n',
    );
    const { out } = await pvm(['create', 'vms.yaml', '--paused']);
    assert.equal(out, 'created domain web (id 1), paused\ncreated domain db (id 2), paused\n');
    const web = JSON.parse((await pvm(['info', 'web', '--json'])).out);
    assert.equal(web.config.kernel, join(dir, 'images/Image'));
    assert.equal(web.memoryBytes, 16 * 1024 * 1024);
  });

  test('list as a table and as JSON', async () => {
    const { out } = await pvm(['list']);
    assert.equal(
      out.replace(/\d+s\n/g, 'Ns\n'),
      [
        'ID  NAME  STATE   VCPUS  MEMORY  UPTIME',
        '1   web   paused  1      16 MiB  Ns',
        '2   db    paused  2      32 MiB  Ns',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await pvm(['list', '--json'])).out);
    assert.deepEqual(
      json.map((d: { name: string; state: string }) => [d.name, d.state]),
      [
        ['web', 'paused'],
        ['db', 'paused'],
      ],
    );
  });

  test('lifecycle commands print the new state; refusals are ApiErrors with one-line messages', async () => {
    assert.equal((await pvm(['unpause', 'web'])).out, 'web: running\n');
    assert.equal((await pvm(['pause', 'web'])).out, 'web: paused\n');
    await assert.rejects(pvm(['pause', 'web']), (e: unknown) => {
      return isApiError(e) && e.message === 'cannot pause domain web: it is paused (pause needs running)';
    });
    assert.equal(JSON.parse((await pvm(['reboot', 'db', '--json'])).out).state, 'running');
    assert.equal((await pvm(['shutdown', 'db', '--wait'])).out, 'db: shutoff (poweroff)\n');
  });

  test('info and stats as text', async () => {
    const info = (await pvm(['info', 'web'])).out;
    assert.equal(
      info.replace(/started .*\n/, 'started            T\n'),
      [
        'id                 1',
        'name               web',
        'state              paused',
        'mode               pv',
        'vcpus              1',
        'memory             16 MiB',
        'started            T',
        'graceful shutdown  yes',
        'console input      uart',
        `config.kernel      ${join(dir, 'images/Image')}`,
        'config.append      console=ttyS0',
        'config.memory      16M',
        'config.smp         1',
        'config.mode        pv',
        'config.console     prefix',
        '',
      ].join('\n'),
    );
    const stats = (await pvm(['stats', 'web'])).out;
    assert.match(stats, /^web \(id 1, paused\)\n {2}instructions {2}\d+\n/);
  });

  test('save and restore with --json; the file is written owner-only', async () => {
    const saved = JSON.parse((await pvm(['save', 'web', 'web.snap', '--json'])).out);
    assert.deepEqual(saved, {
      name: 'web',
      path: join(dir, 'web.snap'),
      bytes: statSync(join(dir, 'web.snap')).size,
      state: 'destroyed',
    });
    assert.equal(statSync(join(dir, 'web.snap')).mode & 0o777, 0o600);
    const { out } = await pvm(['restore', 'web.snap', '--name', 'web2', '--paused']);
    assert.equal(out, 'restored domain web2 (id 3), paused\n');
    // --threads and --no-threads override the saved config's `threads`.
    const threaded = JSON.parse(
      (await pvm(['restore', 'web.snap', '--name', 'web3', '--paused', '--threads', '--json'])).out,
    );
    assert.equal(threaded.config.threads, true);
    await pvm(['destroy', 'web3']);
    const unthreaded = JSON.parse(
      (await pvm(['restore', 'web.snap', '--name', 'web4', '--paused', '--no-threads', '--json'])).out,
    );
    assert.equal(unthreaded.config.threads, undefined);
    assert.equal(JSON.parse((await pvm(['info', 'web2', '--json'])).out).config.threads, undefined);
    await pvm(['destroy', 'web4']);
    writeFileSync(join(dir, 'junk.snap'), 'junk');
    await assert.rejects(pvm(['restore', 'junk.snap']), /smaller than the 48-byte header/);
  });

  test('top --once --json gives one sample of every domain', async () => {
    const rows = JSON.parse((await pvm(['top', '--json', '-d', '0.05'])).out);
    assert.deepEqual(
      rows.map((r: { name: string }) => r.name),
      ['db', 'web2'],
    );
    for (const r of rows)
      assert.deepEqual(Object.keys(r), [
        'id',
        'name',
        'state',
        'cpuPercent',
        'mips',
        'exitsPerSecond',
        'netRxBytesPerSecond',
        'netTxBytesPerSecond',
        'memoryBytes',
        'vcpus',
        'uptimeMs',
      ]);
  });

  test('console shows the history, sends input, and Ctrl-] detaches', async () => {
    await pvm(['unpause', 'web2']);
    const stdin = new PassThrough();
    const done = pvm(['console', 'web2'], stdin);
    stdin.write('typed\n');
    await new Promise((r) => setTimeout(r, 50));
    stdin.write(Buffer.from([0x1d]));
    const { out, err } = await done;
    assert.ok(out.startsWith('pvm fake guest: web booting, 16777216 bytes of RAM\n'), out);
    assert.equal(err, 'connected to domain web2; escape character is ^]\n\r\ndetached from domain web2\n');
    await assert.rejects(pvm(['destroy', 'nosuch']), /^ApiError: no domain named nosuch$/);
    assert.equal((await pvm(['destroy', 'web2'])).out, 'web2: destroyed\n');
  });
});

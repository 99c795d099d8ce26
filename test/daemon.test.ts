/**
 * The control plane end to end: a daemon on a temporary Unix socket (and a
 * TCP listener with a token), driven through the client. Domains come from
 * the fake manager, whose guests are deterministic, so outputs are exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ControlPlane } from '../src/api/control.js';
import type { DomainManager } from '../src/api/domain.js';
import { isApiError } from '../src/api/errors.js';
import { FakeDomainManager } from '../src/api/fake-domain.js';
import { domainDocumentSchema } from '../src/api/spec.js';
import { PvmClient } from '../src/cli/client.js';
import { createLogger } from '../src/host/logger.js';
import { loadSnapshotFile, saveSnapshotFile } from '../src/host/snapshot-file.js';
import { DAEMON_OPERATIONS, startDaemon } from '../src/server/daemon.js';
import { fileSnapshotStore } from '../src/server/local.js';
import { ApiSpec, generatedSchemas, OPENAPI_PATH } from '../src/server/openapi.js';
import { collect, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const TOKEN = 'test-token-0123456789abcdef';

type Harness = TestDaemon<DomainManager>;

const harness = (manager: DomainManager = new FakeDomainManager()): Promise<Harness> =>
  startTestDaemon(manager, { logLevel: 'debug', tcpToken: TOKEN });

/** A raw HTTP exchange, for requests the client would never send. */
function raw(
  target: { socketPath: string } | { host: string; port: number },
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Fake domains read their workload from the command line, so they name a kernel (which is not read). */
const calc = {
  name: 'calc',
  kernel: 'fake',
  memory: '16M',
  append: 'fake.steps=30000 fake.print=1000 fake.end=poweroff',
};

describe('pvm daemon', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('the Unix socket is created owner-only (0600)', () => {
    const st = statSync(h.daemon.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('version', async () => {
    assert.deepEqual(await h.client.version(), { pvm: '0.1.0', api: '1' });
  });

  test('GET /v1/openapi.yaml serves the document the daemon validates with', async () => {
    const r = await new Promise<{ type: string; text: string }>((resolve, reject) => {
      request({ socketPath: h.daemon.socketPath, path: '/v1/openapi.yaml' }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString('utf8');
        });
        res.on('end', () => resolve({ type: String(res.headers['content-type']), text }));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(r.type, 'application/yaml');
    assert.deepEqual(parseYaml(r.text), ApiSpec.load().document);
  });

  test('events: a stream of state changes; waitFor resolves at the state asked for', async () => {
    const events = await h.client.events();
    await h.client.create(
      { ...calc, name: 'ev', append: 'fake.steps=10 fake.print=10 fake.end=poweroff' },
      { paused: true },
    );
    const shutoff = h.client.waitFor('ev', 'shutoff');
    await h.client.unpause('ev');
    const d = await shutoff;
    assert.deepEqual([d.name, d.state, d.exitReason], ['ev', 'shutoff', 'poweroff']);
    assert.equal((await h.client.waitFor('ev', ['shutoff', 'crashed'])).state, 'shutoff', 'already there: at once');
    await h.client.destroy('ev');
    const seen: string[] = [];
    for await (const ev of events) {
      if (ev.name !== 'ev') continue;
      seen.push(ev.type === 'state' ? ev.state : ev.type);
      if (ev.type === 'removed') break;
    }
    assert.deepEqual(seen, ['paused', 'running', 'shutoff', 'removed']);
    const gone = await refusal(h.client.waitFor('ev', 'running'));
    assert.equal(gone.code, 'not-found');
  });

  test('create two domains, list them, refuse a duplicate name', async () => {
    const a = await h.client.create({ name: 'vm1', memory: '16M' });
    assert.equal(a.state, 'running');
    assert.equal(a.memoryBytes, 16 * 1024 * 1024);
    const b = await h.client.create({ name: 'vm2', memory: '32M', smp: 2 }, { paused: true });
    assert.equal(b.state, 'paused');
    assert.equal(b.vcpus, 2);
    assert.equal(b.memoryBytes, 32 * 1024 * 1024);
    const list = await h.client.list();
    assert.deepEqual(
      list.map((d) => [d.id, d.name, d.state]),
      [
        [a.id, 'vm1', 'running'],
        [b.id, 'vm2', 'paused'],
      ],
    );
    const dup = await refusal(h.client.create({ name: 'vm1' }));
    assert.equal(dup.code, 'name-taken');
    assert.equal(dup.message, 'a domain named vm1 already exists');
    assert.equal((await h.client.list()).length, 2);
    const info = ApiSpec.load().schema('DomainInfo');
    for (const d of list)
      assert.ok(info(d), `DomainInfo of ${d.name} matches the OpenAPI schema: ${JSON.stringify(info.errors)}`);
    // Ids work wherever names do.
    assert.equal((await h.client.info(String(b.id))).name, 'vm2');
  });

  test('pause and unpause follow their preconditions', async () => {
    assert.equal((await h.client.pause('vm1')).state, 'paused');
    const again = await refusal(h.client.pause('vm1'));
    assert.equal(again.code, 'bad-state');
    assert.equal(again.message, 'cannot pause domain vm1: it is paused (pause needs running)');
    assert.equal((await h.client.unpause('vm1')).state, 'running');
    const un = await refusal(h.client.unpause('vm1'));
    assert.equal(un.message, 'cannot unpause domain vm1: it is running (unpause needs paused)');
    const shut = await refusal(h.client.shutdown('vm2'));
    assert.equal(shut.message, 'cannot shutdown domain vm2: it is paused (shutdown needs running)');
    const missing = await refusal(h.client.info('nosuch'));
    assert.equal(missing.code, 'not-found');
    assert.equal(missing.message, 'no domain named nosuch');
  });

  test('console: history and live output for every client, input for one writer', async () => {
    await h.client.create(
      { name: 'con', kernel: 'fake', memory: '16M', append: 'fake.steps=5 fake.print=5' },
      { paused: true },
    );
    const reader = await h.client.attachConsole('con');
    const writer = await h.client.attachConsole('con', { write: true });
    const r = collect(reader);
    const w = collect(writer);
    const busy = await refusal(h.client.attachConsole('con', { write: true }));
    assert.equal(busy.code, 'console-busy');
    writer.write('hello guest\n');
    const banner = 'pvm fake guest: con booting, 16777216 bytes of RAM\n';
    const want = [banner, 'hello guest\n', 'step 5 x=2035015474 mem=0\n'];
    const same = (t: string) => t.length === want.join('').length && want.every((l) => t.includes(l));
    await h.client.unpause('con');
    // The echo and the step line may come in either order (two connections race).
    await until('echo on both consoles', () => same(r.text()) && same(w.text()));
    assert.ok(r.text().startsWith(banner));
    assert.equal(r.text(), w.text());
    const seen = r.text();
    // Bytes from a read-only client are not input.
    reader.write('ignored\n');
    writer.end();
    await until('writer released', async () => {
      try {
        const again = await h.client.attachConsole('con', { write: true });
        again.end();
        return true;
      } catch (e) {
        if (isApiError(e) && e.code === 'console-busy') return undefined;
        throw e;
      }
    });
    assert.equal(r.text(), seen);
    reader.destroy();
  });

  test('stats count the guest work', async () => {
    await until('con has run all its steps', async () => (await h.client.stats('con')).instructions === 40);
    const s = await h.client.stats('con');
    assert.equal(s.name, 'con');
    assert.equal(s.memoryBytes, 16 * 1024 * 1024);
    assert.deepEqual(s.exits, { hypercall: 1 });
    assert.deepEqual(s.hypercalls, { 'DBCN/write': 1 });
    assert.ok(ApiSpec.load().schema('DomainStats')(s), 'stats match the OpenAPI schema');
  });

  test('shutdown reaches the guest, reboot starts it again, destroy forgets it', async () => {
    const c = await h.client.attachConsole('con');
    const out = collect(c);
    const s = await h.client.shutdown('con');
    assert.ok(s.state === 'shutting-down' || s.state === 'shutoff');
    const off = await until('shutoff', async () => {
      const i = await h.client.info('con');
      return i.state === 'shutoff' ? i : undefined;
    });
    assert.equal(off.exitReason, 'poweroff');
    assert.ok(out.text().includes('pvm fake guest: shutdown requested, powering off\n'));
    const r = await h.client.reboot('con');
    assert.equal(r.state, 'running');
    assert.equal(r.exitReason, undefined);
    await until('banner after reboot', () =>
      out.text().split('powering off\n')[1]?.startsWith('pvm fake guest: con booting, 16777216 bytes of RAM\n'),
    );
    const closed = new Promise((resolve) => c.on('close', resolve));
    assert.deepEqual(await h.client.destroy('con'), { id: r.id, name: 'con', state: 'destroyed' });
    await closed; // destroy ends attached consoles
    assert.equal((await refusal(h.client.info('con'))).code, 'not-found');
  });

  test('save and restore continue exactly where the domain stopped', async () => {
    // Reference: the same computation, uninterrupted.
    await h.client.create(calc);
    const ref = await until('reference run', async () => {
      const i = await h.client.info('calc');
      return i.state === 'shutoff' ? i : undefined;
    });
    assert.equal(ref.exitReason, 'poweroff');
    const refCon = await h.client.attachConsole('calc');
    const refOut = collect(refCon);
    await until('reference history', () => refOut.text().endsWith('done, powering off\n'));
    refCon.destroy();
    await h.client.destroy('calc');
    assert.equal(
      refOut
        .text()
        .split('\n')
        .filter((l) => l.startsWith('step ')).length,
      30,
    );

    await h.client.create(calc, { paused: true });
    const con = await h.client.attachConsole('calc');
    const before = collect(con);
    await h.client.unpause('calc');
    await until('a few steps', () => before.text().includes('step 3000 '));
    const file = join(h.dir, 'calc.pvmsnap');
    const progress: number[] = [];
    const saved = await h.client.save('calc', file, { onProgress: (p) => progress.push(p.done / p.total) });
    assert.equal(saved.state, 'destroyed');
    assert.equal(saved.bytes, statSync(file).size);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(progress.at(-1), 1);
    assert.ok(!before.text().includes('done, powering off'), 'saved before the end');
    assert.deepEqual(await h.client.list().then((l) => l.map((d) => d.name)), ['vm1', 'vm2']);

    const restored = await h.client.restore(file);
    assert.equal(restored.name, 'calc');
    assert.equal(restored.state, 'running');
    const after = await h.client.attachConsole('calc');
    const afterOut = collect(after);
    await until('restored run ends', () => afterOut.text().endsWith('done, powering off\n'));
    assert.equal(afterOut.text(), refOut.text());
    after.destroy();

    // The same file restores again under another name, paused.
    const twin = await h.client.restore(file, { name: 'calc2', paused: true });
    assert.equal(twin.state, 'paused');
    assert.equal((await refusal(h.client.restore(file))).code, 'name-taken');
    await h.client.destroy('calc2');
    await h.client.destroy('calc');
  });

  test('a damaged save file is refused and nothing is created', async () => {
    await h.client.create(
      { name: 'snap', kernel: 'fake', memory: '16M', append: 'fake.steps=100 fake.print=10' },
      { paused: true },
    );
    const file = join(h.dir, 'snap.pvmsnap');
    await h.client.save('snap', file, { keep: true });
    assert.equal((await h.client.info('snap')).state, 'paused');
    const good = readFileSync(file);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 10), /^snapshot is truncated: \d+ of \d+ bytes$/],
      ['corrupted', Buffer.from(good).fill(0x42, 200, 201), /checksum does not match/],
      ['foreign', Buffer.from('#!/bin/sh\necho not a snapshot, but long enough for a header\n'), /bad magic/],
      ['empty', new Uint8Array(0), /smaller than the 48-byte header/],
    ];
    const names = async () => (await h.client.list()).map((d) => d.name);
    const before = await names();
    for (const [what, bytes, message] of cases) {
      const p = join(h.dir, `${what}.pvmsnap`);
      writeFileSync(p, bytes);
      const e = await refusal(h.client.restore(p, { name: `r-${what}` }));
      assert.equal(e.code, 'bad-image', what);
      assert.match(e.message, message, what);
    }
    // A well-formed file whose config would not pass create is refused like a bad request body.
    const badConfig = join(h.dir, 'bad-config.pvmsnap');
    const snap = await loadSnapshotFile(file);
    await saveSnapshotFile(badConfig, { ...snap, meta: { ...snap.meta, config: { name: 'snap', smp: 65 } } });
    const e = await refusal(h.client.restore(badConfig, { name: 'r-config' }));
    assert.equal(e.code, 'bad-image');
    assert.equal(e.message, `${badConfig}: config.smp: expected 1 to 8 vCPUs, got 65`);
    const missing = await refusal(h.client.restore(join(h.dir, 'nothing-here')));
    assert.equal(missing.code, 'io');
    assert.match(missing.message, /^cannot read save file .*nothing-here: no such file$/);
    const notDir = await refusal(h.client.save('snap', join(h.dir, 'no/such/dir/x.pvmsnap')));
    assert.equal(notDir.code, 'io');
    assert.equal((await h.client.info('snap')).state, 'paused', 'a failed save leaves the domain as it was');
    assert.deepEqual(await names(), before);
    await h.client.destroy('snap');
  });

  test('bad requests get a 4xx naming the problem and change nothing', async () => {
    const sock = { socketPath: h.daemon.socketPath };
    const json = { 'content-type': 'application/json' };
    const before = await h.client.list();
    const cases: [string, string, string | undefined, Record<string, string>, number, string][] = [
      ['POST', '/v1/domains', '{"config":', json, 400, 'request body is not valid JSON'],
      ['POST', '/v1/domains', '{"config":{"name":"x"},"color":1}', json, 400, 'body: unknown field "color"'],
      // The domain document is checked by the spec schema: the messages of pvm run FILE, named config.FIELD.
      [
        'POST',
        '/v1/domains',
        '{"config":{"name":"x","smp":65}}',
        json,
        400,
        'config.smp: expected 1 to 8 vCPUs, got 65',
      ],
      [
        'POST',
        '/v1/domains',
        '{"config":{"name":"x","mode":"hvm"}}',
        json,
        400,
        'config.mode: expected one of "pv"|"full"',
      ],
      ['POST', '/v1/domains', '{"config":{}}', json, 400, 'config.name: missing'],
      [
        'POST',
        '/v1/domains',
        '{"config":{"name":"x","memory":"1M"}}',
        json,
        400,
        'config.memory: at least 16M, got 1M',
      ],
      [
        'POST',
        '/v1/domains',
        '{"config":{"name":"x","memory":"5G"}}',
        json,
        400,
        'config.memory: at most 4096M, got 5120M',
      ],
      ['POST', '/v1/domains', '{"config":{"name":"x","memroy":"1G"}}', json, 400, 'config.memroy: unknown field'],
      ['POST', '/v1/domains', '{"config":"x"}', json, 400, 'body.config must be object'],
      [
        'POST',
        '/v1/domains',
        '{"config":{"name":"x"}}',
        { 'content-type': 'text/plain' },
        400,
        'request body must be application/json, got text/plain',
      ],
      ['POST', '/v1/domains', undefined, {}, 400, 'POST /domains needs a JSON body'],
      ['POST', '/v1/domains/vm1/pause', '{"now":true}', json, 400, 'body: expected no fields'],
      [
        'POST',
        '/v1/domains/vm1/save',
        '{"path":"relative.snap"}',
        json,
        400,
        "body.path is not valid: absolute path on the daemon's host",
      ],
      ['GET', '/v1/domains?sort=name', undefined, {}, 400, 'unknown query parameter "sort"'],
      [
        'GET',
        '/v1/domains/vm1/console',
        undefined,
        {},
        400,
        'console is a WebSocket: it needs "Connection: Upgrade" and "Upgrade: websocket"',
      ],
      ['GET', '/v1/nothing', undefined, {}, 404, 'no route GET /v1/nothing'],
      ['PUT', '/v1/domains/vm1', '{}', json, 405, 'PUT is not allowed on /v1/domains/vm1 (allowed: GET, DELETE)'],
      ['GET', '/v1/domains/vm%2', undefined, {}, 400, 'path parameter domain is not valid percent-encoding'],
    ];
    for (const [method, path, body, headers, status, message] of cases) {
      const r = await raw(sock, method, path, body, headers);
      assert.equal(r.status, status, `${method} ${path}`);
      assert.ok(r.json.error?.message.startsWith(message), `${method} ${path}: ${r.json.error?.message}`);
      assert.doesNotMatch(JSON.stringify(r.json), /\n\s+at /, 'no stack trace');
    }
    assert.deepEqual(await h.client.list(), before);
  });

  test('an events client that stops reading is let go; the daemon goes on', async () => {
    const sock = connect(h.daemon.socketPath);
    const headers = new Promise((resolve) => sock.once('data', resolve));
    sock.write('GET /v1/events HTTP/1.1\r\nHost: pvm\r\n\r\n');
    await headers;
    sock.pause(); // reads nothing more: the events pile up in the daemon
    const closed = new Promise((resolve) => sock.on('close', resolve));
    const d = await h.client.create({ name: 'flood', memory: '16M' }, { paused: true });
    // about 2 MiB of events, more than the backlog and the socket buffers hold
    for (let i = 0; i < 16_000; i++) {
      await h.manager.unpause(d.id);
      await h.manager.pause(d.id);
    }
    sock.resume();
    await closed;
    assert.deepEqual(await h.client.version(), { pvm: '0.1.0', api: '1' });
    await h.client.destroy('flood');
  });

  test('malformed HTTP and vanishing clients do not hurt the daemon', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(h.daemon.socketPath);
      let text = '';
      s.on('data', (d) => {
        text += d.toString('utf8');
      });
      s.on('end', () => resolve(text));
      s.on('error', reject);
      s.write('NOT HTTP AT ALL\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(answer, /"message":"malformed HTTP request"/);
    for (let i = 0; i < 5; i++) (await h.client.attachConsole('vm1')).destroy();
    const half = connect(h.daemon.socketPath);
    half.write('POST /v1/domains HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"con');
    half.destroy();
    assert.deepEqual(await h.client.version(), { pvm: '0.1.0', api: '1' });
    assert.equal((await h.client.info('vm1')).state, 'running');
  });

  test('the TCP listener refuses requests without the token', async () => {
    const tcp = { host: '127.0.0.1', port: h.daemon.tcp!.port };
    const none = await raw(tcp, 'GET', '/v1/domains');
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, { error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
    const wrong = await raw(tcp, 'DELETE', '/v1/domains/vm1', undefined, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal((await h.client.info('vm1')).state, 'running', 'the refused destroy changed nothing');
    const noTokenClient = new PvmClient({ url: `http://127.0.0.1:${tcp.port}` });
    assert.equal((await refusal(noTokenClient.attachConsole('vm1'))).code, 'unauthorized');
    const ok = new PvmClient({ url: `http://127.0.0.1:${tcp.port}`, token: TOKEN });
    assert.deepEqual(
      (await ok.list()).map((d) => d.name),
      ['vm1', 'vm2'],
    );
  });

  test('logs are JSON lines with levels', () => {
    const lines = h.logs
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(lines.length > 10);
    for (const l of lines) assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), l.level);
    assert.ok(lines.some((l) => l.msg === 'pvm daemon listening' && l.level === 'info'));
    assert.ok(lines.some((l) => l.msg === 'request without a valid token' && l.level === 'warn'));
    assert.ok(lines.some((l) => l.msg === 'domain shutoff' && l.domain === 'con' && l.reason === 'poweroff'));
  });
});

describe('pvm daemon failures', () => {
  test('an internal error answers 500 without a stack; the stack goes to the log', async () => {
    const fake = new FakeDomainManager();
    const broken: DomainManager = Object.assign(Object.create(fake), {
      stats: () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    const h = await harness(broken);
    try {
      await h.client.create({ name: 'vm1', memory: '16M' }, { paused: true });
      const r = await raw({ socketPath: h.daemon.socketPath }, 'GET', '/v1/domains/vm1/stats');
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { error: { code: 'internal', message: 'internal error in pvm (see the daemon log)' } });
      const logged = h.logs.map((l) => JSON.parse(l)).find((l) => l.level === 'error');
      assert.equal(logged.err.message, 'cannot read properties of undefined');
      assert.match(logged.err.stack, /TypeError/);
    } finally {
      await h.close();
    }
  });

  test('a second daemon on the same socket is refused; a stale socket is replaced', async () => {
    const h = await harness();
    try {
      const control = new ControlPlane({ manager: new FakeDomainManager(), store: fileSnapshotStore });
      const logger = createLogger({ level: 'silent' });
      const e = await refusal(startDaemon({ control, logger, socketPath: h.daemon.socketPath }));
      assert.equal(e.message, `another pvm daemon is listening on ${h.daemon.socketPath}`);
      const notSocket = join(h.dir, 'file');
      writeFileSync(notSocket, 'x');
      const e2 = await refusal(startDaemon({ control, logger, socketPath: notSocket }));
      assert.equal(e2.message, `${notSocket} exists and is not a socket; refusing to replace it`);
    } finally {
      await h.close();
    }
  });
});

describe('the OpenAPI document', () => {
  test('is a valid OpenAPI 3.1 document', async () => {
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const v = new Validator();
    const r = await v.validate(OPENAPI_PATH);
    assert.deepEqual(r.errors, undefined);
    assert.equal(r.valid, true);
    assert.equal(v.version, '3.1');
    const broken = { ...(ApiSpec.load().document as object), info: undefined };
    assert.equal((await new Validator().validate(JSON.parse(JSON.stringify(broken)))).valid, false);
  });

  test('its DomainSpec and Name are the ones generated from the spec schema (npm run openapi)', async () => {
    const committed = parseYaml(readFileSync(OPENAPI_PATH, 'utf8')) as {
      components: { schemas: Record<string, unknown> };
    };
    const generated = generatedSchemas();
    assert.deepEqual(committed.components.schemas.DomainSpec, generated.DomainSpec);
    assert.deepEqual(committed.components.schemas.Name, generated.Name);
    const props = Object.keys((generated.DomainSpec as { properties: object }).properties);
    assert.deepEqual(props, Object.keys(domainDocumentSchema.shape));
  });

  test('every operation maps to a command and documents its errors', () => {
    const spec = ApiSpec.load();
    const documented = spec.operations.map((o) => o.operationId).sort();
    assert.deepEqual(documented, [
      'console',
      'create',
      'destroy',
      'events',
      'health',
      'info',
      'list',
      'migrate',
      'migrate-incoming',
      'openapi',
      'pause',
      'reboot',
      'restore',
      'restrict-hypercalls',
      'save',
      'sched',
      'set-sched',
      'shutdown',
      'stats',
      'switch-join',
      'switch-leave',
      'switch-link',
      'switch-list',
      'unpause',
      'version',
    ]);
    // The daemon serves exactly the documented operations: none missing, none undocumented.
    assert.deepEqual([...DAEMON_OPERATIONS].sort(), documented);
    const paths = (spec.document as { paths: Record<string, Record<string, { responses?: object }>> }).paths;
    for (const o of spec.operations) {
      // they cannot be refused
      if (['version', 'list', 'openapi', 'events', 'health', 'switch-list'].includes(o.operationId)) continue;
      const codes = Object.keys(paths[o.template]![o.method.toLowerCase()]!.responses ?? {});
      assert.ok(
        codes.some((c) => /^4\d\d$/.test(c)),
        `${o.method} ${o.template} documents its errors: ${codes}`,
      );
    }
  });
});

describe('the library API', () => {
  test('drives domains without a daemon, with the same checks', async () => {
    const pvm = await import('../src/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'pvm-lib-'));
    const control = pvm.openControlPlane({ manager: new pvm.FakeDomainManager() });
    try {
      const d = await control.create({
        name: 'lib',
        kernel: 'fake',
        memory: '16M',
        append: 'fake.steps=4000 fake.print=1000',
      });
      assert.equal(d.state, 'running');
      const session = await control.attachConsole('lib', true);
      let out = Buffer.from(session.history).toString('utf8');
      session.onOutput((b) => {
        out += Buffer.from(b).toString('utf8');
      });
      await until('four lines', () => out.includes('step 4000 '));
      session.detach();
      await assert.rejects(control.unpause('lib'), (e: unknown) => pvm.isApiError(e) && e.code === 'bad-state');
      const file = join(dir, 'lib.pvmsnap');
      const progress: number[] = [];
      await control.save('lib', file, { keep: true, onProgress: (p) => progress.push(p.done) });
      assert.equal(progress.at(-1), 16 * 1024 * 1024);
      const copy = await control.restore(file, { name: 'lib2', paused: true });
      assert.equal(copy.state, 'paused');
      assert.deepEqual(
        (await control.list()).map((x) => [x.name, x.state]),
        [
          ['lib', 'running'],
          ['lib2', 'paused'],
        ],
      );
    } finally {
      await control.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

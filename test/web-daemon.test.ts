/**
 * The daemon's web listener (--http): the token on every route (the console WebSocket too),
 * the Origin and Host checks that keep other sites' pages out, /metrics, and the console
 * WebSocket with a client that does not read. Fake domains, so outputs are exact.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { FakeDomainManager } from '../src/api/fake-domain.js';
import { TOKEN_COOKIE } from '../src/server/http.js';
import { MAX_CONSOLE_BACKLOG } from '../src/server/web-console.js';
import { startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const TOKEN = 'web-token-0123456789abcdef';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function http(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The HTTP status a WebSocket handshake is answered with (101 when it opens). */
function wsStatus(url: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.terminate();
      resolve({ status: 101, text: '' });
    });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    ws.on('error', reject);
  });
}

describe('the daemon web listener', () => {
  let h: TestDaemon<FakeDomainManager>;
  let port: number;
  let own: string;
  const cookie = `${TOKEN_COOKIE}=${TOKEN}`;
  const bearer = `Bearer ${TOKEN}`;
  before(async () => {
    h = await startTestDaemon(new FakeDomainManager(), { logLevel: 'debug', httpToken: TOKEN, prefix: 'pvm-web-' });
    port = h.daemon.http!.port;
    own = `http://127.0.0.1:${port}`;
    await h.client.create({ name: 'vm1', kernel: 'fake', memory: '16M', append: 'fake.steps=40 fake.print=5' });
  });
  after(() => h.close());

  test('no token: 401 on every route, the console WebSocket included', async () => {
    const routes: [string, string][] = [
      ['GET', '/'],
      ['GET', '/index.html'],
      ['GET', '/app.js'],
      ['GET', '/metrics'],
      ['GET', '/v1/version'],
      ['GET', '/v1/openapi.yaml'],
      ['GET', '/v1/domains'],
      ['POST', '/v1/domains'],
      ['GET', '/v1/domains/vm1'],
      ['POST', '/v1/domains/vm1/pause'],
      ['DELETE', '/v1/domains/vm1'],
      ['GET', '/v1/domains/vm1/stats'],
      ['POST', '/logout'],
      ['GET', '/no/such/page'],
    ];
    const wrongs: Record<string, string>[] = [{}, { authorization: 'Bearer nope' }, { cookie: `${TOKEN_COOKIE}=nope` }];
    for (const wrong of wrongs) {
      for (const [method, path] of routes) {
        const a = await http(port, method, path, { origin: own, ...wrong });
        assert.equal(a.status, 401, `${method} ${path} with ${JSON.stringify(wrong)}`);
        assert.doesNotMatch(a.text, /vm1/, 'nothing about the domains leaks');
      }
      const ws = await wsStatus(`ws://127.0.0.1:${port}/v1/domains/vm1/console`, { origin: own, ...wrong });
      assert.equal(ws.status, 401);
      assert.match(ws.text, /"code":"unauthorized"/);
    }
    // A browser without the cookie gets the sign-in page, still as 401.
    const page = await http(port, 'GET', '/', { accept: 'text/html' });
    assert.equal(page.status, 401);
    assert.match(page.text, /<form method="post" action="\/login">/);
    assert.equal((await h.client.info('vm1')).state, 'running', 'the refused requests changed nothing');
  });

  test('signing in sets an HttpOnly, SameSite=Strict cookie; a wrong token does not', async () => {
    const bad = await http(
      port,
      'POST',
      '/login',
      { origin: own, 'content-type': 'application/x-www-form-urlencoded' },
      'token=nope',
    );
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['set-cookie'], undefined);
    const good = await http(
      port,
      'POST',
      '/login',
      { origin: own, 'content-type': 'application/x-www-form-urlencoded' },
      `token=${TOKEN}`,
    );
    assert.equal(good.status, 303);
    assert.deepEqual(good.headers['set-cookie'], [`${TOKEN_COOKIE}=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`]);
    const viaUrl = await http(port, 'GET', `/?token=${TOKEN}`);
    assert.equal(viaUrl.status, 303);
    assert.equal(viaUrl.headers.location, '/');
    const wrongUrl = await http(port, 'GET', '/?token=nope');
    assert.equal(wrongUrl.status, 401);
    // A login form posted from another site is refused before the token is looked at.
    const foreign = await http(
      port,
      'POST',
      '/login',
      { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      `token=${TOKEN}`,
    );
    assert.equal(foreign.status, 403);
  });

  test('a foreign Origin or Host is refused; the listener’s own origin is served', async () => {
    const pause = '/v1/domains/vm1/pause';
    const foreign = await http(port, 'POST', pause, { cookie, origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    assert.match(
      foreign.text,
      /"code":"forbidden","message":"Origin \\"http:\/\/evil.example\\" is not this listener"/,
    );
    assert.equal((await http(port, 'POST', pause, { cookie, origin: 'null' })).status, 403);
    assert.equal((await http(port, 'POST', pause, { cookie, origin: `http://127.0.0.1:${port + 1}` })).status, 403);
    // A browser always sends Origin on a POST: a cookie-carrying one without it is not trusted.
    assert.equal((await http(port, 'POST', pause, { cookie })).status, 403);
    // DNS rebinding: another name that resolves here.
    assert.equal((await http(port, 'GET', '/v1/domains', { cookie, host: `evil.example:${port}` })).status, 403);
    assert.equal((await h.client.info('vm1')).state, 'running', 'nothing was paused');
    // The WebSocket is checked even with the bearer header.
    const url = `ws://127.0.0.1:${port}/v1/domains/vm1/console`;
    assert.equal((await wsStatus(url, { authorization: bearer, origin: 'http://evil.example' })).status, 403);
    assert.equal((await wsStatus(url, { cookie })).status, 403, 'a cookie WebSocket without Origin');
    assert.equal((await wsStatus(url, { cookie, origin: own })).status, 101);
    assert.equal((await wsStatus(url, { authorization: bearer })).status, 101, 'a script with the token');

    const ok = await http(port, 'POST', pause, { cookie, origin: own });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.text).state, 'paused');
    const scripted = await http(port, 'POST', '/v1/domains/vm1/unpause', { authorization: bearer });
    assert.equal(JSON.parse(scripted.text).state, 'running', 'a bearer client needs no Origin');
    const page = await http(port, 'GET', '/v1/domains', { cookie });
    assert.equal(page.status, 200, 'a GET needs no Origin');
    assert.match(String(page.headers['content-security-policy']), /script-src 'self';/);
  });

  test('GET /metrics: per-domain counters in the Prometheus text format', async () => {
    await until('vm1 ran its 40 steps', async () => (await h.client.stats('vm1')).instructions === 320);
    const m = await http(port, 'GET', '/metrics', { authorization: bearer });
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const lines = m.text.split('\n');
    for (const want of [
      '# TYPE pvm_domain_instructions_total counter',
      'pvm_domain_instructions_total{domain="vm1"} 320',
      'pvm_domain_exits_total{domain="vm1",kind="hypercall"} 8',
      'pvm_domain_hypercalls_total{domain="vm1",call="DBCN/write"} 8',
      'pvm_domain_state{domain="vm1",state="running"} 1',
      'pvm_domain_state{domain="vm1",state="paused"} 0',
      'pvm_domain_info{domain="vm1",id="1",mode="pv"} 1',
      'pvm_domain_memory_bytes{domain="vm1"} 16777216',
      'pvm_domains{state="running"} 1',
      '# TYPE pvm_domain_mmio_total counter',
      '# TYPE pvm_domain_virtio_bytes_total counter',
    ]) {
      assert.ok(lines.includes(want), `metrics have ${want}`);
    }
    assert.ok(lines.some((l) => l.startsWith('pvm_daemon_process_cpu_seconds_total ')));
  });

  test('the console WebSocket: history, then input echoed; one protocol with the CLI', async () => {
    await h.client.create({ name: 'echo', kernel: 'fake', memory: '16M', append: 'fake.steps=1 fake.print=1' });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/domains/echo/console?write=true`, 'pvm-console', {
      headers: { cookie, origin: own },
    });
    let text = '';
    ws.on('message', (d: Buffer) => {
      text += d.toString('utf8');
    });
    await new Promise((r) => ws.once('open', r));
    assert.equal(ws.protocol, 'pvm-console');
    await until('history', () => text.includes('step 1 '));
    ws.send('hello\n'); // a text message is input too
    await until('echo', () => text.endsWith('hello\n'));
    assert.equal(text, 'pvm fake guest: echo booting, 16777216 bytes of RAM\nstep 1 x=1103527590 mem=0\nhello\n');
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await h.client.destroy('echo');
    assert.equal(await closed, 1000, 'destroy closes the console normally');
  });

  test('a console client that never reads is dropped; the daemon goes on', async () => {
    await h.client.create({ name: 'loud', kernel: 'fake', memory: '16M', append: 'fake.print=1' });
    // A raw WebSocket handshake, then the client never reads another byte.
    const sock = connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(
      `GET /v1/domains/loud/console HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${bearer}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    sock.pause();
    const ended = new Promise((r) => sock.once('close', r));
    await until(
      'the daemon drops the silent client',
      () => h.logs.some((l) => l.includes('console client does not read; closed')),
      6000,
    );
    assert.ok(MAX_CONSOLE_BACKLOG >= 1024 * 1024);
    // Meanwhile and after, the daemon answers and the domain runs.
    assert.equal((await http(port, 'GET', '/v1/version', { authorization: bearer })).status, 200);
    assert.equal((await h.client.info('loud')).state, 'running');
    sock.resume();
    await ended;
    await h.client.destroy('loud');
  });

  test('a request target that is not a path is a 400 on every listener, not a crash', async () => {
    const ask = (target: { port: number } | { path: string }, line: string) =>
      new Promise<string>((resolve) => {
        const sock = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.path);
        let text = '';
        sock.on('data', (d: Buffer) => {
          text += d.toString('utf8');
        });
        sock.on('close', () => resolve(text));
        sock.write(`${line}\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${bearer}\r\nConnection: close\r\n\r\n`);
      });
    for (const target of [{ port }, { path: h.daemon.socketPath }]) {
      for (const line of ['GET //[ HTTP/1.1', 'GET http:// HTTP/1.1', 'GET //evil.example/v1/domains HTTP/1.1']) {
        assert.match(await ask(target, line), /^HTTP\/1\.1 400 /, `${line} on ${JSON.stringify(target)}`);
      }
    }
    assert.equal((await h.client.info('vm1')).state, 'running');
  });

  test('fuzz: no combination of credentials, origins, hosts and paths gets past the token', async () => {
    const cred = fc.constantFrom<Record<string, string>>(
      {},
      { authorization: 'Bearer nope' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Basic ${TOKEN}` },
      { cookie: `${TOKEN_COOKIE}=` },
      { cookie: `${TOKEN_COOKIE}=${TOKEN.slice(1)}` },
      { cookie: `x${TOKEN_COOKIE}=${TOKEN}` },
    );
    const path = fc.oneof(
      fc.constantFrom('/', '/metrics', '/v1/domains', '/v1/domains/vm1', '/login', '/../etc/passwd', '/%2e%2e/'),
      fc.webPath(),
    );
    await fc.assert(
      fc.asyncProperty(
        cred,
        fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'HEAD'),
        path,
        fc.option(fc.webUrl(), { nil: undefined }),
        async (c, method, p, origin) => {
          const a = await http(port, method, p.startsWith('/') ? p : `/${p}`, {
            ...c,
            ...(origin ? { origin } : {}),
          });
          assert.ok(a.status === 401 || a.status === 403 || a.status === 400 || a.status === 303, `${a.status}`);
          if (a.status === 303) assert.equal(a.headers['set-cookie'], undefined);
        },
      ),
      { numRuns: 150 },
    );
    assert.equal((await h.client.info('vm1')).state, 'running');
  });
});

/**
 * Switches joined across daemons, with two daemons in this process on loopback (TCP listeners
 * with tokens): `pvm switch join` through the CLI, frames both ways, `pvm switch list`, the
 * refusals (bad token, unreachable, a daemon joining itself, twice), a peer daemon that goes
 * away and comes back (the link redials), hostile peers speaking the link protocol (malformed,
 * text and oversized messages, a peer that never reads), the MAC announce after a move, and
 * `GET /v1/health` without a token.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { parseDomainSpec } from '../src/api/spec.js';
import type { SwitchInfo } from '../src/api/switches.js';
import { formatMac, parseMac, type SwitchEndpoint } from '../src/devices/switch.js';
import { encodeFrames } from '../src/devices/switch-link.js';
import { DAEMON_ID_HEADER, SWITCH_LINK_SUBPROTOCOL } from '../src/host/switch-links.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { refusal, runPvm, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { pvm } from './support/linux-guest.js';

const TOKEN_A = 'token-of-daemon-a-0123456789';
const TOKEN_B = 'token-of-daemon-b-0123456789';
const BCAST = 'ff:ff:ff:ff:ff:ff';

class Nic implements SwitchEndpoint {
  readonly mac: Uint8Array;
  got: string[] = [];
  constructor(mac: string) {
    this.mac = parseMac(mac)!;
  }
  deliver(frame: Uint8Array): void {
    this.got.push(`${formatMac(frame.subarray(6, 12))}>${formatMac(frame.subarray(0, 6))}:${frame[14]}`);
  }
}

function frame(dst: string, src: string, payload = 0, length = 60): Uint8Array {
  const f = new Uint8Array(length);
  f.set(parseMac(dst)!, 0);
  f.set(parseMac(src)!, 6);
  f[12] = 0x08;
  f[14] = payload;
  return f;
}

const daemon = (opts: { token: string; port?: number; pingMs?: number; http?: boolean }) =>
  startTestDaemon(new HypervisorDomainManager(), {
    prefix: 'pvm-xnet-',
    tcpToken: opts.token,
    ...(opts.http && { httpToken: opts.token }),
    ...(opts.port !== undefined && { tcpPort: opts.port }),
    ...(opts.pingMs !== undefined && { linkPingMs: opts.pingMs }),
  });
const urlOf = (d: TestDaemon<HypervisorDomainManager>) => `http://127.0.0.1:${d.daemon.tcp!.port}`;

/** A raw HTTP request (no token unless given); resolves with the status and body. */
function raw(
  where: { socketPath: string } | { port: number },
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...where, ...('port' in where && { host: '127.0.0.1' }), method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        body += s;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A hostile (or just hand-made) peer: the link's WebSocket opened directly. */
function rawPeer(port: number, sw: string, token: string, id = 'a-hand-made-peer'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/switches/${sw}/link`, SWITCH_LINK_SUBPROTOCOL, {
      headers: { authorization: `Bearer ${token}`, [DAEMON_ID_HEADER]: id },
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const closed = (ws: WebSocket) =>
  new Promise<[number, string]>((resolve) => ws.once('close', (code, why) => resolve([code, why.toString()])));

test('GET /v1/health answers without a token on every listener, and nothing else does', async () => {
  const d = await startTestDaemon(new HypervisorDomainManager(), { tcpToken: TOKEN_A, httpToken: TOKEN_A });
  try {
    const want = { status: 200, body: '{"status":"ok"}', type: 'application/json' };
    assert.deepEqual(await raw({ socketPath: d.daemon.socketPath }, 'GET', '/v1/health'), want);
    assert.deepEqual(await raw({ port: d.daemon.tcp!.port }, 'GET', '/v1/health'), want);
    // The HTTP listener answers a probe whatever Host it names (a kubelet names the pod's address).
    assert.deepEqual(await raw({ port: d.daemon.http!.port }, 'GET', '/v1/health', { host: '10.1.2.3:7071' }), want);
    assert.deepEqual(await raw({ port: d.daemon.tcp!.port }, 'HEAD', '/v1/health'), { ...want, body: '' });
    assert.equal((await raw({ port: d.daemon.tcp!.port }, 'GET', '/v1/version')).status, 401);
    assert.equal((await raw({ port: d.daemon.http!.port }, 'GET', '/metrics')).status, 401);
    assert.equal((await raw({ port: d.daemon.tcp!.port }, 'POST', '/v1/health')).status, 401);
    assert.deepEqual(await d.client.health(), { status: 'ok' });
  } finally {
    await d.close();
  }
});

test('two daemons: pvm switch join links switch lan; frames cross both ways; list and metrics show both ends', async () => {
  const a = await daemon({ token: TOKEN_A, http: true });
  const b = await daemon({ token: TOKEN_B });
  try {
    const x = new Nic('52:54:00:00:0a:01');
    const y = new Nic('52:54:00:00:0b:01');
    const px = a.manager.switches.get('lan').attach(x);
    const py = b.manager.switches.get('lan').attach(y);
    const tokenFile = join(a.dir, 'b.token');
    writeFileSync(tokenFile, `${TOKEN_B}\n`);
    const joined = await runPvm(a.daemon.socketPath, a.dir, [
      'switch',
      'join',
      'lan',
      '--to',
      `${urlOf(b)}/`,
      '--token-file',
      tokenFile,
    ]);
    assert.deepEqual(joined, { out: `switch lan: joined to ${urlOf(b)} (link up)\n`, err: '' });
    // The peer's side is plugged once its handshake is done.
    await until('b sees the link', () => b.manager.switches.get('lan').peers.length === 1);
    px.transmit(frame(BCAST, '52:54:00:00:0a:01', 1));
    await until('y gets the broadcast', () => y.got.length === 1);
    py.transmit(frame('52:54:00:00:0a:01', '52:54:00:00:0b:01', 2, 1514));
    await until('x gets the answer', () => x.got.length === 1);
    assert.deepEqual(y.got, ['52:54:00:00:0a:01>ff:ff:ff:ff:ff:ff:1']);
    assert.deepEqual(x.got, ['52:54:00:00:0b:01>52:54:00:00:0a:01:2']);

    const listA = JSON.parse(
      (await runPvm(a.daemon.socketPath, a.dir, ['switch', 'list', '--json'])).out,
    ) as SwitchInfo[];
    assert.deepEqual(listA, [
      {
        name: 'lan',
        ports: 2,
        links: [
          {
            direction: 'out',
            peer: urlOf(b),
            state: 'up',
            connects: 1,
            txFrames: 1,
            txBytes: 1514,
            rxFrames: 1,
            rxBytes: 60,
            dropped: 0,
            malformed: 0,
          },
        ],
      },
    ]);
    const listB = await b.client.switches();
    assert.equal(listB[0]!.links[0]!.direction, 'in');
    assert.match(listB[0]!.links[0]!.peer, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(
      [listB[0]!.links[0]!.txFrames, listB[0]!.links[0]!.rxFrames, listB[0]!.links[0]!.rxBytes],
      [1, 1, 1514],
    );
    const metrics = await (
      await fetch(`http://127.0.0.1:${a.daemon.http!.port}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN_A}` },
      })
    ).text();
    const series = metrics.split('\n').filter((l) => l.startsWith('pvm_switch_link_'));
    const at = `switch="lan",peer="${urlOf(b)}",direction="out"`;
    assert.deepEqual(series, [
      `pvm_switch_link_up{${at}} 1`,
      `pvm_switch_link_frames_total{${at},way="in"} 1`,
      `pvm_switch_link_frames_total{${at},way="out"} 1`,
      `pvm_switch_link_bytes_total{${at},way="in"} 1514`,
      `pvm_switch_link_bytes_total{${at},way="out"} 60`,
      `pvm_switch_link_refused_total{${at},way="out"} 0`,
      `pvm_switch_link_refused_total{${at},way="in"} 0`,
    ]);
    const text = (await runPvm(a.daemon.socketPath, a.dir, ['switch', 'list'])).out;
    assert.match(text, /^SWITCH +PORTS +LINK +STATE/);
    assert.match(text, new RegExp(`^lan +2 +to ${urlOf(b)} +up +1/1514 +1/60 +0 +0$`, 'm'));

    // Refusals: each one line, and nothing kept.
    assert.equal(
      (await refusal(a.client.joinSwitch('lan', urlOf(b), TOKEN_B))).message,
      `switch lan is already joined to ${urlOf(b)}`,
    );
    assert.equal(
      (await refusal(b.client.joinSwitch('lan', urlOf(a), TOKEN_A))).message,
      `cannot join switch lan to ${urlOf(a)}: the peer answered 409: switch lan is already joined to that daemon (from this side)`,
    );
    assert.equal(
      (await refusal(a.client.joinSwitch('other', urlOf(b), 'wrong-token-0123456789'))).message,
      `cannot join switch other to ${urlOf(b)}: the peer answered 401: missing or wrong bearer token`,
    );
    assert.equal(
      (await refusal(a.client.joinSwitch('other', urlOf(a), TOKEN_A))).message,
      `cannot join switch other to ${urlOf(a)}: the peer answered 400: a switch cannot be joined to itself (this URL is the daemon that dials)`,
    );
    assert.equal(
      (await refusal(a.client.joinSwitch('user', urlOf(b), TOKEN_B))).message,
      "switch user is each NIC's private user-mode network: it cannot be joined",
    );
    assert.equal(
      (await refusal(a.client.joinSwitch('other', 'http://127.0.0.1:1', TOKEN_B))).message,
      'cannot join switch other to http://127.0.0.1:1: connection refused',
    );
    assert.equal(
      (await refusal(a.client.joinSwitch('other', 'ftp://x', TOKEN_B))).message,
      "body.url is not valid: the peer daemon's TCP or HTTP listener, e.g. http://10.0.0.2:7070",
    );
    assert.deepEqual(
      (await a.client.switches()).map((s) => [s.name, s.links.length]),
      [
        ['lan', 1],
        ['other', 0],
      ],
    );
    // Leave: both ends unplug.
    const left = await runPvm(a.daemon.socketPath, a.dir, ['switch', 'leave', 'lan', '--to', urlOf(b)]);
    assert.equal(left.out, `switch lan: left ${urlOf(b)}\n`);
    await until('b unplugs', () => b.manager.switches.get('lan').peers.length === 0);
    assert.deepEqual(a.manager.switches.get('lan').peers, []);
    assert.equal(
      (await refusal(a.client.leaveSwitch('lan', urlOf(b)))).message,
      `switch lan is not joined to ${urlOf(b)}`,
    );
  } finally {
    await a.close();
    await b.close();
  }
});

test("a link through the peer's HTTP listener (dashboard, /metrics) works as through its TCP one", async () => {
  const a = await daemon({ token: TOKEN_A });
  const b = await daemon({ token: TOKEN_B, http: true });
  try {
    const y = new Nic('52:54:00:00:0b:01');
    b.manager.switches.get('lan').attach(y);
    const url = `http://127.0.0.1:${b.daemon.http!.port}`;
    const joined = await a.client.joinSwitch('lan', url, TOKEN_B);
    assert.deepEqual(
      joined.links.map((l) => [l.direction, l.peer, l.state]),
      [['out', url, 'up']],
    );
    a.manager.switches
      .get('lan')
      .attach(new Nic('52:54:00:00:0a:01'))
      .transmit(frame(BCAST, '52:54:00:00:0a:01', 4));
    await until('y gets the frame', () => y.got.length === 1);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a peer daemon that goes away: the link says so, redials, and carries frames again', async () => {
  const a = await daemon({ token: TOKEN_A });
  let b = await daemon({ token: TOKEN_B });
  const port = b.daemon.tcp!.port;
  try {
    const x = new Nic('52:54:00:00:0a:01');
    const px = a.manager.switches.get('lan').attach(x);
    await a.client.joinSwitch('lan', urlOf(b), TOKEN_B);
    await b.close();
    const down = await until('a sees the link down', async () => {
      const l = (await a.client.switches())[0]!.links[0]!;
      return l.state === 'connecting' && l.error !== undefined ? l : undefined;
    });
    assert.match(down.error!, /^closed by the peer \(1001: daemon stopping\)$|^connection refused$/);
    px.transmit(frame(BCAST, '52:54:00:00:0a:01', 1)); // goes nowhere, harms nothing
    b = await daemon({ token: TOKEN_B, port });
    const y = new Nic('52:54:00:00:0b:01');
    b.manager.switches.get('lan').attach(y);
    const up = await until('a redials', async () => {
      const l = (await a.client.switches())[0]!.links[0]!;
      return l.state === 'up' ? l : undefined;
    });
    assert.equal(up.connects, 2);
    px.transmit(frame(BCAST, '52:54:00:00:0a:01', 3));
    await until('y gets a frame over the new connection', () => y.got.length === 1);
    assert.deepEqual(y.got, ['52:54:00:00:0a:01>ff:ff:ff:ff:ff:ff:3']);
  } finally {
    await a.close();
    await b.close();
  }
});

test('join without waiting: kept while the peer is not up yet, linked once it comes', async () => {
  const a = await daemon({ token: TOKEN_A });
  // A port no daemon listens on yet: take a free one from a daemon that then stops.
  const probe = await daemon({ token: TOKEN_B });
  const port = probe.daemon.tcp!.port;
  await probe.close();
  let b: TestDaemon<HypervisorDomainManager> | undefined;
  try {
    const tokenFile = join(a.dir, 'b.token');
    writeFileSync(tokenFile, TOKEN_B);
    const url = `http://127.0.0.1:${port}`;
    const shortFile = join(a.dir, 'short.token');
    writeFileSync(shortFile, 'secret123');
    await assert.rejects(
      runPvm(a.daemon.socketPath, a.dir, ['switch', 'join', 'lan', '--to', url, '--token-file', shortFile]),
      { message: "switch join: the peer's token is shorter than 16 characters" },
    );
    const r = await runPvm(a.daemon.socketPath, a.dir, [
      'switch',
      'join',
      'lan',
      '--to',
      url,
      '--token-file',
      tokenFile,
      '--no-wait',
    ]);
    assert.deepEqual(r, { out: `switch lan: joining ${url} (link connecting)\n`, err: '' });
    const waiting = await until('the first dial failed', async () => {
      const l = (await a.client.switches())[0]!.links[0]!;
      return l.error !== undefined ? l : undefined;
    });
    assert.deepEqual([waiting.state, waiting.error, waiting.connects], ['connecting', 'connection refused', 0]);
    b = await daemon({ token: TOKEN_B, port });
    const y = new Nic('52:54:00:00:0b:01');
    b.manager.switches.get('lan').attach(y);
    await until('the link comes up', async () => (await a.client.switches())[0]!.links[0]!.state === 'up');
    a.manager.switches
      .get('lan')
      .attach(new Nic('52:54:00:00:0a:01'))
      .transmit(frame(BCAST, '52:54:00:00:0a:01', 9));
    await until('y gets the frame', () => y.got.length === 1);
  } finally {
    await a.close();
    await b?.close();
  }
});

test('two daemons that joined each other at once keep one link: the second is refused when it opens', async () => {
  const a = await daemon({ token: TOKEN_A });
  const b = await daemon({ token: TOKEN_B });
  try {
    // What b's dial would look like had it won the race: a link into a, named as daemon b.
    const probe = await rawPeer(b.daemon.tcp!.port, 'probe', TOKEN_B, 'probe');
    const bId = await new Promise<string>((resolve) => {
      const req = request({
        host: '127.0.0.1',
        port: b.daemon.tcp!.port,
        path: '/v1/switches/probe2/link',
        headers: {
          authorization: `Bearer ${TOKEN_B}`,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-protocol': SWITCH_LINK_SUBPROTOCOL,
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(String(res.headers[DAEMON_ID_HEADER]));
      });
      req.end();
    });
    probe.close();
    const fromB = await rawPeer(a.daemon.tcp!.port, 'lan', TOKEN_A, bId);
    assert.equal(
      (await refusal(a.client.joinSwitch('lan', urlOf(b), TOKEN_B))).message,
      `cannot join switch lan to ${urlOf(b)}: that daemon joined this one on this switch already (join each pair from one side)`,
    );
    assert.deepEqual(
      (await a.client.switches())[0]!.links.map((l) => l.direction),
      ['in'],
    );
    fromB.close();
  } finally {
    await a.close();
    await b.close();
  }
});

test('pvm daemon --join: a bad value is one usage line before anything starts', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [pvm, 'daemon', '--socket', '/nonexistent/x.sock', ...args], {
      encoding: 'utf8',
      env: { ...process.env, PVM_TOKEN: '', ...env },
    });
  const cases: [string[], Record<string, string>, string][] = [
    [['--join', 'lan'], {}, 'pvm: --join wants SWITCH=URL, got lan'],
    [
      ['--join', 'lan=ftp://x'],
      {},
      "pvm: --join lan=ftp://x: peer ftp://x: expected http://HOST:PORT (a pvm daemon's TCP or HTTP listener)",
    ],
    [
      ['--join', 'user=http://x:1'],
      {},
      "pvm: --join user=http://x:1: switch user is each NIC's private user-mode network: it cannot be joined",
    ],
    [['--join', 'lan=http://x:1'], {}, "pvm: --join needs a token (the peers'): set PVM_TOKEN or pass --token-file"],
  ];
  for (const [args, env, want] of cases) {
    const r = run(args, env);
    assert.deepEqual([r.status, r.stderr.trim()], [2, want]);
  }
});

test('hostile peers: bad token, malformed, text and oversized messages end only their own link', async () => {
  const b = await daemon({ token: TOKEN_B });
  try {
    const y = new Nic('52:54:00:00:0b:01');
    const py = b.manager.switches.get('lan').attach(y);
    const port = b.daemon.tcp!.port;
    await assert.rejects(rawPeer(port, 'lan', 'not-the-token-0123456789'), /HTTP 401/);
    // A good peer beside the hostile ones keeps working.
    const good = await rawPeer(port, 'lan', TOKEN_B, 'good');
    const goodGot: number[] = [];
    good.on('message', (m: Buffer) => goodGot.push(m.length));

    const p1 = await rawPeer(port, 'lan', TOKEN_B, 'p1');
    const c1 = closed(p1);
    p1.send(Uint8Array.of(0, 0, 0, 13, ...new Uint8Array(13)));
    assert.deepEqual(await c1, [1008, 'frame length 13 at offset 0 (14 to 65568)']);

    const p2 = await rawPeer(port, 'lan', TOKEN_B, 'p2');
    const c2 = closed(p2);
    p2.send('hello');
    assert.deepEqual(await c2, [1008, 'a text message (the link carries binary frames)']);

    const p3 = await rawPeer(port, 'lan', TOKEN_B, 'p3');
    const c3 = closed(p3);
    p3.send(new Uint8Array((1 << 20) + 1));
    assert.equal((await c3)[0], 1009);

    const p4 = await rawPeer(port, 'lan', TOKEN_B, 'p4');
    const c4 = closed(p4);
    p4.send(encodeFrames([frame('52:54:00:00:0b:01', '02:00:00:00:00:04', 4), frame(BCAST, '02:00:00:00:00:04', 5)]));
    await until('y gets p4 frames', () => y.got.length === 2);
    p4.send(Uint8Array.of(0, 2, 0, 0, 1)); // a length over MAX_FRAME
    assert.deepEqual(await c4, [1008, 'frame length 131072 at offset 0 (14 to 65568)']);
    assert.deepEqual(y.got, ['02:00:00:00:00:04>52:54:00:00:0b:01:4', '02:00:00:00:00:04>ff:ff:ff:ff:ff:ff:5']);

    // The good peer is still linked: it gets y's broadcast (and not p4's: peers never forward to peers).
    py.transmit(frame(BCAST, '52:54:00:00:0b:01', 6));
    await until('good got a frame', () => goodGot.length === 1);
    assert.deepEqual(goodGot, [64]);
    const links = (await b.client.switches())[0]!.links;
    assert.equal(links.length, 1);
    assert.deepEqual(await b.client.health(), { status: 'ok' });
    good.close();
  } finally {
    await b.close();
  }
});

test('a hostile peer answering the dial with an endless refusal body: one line, nothing kept', async () => {
  const a = await daemon({ token: TOKEN_A });
  const endless = createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'text/plain' });
    const chunk = 'x'.repeat(1024);
    const pump = () => {
      while (res.write(chunk)) {}
    };
    res.on('drain', pump);
    pump();
  });
  endless.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\n\r\n');
    const pump = () => {
      while (socket.write('x'.repeat(1024))) {}
    };
    socket.on('drain', pump);
    socket.on('error', () => {});
    pump();
  });
  await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
  const port = (endless.address() as AddressInfo).port;
  try {
    assert.equal(
      (await refusal(a.client.joinSwitch('lan', `http://127.0.0.1:${port}`, TOKEN_B))).message,
      `cannot join switch lan to http://127.0.0.1:${port}: the peer answered 401 with more than 4096 bytes`,
    );
    assert.deepEqual(a.manager.switches.get('lan').peers, []);
    assert.deepEqual(await a.client.health(), { status: 'ok' });
  } finally {
    endless.closeAllConnections();
    endless.close();
    await a.close();
  }
});

test('a peer that never reads: frames for it are dropped and counted, then its silence ends the link', async () => {
  const b = await daemon({ token: TOKEN_B, pingMs: 300 });
  try {
    const y = new Nic('52:54:00:00:0b:01');
    const py = b.manager.switches.get('lan').attach(y);
    const stalled = await rawPeer(b.daemon.tcp!.port, 'lan', TOKEN_B, 'stalled');
    const ended = closed(stalled);
    // Stop reading: the kernel buffers fill, then the daemon's backlog, then frames are dropped.
    (stalled as unknown as { _socket: { pause(): void } })._socket.pause();
    const sw = b.manager.switches.get('lan');
    const sent = 20_000;
    for (let i = 0; i < sent; i++) {
      py.transmit(frame(BCAST, '52:54:00:00:0b:01', i & 0xff, 1514));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r)); // let batches go out
    }
    const link = (await b.client.switches())[0]!.links[0]!;
    assert.equal(link.rxFrames, sent);
    assert.ok(link.dropped > 0, `dropped ${link.dropped}`);
    assert.deepEqual(await b.client.health(), { status: 'ok' });
    // It answers no ping: the daemon ends the link and unplugs the port.
    await until('the silent peer is dropped', () => sw.peers.length === 0);
    assert.deepEqual(await b.client.switches(), [{ name: 'lan', ports: 1, links: [] }]);
    stalled.terminate();
    await ended;
  } finally {
    await b.close();
  }
});

test('announceMacs: a domain that moved here makes the peer daemon send its traffic to the new port at once', async () => {
  const a = await daemon({ token: TOKEN_A });
  const b = await daemon({ token: TOKEN_B });
  try {
    await a.client.joinSwitch('lan', urlOf(b), TOKEN_B);
    await until('b sees the link', () => b.manager.switches.get('lan').peers.length === 1);
    // On b: z talks to m, whose old NIC (the paused source copy) is still plugged there.
    const z = new Nic('52:54:00:00:0f:01');
    const old = new Nic('52:54:00:00:0e:01');
    const swB = b.manager.switches.get('lan');
    const pz = swB.attach(z);
    swB.attach(old);
    // On a: m as a domain with its NIC on lan (paused before its first instruction: the guest sends nothing).
    const m = await a.manager.create(parseDomainSpec({ name: 'm', nets: ['lan,mac=52:54:00:00:0e:01'] }), {
      paused: true,
    });
    pz.transmit(frame('52:54:00:00:0e:01', '52:54:00:00:0f:01', 1));
    assert.equal(old.got.length, 1);
    const sent = await a.manager.announceMacs(m.id, { rounds: 3, stepMs: 20 });
    assert.equal(sent, 3);
    const rarp = '52:54:00:00:0e:01>ff:ff:ff:ff:ff:ff:0';
    await until('z hears the three announcements', () => z.got.length === 3);
    assert.deepEqual(z.got, [rarp, rarp, rarp]);
    assert.equal(swB.lookup(parseMac('52:54:00:00:0e:01')!), swB.peers[0]);
    // z's next frame for m goes over the link to a's NIC, not to the old port.
    pz.transmit(frame('52:54:00:00:0e:01', '52:54:00:00:0f:01', 2));
    const nic = await until('a counts it at m', async () => {
      const n = (await a.client.stats('m')).nets?.[0];
      return n !== undefined && n.rxFrames >= 1 ? n : undefined;
    });
    assert.deepEqual([nic.txFrames, nic.rxFrames], [3, 1]);
    assert.deepEqual(old.got, ['52:54:00:00:0f:01>52:54:00:00:0e:01:1', rarp, rarp, rarp]);
  } finally {
    await a.close();
    await b.close();
  }
});

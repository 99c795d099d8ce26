/**
 * The migration endpoint (GET /v1/migrate) fed by a hostile client with the daemon's token:
 * malformed, oversized, truncated and out-of-order messages, incompatible versions, a stream
 * that stops half-way. Each gets a clear ERROR (or the close code of an oversized message);
 * nothing is left on the daemon, which goes on serving, and the name is free again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import {
  decodeMessage,
  encodeEmpty,
  encodeHello,
  encodePages,
  encodeState,
  type Hello,
  MIGRATION_PAGE_SIZE,
  MIGRATION_PROTOCOL,
  MIGRATION_SUBPROTOCOL,
  MSG,
} from '../src/hypervisor/migration/stream.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const TOKEN = 'hostile-test-token-0123456789';
const RAM = 16 * 2 ** 20;

const hello = (over: Partial<Hello> = {}): Hello => ({
  protocol: MIGRATION_PROTOCOL,
  snapshotVersion: 3,
  pvm: '0.1.0',
  name: 'h',
  config: { name: 'h', memory: '16M' },
  ramBase: 0x8000_0000,
  ramBytes: RAM,
  disks: [],
  ...over,
});

/** A client of the endpoint: what it sends, what comes back, how it closes. */
class Peer {
  readonly ws: WebSocket;
  private readonly got: Uint8Array[] = [];
  readonly closed: Promise<number>;
  constructor(port: number) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/v1/migrate`, MIGRATION_SUBPROTOCOL, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    this.ws.on('message', (d: Buffer) => this.got.push(new Uint8Array(d)));
    this.closed = new Promise((r) => this.ws.on('close', (code) => r(code)));
  }
  opened(): Promise<void> {
    return new Promise((r, j) => {
      this.ws.once('open', () => r());
      this.ws.once('error', j);
    });
  }
  /** The next message from the daemon, decoded. */
  async next(): Promise<ReturnType<typeof decodeMessage>> {
    await until('a message from the daemon', () => this.got.length > 0);
    return decodeMessage(this.got.shift()!, 0);
  }
  /** Expects ERROR with `message`, then the close. */
  async refused(message: string | RegExp): Promise<void> {
    const m = await this.next();
    assert.equal(m.type, MSG.error);
    if (m.type === MSG.error) {
      if (typeof message === 'string') assert.equal(m.message, message);
      else assert.match(m.message, message);
    }
    await this.closed;
  }
}

describe('the migration endpoint against hostile streams', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let port: number;

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-mig-hostile-', tcpToken: TOKEN });
    port = h.daemon.tcp!.port;
  });
  after(() => h.close());

  /** Connected, HELLO sent and ACCEPT received. */
  async function accepted(): Promise<Peer> {
    const p = new Peer(port);
    await p.opened();
    p.ws.send(encodeHello(hello()));
    assert.equal((await p.next()).type, MSG.accept);
    return p;
  }

  /** Nothing left behind, and the daemon still serves (and would take `h` again). */
  async function clean(): Promise<void> {
    assert.deepEqual(h.manager.list(), []);
    assert.equal((await h.client.version()).api, '1');
    const p = await accepted();
    p.ws.close();
    await p.closed;
    await until('the half-arrived domain is discarded', () => h.manager.list().length === 0);
  }

  const plain = async (send: (p: Peer) => void, message: string | RegExp) => {
    const p = new Peer(port);
    await p.opened();
    send(p);
    await p.refused(message);
    await clean();
  };

  test('no token: 401 before any WebSocket', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/migrate`, MIGRATION_SUBPROTOCOL);
    ws.on('error', () => {});
    const status = await new Promise<number>((r) => ws.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0)));
    assert.equal(status, 401);
    ws.terminate();
  });

  test('a text message', () =>
    plain((p) => p.ws.send('hello'), 'malformed message: a text message (the stream is binary)'));

  test('an unknown message type', () =>
    plain((p) => p.ws.send(Uint8Array.of(0x42, 1, 2)), 'malformed message: unknown message type 66'));

  test('an empty message', () => plain((p) => p.ws.send(new Uint8Array(0)), 'malformed message: empty message'));

  test('HELLO that is not JSON', () =>
    plain((p) => p.ws.send(Uint8Array.of(MSG.hello, 0x7b, 0xff)), 'malformed message: HELLO: not UTF-8 JSON'));

  test('HELLO with a field missing', () =>
    plain((p) => {
      const { ramBytes: _, ...rest } = hello();
      p.ws.send(Uint8Array.of(MSG.hello, ...new TextEncoder().encode(JSON.stringify(rest))));
    }, 'malformed message: HELLO: ramBytes must be a non-negative integer'));

  test('an incompatible protocol version', () =>
    plain(
      (p) => p.ws.send(encodeHello(hello({ protocol: 99, pvm: '9.9.9' }))),
      'incompatible migration protocol 99 (pvm 9.9.9); this pvm 0.1.0 speaks protocol 2',
    ));

  test('an incompatible state format', () =>
    plain(
      (p) => p.ws.send(encodeHello(hello({ snapshotVersion: 2, pvm: '0.0.9' }))),
      'incompatible state format: the source (pvm 0.0.9) writes snapshot version 2, this pvm 0.1.0 reads version 3',
    ));

  test('a config the spec refuses', () =>
    plain((p) => p.ws.send(encodeHello(hello({ config: { memory: 'lots' } }))), /^the domain's config: /));

  test('RAM that does not match the config', () =>
    plain(
      (p) => p.ws.send(encodeHello(hello({ ramBytes: 2 * RAM }))),
      `HELLO: ${2 * RAM} bytes of RAM, the config says ${RAM}`,
    ));

  test('a disk on the source that the config does not name', () =>
    plain(
      (p) => p.ws.send(encodeHello(hello({ disks: [{ path: '/x.img', size: 4096, ino: 1, readOnly: false }] }))),
      'HELLO: the disks do not match the config',
    ));

  test('a message other than HELLO first', () =>
    plain((p) => p.ws.send(Uint8Array.of(MSG.go)), 'expected HELLO, got GO'));

  test('a page beyond the end of RAM', async () => {
    const p = await accepted();
    const ram = new Uint8Array(RAM + MIGRATION_PAGE_SIZE);
    p.ws.send(encodePages(ram, 1, [RAM / MIGRATION_PAGE_SIZE], 0, 1));
    await p.refused('malformed message: PAGES: page 4096 is beyond the end of RAM (4096 pages)');
    await clean();
  });

  test('a truncated PAGES message', async () => {
    const p = await accepted();
    const ram = new Uint8Array(RAM);
    ram[1] = 1;
    p.ws.send(encodePages(ram, 1, [0], 0, 1).subarray(0, 100));
    await p.refused('malformed message: PAGES: truncated in the bytes of page 0');
    await clean();
  });

  test('a PAGES message announcing more pages than it holds', async () => {
    const p = await accepted();
    const m = encodePages(new Uint8Array(RAM), 1, [0, 1], 0, 2);
    new DataView(m.buffer).setUint32(5, 3, true);
    p.ws.send(m);
    await p.refused('malformed message: PAGES: truncated at page record 2 of 3');
    await clean();
  });

  test('SYNC is answered with SYNCED; SYNCED from the source is refused', async () => {
    const p = await accepted();
    const ram = new Uint8Array(RAM).fill(3);
    p.ws.send(encodePages(ram, 1, [0, 1], 0, 2));
    p.ws.send(encodeEmpty(MSG.sync));
    assert.equal((await p.next()).type, MSG.synced);
    p.ws.send(encodeEmpty(MSG.synced));
    await p.refused('expected PAGES, SYNC or STATE, got SYNCED');
    await clean();
  });

  test('an oversized message closes the stream (1009)', async () => {
    const p = await accepted();
    p.ws.send(new Uint8Array(16 * 2 ** 20 + 2));
    assert.equal(await p.closed, 1009);
    await until('discarded', () => h.manager.list().length === 0);
    await clean();
  });

  test('a STATE that is not a snapshot', async () => {
    const p = await accepted();
    p.ws.send(encodeState(new TextEncoder().encode('#!/bin/sh\n'.repeat(8))));
    await p.refused('STATE: not a pvm snapshot (bad magic number)');
    await clean();
  });

  test('a stream that stops after some pages leaves nothing', async () => {
    const p = await accepted();
    const ram = new Uint8Array(RAM).fill(7);
    p.ws.send(
      encodePages(
        ram,
        1,
        Array.from({ length: 256 }, (_, i) => i),
        0,
        256,
      ),
    );
    p.ws.terminate();
    await until('discarded', () => h.manager.list().length === 0);
    await clean();
  });

  test('two streams for one name: the second is refused', async () => {
    const first = await accepted();
    const second = new Peer(port);
    await second.opened();
    second.ws.send(encodeHello(hello()));
    await second.refused('a domain named h already exists on the destination');
    first.ws.close();
    await first.closed;
    await clean();
  });
});

/**
 * Live migration to and from daemons whose domains run on a pool of worker threads
 * (docs/migration.md, "Daemons with workers"): the counting guest of test/migrate.test.ts moves
 * from a pool to a plain daemon, from a plain daemon to a pool and between two pools; its console
 * output, the source's then the destination's, has every count once, in order. A domain with a
 * NIC moves between the pools' main threads. A worker thread that ends during a migration, on
 * either side, fails it with the reason and leaves the daemons running; the messages the
 * migration adds between threads are sent malformed.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { MigrateResult } from '../src/api/commands.js';
import type { DomainManager } from '../src/api/domain.js';
import { parseDomainSpec } from '../src/api/spec.js';
import { FileDisk } from '../src/host/disk.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { announceDomainNics } from '../src/server/migration.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { progressOf } from '../src/server/pool-protocol.js';
import { assertContinuous, COUNTER, counts } from './support/counter-guest.js';
import { assembleGuest, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const TOKEN = 'pool-migration-token-0123456789';

type Any = TestDaemon<DomainManager>;

describe('live migration with worker pools', () => {
  let plain: TestDaemon<HypervisorDomainManager>;
  let p1: TestDaemon<PoolDomainManager>;
  let p2: TestDaemon<PoolDomainManager>;
  let kernel: string;
  const url = (h: Any) => `http://127.0.0.1:${h.daemon.tcp!.port}`;

  before(async () => {
    // stopPages 8: the counter dirties 17 pages a millisecond, so there are later rounds.
    const migration = { stopPages: 8 };
    plain = await startTestDaemon(new HypervisorDomainManager({ migration }), {
      prefix: 'pvm-migpool-plain-',
      tcpToken: TOKEN,
    });
    p1 = await startTestDaemon(new PoolDomainManager({ workers: 2, rebalanceMs: 0, migration }), {
      prefix: 'pvm-migpool-p1-',
      tcpToken: TOKEN,
    });
    p2 = await startTestDaemon(new PoolDomainManager({ workers: 2, rebalanceMs: 0, migration }), {
      prefix: 'pvm-migpool-p2-',
      tcpToken: TOKEN,
    });
    kernel = assembleGuest(plain.dir, COUNTER, 'rv64imac_zicsr');
  });
  after(async () => {
    await plain.close();
    await p1.close();
    await p2.close();
  });

  const names = (h: Any) => h.manager.list().map((d) => `${d.name}:${d.state}`);
  const idOf = (h: Any, name: string) => h.manager.list().find((d) => d.name === name)!.id;

  async function output(h: Any, name: string): Promise<{ text: () => string; close: () => void }> {
    const s: Duplex = await h.client.attachConsole(name);
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    return { text: () => text, close: () => s.destroy() };
  }

  async function locked(path: string): Promise<boolean> {
    try {
      await (await FileDisk.open(path)).close();
      return false;
    } catch {
      return true;
    }
  }

  /** A counting domain with a disk, created on `from`, moved to `to` while it counts: no gap, no repetition. */
  async function counterMoves(from: Any, to: Any, name: string): Promise<MigrateResult> {
    const path = join(plain.dir, `${name}.img`);
    writeFileSync(path, new Uint8Array(1 << 20));
    await from.client.create({ name, kernel, memory: '16M', append: 'console=hvc0', disks: [path] }, { paused: true });
    const before = await output(from, name);
    await from.client.unpause(name);
    await until('counting', () => counts(before.text()).length > 50);
    const pools = [from.manager, to.manager].filter((m) => m instanceof PoolDomainManager);
    if (from.manager instanceof PoolDomainManager) {
      assert.equal(typeof from.manager.placement(idOf(from, name)), 'number', 'on a worker of the source');
    }
    const trips = pools.map((m) => m.roundTrips);
    const phases = new Set<string>();
    const r = await from.client.migrate(name, url(to), { token: TOKEN, onProgress: (p) => phases.add(p.phase) });
    assert.equal(r.confirmedBy, 'resumed');
    assert.equal(r.rounds[0]!.pages, 4096, 'round 1 sends all of the 16 MiB');
    assert.ok(r.rounds.length >= 3, 'pre-copy rounds after the first, then the stop-and-copy round');
    assert.ok(phases.has('round 1') && phases.has('sync') && phases.has('go'), [...phases].join(', '));
    // Neither main thread blocked on a worker: everything crossed as messages.
    assert.deepEqual(
      pools.map((m) => m.roundTrips),
      trips,
    );
    assert.deepEqual(names(from), []);
    assert.deepEqual(names(to), [`${name}:running`]);
    const afterMove = await output(to, name);
    await until(`counting on the destination`, () => counts(afterMove.text()).length > 50);
    before.close();
    afterMove.close();
    assertContinuous([...counts(before.text()), ...counts(afterMove.text())]);
    assert.equal(await locked(path), true, 'the destination holds the disk');
    await to.client.destroy(name);
    assert.equal(await locked(path), false, 'nobody else holds it');
    return r;
  }

  test('from a worker of a pool to a plain daemon: the pre-copy runs on the worker', async () => {
    await counterMoves(p1, plain, 'pool-to-plain');
  });

  test('from a plain daemon to a pool: the domain is built and runs on a worker', async () => {
    const placed: (number | 'main')[] = [];
    const off = p1.manager.subscribe((e) => {
      if (e.type === 'state' && e.name === 'plain-to-pool' && e.state === 'running')
        placed.push(p1.manager.placement(e.id));
    });
    await counterMoves(plain, p1, 'plain-to-pool');
    off();
    assert.equal(placed.length, 1);
    assert.equal(typeof placed[0], 'number', 'on a worker');
  });

  test('from a worker of one pool to a worker of another', async () => {
    const placed: (number | 'main')[] = [];
    const off = p2.manager.subscribe((e) => {
      if (e.type === 'state' && e.name === 'pool-to-pool' && e.state === 'running')
        placed.push(p2.manager.placement(e.id));
    });
    await counterMoves(p1, p2, 'pool-to-pool');
    off();
    assert.equal(typeof placed[0], 'number', 'on a worker');
  });

  test("a domain with a NIC moves between the pools' main threads", async () => {
    await p1.client.create({
      name: 'nic',
      kernel,
      memory: '16M',
      append: 'console=hvc0',
      nets: ['lan,mac=52:54:00:00:0e:09'],
    });
    assert.equal(p1.manager.placement(idOf(p1, 'nic')), 'main');
    await p1.client.migrate('nic', url(p2), { token: TOKEN });
    assert.deepEqual(names(p2), ['nic:running']);
    assert.equal(p2.manager.placement(idOf(p2, 'nic')), 'main');
    assert.match(JSON.stringify((await p2.client.info('nic')).config.nets), /"mac":"52:54:00:00:0e:09"/);
    await p2.client.destroy('nic');
  });

  test('malformed pages for an arriving domain fail it at the next sync; the worker goes on', async () => {
    await p2.client.create({ name: 'bystander', kernel, memory: '16M', append: 'console=hvc0' });
    const ramPages = 4096;
    const pages = (round: number, count: number, body: number[]) => {
      const b = new Uint8Array(9 + body.length);
      const dv = new DataView(b.buffer);
      b[0] = 3;
      dv.setUint32(1, round, true);
      dv.setUint32(5, count, true);
      b.set(body, 9);
      return b;
    };
    const u32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
    const cases: [unknown, RegExp][] = [
      [pages(1, 1, [...u32(ramPages), 0]), /PAGES: page 4096 is beyond the end of RAM \(4096 pages\)$/],
      [pages(1, 1, [...u32(3), 1, 0, 0]), /PAGES: truncated in the bytes of page 3$/],
      [pages(1, 2, [...u32(3), 0]), /PAGES: truncated at page record 1 of 2$/],
      [pages(1, 1, [...u32(3), 7]), /PAGES: page 3 has unknown kind 7$/],
      [new Uint8Array([4, 1, 2, 3]), /STATE, not PAGES$/],
      [new Uint8Array(0), /empty message$/],
      ['not bytes', /not a byte array$/],
    ];
    const spec = parseDomainSpec({ name: 'arriving', kernel, memory: '16M', append: 'console=hvc0' });
    for (const [bytes, why] of cases) {
      const inc = await p2.manager.incoming(spec, undefined);
      const worker = p2.manager.threads[p2.manager.placement(inc.id) as number]!;
      worker.postMessage({ kind: 'pages', id: inc.id, bytes });
      const e = await refusal(inc.applied());
      assert.equal(e.code, 'bad-request');
      assert.match(e.message, new RegExp(`^malformed pages for arriving domain ${inc.id}: `));
      assert.match(e.message, why);
      // The commit refuses it too (and the worker drops it); discard after that is a no-op.
      assert.match((await refusal(inc.commit({} as never))).message, why);
      await inc.discard();
    }
    // Pages and calls naming no arriving domain, and calls with arguments of the wrong types.
    for (const w of p2.manager.threads) {
      w.postMessage({ kind: 'pages', id: 12345, bytes: new Uint8Array([3]) });
      w.postMessage({ kind: 'pages', id: 'x', bytes: null });
      w.postMessage({ kind: 'call', seq: 1e9, method: 'incomingApplied', args: ['x'] });
      w.postMessage({ kind: 'call', seq: 1e9 + 1, method: 'incomingCommit', args: [12345, null] });
      w.postMessage({ kind: 'call', seq: 1e9 + 2, method: 'incomingDiscard', args: [{}] });
      w.postMessage({ kind: 'call', seq: 1e9 + 3, method: 'incoming', args: [null, null] });
      w.postMessage({ kind: 'call', seq: 1e9 + 4, method: 'migrate', args: [12345, null] });
    }
    // Nothing arrived, and the workers answer and run their domains.
    assert.deepEqual(names(p2), ['bystander:running']);
    const first = (await p2.client.stats('bystander')).instructions;
    await until('bystander runs', async () => (await p2.client.stats('bystander')).instructions > first);
    await p2.client.create({ name: 'after', kernel, memory: '16M', append: 'console=hvc0' });
    await p2.client.destroy('after');
    await p2.client.destroy('bystander');
  });

  test("a worker's progress messages reach the client only when well formed", () => {
    assert.deepEqual(progressOf({ kind: 'progress', seq: 1, phase: 'round 1', done: 256, total: 4096 }), {
      phase: 'round 1',
      done: 256,
      total: 4096,
    });
    for (const bad of [
      null,
      'round 1',
      { phase: 'round 1', done: 5, total: 4 },
      { phase: '', done: 0, total: 1 },
      { phase: 'x'.repeat(65), done: 0, total: 1 },
      { phase: 7, done: 0, total: 1 },
      { phase: 'sync', done: -1, total: 1 },
      { phase: 'sync', done: 0.5, total: 1 },
      { phase: 'sync', done: 0, total: Number.POSITIVE_INFINITY },
      { phase: 'sync', done: '0', total: 1 },
    ]) {
      assert.equal(progressOf(bad), null, JSON.stringify(bad));
    }
  });
});

describe('a worker thread that ends during a migration', () => {
  let plain: TestDaemon<HypervisorDomainManager>;
  let pool: TestDaemon<PoolDomainManager>;
  let kernel: string;
  const url = (h: Any) => `http://127.0.0.1:${h.daemon.tcp!.port}`;
  const names = (h: Any) => h.manager.list().map((d) => `${d.name}:${d.state}`);
  let onResumed: (() => void) | null = null;

  before(async () => {
    plain = await startTestDaemon(new HypervisorDomainManager(), {
      prefix: 'pvm-migpool-end-a-',
      tcpToken: TOKEN,
      // Called as the destination unpauses the domain, just before RESUMED goes out.
      migration: {
        announce: (m, id) => {
          onResumed?.();
          announceDomainNics(m, id);
        },
      },
    });
    pool = await startTestDaemon(new PoolDomainManager({ workers: 3, rebalanceMs: 0 }), {
      prefix: 'pvm-migpool-end-b-',
      tcpToken: TOKEN,
    });
    kernel = assembleGuest(plain.dir, COUNTER, 'rv64imac_zicsr');
  });
  after(async () => {
    await plain.close();
    await pool.close();
  });

  async function runs(h: Any, name: string): Promise<void> {
    const first = (await h.client.stats(name)).instructions;
    await until(`${name} to run`, async () => (await h.client.stats(name)).instructions > first);
  }

  test("on the source: the migration fails naming the worker, the destination keeps nothing, the pool's other worker runs on", async () => {
    // 256 MiB: round 1 is 256 messages, and it cannot end without the destination (this thread).
    await pool.client.create({ name: 'goner', kernel, memory: '256M', append: 'console=hvc0' });
    await pool.client.create({ name: 'stays', kernel, memory: '16M', append: 'console=hvc0' });
    const id = pool.manager.list().find((d) => d.name === 'goner')!.id;
    const victim = pool.manager.placement(id) as number;
    assert.notEqual(pool.manager.placement(pool.manager.list().find((d) => d.name === 'stays')!.id), victim);
    let ended = false;
    const e = await refusal(
      pool.manager.migrate(id, { to: url(plain), token: TOKEN }, () => {
        if (ended) return;
        ended = true;
        void pool.manager.threads[victim]!.terminate();
      }),
    );
    assert.equal(e.code, 'migration');
    assert.equal(
      e.message,
      `cannot migrate domain goner: its worker thread ${victim} ended during the migration (exit code 1); the destination discards its copy`,
    );
    assert.deepEqual(names(plain), []);
    assert.equal((await pool.client.info('goner')).state, 'crashed');
    await runs(pool, 'stays');
    const again = await refusal(pool.client.migrate('goner', url(plain), { token: TOKEN }));
    assert.equal(again.message, 'cannot migrate domain goner: it is crashed (migrate needs running or paused)');
    // Below the control plane, the pool says why too.
    const direct = await refusal(pool.manager.migrate(id, { to: url(plain), token: TOKEN }));
    assert.equal(direct.code, 'bad-state');
    assert.equal(direct.message, 'cannot migrate domain goner: worker thread ended: exit code 1; reboot or destroy it');
    // The destination let go of the name: the same domain, rebooted on the live worker, moves there.
    await pool.client.reboot('goner');
    await pool.client.migrate('goner', url(plain), { token: TOKEN });
    assert.deepEqual(names(plain), ['goner:running']);
    await plain.client.destroy('goner');
    await pool.client.destroy('stays');
  });

  test('on the source at the commit point: the command says to look at the destination, where the domain runs', async () => {
    await pool.client.create({ name: 'late', kernel, memory: '16M', append: 'console=hvc0' });
    const id = pool.manager.list().find((d) => d.name === 'late')!.id;
    const victim = pool.manager.placement(id) as number;
    // The source's worker ends once the destination has GO and runs the domain, before RESUMED.
    onResumed = () => {
      onResumed = null;
      void pool.manager.threads[victim]!.terminate();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500); // this thread waits; the worker ends
    };
    const e = await refusal(pool.manager.migrate(id, { to: url(plain), token: TOKEN }));
    assert.equal(
      e.message,
      `cannot migrate domain late: its worker thread ${victim} ended at the commit point (exit code 1): the domain runs on ${url(plain)} if GO reached it; look there`,
    );
    assert.deepEqual(names(plain), ['late:running']);
    assert.equal((await pool.client.info('late')).state, 'crashed', "the source's copy ended with its worker");
    await runs(plain, 'late');
    await plain.client.destroy('late');
    await pool.client.destroy('late');
  });

  test('on the destination: the source runs its domain on, the migration names the worker', async () => {
    await plain.client.create({ name: 'arrives', kernel, memory: '256M', append: 'console=hvc0' });
    // The arriving domain goes to the worker with the fewest domains: end them all.
    let ended = false;
    const e = await refusal(
      plain.client.migrate('arrives', url(pool), {
        token: TOKEN,
        onProgress: () => {
          if (ended) return;
          ended = true;
          for (const w of pool.manager.threads) void w.terminate();
        },
      }),
    );
    assert.equal(e.code, 'migration');
    assert.match(
      e.message,
      /^the destination refused: the worker thread \d receiving domain arrives ended \(exit code 1\); the domain is discarded$/,
    );
    assert.deepEqual(names(plain), ['arrives:running']);
    await runs(plain, 'arrives');
    assert.deepEqual(names(pool), []);
    // With no worker left, the pool receives it on its main thread.
    await plain.client.migrate('arrives', url(pool), { token: TOKEN });
    assert.deepEqual(names(pool), ['arrives:running']);
    assert.equal(pool.manager.placement(pool.manager.list()[0]!.id), 'main');
    await pool.client.destroy('arrives');
  });
});

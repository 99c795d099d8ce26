/**
 * Moving domains between the workers of the daemon's pool and the rebalancer that does it on
 * its own (src/server/pool-domains.ts, docs/scheduler.md "Moving a domain between workers").
 * The rebalancer's timer is off here: the tests call its look, `rebalance`, themselves, and
 * wait for the outcome without timing assertions.
 */
import assert from 'node:assert/strict';
import { copyFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { collect, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { spinAndEchoGuests } from './support/echo-guest.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('moving domains between the workers of a pool', () => {
  let h: TestDaemon<PoolDomainManager>;
  let spin: string;
  let echo: string;

  before(async () => {
    h = await startTestDaemon(new PoolDomainManager({ workers: 2, rebalanceMs: 0 }), { prefix: 'pvm-move-' });
    ({ spin, echo } = spinAndEchoGuests(h.dir));
  });
  after(() => h.close());

  /** The instruction count of `name` grows (it runs where it is now). */
  async function runs(name: string): Promise<void> {
    const n0 = (await h.client.stats(name)).instructions;
    await until(`${name} runs`, async () => (await h.client.stats(name)).instructions > n0, 20_000);
  }

  test('a domain moves: same id and name, its console, info, list and scheduler parameters go on', async () => {
    const m = h.manager;
    const d = await h.client.create({ name: 'e', kernel: echo, memory: '16M', append: 'console=hvc0', weight: 512 });
    assert.equal(m.placement(d.id), 0);
    const con = await h.client.attachConsole('e', { write: true });
    const out = collect(con);
    await until('greeting', () => out.text() === 'hello from a pv guest\n');
    const states: string[] = [];
    const unsubscribe = m.subscribe((e) => {
      if (e.id === d.id) states.push(e.type === 'state' ? e.state : e.type);
    });

    await m.move(d.id, 1);
    assert.equal(m.placement(d.id), 1);
    assert.deepEqual(states, [], 'no event: it was running and runs again');
    assert.deepEqual(
      (await h.client.list()).map((x) => [x.id, x.name, x.state]),
      [[d.id, 'e', 'running']],
    );
    assert.equal((await h.client.info('e')).config.weight, 512);
    con.write('ab');
    await until('echo on worker 1', () => out.text() === 'hello from a pv guest\nab');
    await runs('e');

    // Paused, it moves paused, with the input its guest has not read yet (in its state), and
    // input that comes during the move is held and passed on; unpaused, it goes on.
    await h.client.pause('e');
    const typed = (text: string) => m.console(d.id).write(new TextEncoder().encode(text));
    typed('c'); // posted to worker 1 before the move
    const move = m.move(d.id, 0);
    typed('d'); // during the move
    await move;
    assert.equal(m.placement(d.id), 0);
    assert.equal((await h.client.info('e')).state, 'paused');
    await h.client.unpause('e');
    await until('echo on worker 0', () => out.text() === 'hello from a pv guest\nabcd');

    assert.equal((await refusal(m.move(d.id, 0))).message, 'cannot move domain e: it is on worker 0 already');
    assert.equal((await refusal(m.move(d.id, 2))).message, 'worker: 0 to 1, got 2');
    assert.equal((await refusal(m.move(999, 1))).message, 'no domain with id 999');
    // Once its guest has powered off, it stays: only a running or paused domain moves.
    con.write('q');
    await until('poweroff', async () => (await h.client.info('e')).state === 'shutoff');
    assert.equal(
      (await refusal(m.move(d.id, 1))).message,
      'cannot move: domain e is shutoff: only a running or paused domain moves',
    );
    assert.equal(m.placement(d.id), 0);
    assert.equal((await h.client.info('e')).state, 'shutoff');
    unsubscribe();
    con.destroy();
    await h.client.destroy('e');
    assert.deepEqual(await h.client.list(), []);
  });

  test('a domain whose kernel file is gone does not move (its target could not rebuild it): it runs on', async () => {
    const m = h.manager;
    const kernel = join(h.dir, 'spin', 'copy.elf');
    copyFileSync(spin, kernel);
    const k = await h.client.create({ name: 'k', kernel, memory: '16M' });
    const at = m.placement(k.id) as number;
    unlinkSync(kernel);
    assert.equal(
      (await refusal(m.move(k.id, 1 - at))).message,
      `cannot move: domain k could not be rebuilt: its kernel ${kernel} cannot be read`,
    );
    assert.equal(m.placement(k.id), at);
    assert.equal((await h.client.info('k')).state, 'running');
    await runs('k');
    await h.client.destroy('k');
  });

  test('the rebalancer moves one of two busy domains of a worker to the idle one, then leaves them', async () => {
    const m = h.manager;
    const a = await h.client.create({ name: 'a', kernel: spin, memory: '16M' });
    const b = await h.client.create({ name: 'b', kernel: spin, memory: '16M' });
    assert.deepEqual([m.placement(a.id), m.placement(b.id)], [0, 1]);
    await m.move(b.id, 0); // both busy on worker 0, none on worker 1
    assert.deepEqual([m.placement(a.id), m.placement(b.id)], [0, 0]);
    assert.equal((await h.client.info('b')).state, 'running');
    // Generous: each look needs the workers' answers, and a busy host slows them.
    let moved: { id: number; from: number; to: number } | undefined;
    for (let i = 0; i < 200 && moved === undefined; i++) {
      await sleep(300);
      const step = await m.rebalance();
      assert.equal(step.refused, undefined);
      moved = step.moved;
    }
    assert.ok(moved, 'the rebalancer moved a domain');
    // b moved a moment ago and is held where it is: a goes.
    assert.deepEqual(moved, { id: a.id, from: 0, to: 1 });
    assert.deepEqual([m.placement(a.id), m.placement(b.id)], [1, 0]);
    assert.deepEqual(
      (await h.client.list()).map((x) => [x.name, x.state]),
      [
        ['a', 'running'],
        ['b', 'running'],
      ],
    );
    await runs('a');
    await runs('b');
    // One busy domain per worker: nothing moves any more.
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      assert.equal((await m.rebalance()).moved, undefined);
    }
    assert.deepEqual([m.placement(a.id), m.placement(b.id)], [1, 0]);
    for (const n of ['a', 'b']) await h.client.destroy(n);
  });

  /** Looks of the rebalancer until one moves a domain (none refused meanwhile); what moved. */
  async function nextMove(): Promise<{ id: number; from: number; to: number }> {
    // Generous: each look needs the workers' answers, and a busy host slows them.
    for (let i = 0; i < 200; i++) {
      await sleep(400);
      const step = await h.manager.rebalance();
      assert.equal(step.refused, undefined);
      if (step.moved) return step.moved;
    }
    assert.fail('the rebalancer moved no domain');
  }

  test('weights 1, 1, 2 on two workers: the weight-2 domain ends alone, and a weight change at run time is followed', async () => {
    const m = h.manager;
    const p1 = await h.client.create({ name: 'p1', kernel: spin, memory: '16M' });
    const p2 = await h.client.create({ name: 'p2', kernel: spin, memory: '16M' });
    const p3 = await h.client.create({ name: 'p3', kernel: spin, memory: '16M', weight: 512 });
    const where = () => [p1, p2, p3].map((d) => m.placement(d.id));
    // Placed by count: p1 and p3 share worker 0 (1/3 and 2/3 of it) while p2 has worker 1.
    assert.deepEqual(where(), [0, 1, 0]);
    // p1 joins p2 (half a core each), p3 keeps worker 0: shares 1 : 1 : 2. Moving p3 instead
    // would give 1/3 : 2/3 : 1 again, no better.
    assert.deepEqual(await nextMove(), { id: p1.id, from: 0, to: 1 });
    assert.deepEqual(where(), [1, 1, 0]);
    for (let i = 0; i < 4; i++) {
      await sleep(300);
      assert.equal((await m.rebalance()).moved, undefined);
    }
    // Now p2 is the heavy one and p3 light: p1 goes back to p3 once its hold is over (moving p2
    // to worker 0 would give 2/3 : 1/3 : 1, no better, so nothing moves before).
    await h.client.sched('p3', { weight: 256 });
    await h.client.sched('p2', { weight: 512 });
    assert.deepEqual(await nextMove(), { id: p1.id, from: 1, to: 0 });
    assert.deepEqual(where(), [0, 1, 0]);
    for (let i = 0; i < 4; i++) {
      await sleep(300);
      assert.equal((await m.rebalance()).moved, undefined);
    }
    assert.deepEqual(
      (await h.client.list()).map((x) => [x.name, x.state]),
      [
        ['p1', 'running'],
        ['p2', 'running'],
        ['p3', 'running'],
      ],
    );
    for (const n of ['p1', 'p2', 'p3']) await h.client.destroy(n);
  });

  test('a cap holds on a worker and after a move: the domain waits for it three times as long as it runs', async () => {
    const m = h.manager;
    const c = await h.client.create({ name: 'c', kernel: spin, memory: '16M', cap: 25 });
    try {
      const from = m.placement(c.id) as number;
      for (const at of [from, 1 - from]) {
        if (m.placement(c.id) !== at) await m.move(c.id, at);
        await sleep(3000);
        // Since it started on this worker (a move starts the counters again): alone there, its
        // steal time is what the cap held it back. A turn the host preempts overshoots the
        // budget and is paid back by waiting three times as long, so over its life steal
        // outgrows guest time whatever the host's load; uncapped, it would be near nothing.
        const s = await h.client.stats('c');
        assert.ok(s.guestMs > 0, `on worker ${at}: it runs`);
        assert.ok((s.stealMs ?? 0) > s.guestMs, `on worker ${at}: steal ${s.stealMs} ms, guest ${s.guestMs} ms`);
      }
    } finally {
      await h.client.destroy('c');
    }
  });

  test('a domain destroyed while it moves, or moved while it is destroyed: gone, the daemon up', async () => {
    const m = h.manager;
    const x = await h.client.create({ name: 'x', kernel: spin, memory: '16M' });
    const from = m.placement(x.id) as number;
    const moving = m.move(x.id, 1 - from).then(
      () => 'moved',
      (e: Error) => e.message,
    );
    await h.client.destroy('x'); // waits for the move
    assert.equal(await moving, 'moved');
    assert.deepEqual(await h.client.list(), []);

    const y = await h.client.create({ name: 'y', kernel: spin, memory: '16M' });
    const destroying = m.destroy(y.id); // marks it at once, then waits for its worker
    const why = (await refusal(m.move(y.id, 1 - (m.placement(y.id) as number)))).message;
    assert.equal(why, 'cannot move domain y: it is being destroyed');
    await destroying;
    assert.equal((await refusal(m.move(y.id, 0))).message, `no domain with id ${y.id}`);
    assert.deepEqual(await h.client.list(), []);
  });

  test('on its own timer the rebalancer separates two busy domains; a source worker that ends during a move crashes the domain with it', async () => {
    const m = new PoolDomainManager({ workers: 2, rebalanceMs: 100 });
    try {
      const spec = (name: string) => parseDomainSpec({ name, kernel: spin, memory: '16M' });
      const a = await m.create(spec('ta'), { paused: false });
      const b = await m.create(spec('tb'), { paused: false });
      await m.move(b.id, m.placement(a.id) as number).catch(() => undefined); // unless the timer moved one first
      await until('the timer moves one of them', () => m.placement(a.id) !== m.placement(b.id), 20_000);
      // `stats`, synchronous, is refused while a move is still in progress.
      await until('the move is over', () => {
        try {
          return m.stats(a.id).instructions > 0 && m.stats(b.id).instructions > 0;
        } catch {
          return false;
        }
      });
      assert.deepEqual(
        m.list().map((d) => [d.name, d.state]),
        [
          ['ta', 'running'],
          ['tb', 'running'],
        ],
      );
      const source = m.placement(a.id) as number;
      const moving = refusal(m.move(a.id, 1 - source));
      await m.threads[source]!.terminate();
      assert.match((await moving).message, new RegExp(`^worker ${source} ended: `));
      const info = m.info(a.id);
      assert.equal(info.state, 'crashed');
      assert.match(info.exitReason ?? '', /^worker thread ended: /);
      assert.equal(m.placement(a.id), source);
      assert.equal(m.info(b.id).state, 'running');
    } finally {
      await m.close();
    }
  });

  test('a target worker that ends during a move: the domain runs on its source again', async () => {
    const m = h.manager;
    const z = await h.client.create({ name: 'z', kernel: spin, memory: '16M' });
    const w = await h.client.create({ name: 'w', kernel: echo, memory: '16M', append: 'console=hvc0' });
    const from = m.placement(z.id) as number;
    const target = 1 - from;
    assert.equal(m.placement(w.id), target);
    const moving = refusal(m.move(z.id, target));
    await m.threads[target]!.terminate();
    const err = await moving;
    assert.match(
      err.message,
      new RegExp(`^cannot move domain z to worker ${target}: .*; it runs on worker ${from} again$`),
    );
    assert.equal(m.placement(z.id), from);
    assert.equal((await h.client.info('z')).state, 'running');
    await runs('z');
    // The target's own domain is crashed with its worker, as any domain there.
    await until('w crashed', async () => (await h.client.info('w')).state === 'crashed');
    assert.match((await refusal(m.move(z.id, target))).message, /^cannot move domain z: worker \d ended$/);
    for (const n of ['z', 'w']) await h.client.destroy(n);
    assert.deepEqual(await h.client.list(), []);
  });
});

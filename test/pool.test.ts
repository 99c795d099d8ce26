/**
 * The daemon's worker pool (src/server/pool-domains.ts, docs/scheduler.md "Worker pool"): whole
 * domains on worker threads, driven through the API like any domain. Parallelism is asserted
 * without timing: while the main thread is blocked, domains on workers retire instructions and
 * a domain on the main thread retires none.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { collect, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { spinAndEchoGuests } from './support/echo-guest.js';
import { initrd, kernel as linuxKernel } from './support/linux-guest.js';

/** Blocks this (the main) thread for `ms`: nothing of the main thread's event loop runs meanwhile. */
function blockMainThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('domains on a pool of worker threads', () => {
  let h: TestDaemon<PoolDomainManager>;
  let spin: string;
  let echo: string;

  before(async () => {
    h = await startTestDaemon(new PoolDomainManager({ workers: 2 }), { prefix: 'pvm-pool-' });
    ({ spin, echo } = spinAndEchoGuests(h.dir));
  });
  after(() => h.close());

  test('domains spread over the workers and run while the main thread is blocked; a NIC domain stays on the main thread', async () => {
    const m = h.manager;
    const a = await h.client.create({ name: 'a', kernel: spin, memory: '16M' });
    const b = await h.client.create({ name: 'b', kernel: spin, memory: '16M' });
    const c = await h.client.create({ name: 'c', kernel: spin, memory: '16M', nets: ['lan'] });
    assert.deepEqual([m.placement(a.id), m.placement(b.id), m.placement(c.id)], [0, 1, 'main']);
    assert.deepEqual(
      (await h.client.list()).map((d) => [d.id, d.name, d.state]),
      [
        [1, 'a', 'running'],
        [2, 'b', 'running'],
        [3, 'c', 'running'],
      ],
    );
    await until('all three ran', async () =>
      (await Promise.all(['a', 'b', 'c'].map((n) => h.client.stats(n)))).every((s) => s.instructions > 0),
    );
    // Synchronous reads of the counters around a block of the main thread.
    const before = [a.id, b.id, c.id].map((id) => m.stats(id).instructions);
    blockMainThread(300);
    const after = [a.id, b.id, c.id].map((id) => m.stats(id).instructions);
    assert.ok(after[0]! > before[0]!, 'a (worker 0) ran while the main thread was blocked');
    assert.ok(after[1]! > before[1]!, 'b (worker 1) ran while the main thread was blocked');
    assert.equal(after[2], before[2], 'c (main thread) could not run');
    // The scheduler parameters reach the worker's scheduler.
    assert.deepEqual(await h.client.sched('b', { weight: 512, cap: 50 }), { id: 2, name: 'b', weight: 512, cap: 50 });
    assert.equal((await h.client.info('b')).config.weight, 512);
    assert.match((await refusal(h.client.sched('b', { cap: 101 }))).message, /cap must be a whole percentage/);
    for (const n of ['a', 'b', 'c']) await h.client.destroy(n);
    assert.deepEqual(await h.client.list(), []);
  });

  test('info and list come from what the workers posted: no round trip to a worker, also after changes', async () => {
    const m = h.manager;
    await h.client.create({ name: 'i1', memory: '16M' }); // the embedded PV guest
    await h.client.create({ name: 'i2', kernel: spin, memory: '16M' }, { paused: true });
    // The PV guest binds its shutdown interrupt as it boots, no event says so: the worker tells.
    await until('i1 takes shutdown requests', async () => (await h.client.info('i1')).gracefulShutdown);
    const n = m.roundTrips;
    assert.deepEqual(
      (await h.client.list()).map((d) => [d.name, d.state, d.config.memory]),
      [
        ['i1', 'running', '16M'],
        ['i2', 'paused', '16M'],
      ],
    );
    await h.client.unpause('i2');
    assert.equal((await h.client.info('i2')).state, 'running');
    await until('i2 ran', async () => (await h.client.stats('i2')).instructions > 0);
    const [i1, i2] = [(await h.client.info('i1')).id, (await h.client.info('i2')).id];
    assert.deepEqual(
      (await m.statsOf([i2, 999, i1])).map((s) => s.name),
      ['i2', 'i1'],
      'in the order asked, without the domain that is not there',
    );
    assert.equal(m.roundTrips, n, 'list, info, stats and unpause held the main thread for no worker');
    await h.client.sched('i2', { weight: 1024 });
    assert.equal((await h.client.info('i2')).config.weight, 1024);
    assert.equal(m.roundTrips, n + 1, 'the change of weight, only');
    // Counters the worker posted before a state change are not shown after it.
    await h.client.stats('i2');
    await h.client.pause('i2');
    assert.equal((await h.client.stats('i2')).instructions, m.stats(i2).instructions, 'the count it paused at');
    await h.client.reboot('i2');
    assert.equal((await h.client.info('i2')).config.weight, 1024, 'kept across reboot');
    for (const d of ['i1', 'i2']) await h.client.destroy(d);
  });

  test('the worker threads run below the main thread (Linux: nice 5 each) with a small young generation', () => {
    const nice = (task: string): number => {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const tasks = readdirSync('/proc/self/task');
    assert.equal(nice(String(process.pid)), 0, 'the main thread');
    assert.equal(tasks.filter((t) => nice(t) === 5).length, 2, 'one per worker');
    // A small nursery: idle domains do not pay for the young generation building them grew.
    assert.deepEqual(
      h.manager.threads.map((w) => w.resourceLimits?.maxYoungGenerationSizeMb),
      [4, 4],
    );
  });

  test('a domain on a worker: console, input, pause, unpause, save and restore, poweroff, reboot, destroy', async () => {
    const config = { name: 'pv1', kernel: echo, memory: '16M', append: 'console=hvc0' };
    const created = await h.client.create(config, { paused: true });
    assert.equal(h.manager.placement(created.id), 0);
    assert.equal((await h.client.stats('pv1')).instructions, 0, 'paused before the first instruction');
    const con = await h.client.attachConsole('pv1', { write: true });
    const out = collect(con);
    await h.client.unpause('pv1');
    await until('greeting', () => out.text() === 'hello from a pv guest\n');

    await h.client.pause('pv1');
    const frozen = (await h.client.stats('pv1')).instructions;
    con.write('xyz');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal((await h.client.stats('pv1')).instructions, frozen, 'no instruction runs while paused');
    await h.client.unpause('pv1');
    await until('echo', () => out.text() === 'hello from a pv guest\nxyz');
    // The counters the worker posts between turns may be from the turn before the echo's.
    const putchars = 'hello from a pv guest\n'.length + 3;
    await until('every putchar counted', async () => {
      const n = (await h.client.stats('pv1')).hypercalls['LEGACY/console_putchar'];
      return n === putchars || (n !== undefined && n > putchars && assert.fail(`${n} putchars counted`));
    });

    // Saved on the worker, written by the main thread, restored onto a worker.
    const saved = await h.client.save('pv1', join(h.dir, 'pv1.snap'));
    assert.equal(saved.state, 'destroyed');
    const restored = await h.client.restore(join(h.dir, 'pv1.snap'), { name: 'pv2' });
    assert.equal(typeof h.manager.placement(restored.id), 'number');
    const con2 = await h.client.attachConsole('pv2', { write: true });
    const out2 = collect(con2);
    con2.write('!');
    await until('echo after restore', () => out2.text().endsWith('!'));

    con2.write('q');
    const off = await until('poweroff', async () => {
      const i = await h.client.info('pv2');
      return i.state === 'shutoff' ? i : undefined;
    });
    assert.equal(off.exitReason, 'poweroff');
    assert.equal((await h.client.reboot('pv2')).state, 'running');
    await until('greeting again', () => out2.text().endsWith('hello from a pv guest\n'));
    const closed = new Promise((r) => con2.on('close', r));
    await h.client.destroy('pv2');
    await closed;
    assert.deepEqual(await h.client.list(), []);
  });

  test('Linux with 2 vCPUs on a worker: boots, runs a command with both CPUs online, powers off', async () => {
    const d = await h.client.create({
      name: 'linux',
      kernel: linuxKernel,
      initrd,
      append: 'console=hvc0 pvm.run=nproc',
      memory: '256M',
      smp: 2,
    });
    assert.equal(typeof h.manager.placement(d.id), 'number');
    const con = await h.client.attachConsole('linux');
    const out = collect(con);
    // Bounds only against a hang: booting Linux on a loaded machine takes minutes.
    const off = await until(
      'Linux powers off',
      async () => {
        const i = await h.client.info('linux');
        return i.state === 'shutoff' ? i : undefined;
      },
      100_000,
    );
    assert.equal(off.exitReason, 'poweroff');
    assert.match(out.text(), /\n2\r?\n/, 'nproc printed 2');
    assert.match(out.text(), /pvm-guest: exit 0/);
    con.destroy();
    await h.client.destroy('linux');
  });

  test('a worker thread that ends takes only its own domains: they are crashed, the others run on', async () => {
    const a = await h.client.create({ name: 'x', kernel: spin, memory: '16M' });
    const b = await h.client.create({ name: 'y', kernel: spin, memory: '16M' });
    const victim = h.manager.placement(a.id) as number;
    assert.notEqual(h.manager.placement(b.id), victim);
    await h.manager.threads[victim]!.terminate();
    const x = await until('x crashed', async () => {
      const d = (await h.client.list()).find((d) => d.name === 'x');
      return d?.state === 'crashed' ? d : undefined;
    });
    assert.equal(x.state, 'crashed');
    assert.match(x.exitReason ?? '', /^worker thread ended: exit code 1$/);
    assert.match((await refusal(h.client.stats('x'))).message, /ran on worker \d, which ended .*reboot or destroy it/);
    const y0 = (await h.client.stats('y')).instructions;
    await until('y runs on', async () => (await h.client.stats('y')).instructions > y0);
    // New domains go to the workers that are left, and a reboot restarts x on one of them.
    const z = await h.client.create({ name: 'z', kernel: spin, memory: '16M' });
    assert.equal(h.manager.placement(z.id), h.manager.placement(b.id));
    assert.equal((await h.client.reboot('x')).state, 'running');
    assert.equal(h.manager.placement(a.id), h.manager.placement(b.id));
    await until('x runs again', async () => (await h.client.stats('x')).instructions > 0);
    for (const n of ['x', 'y', 'z']) await h.client.destroy(n);
    assert.deepEqual(await h.client.list(), []);
  });
});

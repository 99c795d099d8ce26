/**
 * The credit scheduler through the daemon: weights and caps in configs, the API and `pvm sched`,
 * enforced on real guests (guests/hostile/spin.S: a counting loop) sharing the daemon's thread.
 *
 * The exact shares are asserted on a fake clock in src/hypervisor/scheduler.test.ts. Here the
 * guests run on the host clock, and what is asserted is what the scheduler guarantees whatever
 * else the machine runs: the host time two domains on one thread are charged follows their
 * weights (1:2 gives about 2; the instruction ratio would drift when the host preempts the
 * daemon in the middle of a turn), and a 25 % cap never lets a domain have more than about a
 * quarter of the window (host load can only lower it), the rest counted as steal time, which
 * stops growing when the cap is lifted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, refusal, runPvm, startTestDaemon, type TestDaemon } from './support/daemon.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const WINDOW_MS = 1500;

describe('scheduler weights and caps in the daemon', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let spin: string;
  const pvm = (args: string[]) => runPvm(h.daemon.socketPath, h.dir, args, new PassThrough());
  /** A refusal as `code: message`. */
  const said = async (p: Promise<unknown>) => {
    const e = await refusal(p);
    return `${e.code}: ${e.message}`;
  };

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-sched-' });
    spin = assembleGuest(h.dir, readFileSync(join(root, 'guests/hostile/spin.S'), 'utf8'), 'rv64imac_zicsr');
  });
  after(() => h.close());

  /** Instructions, guest ms and steal ms each named domain gained over one window. */
  async function window(
    names: string[],
  ): Promise<{ instructions: number[]; guestMs: number[]; stealMs: number[]; ms: number }> {
    const before = await Promise.all(names.map((n) => h.client.stats(n)));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const after = await Promise.all(names.map((n) => h.client.stats(n)));
    return {
      instructions: after.map((s, i) => s.instructions - before[i]!.instructions),
      guestMs: after.map((s, i) => s.guestMs - before[i]!.guestMs),
      stealMs: after.map((s, i) => (s.stealMs ?? 0) - (before[i]!.stealMs ?? 0)),
      ms: performance.now() - t0,
    };
  }

  test('a config sets weight and cap; pvm sched shows them, sets them, and refuses bad values', async () => {
    await h.client.create({ name: 'a', kernel: spin, memory: '16M', weight: 512, cap: 50 }, { paused: true });
    assert.deepEqual(await h.client.sched('a'), { id: 1, name: 'a', weight: 512, cap: 50 });
    assert.equal((await pvm(['sched', 'a'])).out, 'a: weight 512, cap 50 %\n');
    assert.equal((await pvm(['sched', 'a', '--weight', '100', '--cap', '0'])).out, 'a: weight 100, cap none\n');
    const info = await h.client.info('a');
    assert.equal(info.config.weight, 100);
    assert.equal(info.config.cap, undefined, 'no cap is the default, left out of the document');
    assert.equal(
      await said(h.client.sched('a', { cap: 150 })),
      'bad-request: cap must be a whole percentage from 0 (none) to 100 (100 per vCPU), got 150',
    );
    assert.match(await said(h.client.sched('a', { weight: 0 })), /^bad-request: .*weight/);
    assert.match(await said(h.client.sched('nope', { weight: 5 })), /^not-found: /);
    assert.deepEqual(await h.client.sched('a'), { id: 1, name: 'a', weight: 100, cap: 0 }, 'refusals changed nothing');
    await assert.rejects(pvm(['sched', 'a', '--weight', 'lots']), /--weight: expected a whole number, got "lots"/);
    assert.equal(
      await said(h.client.create({ name: 'b', kernel: spin, memory: '16M', cap: 300, smp: 2 })),
      'bad-request: config.cap: a whole percentage from 0 (none) to 200 (100 per vCPU), got 300',
    );
    // Kept across a reboot (the new VM gets a new place in the scheduler with the same values).
    await h.client.reboot('a');
    assert.deepEqual(await h.client.sched('a'), { id: 1, name: 'a', weight: 100, cap: 0 });
    await h.client.destroy('a');
  });

  test('hostile sched bodies are refused with a message naming the field, and change nothing', async () => {
    await h.client.create({ name: 'h', kernel: spin, memory: '16M', weight: 300 }, { paused: true });
    const bodies: unknown[] = [
      {},
      { weight: 'heavy' },
      { weight: 1e20 },
      { weight: 0 },
      { cap: -1 },
      { cap: 1.5 },
      { cap: 101 },
      { weight: 10, nope: 1 },
      [1, 2],
      null,
      'x',
    ];
    for (const body of bodies) {
      const e = await refusal(h.client.request('PUT', '/domains/h/sched', body));
      assert.equal(e.code, 'bad-request', JSON.stringify(body));
      assert.ok(e.message.length > 0 && !e.message.includes('\n'), e.message);
    }
    assert.deepEqual(await h.client.sched('h'), { id: (await h.client.info('h')).id, name: 'h', weight: 300, cap: 0 });
    await h.client.destroy('h');
  });

  test('weights 1:2 between two busy domains: host time charged about 1:2', async () => {
    await h.client.create({ name: 'w1', kernel: spin, memory: '16M' });
    await h.client.create({ name: 'w2', kernel: spin, memory: '16M', weight: 512 });
    try {
      await window(['w1', 'w2']); // warm up (the translation tier)
      const w = await window(['w1', 'w2']);
      assert.ok(w.instructions[0]! > 0 && w.instructions[1]! > 0, 'both run');
      const ratio = w.guestMs[1]! / w.guestMs[0]!;
      assert.ok(ratio > 1.6 && ratio < 2.5, `guest time ratio ${ratio.toFixed(2)} (${w.guestMs.join(' : ')} ms)`);
      // Set at run time: equal weights give equal shares.
      await h.client.sched('w2', { weight: 256 });
      await window(['w1', 'w2']);
      const e = await window(['w1', 'w2']);
      const even = e.guestMs[1]! / e.guestMs[0]!;
      assert.ok(even > 0.7 && even < 1.4, `guest time ratio with equal weights ${even.toFixed(2)}`);
    } finally {
      await h.client.destroy('w1');
      await h.client.destroy('w2');
    }
  });

  test('a cap of 25 % holds a busy domain to about a quarter of the host time; its steal time grows', async () => {
    await h.client.create({ name: 'capped', kernel: spin, memory: '16M', cap: 25 });
    try {
      await window(['capped']);
      const w = await window(['capped']);
      const share = w.guestMs[0]! / w.ms;
      assert.ok(share > 0 && share < 0.3, `guest time ${(share * 100).toFixed(0)} % of the window`);
      assert.ok(w.stealMs[0]! > w.guestMs[0]!, `steal ${w.stealMs[0]} ms, guest ${w.guestMs[0]} ms`);
      await h.client.sched('capped', { cap: 0 });
      await window(['capped']);
      const free = await window(['capped']);
      assert.ok(free.guestMs[0]! > 0, 'it runs');
      assert.ok(
        free.stealMs[0]! < w.stealMs[0]! / 4,
        `without the cap, alone, it waits for nothing: steal ${free.stealMs[0]} ms, capped ${w.stealMs[0]} ms`,
      );
    } finally {
      await h.client.destroy('capped');
    }
  });

  test('a threaded domain has its cap in total: with 2 harts, the owner thread gets half of it', async () => {
    // The spin guest runs hart 0 only: capped at 50, its owner's part is 25 %.
    await h.client.create({ name: 'tc', kernel: spin, memory: '16M', smp: 2, threads: true, cap: 50 });
    try {
      assert.deepEqual(await h.client.sched('tc'), {
        id: (await h.client.info('tc')).id,
        name: 'tc',
        weight: 256,
        cap: 50,
      });
      await window(['tc']);
      const w = await window(['tc']);
      const share = w.guestMs[0]! / w.ms;
      assert.ok(share > 0 && share < 0.3, `guest time ${(share * 100).toFixed(0)} % of the window`);
      // Changed at run time: the new total is split too.
      await h.client.sched('tc', { cap: 20 });
      await window(['tc']);
      const v = await window(['tc']);
      const less = v.guestMs[0]! / v.ms;
      assert.ok(less > 0 && less < 0.13, `guest time ${(less * 100).toFixed(0)} % of the window at cap 20`);
    } finally {
      await h.client.destroy('tc');
    }
  });
});

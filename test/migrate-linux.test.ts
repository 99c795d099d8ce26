/**
 * Live migration of Linux between two daemons on loopback: the prebuilt test guest (256 MiB)
 * runs a shell loop that prints a counter every 10 ms on hvc0; it moves from A to B while it
 * counts, and the console output, A's then B's, is every number once, in order: no gap, no
 * repetition. The guest's clock goes on (usleep still returns) and it answers on B. With 1
 * and 2 vCPUs, with hart 1 on a thread of its own, and from a worker of a pool (`--workers`) to
 * a worker of another (PV with 2 vCPUs, with hart 1 on a thread of the worker, and full mode,
 * whose RAM is private to its worker).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DomainManager } from '../src/api/domain.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { initrd, kernel } from './support/linux-guest.js';

const TOKEN_A = 'linux-source-token-0123456789';
const TOKEN_B = 'linux-destination-token-0123456789';
/** The guest's command: a counter every 10 ms, for ever (spaces as %20, pvm.run of guests/linux/init). */
const LOOP = 'i=0;while%20true;do%20echo%20c$i;i=$((i+1));usleep%2010000;done';

/** The counter values printed so far (the partial last line left out). */
function counter(text: string): number[] {
  const lines = text.split(/\r?\n/);
  lines.pop();
  return lines.filter((l) => /^c\d+$/.test(l)).map((l) => Number(l.slice(1)));
}

describe('live migration of a Linux guest', () => {
  let a: TestDaemon<HypervisorDomainManager>;
  let b: TestDaemon<HypervisorDomainManager>;

  before(async () => {
    a = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-mig-linux-a-', tcpToken: TOKEN_A });
    b = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-mig-linux-b-', tcpToken: TOKEN_B });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  for (const smp of [1, 2])
    test(`a Linux counter (${smp} vCPU${smp > 1 ? 's' : ''}) goes on on the other daemon with no gap and no repetition`, () =>
      counterMoves(smp));
  test('a Linux counter (2 vCPUs, hart 1 on a thread) goes on on the other daemon: every page sent again at the stop', () =>
    counterMoves(2, true));
  for (const full of [false, true])
    test(`a Linux counter (${full ? 'full mode, its RAM private to its worker, 1 vCPU' : '2 vCPUs'}) on a worker of a pool goes on on a worker of another pool`, () =>
      betweenPools(full));
  test('a Linux counter (2 vCPUs, hart 1 on a thread of the worker) goes on on a worker of another pool', () =>
    betweenPools(false, true));

  async function betweenPools(full: boolean, threads = false): Promise<void> {
    const p1 = await startTestDaemon(new PoolDomainManager({ workers: 1, rebalanceMs: 0 }), {
      prefix: 'pvm-mig-linux-p1-',
      tcpToken: TOKEN_A,
    });
    const p2 = await startTestDaemon(new PoolDomainManager({ workers: 1, rebalanceMs: 0 }), {
      prefix: 'pvm-mig-linux-p2-',
      tcpToken: TOKEN_A,
    });
    try {
      await counterMoves(full ? 1 : 2, threads, p1, p2, full);
    } finally {
      await p1.close();
      await p2.close();
    }
  }

  async function counterMoves(
    smp: number,
    threads = false,
    from: TestDaemon<DomainManager> = a,
    to: TestDaemon<DomainManager> = b,
    full = false,
  ): Promise<void> {
    await from.client.create(
      {
        name: 'lin',
        kernel,
        initrd,
        memory: '256M',
        smp,
        ...(threads ? { threads } : {}),
        // Full mode: OpenSBI, and Linux's console on the UART.
        ...(full ? { mode: 'full' } : {}),
        append: `console=${full ? 'ttyS0' : 'hvc0'} quiet pvm.run=${LOOP}`,
      },
      { paused: true },
    );
    const sa = await from.client.attachConsole('lin');
    let textA = '';
    sa.on('data', (d: Buffer) => {
      textA += d.toString('latin1');
    });
    await from.client.unpause('lin');
    await until('counting on A', () => counter(textA).length > 30, 12_000);
    const r = await from.client.migrate('lin', `http://127.0.0.1:${to.daemon.tcp!.port}`, {
      token: to === b ? TOKEN_B : TOKEN_A,
    });
    assert.equal(r.confirmedBy, 'resumed');
    assert.equal(r.rounds[0]!.pages, 65536, 'round 1: all of the 256 MiB');
    // hart 1's stores are not in the source's dirty-page log: stop-and-copy sends every page
    if (threads)
      assert.deepEqual(
        r.rounds.map((x) => x.pages),
        [65536, 65536],
      );
    assert.deepEqual(
      from.manager.list().map((d) => d.name),
      [],
    );
    const sb = await to.client.attachConsole('lin');
    let textB = '';
    sb.on('data', (d: Buffer) => {
      textB += d.toString('latin1');
    });
    const seenOnA = counter(textA).length;
    await until('counting on B', () => counter(textA + textB).length > seenOnA + 50, 12_000);
    sa.destroy();
    sb.destroy();
    const all = counter(textA + textB);
    assert.equal(all[0], 0);
    all.forEach((n, i) => {
      if (n !== i) assert.fail(`line ${i} is c${n}: ${n < i ? 'a repetition' : 'a gap'}`);
    });
    assert.deepEqual(
      to.manager.list().map((d) => `${d.name}:${d.state}`),
      ['lin:running'],
    );
    if (threads) {
      // hart 1 runs on its thread on the destination
      const hart1 = async () => {
        const t = (await to.client.stats('lin')).threads;
        assert.equal(t?.[0]?.hart, 1);
        return t![0]!.instret;
      };
      const n = await hart1();
      await until('hart 1 runs on the destination', async () => (await hart1()) > n, 12_000);
    }
    await to.client.destroy('lin');
  }
});

/**
 * PVX between domains on different workers of the daemon's pool (src/server/pvx-links.ts,
 * docs/pvx-implementation.md "Across threads"): pvos guests on two workers open event channels,
 * map and copy grants and run a vchan to each other with their checksums intact; a guest that
 * ends releases what it held; a NIC domain on the main thread reaches one on a worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { Console, make, PROMPT, PVOS_ELF, vchanTransfer } from './pvos-console.js';
import { startTestDaemon, type TestDaemon, until } from './support/daemon.js';

/** A console session on a domain of the pool, from the main thread's console buffer. */
function consoleOf(m: PoolDomainManager, id: number): Console & { close(): void } {
  const c = m.console(id);
  const dec = new TextDecoder();
  let unsubscribe = (): void => {};
  let exit: (code: number | null) => void = () => {};
  const con = new Console({
    write: (text) => c.write(new TextEncoder().encode(text)),
    onData: (cb) => {
      const h = c.history();
      if (h.length > 0) cb(dec.decode(h));
      unsubscribe = c.subscribe((d) => cb(dec.decode(d)));
    },
    exited: new Promise((resolve) => {
      exit = resolve;
    }),
    kill: () => unsubscribe(),
  });
  return Object.assign(con, {
    close: () => {
      unsubscribe();
      exit(null);
    },
  });
}

describe('PVX between domains on different workers', () => {
  let h: TestDaemon<PoolDomainManager>;

  before(async () => {
    make();
    h = await startTestDaemon(new PoolDomainManager({ workers: 2 }), { prefix: 'pvm-pool-pvx-' });
  });
  after(() => h.close());

  async function boot(name: string, nets?: string[]): Promise<{ id: number; con: Console & { close(): void } }> {
    const d = await h.client.create({ name, kernel: PVOS_ELF, memory: '64M', ...(nets && { nets }) });
    const con = consoleOf(h.manager, d.id);
    const out = await con.until(PROMPT);
    assert.match(out, new RegExp(`pvos: PVX 1\\.0 present \\(domain ${d.id}, features 0x1ff\\)\\n`));
    return { id: d.id, con };
  }

  test('a vchan between two workers keeps its checksums; grants and ports are released at close', async () => {
    const one = await boot('one');
    const two = await boot('two');
    assert.deepEqual([h.manager.placement(one.id), h.manager.placement(two.id)], [0, 1]);
    await vchanTransfer(one.con, one.id, two.con, two.id, 2); // 2 MiB: checksums compared at both ends
    // again, the other way round: the client of the first is the server now
    await vchanTransfer(two.con, two.id, one.con, one.id, 1);
    for (const d of [one, two]) {
      assert.doesNotMatch(await d.con.run('evtchn'), /interdomain|unbound/, 'vchan close closed its port');
      d.con.close();
    }
    await h.client.destroy('one');
    await h.client.destroy('two');
  });

  test('a domain with a NIC on the main thread and one on a worker: a vchan both ways', async () => {
    const lan = await boot('lan', ['lan']);
    const w = await boot('w');
    assert.deepEqual([h.manager.placement(lan.id), typeof h.manager.placement(w.id)], ['main', 'number']);
    await vchanTransfer(lan.con, lan.id, w.con, w.id, 1);
    await vchanTransfer(w.con, w.id, lan.con, lan.id, 1);
    lan.con.close();
    w.con.close();
    await h.client.destroy('lan');
    await h.client.destroy('w');
  });

  test('a server that ends while its grant is mapped across workers: the client keeps the page, the ports go UNBOUND', async () => {
    const s = await boot('s');
    const c = await boot('c');
    const listen = /^vchan: listening for domain (\d+): ref (\d+) port (\d+)\n$/.exec(
      await s.con.run(`vchan listen ${c.id}`),
    );
    assert.ok(listen);
    assert.match(await c.con.run(`vchan connect ${s.id} ${listen[2]} ${listen[3]}`), /^vchan: connected to domain/);
    await h.client.destroy('s');
    s.con.close();
    // The client's port to the server is UNBOUND now (§5.3), as on one thread.
    await until('the client sees its port unbound', async () => /unbound/.test(await c.con.run('evtchn')));
    assert.equal(await c.con.run('vchan close'), 'vchan: closed\n');
    c.con.close();
    await h.client.destroy('c');
  });
});

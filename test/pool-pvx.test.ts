/**
 * PVX between domains on different workers of the daemon's pool (src/server/pvx-links.ts,
 * docs/pvx-implementation.md "Across threads"): pvos guests on two workers open event channels,
 * map and copy grants and run a vchan to each other with their checksums intact; a guest that
 * ends releases what it held; a NIC domain on the main thread reaches one on a worker. The same
 * script of good and bad calls gives the same guest output between two domains of one thread
 * (the main thread's, where domains with NICs run) and between domains on two workers.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PoolDomainManager } from '../src/server/pool-domains.js';
import { Console, make, PROMPT, PVOS_ELF, vchanTransfer } from './pvos-console.js';
import { refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

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

  interface Booted {
    id: number;
    name: string;
    con: Console & { close(): void };
  }

  /** The domains the running test made: a test that fails leaves none to the next (placements count domains). */
  const booted: Booted[] = [];
  afterEach(async () => {
    const left = new Set((await h.client.list()).map((d) => d.name));
    for (const d of booted.splice(0)) {
      d.con.close();
      if (left.has(d.name)) await h.client.destroy(d.name);
    }
  });

  async function boot(name: string, nets?: string[]): Promise<Booted> {
    const d = await h.client.create({ name, kernel: PVOS_ELF, memory: '64M', ...(nets && { nets }) });
    const con = consoleOf(h.manager, d.id);
    booted.push({ id: d.id, name, con });
    const out = await con.until(PROMPT);
    assert.match(out, new RegExp(`pvos: PVX 1\\.0 present \\(domain ${d.id}, features 0x1ff\\)\\n`));
    return { id: d.id, name, con };
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

  /**
   * Grants, copies, maps, ports and a vchan with bad refs, ports and ids and a revoke while
   * mapped, between server `s` and client `c`: the consoles' output with the ids written S, C.
   */
  async function script(s: Booted, c: Booted): Promise<string> {
    // Ids as S and C; the VIRQ ports' event counts follow the clock and the console.
    const ids = (t: string) =>
      t
        .replace(/domain (\d+)/g, (_, id) => `domain ${Number(id) === s.id ? 'S' : Number(id) === c.id ? 'C' : id}`)
        .replace(/(virq (?:timer|console), vcpu \d+), \d+ events/g, '$1, N events');
    const out: string[] = [];
    /** `cmd` with {S} and {C} for the ids. */
    const on = async (d: Booted, cmd: string) => {
      const r = await d.con.run(cmd.replaceAll('{S}', String(s.id)).replaceAll('{C}', String(c.id)));
      out.push(`${d === s ? 'S' : 'C'}> ${cmd}\n${ids(r)}`);
      return r;
    };
    await on(s, `grant give {C}`);
    await on(s, `grant give {C} ro`);
    await on(c, `grant copy {S} 0`);
    await on(c, `grant map {S} 0`);
    await on(c, `grant map {S} 1`);
    await on(c, `grant copy {S} 511`); // inside the table, not given
    await on(c, `grant copy {S} 512`); // outside the table
    await on(c, `grant copy {S} 4294967296`); // not 32 bits
    await on(c, `grant copy 32000 0`); // no such domain
    await on(c, `grant copy {C} 0`); // itself
    await on(s, 'grant list');
    await on(s, 'grant end 0');
    await on(c, `grant copy {S} 0`); // revoked
    await on(c, `evtchn bind {S} 1`); // the server's timer VIRQ
    await on(c, `evtchn bind {S} 60`); // a free port
    await on(c, 'evtchn bind 32000 1'); // no such domain
    const alloc = /ok, (\d+)/.exec(await on(s, `evtchn alloc {C}`))?.[1];
    const bound = /ok, (\d+)/.exec(await on(c, `evtchn bind {S} ${alloc}`))?.[1];
    await on(c, `evtchn bind {S} ${alloc}`); // bound already
    await on(s, `evtchn send ${alloc}`);
    await on(c, `evtchn send ${bound}`);
    await on(s, 'evtchn list');
    await on(c, 'evtchn list');
    await on(c, `evtchn close ${bound}`);
    await on(s, 'evtchn list');
    await on(s, `evtchn close ${alloc}`);
    // revoking the ring while the client maps it
    const listen = /ref (\d+) port (\d+)/.exec(await on(s, `vchan listen {C}`));
    await on(c, `vchan connect {S} ${listen?.[1]} ${listen?.[2]}`);
    await on(s, `grant end ${listen?.[1]}`);
    await on(c, 'vchan send hello');
    await on(s, 'vchan recv');
    await on(c, 'vchan close');
    await on(s, 'vchan close');
    await on(s, `grant end ${listen?.[1]}`);
    return out.join('');
  }

  test('the same calls, good and bad, give the same results on one thread and across two workers', async () => {
    const one = [await boot('m1', ['lan']), await boot('m2', ['lan'])];
    const two = [await boot('w1'), await boot('w2')];
    assert.deepEqual(
      [...one, ...two].map((d) => h.manager.placement(d.id)),
      ['main', 'main', 0, 1],
    );
    const here = await script(one[0]!, one[1]!);
    const across = await script(two[0]!, two[1]!);
    assert.equal(across, here);
    // Exact: a copy and maps with the granted pages' checksums, each bad ref, id and port refused, the
    // events counted, the revoke of a mapped ring refused (INVALID_STATE) and allowed after the unmap.
    assert.equal(
      here,
      [
        'S> grant give {C}',
        'grant: ref 0 to domain C (rw), checksum 0xc0944dc5',
        'S> grant give {C} ro',
        'grant: ref 1 to domain C (ro), checksum 0x3bb83dc5',
        'C> grant copy {S} 0',
        'grant copy: 4096 bytes, checksum 0xc0944dc5',
        'C> grant map {S} 0',
        'grant map: at 0x40000000, checksum 0xc0944dc5',
        'grant unmap: ok, 0',
        'C> grant map {S} 1',
        'grant map: at 0x40000000, checksum 0x3bb83dc5',
        'grant unmap: ok, 0',
        'C> grant copy {S} 511',
        'grant copy: denied (-4)',
        'C> grant copy {S} 512',
        'grant copy: invalid param (-3)',
        'C> grant copy {S} 4294967296',
        'grant copy: invalid param (-3)',
        'C> grant copy 32000 0',
        'grant copy: invalid param (-3)',
        'C> grant copy {C} 0',
        'grant copy: invalid param (-3)',
        'S> grant list',
        'ref 0: domain C frame 0x80211 rw',
        'ref 1: domain C frame 0x80212 ro',
        'S> grant end 0',
        'grant end: ok, 0',
        'C> grant copy {S} 0',
        'grant copy: denied (-4)',
        'C> evtchn bind {S} 1',
        'evtchn bind: invalid state (-10)',
        'C> evtchn bind {S} 60',
        'evtchn bind: invalid state (-10)',
        'C> evtchn bind 32000 1',
        'evtchn bind: invalid param (-3)',
        'S> evtchn alloc {C}',
        'evtchn alloc: ok, 5',
        'C> evtchn bind {S} 5',
        'evtchn bind: ok, 5',
        'C> evtchn bind {S} 5',
        'evtchn bind: invalid state (-10)',
        'S> evtchn send 5',
        'evtchn send: ok, 0',
        'C> evtchn send 5',
        'evtchn send: ok, 0',
        'S> evtchn list',
        'port 1: virq timer, vcpu 0, N events',
        'port 2: virq console, vcpu 0, N events',
        'port 3: virq shutdown-request, vcpu 0, 0 events',
        'port 4: ipi, vcpu 0, 0 events',
        'port 5: interdomain to domain C port 5, vcpu 0, 1 events',
        'C> evtchn list',
        'port 1: virq timer, vcpu 0, N events',
        'port 2: virq console, vcpu 0, N events',
        'port 3: virq shutdown-request, vcpu 0, 0 events',
        'port 4: ipi, vcpu 0, 0 events',
        'port 5: interdomain to domain S port 5, vcpu 0, 2 events',
        'C> evtchn close 5',
        'evtchn close: ok, 0',
        'S> evtchn list',
        'port 1: virq timer, vcpu 0, N events',
        'port 2: virq console, vcpu 0, N events',
        'port 3: virq shutdown-request, vcpu 0, 0 events',
        'port 4: ipi, vcpu 0, 0 events',
        'port 5: unbound for domain C, vcpu 0, 1 events',
        'S> evtchn close 5',
        'evtchn close: ok, 0',
        'S> vchan listen {C}',
        'vchan: listening for domain C: ref 8 port 5',
        'C> vchan connect {S} 8 5',
        'vchan: connected to domain S, port 5',
        'S> grant end 8',
        'grant end: invalid state (-10)',
        'C> vchan send hello',
        'vchan: sent 6 bytes',
        'S> vchan recv',
        'vchan: received 6 bytes: hello',
        'C> vchan close',
        'vchan: closed',
        'S> vchan close',
        'vchan: closed',
        'S> grant end 8',
        'grant end: ok, 0',
        '',
      ].join('\n'),
    );
    for (const d of [...one, ...two]) {
      d.con.close();
      await h.client.destroy(d.name);
    }
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

  test('a domain with an event channel to another worker does not move; closed, it moves and is reached anew', async () => {
    const m = h.manager;
    const s = await boot('ms');
    const c = await boot('mc');
    const [ws, wc] = [m.placement(s.id) as number, m.placement(c.id) as number];
    assert.notEqual(ws, wc);
    const alloc = /ok, (\d+)/.exec(await s.con.run(`evtchn alloc ${c.id}`))?.[1];
    assert.equal(await c.con.run(`evtchn bind ${s.id} ${alloc}`), 'evtchn bind: ok, 5\n');
    assert.equal(
      (await refusal(m.move(s.id, wc))).message,
      `cannot move: domain ms has event channels connected to PVX domain ${c.id}`,
    );
    assert.equal(m.placement(s.id), ws);
    assert.match(await c.con.run('evtchn close 5'), /^evtchn close: ok/);
    assert.match(await s.con.run(`evtchn close ${alloc}`), /^evtchn close: ok/);
    await m.move(s.id, wc);
    assert.equal(m.placement(s.id), wc);
    // Same PVX id on its new worker: the peer binds to it there.
    const again = /ok, (\d+)/.exec(await s.con.run(`evtchn alloc ${c.id}`))?.[1];
    const bound = /^evtchn bind: ok, (\d+)\n$/.exec(await c.con.run(`evtchn bind ${s.id} ${again}`))?.[1];
    assert.ok(bound);
    assert.match(
      await s.con.run('evtchn list'),
      new RegExp(`\nport ${again}: interdomain to domain ${c.id} port ${bound}, vcpu 0, 0 events\n`),
    );
    const events = async (): Promise<number> => {
      const list = await c.con.run('evtchn list');
      const n = new RegExp(`port ${bound}: interdomain to domain ${s.id} port ${again}, vcpu 0, (\\d+) events`).exec(
        list,
      );
      assert.ok(n, list);
      return Number(n[1]);
    };
    const before = await events();
    assert.equal(await s.con.run(`evtchn send ${again}`), 'evtchn send: ok, 0\n');
    await until('the event reaches the peer', async () => (await events()) === before + 1);
    for (const d of [s, c]) {
      d.con.close();
      await h.client.destroy(d.name);
    }
  });

  // Last: it leaves the pool with one worker.
  test('a worker thread that ends: ports connected to its domains go UNBOUND on the other worker, which runs on', async () => {
    const s = await boot('gone');
    const c = await boot('stays');
    const ws = h.manager.placement(s.id) as number;
    assert.notEqual(h.manager.placement(c.id), ws);
    const alloc = /ok, (\d+)/.exec(await s.con.run(`evtchn alloc ${c.id}`))?.[1];
    assert.equal(await c.con.run(`evtchn bind ${s.id} ${alloc}`), 'evtchn bind: ok, 5\n');
    await h.manager.threads[ws]!.terminate();
    await until('the port is unbound', async () =>
      (await c.con.run('evtchn list')).includes(`port 5: unbound for domain ${s.id}`),
    );
    assert.equal(
      await c.con.run(`evtchn bind ${s.id} ${alloc}`),
      'evtchn bind: invalid param (-3)\n',
      'no such domain now',
    );
    assert.equal((await h.client.info('gone')).state, 'crashed');
    assert.equal((await h.client.info('stays')).state, 'running');
    s.con.close();
    c.con.close();
  });
});

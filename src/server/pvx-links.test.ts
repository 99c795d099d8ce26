/**
 * The transport of PVX between the pool's threads (pvx-links.ts), with its threads played in
 * this one: what a request that gets no answer in time becomes (and its late answer), how
 * signals are gathered, and what the main thread does when a worker ends. Calls answered by
 * other threads run in test/pool-pvx.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { PvxHost } from '../hypervisor/pvx/host.js';
import type { PvxDomain } from '../hypervisor/pvx/pvx-domain.js';
import { servePvx } from '../hypervisor/pvx/remote.js';
import { At, TestDomain } from '../hypervisor/pvx/testing.js';
import { SbiErr } from '../sbi/consts.js';
import { PvxFid as F, Gtf } from '../sbi/pvx/consts.js';
import { PvxLinks, pvxLinksData } from './pvx-links.js';

function links(threads: number) {
  const data = pvxLinksData(threads, () => {
    const c = new MessageChannel();
    return [c.port1, c.port2];
  });
  return data;
}

/** Everything posted so far on `port`. */
function drain(port: MessagePort | null): unknown[] {
  const out: unknown[] = [];
  for (let m = receiveMessageOnPort(port!); m !== undefined; m = receiveMessageOnPort(port!)) out.push(m.message);
  return out;
}

test('a bind or map that gets no answer in time fails as for no domain; its late success is undone', async () => {
  const data = links(2);
  const la = new PvxLinks(data[0]!, 30);
  const lb = new PvxLinks(data[1]!, 30);
  const ha = new PvxHost<PvxDomain>();
  const hb = new PvxHost<PvxDomain>();
  la.attach(ha);
  lb.attach(hb);
  const a = new TestDomain(ha);
  const b = new TestDomain(hb);
  assert.deepEqual([a.pvx.id, b.pvx.id], [1, 2], 'ids are unique across the threads');
  a.registerShinfo();
  b.registerShinfo();
  const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
  // Both "threads" are this one: while b waits, nobody serves a.
  assert.equal(b.call(F.EVTCHN_BIND_INTERDOMAIN, [1, pa]).error, SbiErr.INVALID_PARAM);
  assert.equal(lb.timeouts, 1);
  assert.equal(b.ok(F.EVTCHN_STATUS, [1]), 0, "b's port was freed");
  // Now a's thread answers (it binds), and b's undoes it: a's port is UNBOUND for 2 again.
  await sleep(50);
  assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (2 << 16));
  // The same for a map: the granter's count goes up, then down again.
  a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
  a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
  assert.equal(b.call(F.GNTTAB_MAP, [1, 0, 0x4000_0000, 0]).error, SbiErr.INVALID_PARAM);
  assert.equal(b.pvx.window.slots.size, 0);
  await sleep(50);
  assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS, 'GTF_reading/writing set and cleared again');
  a.ok(F.GNTTAB_END_ACCESS, [0]);
  assert.equal(lb.timeouts, 2);
});

test('signals to another thread: the first of a turn at once, the others gathered, one entry per sending port', async () => {
  const data = links(2);
  const la = new PvxLinks(data[0]!);
  la.attach(new PvxHost<PvxDomain>());
  la.added(1);
  Atomics.store(new Int32Array(data[0]!.directory), 2, 2); // domain 2 on thread 1
  for (let i = 0; i < 1000; i++) la.post({ k: 'signal', to: 2, port: 5, from: 1, fromPort: 3 });
  la.post({ k: 'signal', to: 2, port: 6, from: 1, fromPort: 4 });
  assert.deepEqual(drain(data[1]!.ports[0]!), [{ t: 'signals', list: [2, 5, 1, 3] }], 'the first at once');
  await sleep(1);
  assert.deepEqual(
    drain(data[1]!.ports[0]!),
    [{ t: 'signals', list: [2, 5, 1, 3, 2, 6, 1, 4] }],
    'the rest at its end',
  );
  // A note goes after the signals gathered before it, at once.
  la.post({ k: 'signal', to: 2, port: 5, from: 1, fromPort: 3 });
  la.post({ k: 'closed', to: 2, port: 5, from: 1, fromPort: 3 });
  assert.deepEqual(drain(data[1]!.ports[0]!), [
    { t: 'signals', list: [2, 5, 1, 3] },
    { t: 'note', note: { k: 'closed', to: 2, port: 5, from: 1, fromPort: 3 } },
  ]);
});

test('a worker that ends: its domains leave the directory, the ports connected to them go UNBOUND everywhere', () => {
  const data = links(3);
  const main = new PvxLinks(data[0]!);
  const ha = new PvxHost<PvxDomain>();
  main.attach(ha);
  const a = new TestDomain(ha);
  a.registerShinfo();
  const dir = new Int32Array(data[0]!.directory);
  Atomics.store(dir, 7, 3); // domain 7 on thread 2
  const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [7]);
  servePvx(ha, { k: 'bind', to: 1, port: pa, from: 7, fromPort: 9 }); // as thread 2 would
  assert.equal(a.ok(F.EVTCHN_STATUS, [pa]) & 0xf, 2);
  main.threadGone(2);
  assert.equal(Atomics.load(dir, 7), 0);
  assert.equal(Atomics.load(dir, 1), 1, "the main thread's own domain stays");
  assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (7 << 16), 'UNBOUND for domain 7');
  assert.deepEqual(drain(data[1]!.ports[0]!), [{ t: 'note', note: { k: 'gone', id: 7 } }], 'worker 1 is told');
  assert.equal(a.call(F.EVTCHN_ALLOC_UNBOUND, [7]).error, SbiErr.INVALID_PARAM, 'domain 7 is no more');
});

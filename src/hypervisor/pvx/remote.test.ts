/**
 * The other side of PVX across threads (remote.ts): what a registry does with the requests and
 * notes of another thread's, and what it refuses. The guest-visible results of calls between
 * registries are the rows of errors.test.ts and the two-domain tests of pvx-domain.test.ts, run
 * with `splitDomains`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SbiErr } from '../../sbi/consts.js';
import { PvxFid as F, Gtf } from '../../sbi/pvx/consts.js';
import { type PvxReply, servePvx } from './remote.js';
import { At, splitDomains } from './testing.js';

const W = 0x4000_0000;

/** Domain 1 (a) with an UNBOUND port for 2, a grant table whose ref 0 grants At.PAGE to 2; domain 2 (b) bound to it. */
function linked() {
  const s = splitDomains();
  const { a, b } = s;
  a.registerShinfo();
  b.registerShinfo();
  const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
  const pb = b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, pa]);
  a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
  a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
  return { ...s, pa, pb };
}

/** Everything of domain `d`'s PVX state and RAM, to compare before and after. */
function snapshot(d: ReturnType<typeof linked>['a']): string {
  return Buffer.from(d.pvx.saveState()).toString('hex') + Buffer.from(d.env.ram.u8).toString('hex');
}

test('a grantee maps twice: the granter posts its RAM with the first map only', () => {
  const { b, hosts, links } = linked();
  b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
  b.ok(F.GNTTAB_MAP, [1, 0, W + 0x1000, 1]);
  const maps = links[1]!.sent.filter((m) => m.k === 'map');
  assert.equal(maps.length, 2);
  assert.equal((maps[0] as { have: number }).have, 0, 'the first holds none');
  const first = servePvx(hosts[0]!, maps[0]) as PvxReply; // answered again, as the first was
  assert.ok(first.memory !== undefined, 'the first reply carries the RAM');
  assert.equal((maps[1] as { have: number }).have, first.inc, 'the second names the RAM it holds');
  const again = servePvx(hosts[0]!, maps[1]) as PvxReply;
  assert.equal(again.err, 0);
  assert.equal(again.memory, undefined, 'and gets none');
});

test("'gone': ports connected to a domain whose thread ended go UNBOUND; others stay", () => {
  const { a, hosts, pa } = linked();
  const own = a.ok(F.EVTCHN_ALLOC_UNBOUND, [0x7ff0]);
  const loop = a.ok(F.EVTCHN_BIND_INTERDOMAIN, [0x7ff0, own]);
  servePvx(hosts[0]!, { k: 'gone', id: 2 });
  assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (2 << 16), 'UNBOUND for domain 2');
  assert.equal(a.ok(F.EVTCHN_STATUS, [loop]) & 0xf, 2, 'the loopback channel is untouched');
});

test("a grantee's unmap is answered before its call returns: the granter may end access at once", () => {
  // The interleaving of the pool under load: the grantee's thread unmaps, signals, prints; the
  // granter's thread has not run yet (its notes are held), and its guest ends access.
  const { a, b, links, pa, pb } = linked();
  b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
  assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS | Gtf.READING | Gtf.WRITING);
  links[1]!.held = [];
  b.ok(F.GNTTAB_UNMAP, [W]);
  b.ok(F.EVTCHN_SEND, [pb]);
  assert.deepEqual(
    links[1]!.sent.slice(-2).map((m) => m.k),
    ['unmap', 'signal'],
  );
  assert.equal(links[1]!.held.length, 1, 'only the signal waits');
  assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS, 'GTF_reading/writing cleared by the unmap');
  a.ok(F.GNTTAB_END_ACCESS, [0]);
  links[1]!.deliver();
  assert.ok(a.pending(pa));
  // A domain that ends lets go of its maps by notes: nobody waits for the granter then.
  a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
  b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
  links[1]!.held = [];
  b.pvx.grants.drop();
  assert.equal(a.call(F.GNTTAB_END_ACCESS, [0]).error, SbiErr.INVALID_STATE, 'the note has not arrived');
  links[1]!.deliver();
  a.ok(F.GNTTAB_END_ACCESS, [0]);
});

test('requests and notes that are not well formed, or name no domain here, change nothing and never throw', () => {
  const { a, b, hosts, pa, pb } = linked();
  b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
  // pending bits cleared: a hostile signal would set one, compared below
  a.setU64(At.SHINFO + 0x200, 0n);
  b.setU64(At.SHINFO + 0x200, 0n);
  const before = [snapshot(a), snapshot(b)];
  const bad: unknown[] = [
    null,
    42,
    'bind',
    {},
    { k: 'nothing', to: 1, from: 2 },
    { k: 'bind', to: 1, from: 2 },
    { k: 'bind', to: 1, from: 1, port: pa, fromPort: pb }, // from itself
    { k: 'bind', to: 3, from: 2, port: pa, fromPort: pb }, // no domain 3 here
    { k: 'bind', to: 1, from: 2, port: 1024, fromPort: 1 },
    { k: 'bind', to: 1, from: 2, port: pa, fromPort: -1 },
    { k: 'bind', to: 1, from: 2, port: pa, fromPort: 1.5 },
    { k: 'bind', to: 1, from: 2, port: '1', fromPort: 1 },
    { k: 'linked', to: 1, from: 2, port: 0, fromPort: pb },
    { k: 'map', to: 1, from: 2, ref: -1, ro: false, before: 0, after: 0, have: 0 },
    { k: 'map', to: 1, from: 2, ref: 0, ro: 1, before: 0, after: 0, have: 0 },
    { k: 'map', to: 1, from: 2, ref: 0, ro: false, before: 7, after: 0, have: 0 }, // not an error a caller passes on
    { k: 'map', to: 1, from: 2, ref: 0, ro: false, before: 0, after: -4, have: 0 },
    { k: 'map', to: 1, from: 2, ref: 2 ** 32, ro: false, before: 0, after: 0, have: 0 },
    { k: 'copy', to: 1, from: 2, ref: 0, offset: 4095, len: 2, toGrant: false, before: 0 },
    { k: 'copy', to: 1, from: 2, ref: 0, offset: 0, len: 0, toGrant: false, before: 0 },
    { k: 'copy', to: 1, from: 2, ref: 0, offset: 0, len: 8, toGrant: true, before: 0 }, // no data
    { k: 'copy', to: 1, from: 2, ref: 0, offset: 0, len: 8, toGrant: true, before: 0, data: new Uint8Array(7) },
    { k: 'copy', to: 1, from: 2, ref: 0, offset: 0, len: 8, toGrant: true, before: 0, data: [1, 2, 3, 4, 5, 6, 7, 8] },
    { k: 'signal', to: 1, from: 2, port: 0, fromPort: pb },
    { k: 'signal', to: 1, from: 3, port: pa, fromPort: pb }, // not the port's peer
    { k: 'signal', to: 1, from: 2, port: pa, fromPort: pb + 1 },
    { k: 'closed', to: 1, from: 2, port: pa, fromPort: pb + 1 },
    { k: 'closed', to: 1, from: 2, port: 5000, fromPort: pb },
    { k: 'unmapped', to: 1, from: 2, ref: 0, page: 2 ** 40, ro: false },
    { k: 'unmapped', to: 1, from: 2, ref: 0, page: 16, ro: 'no' },
    { k: 'unmap', to: 1, from: 2, ref: 0, page: 2 ** 40, ro: false },
    { k: 'unmap', to: 1, from: 2, ref: -1, page: 16, ro: false },
    { k: 'unmap', to: 1, from: 2, ref: 0, page: 16, ro: 'no' },
    { k: 'unmap', to: 3, from: 2, ref: 0, page: 16, ro: false }, // no domain 3 here
    { k: 'gone', id: 0 },
    { k: 'gone', id: 0x7ff0 },
  ];
  for (const m of bad) {
    const r = servePvx(hosts[0]!, m);
    const isRequest = ['bind', 'linked', 'map', 'copy', 'unmap'].includes((m as { k?: string } | null)?.k ?? '');
    if (isRequest) assert.ok(r !== undefined && r.err < 0, `refused: ${JSON.stringify(m)}`);
    else assert.equal(r, undefined);
  }
  assert.deepEqual([snapshot(a), snapshot(b)], before);
});

test('flooding a remote port: each send is one note, delivered as one pending bit', () => {
  const { a, b, links, pa, pb } = linked();
  b.unmaskVcpu(0);
  b.unmaskPort(pb);
  b.setU64(At.SHINFO + 0x200, 0n);
  b.setU8(At.SHINFO, 0);
  b.env.ssip[0] = false;
  for (let i = 0; i < 10_000; i++) a.ok(F.EVTCHN_SEND, [pa]);
  assert.ok(b.pending(pb));
  assert.equal(b.upcallPending(0), 1);
  assert.equal(links[0]!.sent.filter((m) => m.k === 'signal').length, 10_000);
});

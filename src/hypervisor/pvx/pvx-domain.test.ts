/**
 * What each PVX call does when its arguments are good: shared info, event
 * delivery (§4.3), event channels across domains (§5), grants (§6),
 * multicall (§7), sched (§8), balloon (§9), reset and destroy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPvmError } from '../../core/errors.js';
import { Eid, SbiErr } from '../../sbi/consts.js';
import { PvxFid as F, Gtf, PVX_EID } from '../../sbi/pvx/consts.js';
import { PvxHost } from './host.js';
import type { PvxDomain } from './pvx-domain.js';
import { At, RAM_BASE, RAM_SIZE, splitDomains, TestDomain, twoDomains } from './testing.js';

const W = 0x4000_0000;
const ALL = (1n << 64n) - 1n;

test('version, features, domain id and limits', () => {
  const { a, b } = twoDomains();
  assert.equal(a.ok(F.GET_VERSION), 0x0001_0000);
  assert.equal(a.ok(F.GET_FEATURES, [0]), 0x1ff);
  assert.equal(a.ok(F.GET_DOMID), 1);
  assert.equal(b.ok(F.GET_DOMID), 2);
  const limits = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => a.ok(F.GET_LIMIT, [i]));
  assert.deepEqual(limits, [1024, 4, 0x4000_0000, 0x0400_0000, 64, 2, 128, 512]);
  assert.equal(a.sbi.probe(BigInt(PVX_EID)), 1);
  assert.equal(a.sbi.probe(BigInt(PVX_EID + 1)), 0, 'only PVX_EID is registered');
  assert.deepEqual(a.sbi.stats.PVX, { get_version: 1, get_features: 1, get_domid: 1, get_limit: 8 });
});

test('shinfo registration writes the time fields and wall clock, each with an even version', () => {
  const { a } = twoDomains();
  a.env.time = 1_000 + 5_000; // 500 us after creation
  a.registerShinfo();
  for (const v of [0, 1]) {
    const t = At.SHINFO + 64 * v + 16;
    assert.equal(a.u32(t), 2, 'version went odd then even');
    assert.equal(a.u32(t + 4), 10_000_000);
    assert.equal(a.u64(t + 8), 6_000n);
    assert.equal(a.u64(t + 16), 500_000n);
  }
  assert.equal(a.u32(At.SHINFO + 0x300), 2);
  // wall clock at system time 0 = now - 500 us
  const boot = 1_700_000_000_123_456_789n - 500_000n;
  assert.equal(a.u64(At.SHINFO + 0x308), boot / 1_000_000_000n);
  assert.equal(a.u32(At.SHINFO + 0x310), Number(boot % 1_000_000_000n));
  assert.equal(a.u64(At.SHINFO + 0x318), BigInt(RAM_SIZE / 4096), 'balloon target = all frames');
  assert.equal(a.u8(At.SHINFO + 1), 1, 'upcall_mask left as the guest wrote it');
  // unregister and register elsewhere
  a.ok(F.SHINFO_SET, [ALL]);
  a.ok(F.SHINFO_SET, [At.BUF]);
});

test('an IPI port: delivery sets pending, selector and upcall_pending; SSIP only when unmasked', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  const p = a.ok(F.EVTCHN_BIND_IPI, [1]);
  assert.equal(p, 1);
  a.ok(F.EVTCHN_SEND, [p]);
  assert.ok(a.pending(p));
  assert.equal(a.upcallPending(1), 0, 'port masked: no upcall');
  assert.deepEqual(a.env.ssip, [false, false]);
  // guest clears pending, unmasks the port with its own write, vCPU still masked
  a.setU64(At.SHINFO + 0x200, 0n);
  a.unmaskPort(p);
  a.ok(F.EVTCHN_SEND, [p]);
  assert.equal(a.pendingSel(1), 1n);
  assert.equal(a.upcallPending(1), 1);
  assert.deepEqual(a.env.ssip, [false, false], 'upcall_mask = 1: no SSIP');
  // second send while pending: nothing more (events are level-like)
  a.setU8(At.SHINFO + 64, 0);
  a.ok(F.EVTCHN_SEND, [p]);
  assert.equal(a.upcallPending(1), 0);
  // guest handles it, unmasks the vCPU: the next send raises SSIP on vCPU 1
  a.setU64(At.SHINFO + 0x200, 0n);
  a.setU64(At.SHINFO + 64 + 8, 0n);
  a.unmaskVcpu(1);
  a.ok(F.EVTCHN_SEND, [p]);
  assert.deepEqual(a.env.ssip, [false, true]);
  assert.equal(a.ok(F.EVTCHN_STATUS, [p]), 4 | (1 << 4));
});

test('EVTCHN_UNMASK delivers a port that became pending while masked', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  a.unmaskVcpu(0);
  const p = a.ok(F.EVTCHN_BIND_IPI, [0]);
  a.ok(F.EVTCHN_SEND, [p]);
  assert.equal(a.upcallPending(0), 0);
  a.ok(F.EVTCHN_UNMASK, [p]);
  assert.equal(a.upcallPending(0), 1);
  assert.equal(a.env.ssip[0], true);
  assert.equal((a.u64(At.SHINFO + 0x280) >> BigInt(p)) & 1n, 0n, 'mask bit cleared');
});

// Between two domains in one registry, and in two registries as on two threads of the daemon's
// pool (remote.ts): the same results.
for (const [where, pair] of [
  ['one registry', twoDomains],
  ['two threads', splitDomains],
] as const) {
  test(`${where}: two domains: bind_interdomain + send raises the peer upcall, close sends it back to UNBOUND`, () => {
    const { a, b } = pair();
    a.registerShinfo();
    b.registerShinfo();
    b.unmaskVcpu(0);
    const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
    assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (2 << 16));
    const pb = b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, pa]);
    assert.ok(b.pending(pb), 'the new local port is pending at once');
    assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), Number(2n | (2n << 16n) | (BigInt(pb) << 32n)));
    assert.equal(b.ok(F.EVTCHN_STATUS, [pb]), Number(2n | (1n << 16n) | (BigInt(pa) << 32n)));
    b.unmaskPort(pb);
    b.setU64(At.SHINFO + 0x200, 0n);
    a.ok(F.EVTCHN_SEND, [pa]);
    assert.ok(b.pending(pb));
    assert.equal(b.upcallPending(0), 1);
    assert.equal(b.env.ssip[0], true);
    assert.equal(b.env.kicks, 1, 'the peer run loop is woken');
    assert.equal(a.pending(pa), false, 'the sender is not signalled');
    // b closes: a's port is UNBOUND for domain 2 again; sends do nothing
    b.ok(F.EVTCHN_CLOSE, [pb]);
    assert.equal(b.pending(pb), false, 'close clears the pending bit');
    assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (2 << 16));
    a.ok(F.EVTCHN_SEND, [pa]);
    assert.equal(b.ok(F.EVTCHN_STATUS, [pb]), 0);
    // and b can bind again
    assert.equal(b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, pa]), pb);
  });

  test(`${where}: a domain can only signal ports bound to it`, () => {
    const { a, b } = pair();
    a.registerShinfo();
    b.registerShinfo();
    b.unmaskVcpu(0);
    const pb = b.ok(F.EVTCHN_ALLOC_UNBOUND, [1]); // b's port 1, waiting for a
    b.unmaskPort(pb);
    // a names its own port numbers only: its port 1 is FREE
    assert.equal(a.call(F.EVTCHN_SEND, [pb]).error, SbiErr.INVALID_PARAM);
    // a port of a for domain 2 that b has not bound: success, nothing happens
    const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
    a.ok(F.EVTCHN_SEND, [pa]);
    assert.equal(b.pending(pb), false);
    assert.equal(b.upcallPending(0), 0);
    // a third domain cannot bind a port reserved for a
    const host = (a.pvx as unknown as { host: PvxHost<PvxDomain> }).host;
    const c = new TestDomain(host);
    c.registerShinfo();
    assert.equal(c.call(F.EVTCHN_BIND_INTERDOMAIN, [2, pb]).error, SbiErr.DENIED);
  });

  test(`${where}: loopback channel with DOMID_SELF`, () => {
    const { a } = pair();
    a.registerShinfo();
    const p1 = a.ok(F.EVTCHN_ALLOC_UNBOUND, [0x7ff0]);
    assert.equal(a.ok(F.EVTCHN_STATUS, [p1]), 1 | (1 << 16), 'DOMID_SELF stored as the real id');
    const p2 = a.ok(F.EVTCHN_BIND_INTERDOMAIN, [0x7ff0, p1]);
    a.setU64(At.SHINFO + 0x200, 0n);
    a.ok(F.EVTCHN_SEND, [p2]);
    assert.ok(a.pending(p1));
    assert.equal(a.pending(p2), false);
  });

  test(`${where}: destroying a domain: peer ports go UNBOUND, its id is gone, its window mappings are released`, () => {
    const { a, b } = pair();
    a.registerShinfo();
    b.registerShinfo();
    const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
    b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, pa]);
    a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
    a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
    b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
    b.pvx.destroy();
    assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (2 << 16));
    assert.equal(a.call(F.EVTCHN_ALLOC_UNBOUND, [2]).error, SbiErr.INVALID_PARAM);
    assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS, 'GTF_reading/writing cleared');
    a.ok(F.GNTTAB_END_ACCESS, [0]);
  });

  test(`${where}: grant copy both ways`, () => {
    const { a, b } = pair();
    a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 2]);
    a.grant(700, 2, At.PAGE, Gtf.PERMIT_ACCESS);
    a.env.ram.write((At.PAGE + 100) as never, new TextEncoder().encode('hello from domain 1'));
    assert.equal(b.ok(F.GNTTAB_COPY, [1, 700, 100, At.BUF, 19, 0]), 19);
    assert.equal(new TextDecoder().decode(b.env.ram.slice(At.BUF as never, 19)), 'hello from domain 1');
    b.env.ram.write(At.BUF as never, new TextEncoder().encode('HELLO'));
    assert.equal(b.ok(F.GNTTAB_COPY, [1, 700, 4091, At.BUF, 5, 1]), 5);
    assert.equal(new TextDecoder().decode(a.env.ram.slice((At.PAGE + 4091) as never, 5)), 'HELLO');
    // read-only grants can be copied from
    a.grant(701, 2, At.PAGE, Gtf.PERMIT_ACCESS | Gtf.READONLY);
    assert.equal(b.ok(F.GNTTAB_COPY, [1, 701, 0, At.BUF, 4096, 0]), 4096);
    // after END_ACCESS the grant is gone
    a.ok(F.GNTTAB_END_ACCESS, [700]);
    assert.equal(a.u16(At.GNTTAB + 8 * 700), 0);
    assert.equal(b.call(F.GNTTAB_COPY, [1, 700, 0, At.BUF, 1, 0]).error, SbiErr.DENIED);
    a.ok(F.GNTTAB_END_ACCESS, [700]); // idempotent
  });

  test(`${where}: grant map: the frame appears in the window; RO maps drop stores; flags and revoke rules`, () => {
    const { a, b } = pair();
    a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
    a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
    a.grant(1, 2, At.PAGE + 0x1000, Gtf.PERMIT_ACCESS | Gtf.READONLY);
    a.setU32(At.PAGE + 8, 0xdeadbeef);
    a.setU32(At.PAGE + 0x1000, 0x1234);
    const bus = b.pvx.window.over({ has: () => false, read: () => 0, write: () => {} });
    assert.equal(bus.has(W + 8), false, 'unmapped slots are holes');
    b.ok(F.GNTTAB_MAP, [1, 0, W + 0x3000, 0]);
    assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS | Gtf.READING | Gtf.WRITING);
    assert.equal(bus.has(W + 0x3008), true);
    assert.equal(bus.read(W + 0x3008, 4) >>> 0, 0xdeadbeef);
    assert.equal(bus.read(W + 0x3009, 1), 0xbe);
    bus.write(W + 0x3010, 2, 0xcafe);
    assert.equal(a.u16(At.PAGE + 0x10), 0xcafe, 'stores reach the granter');
    // read-only map
    b.ok(F.GNTTAB_MAP, [1, 1, W + 0x4000, 1]);
    assert.equal(a.u16(At.GNTTAB + 8), Gtf.PERMIT_ACCESS | Gtf.READONLY | Gtf.READING);
    assert.equal(bus.read(W + 0x4000, 4), 0x1234);
    bus.write(W + 0x4000, 4, 0);
    assert.equal(a.u32(At.PAGE + 0x1000), 0x1234, 'a store to a read-only map has no effect');
    assert.equal(b.pvx.window.droppedStores, 1);
    // RO map of a RW grant is allowed; the same grant twice
    b.ok(F.GNTTAB_MAP, [1, 0, W + 0x5000, 1]);
    assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS | Gtf.READING | Gtf.WRITING);
    // revoke rules
    assert.equal(a.call(F.GNTTAB_END_ACCESS, [0]).error, SbiErr.INVALID_STATE);
    b.ok(F.GNTTAB_UNMAP, [W + 0x3000]);
    assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS | Gtf.READING, 'only a read-only mapping is left');
    assert.equal(a.call(F.GNTTAB_END_ACCESS, [0]).error, SbiErr.INVALID_STATE);
    b.ok(F.GNTTAB_UNMAP, [W + 0x5000]);
    assert.equal(a.u16(At.GNTTAB), Gtf.PERMIT_ACCESS);
    assert.equal(bus.has(W + 0x3008), false);
    assert.ok(b.env.tlbFlushes >= 2, 'unmap flushes the grantee TLBs');
    a.ok(F.GNTTAB_END_ACCESS, [0]);
    assert.equal(a.u16(At.GNTTAB), 0);
    assert.equal(b.call(F.GNTTAB_MAP, [1, 0, W + 0x3000, 0]).error, SbiErr.DENIED);
    // clearing an entry while mapped leaves the mapping
    a.grant(2, 2, At.PAGE, Gtf.PERMIT_ACCESS);
    b.ok(F.GNTTAB_MAP, [1, 2, W, 0]);
    a.view.setUint16(a.off(At.GNTTAB + 16), 0, true);
    assert.equal(bus.read(W + 0x10, 2), 0xcafe);
  });

  test(`${where}: a granter destroyed while mapped: the page stays readable until the grantee unmaps`, () => {
    const { a, b } = pair();
    a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
    a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
    a.setU32(At.PAGE, 77);
    b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
    a.pvx.destroy();
    const bus = b.pvx.window.over({ has: () => false, read: () => 0, write: () => {} });
    assert.equal(bus.read(W, 4), 77);
    b.ok(F.GNTTAB_UNMAP, [W]);
    assert.equal(b.call(F.GNTTAB_MAP, [1, 0, W, 0]).error, SbiErr.INVALID_PARAM, 'domain 1 is gone');
  });
}

/** Write multicall entry i at At.MC. */
function mcEntry(d: TestDomain, i: number, eid: number, fid: number, args: (number | bigint)[] = []): void {
  const e = At.MC + 72 * i;
  d.setU32(e, eid);
  d.setU32(e + 4, fid);
  for (let k = 0; k < 6; k++) d.setU64(e + 8 + 8 * k, args[k] ?? 0);
  d.setU64(e + 56, 0x5555n);
  d.setU64(e + 64, 0x5555n);
}
const mcResult = (d: TestDomain, i: number) => [
  Number(BigInt.asIntN(64, d.u64(At.MC + 72 * i + 56))),
  d.u64(At.MC + 72 * i + 64),
];

test('multicall: each entry gets its own result; disallowed entries are NOT_SUPPORTED and the batch goes on', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  mcEntry(a, 0, PVX_EID, F.GET_DOMID);
  mcEntry(a, 1, Eid.RFENCE, 1, [3, 0, 0x1000, 0x2000]); // remote_sfence_vma on harts 0 and 1
  mcEntry(a, 2, PVX_EID, F.MULTICALL, [At.MC, 1]);
  mcEntry(a, 3, PVX_EID, F.SCHED_BLOCK);
  mcEntry(a, 4, PVX_EID, F.SCHED_YIELD);
  mcEntry(a, 5, PVX_EID, F.SCHED_POLL, [At.LIST, 1, ALL]);
  mcEntry(a, 6, Eid.HSM, 1); // hart_stop
  mcEntry(a, 7, Eid.LEGACY_CONSOLE_PUTCHAR, 0, [65]);
  mcEntry(a, 8, 0x1234_5678, 0);
  mcEntry(a, 9, PVX_EID, F.EVTCHN_BIND_IPI, [0]);
  mcEntry(a, 10, PVX_EID, F.EVTCHN_SEND, [1]); // uses the port made by entry 9
  mcEntry(a, 11, PVX_EID, 0x7ff);
  mcEntry(a, 12, Eid.BASE, 3, [PVX_EID]); // probe
  assert.equal(a.ok(F.MULTICALL, [At.MC, 13]), 13);
  const want = [
    [0, 1n],
    [0, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [0, 1n],
    [0, 0n],
    [SbiErr.NOT_SUPPORTED, 0n],
    [0, 1n],
  ];
  for (let i = 0; i < want.length; i++) assert.deepEqual(mcResult(a, i), want[i], `entry ${i}`);
  assert.deepEqual(a.platform.log, ['sfence 0 0x1000 0x2000', 'sfence 1 0x1000 0x2000']);
  assert.ok(a.pending(1), 'entry 10 ran after entry 9');
  assert.equal(a.env.yields, 0);
  assert.equal(a.env.blocked[0], false);
});

test('multicall stops after a SCHED_SHUTDOWN or SRST entry', () => {
  const { a } = twoDomains();
  mcEntry(a, 0, PVX_EID, F.SCHED_SHUTDOWN, [9]); // bad reason: not an end
  mcEntry(a, 1, PVX_EID, F.SCHED_SHUTDOWN, [2]);
  mcEntry(a, 2, PVX_EID, F.GET_DOMID);
  assert.equal(a.ok(F.MULTICALL, [At.MC, 3]), 2);
  assert.deepEqual(mcResult(a, 0), [SbiErr.INVALID_PARAM, 0n]);
  assert.deepEqual(mcResult(a, 2), [0x5555, 0x5555n], 'entry 2 never ran');
  assert.deepEqual(a.env.shutdowns, [2]);
  mcEntry(a, 0, Eid.SRST, 0, [0, 0]);
  mcEntry(a, 1, PVX_EID, F.GET_DOMID);
  assert.equal(a.ok(F.MULTICALL, [At.MC, 2]), 1);
  assert.deepEqual(a.platform.log, ['reset 0 0']);
});

test('sched block: unmasks, blocks until upcall_pending, returns at once when already pending', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  const p = a.ok(F.EVTCHN_BIND_IPI, [0]);
  a.unmaskPort(p);
  assert.equal(a.pvx.wakeable(0), undefined, 'not waiting in PVX');
  a.ok(F.SCHED_BLOCK);
  assert.equal(a.u8(At.SHINFO + 1), 0, 'upcall_mask cleared');
  assert.equal(a.env.blocked[0], true);
  assert.equal(a.pvx.wakeable(0), false);
  // the event arrives from vCPU 1
  a.ok(F.EVTCHN_SEND, [p], 1);
  assert.equal(a.env.ssip[0], true);
  assert.equal(a.pvx.wakeable(0), true);
  assert.equal(a.pvx.wakeable(0), undefined, 'woken once');
  // already pending: no block
  a.env.blocked[0] = false;
  a.setU8(At.SHINFO + 1, 1);
  a.ok(F.SCHED_BLOCK);
  assert.equal(a.env.blocked[0], false);
  // an enabled interrupt also ends the block, even with upcall_mask = 1
  a.setU8(At.SHINFO, 0);
  a.ok(F.SCHED_BLOCK);
  assert.equal(a.env.blocked[0], true);
  a.env.irq[0] = true;
  assert.equal(a.pvx.wakeable(0), true);
});

test('sched block wakes on upcall_pending even when the guest re-masked', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  const p = a.ok(F.EVTCHN_BIND_IPI, [0]);
  a.unmaskPort(p);
  a.ok(F.SCHED_BLOCK);
  a.setU8(At.SHINFO + 1, 1);
  a.ok(F.EVTCHN_SEND, [p], 1);
  assert.equal(a.env.ssip[0], false);
  assert.equal(a.pvx.wakeable(0), true);
});

test('sched poll: returns a pending port at once, blocks otherwise, ends on event or deadline', () => {
  const { a, b } = twoDomains();
  a.registerShinfo();
  b.registerShinfo();
  const p1 = a.ok(F.EVTCHN_BIND_IPI, [0]);
  const p2 = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
  const pb = b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, p2]);
  a.setU32(At.LIST, p1);
  a.setU32(At.LIST + 4, p2);
  a.setU64(At.SHINFO + 0x200, 0n);
  a.ok(F.EVTCHN_SEND, [p1]);
  assert.equal(a.ok(F.SCHED_POLL, [At.LIST, 2, ALL]), p1, 'masked ports count');
  a.setU64(At.SHINFO + 0x200, 0n);
  a.ok(F.SCHED_POLL, [At.LIST, 2, 5_000]);
  assert.equal(a.env.blocked[0], true);
  assert.equal(a.pvx.nextDeadline(), 5_000);
  assert.equal(a.pvx.wakeable(0), false);
  b.ok(F.EVTCHN_SEND, [pb]);
  assert.equal(a.pvx.wakeable(0), true);
  assert.deepEqual(a.env.results, [{ vcpu: 0, error: 0, value: BigInt(p2) }]);
  assert.ok(a.pending(p2), 'poll does not clear pending bits');
  // deadline
  a.setU64(At.SHINFO + 0x200, 0n);
  a.ok(F.SCHED_POLL, [At.LIST, 1, 5_000]);
  a.env.time = 5_000;
  assert.equal(a.pvx.wakeable(0), true);
  assert.deepEqual(a.env.results[1], { vcpu: 0, error: SbiErr.TIMEOUT, value: 0n });
  assert.equal(a.pvx.nextDeadline(), Number.POSITIVE_INFINITY);
});

test('PVX timer: fires VIRQ_TIMER once per set, at once when past, cancelled by ~0 and by closing the VIRQ', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  a.unmaskVcpu(1);
  const p = a.ok(F.EVTCHN_BIND_VIRQ, [0, 1]);
  a.unmaskPort(p);
  assert.equal(a.ok(F.EVTCHN_STATUS, [p]), 3 | (1 << 4));
  a.ok(F.TIMER_SET, [3_000], 1);
  assert.equal(a.pvx.nextDeadline(), 3_000);
  a.pvx.pollTimers(2_999);
  assert.equal(a.pending(p), false);
  a.pvx.pollTimers(3_000);
  assert.ok(a.pending(p));
  assert.equal(a.env.ssip[1], true);
  a.setU64(At.SHINFO + 0x200, 0n);
  a.pvx.pollTimers(9_000);
  assert.equal(a.pending(p), false, 'one shot');
  a.ok(F.TIMER_SET, [10], 1);
  assert.ok(a.pending(p), 'a past deadline fires at once');
  a.setU64(At.SHINFO + 0x200, 0n);
  a.ok(F.TIMER_SET, [5_000], 1);
  a.ok(F.TIMER_SET, [ALL], 1);
  a.pvx.pollTimers(1e12);
  assert.equal(a.pending(p), false, '~0 cancels');
  a.ok(F.TIMER_SET, [5_000], 1);
  a.ok(F.EVTCHN_CLOSE, [p]);
  assert.equal(a.pvx.nextDeadline(), Number.POSITIVE_INFINITY, 'closing the VIRQ cancels the timer');
  assert.equal(a.call(F.TIMER_SET, [5_000], 1).error, SbiErr.INVALID_STATE);
});

test('PVX timer: a deadline due by the last clock reading fires at once, a later past one at the next poll', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  a.unmaskVcpu(1);
  const p = a.ok(F.EVTCHN_BIND_VIRQ, [0, 1]);
  a.unmaskPort(p);
  a.env.time = 1_000;
  a.env.lag = 400; // last reading 600
  a.ok(F.TIMER_SET, [600], 1);
  assert.ok(a.pending(p), 'due by the last reading');
  a.setU64(At.SHINFO + 0x200, 0n);
  a.ok(F.TIMER_SET, [601], 1);
  assert.equal(a.pending(p), false, 'no clock read on the call');
  assert.equal(a.pvx.nextDeadline(), 601);
  a.pvx.pollTimers(a.env.now());
  assert.ok(a.pending(p), "the run loop's poll fires it");
});

test('console, shutdown-request and memory-target VIRQs', () => {
  const { a } = twoDomains();
  a.registerShinfo();
  a.unmaskVcpu(0);
  const pc = a.ok(F.EVTCHN_BIND_VIRQ, [1, 0]);
  assert.equal(a.env.console, true, 'console input is routed to the SBI console');
  const pm = a.ok(F.EVTCHN_BIND_VIRQ, [3, 0]);
  assert.equal(a.pvx.requestShutdown(1), false, 'not listening yet');
  const ps = a.ok(F.EVTCHN_BIND_VIRQ, [2, 0]);
  a.pvx.consoleInput();
  assert.equal(a.pvx.requestShutdown(2), true);
  a.pvx.setMemTarget(100);
  assert.ok(a.pending(pc) && a.pending(ps) && a.pending(pm));
  assert.equal(a.u32(At.SHINFO + 0x314), 2);
  assert.equal(a.u64(At.SHINFO + 0x318), 100n);
  assert.equal(a.ok(F.MEMORY_RESERVATION, [2]), 100);
  a.ok(F.SCHED_SHUTDOWN, [1]);
  assert.deepEqual(a.env.shutdowns, [1]);
});

test('balloon: decrease zeroes and releases frames, increase repopulates, errors stop with progress', () => {
  const { a } = twoDomains();
  const max = RAM_SIZE / 4096;
  const f1 = At.PAGE / 4096;
  a.setU32(At.PAGE, 0xffff_ffff);
  a.setU64(At.LIST, f1);
  a.setU64(At.LIST + 8, f1 + 1);
  assert.equal(a.ok(F.MEMORY_DECREASE, [At.LIST, 2]), 2);
  assert.equal(a.u32(At.PAGE), 0);
  assert.equal(a.ok(F.MEMORY_RESERVATION, [0]), max - 2);
  assert.equal(a.ok(F.MEMORY_RESERVATION, [1]), max);
  // entry 1 already released: entry 0 takes effect, a1 = 1
  a.setU64(At.LIST, f1 + 2);
  const r = a.call(F.MEMORY_DECREASE, [At.LIST, 2]);
  assert.deepEqual(r, { error: SbiErr.INVALID_STATE, value: 1n });
  assert.equal(a.ok(F.MEMORY_RESERVATION, [0]), max - 3);
  a.setU64(At.LIST, f1);
  a.setU64(At.LIST + 8, RAM_BASE / 4096 + max);
  assert.deepEqual(a.call(F.MEMORY_INCREASE, [At.LIST, 2]), { error: SbiErr.INVALID_ADDRESS, value: 1n });
  assert.equal(a.ok(F.MEMORY_RESERVATION, [0]), max - 2);
});

test('reset drops all PVX state; peers see their ports UNBOUND', () => {
  const { a, b } = twoDomains();
  a.registerShinfo();
  b.registerShinfo();
  const pa = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
  b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, pa]);
  b.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
  b.ok(F.EVTCHN_SEND, [b.ok(F.EVTCHN_BIND_IPI, [0])]);
  // the loader has rewritten RAM before the reset hook runs: the reset must not touch it
  b.env.ram.u8.fill(0xa5);
  b.pvx.reset();
  assert.ok(
    b.env.ram.u8.every((x) => x === 0xa5),
    'reset wrote nothing into the reloaded RAM',
  );
  assert.equal(a.ok(F.EVTCHN_STATUS, [pa]), 1 | (2 << 16));
  assert.equal(b.call(F.EVTCHN_STATUS, [1]).error, SbiErr.NO_SHMEM);
  assert.equal(b.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]), 512, 'the grant table is gone too');
  assert.equal(b.ok(F.GET_DOMID), 2, 'a reboot keeps the domain id');
});

test('PvxHost gives the lowest free id and forgets destroyed domains', () => {
  const host = new PvxHost<PvxDomain>();
  const d1 = new TestDomain(host);
  const d2 = new TestDomain(host);
  d1.pvx.destroy();
  const d3 = new TestDomain(host);
  assert.deepEqual([d2.pvx.id, d3.pvx.id], [2, 1]);
  assert.deepEqual(host.ids(), [1, 2]);
});

test('PvxHost: a requested domain id is taken when free and refused when used or out of range', () => {
  const host = new PvxHost<PvxDomain>();
  const d = new TestDomain(host, 1, 40);
  assert.equal(d.ok(F.GET_DOMID), 40);
  assert.equal(new TestDomain(host).pvx.id, 1);
  for (const bad of [40, 0, 0x7ff0, 1.5]) {
    assert.throws(
      () => new TestDomain(host, 1, bad),
      (e: unknown) => isPvmError(e) && e.kind === 'state',
    );
  }
  assert.deepEqual(host.ids(), [1, 40]);
});

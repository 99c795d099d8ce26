/** PVX state in a snapshot (PvxDomain.saveState / readState / loadState, docs/para-api-pvx.md §1.4, §11.10). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeState, isSnapshotError } from '../../core/state.js';
import { SbiErr } from '../../sbi/consts.js';
import { PvxFid as F } from '../../sbi/pvx/consts.js';
import { PvxHost } from './host.js';
import { type PvxDomain, type PvxState, pvxStateCodec, pvxStateDomid } from './pvx-domain.js';
import { At, TestDomain, twoDomains } from './testing.js';

/** A domain with one of everything: VIRQ, IPI, loopback pair, a channel to domain 2, timer, poll, grant table, balloon. */
function busyDomain() {
  const { a, b } = twoDomains();
  a.registerShinfo();
  b.registerShinfo();
  const timer = a.ok(F.EVTCHN_BIND_VIRQ, [0, 1]); // 1
  const ipi = a.ok(F.EVTCHN_BIND_IPI, [0]); // 2
  const lo1 = a.ok(F.EVTCHN_ALLOC_UNBOUND, [0x7ff0]); // 3
  const lo2 = a.ok(F.EVTCHN_BIND_INTERDOMAIN, [0x7ff0, lo1]); // 4
  const toB = a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]); // 5
  b.ok(F.EVTCHN_BIND_INTERDOMAIN, [1, toB]);
  a.ok(F.TIMER_SET, [7_000], 1);
  a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 2]);
  a.setU64(At.LIST, At.PAGE / 4096);
  a.ok(F.MEMORY_DECREASE, [At.LIST, 1]);
  a.setU32(At.BUF, ipi);
  a.setU64(At.SHINFO + 0x200, 0n);
  a.ok(F.SCHED_POLL, [At.BUF, 1, 9_000]);
  return { a, b, ports: { timer, ipi, lo1, lo2, toB } };
}

test('PVX state survives save and load into a fresh domain (RAM restored separately)', () => {
  const { a, ports } = busyDomain();
  a.env.time = 3_000;
  const blob = a.pvx.saveState();
  const host = new PvxHost<PvxDomain>();
  const r = new TestDomain(host);
  r.env.ram.u8.set(a.env.ram.u8);
  r.env.time = 3_000; // the restored board's time CSR continues where it was saved
  r.pvx.loadState(r.pvx.readState(blob));
  const afterLoad = Buffer.from(r.env.ram.u8);
  const status = (p: number) => r.ok(F.EVTCHN_STATUS, [p]);
  assert.equal(status(ports.timer), 3 | (1 << 4));
  assert.equal(status(ports.ipi), 4);
  assert.equal(status(ports.lo1), Number(2n | (1n << 16n) | (BigInt(ports.lo2) << 32n)));
  assert.equal(status(ports.toB), 1 | (2 << 16), 'the channel to a domain that is not here is UNBOUND');
  assert.equal(r.call(F.EVTCHN_BIND_VIRQ, [0, 1]).error, SbiErr.ALREADY_AVAILABLE);
  assert.equal(r.call(F.GNTTAB_SETUP, [At.GNTTAB, 1]).error, SbiErr.ALREADY_AVAILABLE);
  assert.equal(r.ok(F.GNTTAB_END_ACCESS, [1023]), 0, 'two frames of entries');
  assert.equal(r.ok(F.MEMORY_RESERVATION, [0]), 255);
  assert.equal(r.pvx.nextDeadline(), 7_000);
  // the waiting poll ends when its port becomes pending
  assert.equal(r.pvx.wakeable(0), false);
  r.ok(F.EVTCHN_SEND, [ports.ipi], 1);
  assert.equal(r.pvx.wakeable(0), true);
  assert.deepEqual(r.env.results, [{ vcpu: 0, error: 0, value: BigInt(ports.ipi) }]);
  // System time continues (2000 ticks had passed at save): the time fields written at
  // registration still give it, so they are left as they were, version and all (a save ->
  // restore -> save gives the same bytes).
  assert.ok(afterLoad.equals(Buffer.from(a.env.ram.u8)), 'RAM as saved');

  // Fields that no longer hold (the guest wrote over them) are written again, version + 2.
  const t = new TestDomain(new PvxHost<PvxDomain>());
  t.env.ram.u8.set(a.env.ram.u8);
  t.env.time = 3_000;
  t.setU64(At.SHINFO + 16 + 16, 5n);
  t.pvx.loadState(t.pvx.readState(blob));
  assert.equal(t.u32(At.SHINFO + 16), a.u32(At.SHINFO + 16) + 2);
  assert.equal(t.u64(At.SHINFO + 16 + 16), 200_000n);
  assert.equal(t.u64(At.SHINFO + 16 + 8), 3_000n);
});

test('a snapshot blob that does not fit is refused without changing anything', () => {
  const { a } = busyDomain();
  const good = a.pvx.saveState();
  assert.equal(pvxStateDomid(good), 1);
  const host = new PvxHost<PvxDomain>();
  const one = new TestDomain(host, 1);
  const refuse = (d: TestDomain, blob: Uint8Array, why: RegExp) =>
    assert.throws(
      () => d.pvx.loadState(d.pvx.readState(blob)),
      (e: unknown) => isSnapshotError(e) && e.kind === 'image' && why.test(e.message),
    );
  refuse(one, Uint8Array.of(1, 2, 3), /PVX state in the snapshot is not readable: vCPU count needs 4 bytes/);
  refuse(one, good, /PVX state in the snapshot does not fit this domain: saved for 2 vCPUs and 256 frames/);
  const two = new TestDomain(host);
  const s = two.pvx.readState(good);
  const edit = (change: (s: PvxState) => PvxState) => encodeState(pvxStateCodec, change(s));
  const cases: [Uint8Array, RegExp][] = [
    [edit((s) => ({ ...s, shinfo: 4097 })), /shared info page offset 4097 is not page-aligned/],
    [edit((s) => ({ ...s, shinfo: null })), /open ports without a shared info page/],
    [edit((s) => ({ ...s, sched: [{ ...s.sched[0]!, wait: 7 as 0 }, s.sched[1]!] })), /wait is 7, not one of 0, 1, 2/],
    [
      edit((s) => ({ ...s, sched: [{ ...s.sched[0]!, pollPorts: [5000] }, s.sched[1]!] })),
      /poll port is 5000, not 0..1023/,
    ],
    [edit((s) => ({ ...s, memory: { ...s.memory, released: [999_999] } })), /released page is 999999, not 0..255/],
    [edit((s) => ({ ...s, events: [s.events[1]!, s.events[0]!] })), /port 1 is out of order/],
    [edit((s) => ({ ...s, domid: 0 })), /domain id 0/],
    [edit((s) => ({ ...s, shutdownRequest: 3 })), /shutdown request is 3, not one of 0, 1, 2/],
    [edit((s) => ({ ...s, systemTicks: -1 })), /system time is -1, not 0\.\./],
    // A port record naming the same port twice, or a vCPU the domain does not have.
    [edit((s) => ({ ...s, events: [s.events[0]!, s.events[0]!] })), /port \d+ is out of order/],
    [edit((s) => ({ ...s, events: [{ ...s.events[0]!, vcpu: 2 }] })), /notifies vCPU 2, the domain has 2/],
    [Uint8Array.of(...good, 0), /1 unexpected bytes at the end/],
  ];
  for (const [blob, why] of cases) refuse(two, blob, why);
  assert.equal(two.call(F.EVTCHN_STATUS, [1]).error, SbiErr.NO_SHMEM, 'nothing was loaded');
});

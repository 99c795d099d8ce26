/**
 * PVX inside the domain's run loop (the hooks in domain.ts), with scripted
 * fake harts: SCHED_BLOCK idles the host until the PVX timer fires, SCHED_POLL
 * ends at its deadline, SCHED_YIELD ends the slice, SCHED_SHUTDOWN ends the
 * domain with the reason's exit code, and the domain leaves the PvxHost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestRam } from '../../memory/ram.js';
import { SbiErr } from '../../sbi/consts.js';
import { PvxFid as F, PVX_EID } from '../../sbi/pvx/consts.js';
import { type BootPlan, Domain, type DomainMachine } from '../domain.js';
import { ClockHost, ScriptedHart } from '../testing.js';
import { attachPvx } from './attach.js';
import { GrantWindow } from './grant-window.js';
import { PvxHost } from './host.js';
import type { PvxDomain } from './pvx-domain.js';

const SHINFO = 0x8000_1000;
const LIST = 0x8000_2000;
type Step = { pvx: [number, ...(number | bigint)[]] } | { check: (h: ScriptedHart<Step>, ram: GuestRam) => void };

function makeDomain(script: Step[], pvxHost = new PvxHost<PvxDomain>()) {
  const host = new ClockHost();
  const ram = new GuestRam(0x8000_0000, 0x10_0000);
  const hart = new ScriptedHart<Step>(
    0,
    script,
    (h, s) => {
      if ('check' in s) {
        s.check(h, ram);
        return undefined;
      }
      const [fid, ...args] = s.pvx;
      return h.ecall(
        PVX_EID,
        fid,
        Array.from({ length: 6 }, (_, i) => args[i] ?? 0),
      );
    },
    { priv: 1, virtualM: true },
  );
  const machine: DomainMachine = {
    ram,
    harts: [hart],
    time: { now: () => Math.floor(host.clockMs * 10_000) },
    updateTimers: () => {},
    nextDeadline: () => Number.POSITIVE_INFINITY,
    uartInput: (b) => b.length,
    mmioCounts: () => ({}),
    reset: () => {},
  };
  const plan: BootPlan = { load: () => {}, entry: 0x8020_0000, fdt: 0x803f_0000 };
  const d = new Domain('pv', machine, host, plan);
  attachPvx(d, new GrantWindow(), { host: pvxHost, wallClockNs: () => 0n });
  return { d, hart, idles: host.idles, pvxHost };
}

/** Guest-side setup: shared info with vCPU and every port masked, then the timer VIRQ bound and unmasked. */
const setup: Step[] = [
  {
    check: (_h, ram) => {
      ram.writeU8((SHINFO + 1) as never, 1);
      for (let w = 0; w < 16; w++) ram.writeBigU64((SHINFO + 0x280 + 8 * w) as never, (1n << 64n) - 1n);
    },
  },
  { pvx: [F.SHINFO_SET, SHINFO] },
  { pvx: [F.EVTCHN_BIND_VIRQ, 0, 0] }, // port 1
  { check: (_h, ram) => ram.writeBigU64((SHINFO + 0x280) as never, ~2n & ((1n << 64n) - 1n)) },
];

test('SCHED_BLOCK idles the host until the PVX timer fires, then the upcall is pending and raised', async () => {
  const { d, hart, idles, pvxHost } = makeDomain([
    ...setup,
    { pvx: [F.TIMER_SET, 50_000] }, // 5 ms
    { pvx: [F.SCHED_BLOCK] },
    {
      check: (h, ram) => {
        assert.equal(ram.readU8((SHINFO + 1) as never), 0, 'SCHED_BLOCK cleared upcall_mask');
        assert.equal(ram.readU8(SHINFO as never), 1, 'upcall_pending');
        assert.equal(h.mip & 2, 2, 'SSIP raised');
        assert.equal(h.regs[10], 0n, 'SCHED_BLOCK returned 0');
      },
    },
    { pvx: [F.SCHED_SHUTDOWN, 0] },
  ]);
  assert.deepEqual(pvxHost.ids(), [1]);
  const end = await d.run();
  assert.deepEqual(end, { kind: 'poweroff', code: 0 });
  assert.deepEqual(idles, [5], 'one idle sleep, bounded by the PVX deadline');
  assert.equal(hart.script.length, 0);
  assert.deepEqual(pvxHost.ids(), [], 'the ended domain left the registry');
  assert.equal(d.sbi.stats.PVX?.sched_block, 1);
});

test('SCHED_POLL times out at its deadline with a0 = TIMEOUT', async () => {
  const { d, idles } = makeDomain([
    ...setup,
    { check: (_h, ram) => ram.writeU32(LIST as never, 1) },
    { pvx: [F.SCHED_POLL, LIST, 1, 20_000] }, // 2 ms
    {
      check: (h) => {
        assert.equal(BigInt.asIntN(64, h.regs[10]!), BigInt(SbiErr.TIMEOUT));
        assert.equal(h.regs[11], 0n);
      },
    },
    { pvx: [F.SCHED_SHUTDOWN, 3] },
  ]);
  const end = await d.run();
  assert.deepEqual(idles, [2]);
  assert.equal(end.kind, 'fail');
  assert.equal(end.code, 2, 'watchdog exits with 2');
});

test('SCHED_YIELD ends the slice; crash exits with 1', async () => {
  const { d, hart } = makeDomain([{ pvx: [F.SCHED_YIELD] }, { pvx: [F.SCHED_SHUTDOWN, 2] }]);
  const end = await d.run();
  assert.equal(hart.stops, 1);
  assert.equal(end.kind, 'fail');
  assert.equal(end.code, 1);
});

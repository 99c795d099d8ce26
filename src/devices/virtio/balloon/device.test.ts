import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gpa } from '../../../core/types.js';
import { GuestRam } from '../../../memory/ram.js';
import { bit, Interrupt, MmioReg } from '../constants.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver } from '../mock-driver.js';
import { BalloonConfig, BalloonFeature, VirtioBalloon } from './device.js';

const BASE = 0x8000_0000;
const PFN0 = BASE / 4096;

function setup(deflateOnOom = false) {
  const ram = new GuestRam(BASE, 0x40_0000);
  const inflated: Gpa[][] = [];
  const deflated: Gpa[][] = [];
  const reports: Record<string, number>[] = [];
  const balloon = new VirtioBalloon({
    inflated: (p) => inflated.push([...p]),
    deflated: (p) => deflated.push([...p]),
    statistics: (s) => reports.push({ ...s }),
    deflateOnOom,
    queueSize: 16,
  });
  const mmio = new VirtioMmio(balloon, ram, { set() {} });
  const drv = new MockDriver(ram, mmio);
  const [inf, def, st] = drv.start([16, 16, 16]);
  return { ram, balloon, mmio, drv, inf: inf!, def: def!, st: st!, inflated, deflated, reports };
}

const pfns = (...n: number[]) => {
  const b = new Uint8Array(4 * n.length);
  const v = new DataView(b.buffer);
  n.forEach((x, i) => {
    v.setUint32(4 * i, x, true);
  });
  return b;
};

test('balloon: the host target appears in num_pages with a config interrupt', () => {
  const e = setup();
  e.drv.ack();
  e.balloon.setTargetBytes(1 << 20);
  assert.equal(e.mmio.read(MmioReg.CONFIG + BalloonConfig.NUM_PAGES, 4), 256);
  assert.equal(e.drv.ack(), Interrupt.CONFIG_CHANGE);
  e.mmio.write(MmioReg.CONFIG + BalloonConfig.ACTUAL, 4, 3);
  assert.equal(e.balloon.actual, 3);
  e.mmio.write(MmioReg.CONFIG + BalloonConfig.NUM_PAGES, 4, 7); // read-only for the driver
  assert.equal(e.balloon.target, 256);
});

test('balloon inflate reports pages, deflate gives them back', () => {
  const e = setup();
  const list = e.drv.put(pfns(PFN0 + 10, PFN0 + 11, PFN0 + 12));
  e.inf.add([{ addr: list, len: 12 }]);
  e.inf.kick();
  assert.deepEqual(e.inf.takeUsed(), [{ id: 0, len: 0 }]);
  assert.deepEqual(e.inflated, [[BASE + 10 * 4096, BASE + 11 * 4096, BASE + 12 * 4096]]);
  assert.equal(e.balloon.ballooned, 3);
  e.def.add([{ addr: e.drv.put(pfns(PFN0 + 11, PFN0 + 99)), len: 8 }]);
  e.def.kick();
  assert.deepEqual(e.deflated, [[BASE + 11 * 4096]]); // 99 was never ballooned
  assert.equal(e.balloon.ballooned, 2);
});

test('balloon: frames outside RAM and repeated frames are not reported', () => {
  const e = setup();
  e.inf.add([{ addr: e.drv.put(pfns(0, PFN0 + 0x400, PFN0 + 5, PFN0 + 5, 0xffff_ffff)), len: 20 }]);
  e.inf.kick();
  assert.deepEqual(e.inflated, [[BASE + 5 * 4096]]);
  assert.equal(e.balloon.stats.invalidPages, 3);
});

test('balloon: malformed page lists are errors, the device goes on', () => {
  const e = setup();
  e.inf.add([{ addr: e.drv.put(pfns(PFN0 + 1)), len: 3 }]);
  e.inf.add([
    { addr: e.drv.put(pfns(PFN0 + 2)), len: 4 },
    { addr: e.drv.alloc(4), len: 4, write: true },
  ]);
  e.inf.add([{ addr: e.drv.put(pfns(PFN0 + 3)), len: 4 }]);
  e.inf.kick();
  assert.equal(e.inf.takeUsed().length, 3);
  assert.equal(e.balloon.stats.errors, 2);
  assert.deepEqual(e.inflated, [[BASE + 3 * 4096]]);
  assert.equal(e.drv.needsReset, false);
});

test('balloon: a reset returns every ballooned page', () => {
  const e = setup();
  e.inf.add([{ addr: e.drv.put(pfns(PFN0 + 7, PFN0 + 3)), len: 8 }]);
  e.inf.kick();
  e.drv.w32(MmioReg.STATUS, 0);
  assert.deepEqual(e.deflated, [[BASE + 3 * 4096, BASE + 7 * 4096]]);
  assert.equal(e.balloon.ballooned, 0);
});

test('balloon: features, and state round trip', () => {
  assert.equal(setup().drv.deviceFeatures() & bit(BalloonFeature.DEFLATE_ON_OOM), 0n);
  const e = setup(true);
  assert.equal(e.drv.deviceFeatures() & bit(BalloonFeature.DEFLATE_ON_OOM), bit(BalloonFeature.DEFLATE_ON_OOM));
  e.balloon.setTarget(5);
  e.inf.add([{ addr: e.drv.put(pfns(PFN0 + 9, PFN0 + 4)), len: 8 }]);
  e.inf.kick();
  const saved = e.balloon.state.save();
  assert.deepEqual(saved, { target: 5, actual: 0, frames: [PFN0 + 4, PFN0 + 9] });
  const f = setup();
  f.balloon.state.load(saved);
  assert.equal(f.balloon.ballooned, 2);
  assert.equal(f.balloon.target, 5);
  assert.deepEqual(f.balloon.state.save(), saved);
});

test('balloon statistics: the driver primes the queue, the host asks, the driver refills', () => {
  const e = setup();
  const stats = (free: number) => {
    const b = new Uint8Array(20);
    const v = new DataView(b.buffer);
    v.setUint16(0, 4, true); // MEMFREE
    v.setUint32(2, free, true);
    v.setUint16(10, 5, true); // MEMTOT
    v.setUint32(12, 0, true);
    v.setUint32(16, 1, true); // 2^32 + 0
    return b;
  };
  const buf = e.drv.put(stats(1000));
  e.st.add([{ addr: buf, len: 20 }]);
  e.st.kick();
  assert.deepEqual(e.reports, [{ freeMemory: 1000, totalMemory: 2 ** 32 }]);
  assert.equal(e.st.usedIdx, 0); // the device keeps the buffer
  assert.equal(e.balloon.requestStats(), true);
  assert.equal(e.balloon.requestStats(), false); // already asked
  assert.deepEqual(e.st.takeUsed(), [{ id: 0, len: 0 }]);
  e.ram.write(buf, stats(500));
  e.st.add([{ addr: buf, len: 20 }]);
  e.st.kick();
  assert.equal(e.balloon.guestStats.freeMemory, 500);
  assert.equal(e.reports.length, 2);
});

/** The grant window as the hart sees it: loads and stores reach the granter's page; holes and RO stores fault (§6.4). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr } from '../../cpu/arch.js';
import { Hart } from '../../cpu/hart.js';
import { A, li64, Prog } from '../../cpu/test-asm.js';
import { HALT, LogBus, MMIO_BASE, RAM_BASE, TestRam } from '../../cpu/test-util.js';
import { GuestRam } from '../../memory/ram.js';
import { GrantWindow } from './grant-window.js';

const W = 0x4000_0000;
const MCAUSE = 0x342;
const MTVAL = 0x343;
const LOAD_ACCESS = 5n;
const STORE_ACCESS = 7n;

/** A hart in M-mode whose bus is `window` in front of a logging MMIO bus; a trap ends at HALT. */
function run(window: GrantWindow, insns: number[]) {
  const ram = new TestRam();
  const bus = new LogBus();
  const hart = new Hart(ram, window.over(bus), {});
  hart.reset(BigInt(RAM_BASE), 3);
  ram.load(RAM_BASE, new Prog().i(...insns, 0x00100073).toBytes()); // ... ebreak
  ram.load(HALT, new Prog().i(0x10500073, 0xffdff06f).toBytes()); // wfi; j .-4
  hart.setCsr(Csr.mtvec, BigInt(HALT));
  hart.run(1000);
  return { hart, bus, cause: hart.getCsr(MCAUSE), tval: hart.getCsr(MTVAL) };
}

function mapped() {
  const granter = new GuestRam(RAM_BASE, 1 << 16);
  granter.view.setBigUint64(0x2008, 0x1122334455667788n, true);
  const w = new GrantWindow();
  const common = { ram: granter, granter: 1, ref: 0, release: () => {} };
  w.slots.set(3, { ...common, off: 0x2000, readonly: false });
  w.slots.set(4, { ...common, off: 0x2000, readonly: true });
  return { w, granter };
}

test('loads and stores through a read-write slot reach the granter page', () => {
  const { w, granter } = mapped();
  const r = run(w, [...li64(11, BigInt(W + 0x3000)), A.ld(7, 11, 8), A.sd(7, 11, 16), A.sb(7, 11, 31)]);
  assert.equal(r.cause, 3n, 'ran to the ebreak');
  assert.equal(r.hart.getX(7), 0x1122334455667788n);
  assert.equal(granter.view.getBigUint64(0x2010, true), 0x1122334455667788n);
  assert.equal(granter.u8[0x201f], 0x88);
  assert.deepEqual(r.bus.writes, [], 'nothing reached the MMIO bus');
});

test('a store to a read-only slot is a store access fault; loads work', () => {
  const { w, granter } = mapped();
  const r = run(w, [...li64(11, BigInt(W + 0x4000)), A.ld(7, 11, 8), A.sw(7, 11, 12)]);
  assert.equal(r.hart.getX(7), 0x1122334455667788n);
  assert.equal(r.cause, STORE_ACCESS);
  assert.equal(r.tval, BigInt(W + 0x400c));
  assert.equal(granter.view.getUint32(0x200c, true), 0x11223344, 'the granter page is unchanged');
  assert.equal(w.droppedStores, 0, 'the store never reached the window');
});

test('unmapped slots are holes: loads and stores fault', () => {
  const { w } = mapped();
  assert.equal(run(w, [...li64(11, BigInt(W + 0x5000)), A.lw(7, 11, 0)]).cause, LOAD_ACCESS);
  const s = run(w, [...li64(11, BigInt(W)), A.sh(7, 11, 2)]);
  assert.equal(s.cause, STORE_ACCESS);
  assert.equal(s.tval, BigInt(W + 2));
});

test('addresses outside the window still reach the MMIO bus', () => {
  const { w } = mapped();
  const r = run(w, [...li64(11, BigInt(MMIO_BASE)), A.lw(7, 11, 0), A.sw(7, 11, 4)]);
  assert.equal(r.cause, 3n);
  assert.equal(r.hart.getX(7), 0x11223344n);
  assert.deepEqual(r.bus.writes, [[MMIO_BASE + 4, 4, 0x11223344]]);
});

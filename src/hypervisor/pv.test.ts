import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr } from '../cpu/arch.js';
import { Hart } from '../cpu/hart.js';
import { EMPTY_BUS } from '../cpu/types.js';
import { GuestRam } from '../memory/ram.js';
import { enterSupervisor, PV_MEDELEG, PV_MIDELEG, redirectToSupervisor } from './pv.js';

const hart = () => new Hart(new GuestRam(0x8000_0000, 0x10_0000), EMPTY_BUS, { virtualM: true });

test('PV delegation is what OpenSBI 1.x delegates', () => {
  assert.equal(PV_MEDELEG, 0xb109);
  assert.equal(PV_MIDELEG, 0x222);
});

test('enterSupervisor: S-mode at pc, a0/a1, satp 0, SIE 0, delegation and counters set', () => {
  const h = hart();
  h.setCsr(Csr.satp, (8n << 60n) | 5n);
  enterSupervisor(h, 0x8020_0000n, 1n, 0x8fe0_0000n);
  assert.equal(h.priv, 1);
  assert.equal(h.getPc(), 0x8020_0000n);
  assert.equal(h.getX(10), 1n);
  assert.equal(h.getX(11), 0x8fe0_0000n);
  assert.equal(h.getCsr(Csr.satp), 0n);
  assert.equal(h.getCsr(Csr.sstatus) & 2n, 0n);
  assert.equal(h.getCsr(Csr.medeleg), 0xb109n);
  assert.equal(h.getCsr(Csr.mideleg), 0x222n);
  assert.equal(h.getCsr(Csr.mcounteren), 7n);
  assert.equal(h.getCsr(Csr.scounteren), 7n);
  assert.equal(h.virtualM, true);
});

test('redirectToSupervisor: an illegal instruction from U lands in stvec with S-mode trap state', () => {
  const h = hart();
  enterSupervisor(h, 0x8020_0000n, 0n, 0n);
  h.setCsr(Csr.stvec, 0x8030_0001n); // vectored: exceptions still use BASE
  h.setCsr(Csr.sstatus, h.getCsr(Csr.sstatus) | 2n); // SIE = 1
  h.priv = 0;
  h.setPc(0x1_2344n);
  redirectToSupervisor(h, 2, 0xc01027f3n);
  assert.equal(h.priv, 1);
  assert.equal(h.getPc(), 0x8030_0000n);
  assert.equal(h.getCsr(Csr.sepc), 0x1_2344n);
  assert.equal(h.getCsr(Csr.scause), 2n);
  assert.equal(h.getCsr(Csr.stval), 0xc01027f3n);
  const st = h.getCsr(Csr.sstatus);
  assert.equal(st & 2n, 0n, 'SIE cleared');
  assert.equal(st & (1n << 5n), 1n << 5n, 'SPIE = old SIE');
  assert.equal(st & (1n << 8n), 0n, 'SPP = U');
});

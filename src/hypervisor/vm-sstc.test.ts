import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr, MIP_STIP } from '../cpu/arch.js';
import type { Domain, DomainHost } from './domain.js';
import { fakeImage } from './testing.js';
import { createVm, type LoadedSpec } from './vm.js';

/** The host clock of the domains below (ms). */
const clock = { ms: 0 };

function vm(extra: Partial<LoadedSpec>): Domain {
  const host: DomainHost = { nowMs: () => clock.ms, idle: async () => {}, yield: async () => {}, consoleOut: () => {} };
  return createVm({ mode: 'pv', harts: 1, memory: 64 << 20, kernel: fakeImage(), cmdline: '', ...extra }, host);
}

/** The `riscv,isa` string in the domain's device tree (in RAM at the plan's address). */
function isaOf(d: Domain): string {
  const at = d.plan.fdt - d.ram.base;
  const text = new TextDecoder('latin1').decode(d.ram.u8.subarray(at, at + 0x4000));
  const m = /rv64imafdc[a-z_]*/.exec(text);
  assert.ok(m, 'riscv,isa in the device tree');
  return m[0];
}

const stcOn = (d: Domain) => d.vcpus[0]!.hart.getCsr(Csr.menvcfg) >> 63n === 1n;

test('PV mode with Sstc: the device tree says sstc, pvm enables STCE, set_timer writes stimecmp', () => {
  const d = vm({ sstc: true });
  assert.equal(isaOf(d), 'rv64imafdc_zicond_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc');
  assert.equal(stcOn(d), true);
  const h = d.vcpus[0]!.hart;
  const now = d.machine.time.now();
  d.setTimer(0, BigInt(now + 5000));
  assert.equal(h.getCsr(Csr.stimecmp), BigInt(now + 5000));
  assert.equal(d.vcpus[0]!.deadline, Number.POSITIVE_INFINITY, 'no run-loop deadline: the hart has its own');
  assert.equal(d.machine.nextDeadline(now), now + 5000, 'the idle loop wakes for it');
  clock.ms += 1; // 10 000 ticks on
  d.machine.updateTimers(d.machine.time.now());
  assert.equal(h.getCsr(Csr.mip) & BigInt(MIP_STIP), BigInt(MIP_STIP));
  d.setTimer(0, (1n << 64n) - 1n); // SBI: all ones disarms
  assert.equal(h.getCsr(Csr.mip) & BigInt(MIP_STIP), 0n);
  assert.equal(d.machine.nextDeadline(now), Number.POSITIVE_INFINITY);
  d.pvx?.destroy();
});

test('PV mode without Sstc: not in the device tree, no stimecmp, set_timer arms the run loop', () => {
  const d = vm({ sstc: false });
  assert.equal(isaOf(d), 'rv64imafdc_zicond_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs');
  assert.equal(stcOn(d), false);
  assert.throws(() => d.vcpus[0]!.hart.getCsr(Csr.stimecmp), /unknown CSR/);
  d.setTimer(0, 7000n);
  assert.equal(d.vcpus[0]!.deadline, 7000);
  d.pvx?.destroy();
});

test('full mode: the harts have Sstc, left for the firmware to enable', () => {
  const d = vm({ mode: 'full', firmware: Uint8Array.of(0x73, 0, 0x50, 0x10) });
  assert.match(isaOf(d), /_sstc$/);
  assert.equal(stcOn(d), false);
  assert.equal(d.vcpus[0]!.hart.getCsr(Csr.stimecmp), 0n);
});

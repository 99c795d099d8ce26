import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPvmError } from '../core/errors.js';
import { decodeState, encodeState } from '../core/state.js';
import { cpuStateCodec } from '../cpu/snapshot.js';
import { HsmState } from '../sbi/consts.js';
import type { Domain, DomainHost } from './domain.js';
import { runLoopStateCodec } from './domain-snapshot.js';
import { SBI_INPUT_MAX } from './limits.js';
import { DomainStats } from './stats.js';
import { fakeImage } from './testing.js';
import { createVm } from './vm.js';

function vm(clock: { ms: number }, cmdline = 'console=hvc0'): Domain {
  const host: DomainHost = {
    nowMs: () => clock.ms,
    idle: async () => {},
    yield: async () => {},
    consoleOut: () => {},
  };
  // without Sstc: SBI set_timer arms the run loop's deadline, which the snapshot must carry
  return createVm({ mode: 'pv', harts: 2, memory: 16 << 20, kernel: fakeImage(), cmdline, sstc: false }, host);
}

const text = (s: ReturnType<Domain['saveState']>) => ({
  harts: s.harts.map((h) => Array.from(h)),
  devices: s.devices.map((d) => `${d.name}=${String.fromCharCode(...d.state)}`),
  para: String.fromCharCode(...s.para),
});

test('run-loop state (HSM, timer deadlines, SBI console input, counters) and PVX state survive save and load', () => {
  const ca = { ms: 100 };
  const a = vm(ca);
  a.hartStart(1, 0x8020_1000n, 77n);
  a.hartSuspend(0, false, 0x8020_2000n, 5n);
  a.setTimer(1, 9_000_000n); // mtime ticks
  a.input(Uint8Array.of(0x6c, 0x73, 0x0a));
  a.ram.u8[12345] = 0xa5;
  a.pvx?.requestShutdown(1);
  const saved = a.saveState();
  a.pvx?.destroy();

  const cb = { ms: 5 }; // another host clock: time goes on from the saved instant anyway
  const b = vm(cb);
  b.loadState(saved);
  assert.deepEqual(text(b.saveState()), text(saved));
  assert.equal(b.hartStatus(0), HsmState.SUSPENDED);
  assert.equal(b.hartStatus(1), HsmState.STARTED);
  assert.equal(b.vcpus[1]!.deadline, 9_000_000);
  assert.deepEqual(b.vcpus[0]!.suspend, { retentive: false, addr: 0x8020_2000n, opaque: 5n });
  assert.equal(b.vcpus[1]!.hart.getPc(), 0x8020_1000n);
  assert.equal(b.vcpus[1]!.hart.getX(11), 77n);
  assert.deepEqual(Array.from(b.consoleRead(8)), [0x6c, 0x73, 0x0a]);
  assert.equal(b.ram.u8[12345], 0xa5);
  assert.equal(b.machine.time.now(), a.machine.time.now());
  cb.ms += 1;
  assert.equal(b.machine.time.now(), a.machine.time.now() + 10_000, '1 ms later: 10 000 ticks on');
  b.pvx?.destroy();
});

test('state for another shape of domain is refused: mode, vCPU count, RAM size', () => {
  const a = vm({ ms: 0 });
  const saved = a.saveState();
  a.pvx?.destroy();
  const host: DomainHost = { nowMs: () => 0, idle: async () => {}, yield: async () => {}, consoleOut: () => {} };
  const refuse = (d: Domain, why: RegExp) => {
    assert.throws(
      () => d.loadState(saved),
      (e: unknown) => isPvmError(e) && e.kind === 'image' && why.test(e.message),
    );
    d.pvx?.destroy();
  };
  refuse(createVm({ mode: 'pv', harts: 1, memory: 16 << 20, kernel: fakeImage(), cmdline: '' }, host), /2 harts saved/);
  refuse(createVm({ mode: 'pv', harts: 2, memory: 32 << 20, kernel: fakeImage(), cmdline: '' }, host), /bytes of RAM/);
});

test('an ended domain has nothing to save', async () => {
  const d = vm({ ms: 0 });
  d.stop(1);
  await d.run();
  assert.throws(() => d.saveState(), /the domain has ended/);
});

const EXIT_NAMES = new Set(Object.keys(new DomainStats().exits));

test('a PV hart saved in M-mode (priv 3) is refused', () => {
  const a = vm({ ms: 0 });
  a.hartStart(1, 0x8020_1000n, 0n);
  const saved = a.saveState();
  a.pvx?.destroy();
  const cpu = decodeState(cpuStateCodec, saved.harts[1]!, { id: 1 }, 'hart');
  const bad = { ...saved, harts: [saved.harts[0]!, encodeState(cpuStateCodec, { ...cpu, priv: 3 })] };
  const b = vm({ ms: 0 });
  assert.throws(() => b.loadState(bad), /hart 1 state in the snapshot: a PV hart saved in M-mode/);
  b.loadState(saved); // nothing was changed by the refusal: the good state still loads
  b.pvx?.destroy();
});

test('SBI console input: bounded at SBI_INPUT_MAX, a full queue survives save and restore', () => {
  const a = vm({ ms: 0 });
  a.input(new Uint8Array(SBI_INPUT_MAX - 3).fill(0x61));
  a.input(Uint8Array.of(0x62, 0x63, 0x64, 0x65, 0x66));
  assert.equal(a.consoleInputDropped, 2);
  assert.equal(a.consoleRead(SBI_INPUT_MAX - 4).length, SBI_INPUT_MAX - 4);
  a.input(Uint8Array.of(0x67, 0x68, 0x69)); // wraps around the ring
  const saved = a.saveState();
  a.pvx?.destroy();
  const b = vm({ ms: 0 });
  b.loadState(saved);
  assert.deepEqual(Array.from(b.consoleRead(SBI_INPUT_MAX)), [0x61, 0x62, 0x63, 0x64, 0x67, 0x68, 0x69]);
  assert.equal(b.consoleRead(8).length, 0);
  b.pvx?.destroy();

  // A save file with more queued input than the limit is refused.
  const c = vm({ ms: 0 });
  c.input(new Uint8Array(SBI_INPUT_MAX).fill(1));
  const full = c.saveState();
  c.pvx?.destroy();
  const hv = full.devices.find((e) => e.name === 'hypervisor')!;
  const s = decodeState(runLoopStateCodec, hv.state, { mode: 'pv', vcpus: 2, exitNames: EXIT_NAMES }, 'hv');
  const over = encodeState(runLoopStateCodec, { ...s, sbiInput: new Uint8Array(SBI_INPUT_MAX + 1) });
  const d = vm({ ms: 0 });
  assert.throws(
    () =>
      d.loadState({ ...full, devices: full.devices.map((e) => (e.name === 'hypervisor' ? { ...e, state: over } : e)) }),
    /console input/,
  );
  d.pvx?.destroy();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Csr } from '../cpu/arch.js';
import { Exit } from '../cpu/exits.js';
import { GuestRam } from '../memory/ram.js';
import { Eid, HsmState } from '../sbi/consts.js';
import { type BootPlan, Domain, type DomainHost, type DomainMachine } from './domain.js';
import { ClockHost, ScriptedHart } from './testing.js';

/** One step of a scripted guest: what the fake hart does on its next `run` call. */
type Step =
  | { ecall: [number, number, ...(number | bigint)[]] }
  | { wfi: true }
  | { spin: number }
  | { check: (h: ScriptedHart<Step>) => void };

/**
 * A hart that follows its script of steps (see ScriptedHart). `spin` retires instructions for
 * longer than a time slice (the host clock moves 5 ms), so the run loop switches vCPUs after it.
 */
function fakeHart(id: number, script: Step[], host: ClockHost): ScriptedHart<Step> {
  return new ScriptedHart(id, script, (h, s) => {
    if ('ecall' in s) {
      const [eid, fid, ...args] = s.ecall;
      return h.ecall(eid, fid, args);
    }
    if ('wfi' in s) return Exit.Wfi;
    if ('check' in s) {
      s.check(h);
      return undefined;
    }
    h.instret += s.spin;
    host.clockMs += 5;
    return Exit.Budget;
  });
}

function makeDomain(scripts: Step[][], mode: 'pv' | 'full' = 'pv') {
  const host = new ClockHost();
  const harts = scripts.map((s, i) => fakeHart(i, s, host));
  const machine: DomainMachine = {
    ram: new GuestRam(0x8000_0000, 0x40_0000),
    harts,
    time: { now: () => Math.floor(host.clockMs * 10_000) },
    updateTimers: () => {},
    nextDeadline: () => Number.POSITIVE_INFINITY,
    uartInput: (b) => b.length,
    mmioCounts: () => ({ uart: 3 }),
    reset: () => {},
  };
  const plan: BootPlan = { load: () => {}, entry: mode === 'pv' ? 0x8020_0000 : 0x8000_0000, fdt: 0x803f_0000 };
  const d = new Domain(mode, machine, host, plan);
  return { d, harts, out: host.out, idles: host.idles, tick: (ms: number) => (host.clockMs += ms) };
}

test('PV boot: hart 0 in S-mode at the kernel with a0 = 0, a1 = FDT, delegation set; others stopped', () => {
  const { d, harts } = makeDomain([[], []]);
  const h0 = harts[0]!;
  assert.deepEqual(h0.resets, ['0x80200000@1']);
  assert.equal(h0.regs[10], 0n);
  assert.equal(h0.regs[11], 0x803f_0000n);
  assert.equal(h0.virtualM, true);
  assert.equal(h0.csr.get(Csr.medeleg), 0xb109n);
  assert.equal(h0.csr.get(Csr.mideleg), 0x222n);
  assert.deepEqual(harts[1]!.resets, []);
  assert.equal(d.hartStatus(1), HsmState.STOPPED);
});

test('full boot: every hart in M-mode at the firmware, a0 = hart id, a1 = FDT', () => {
  const { harts } = makeDomain([[], []], 'full');
  for (const h of harts) {
    assert.deepEqual(h.resets, ['0x80000000@3']);
    assert.equal(h.regs[10], BigInt(h.id));
    assert.equal(h.regs[11], 0x803f_0000n);
    assert.equal(h.virtualM, false);
  }
});

test('hypercalls: console, HSM start of hart 1, poweroff ends the run with code 0', async () => {
  const msg = 'hi';
  const { d, harts, out } = makeDomain([
    [
      { ecall: [Eid.LEGACY_CONSOLE_PUTCHAR, 0, msg.charCodeAt(0)] },
      { ecall: [Eid.DBCN, 2, msg.charCodeAt(1)] },
      { ecall: [Eid.HSM, 0, 1, 0x8020_1000, 77] },
      { spin: 10 },
      { spin: 10 },
      { ecall: [Eid.SRST, 0, 0, 0] },
    ],
    [{ check: (h) => assert.equal(h.regs[11], 77n) }, { ecall: [Eid.HSM, 2, 0] }],
  ]);
  const end = await d.run();
  assert.deepEqual(end, { kind: 'poweroff', code: 0 });
  assert.equal(String.fromCharCode(...out), 'hi');
  assert.deepEqual(harts[1]!.resets, ['0x80201000@1']);
  assert.equal(harts[1]!.regs[10], 0n, 'hart_get_status(0) = STARTED');
  assert.equal(harts[0]!.pc, 0x8020_0000n + 4n * 4n, 'pc advanced past each returning ecall');
  const s = d.statistics();
  assert.equal(s.exits.hypercall, 5);
  assert.deepEqual(s.hypercalls['HSM'], { hart_start: 1, hart_get_status: 1 });
  assert.equal(s.mmio['uart'], 3);
});

test('timer: set_timer deadline raises STIP; an idle domain sleeps until it instead of spinning', async () => {
  const { d, harts, idles } = makeDomain([
    [
      { ecall: [Eid.TIME, 0, 50_000] }, // 5 ms at 10 MHz
      { check: (h) => h.csr.set(Csr.mie, 1n << 5n) },
      { wfi: true },
      { check: (h) => assert.equal(h.mip & (1 << 5), 1 << 5, 'STIP pending after the deadline') },
      { ecall: [Eid.TIME, 0, -1] },
      { check: (h) => assert.equal(h.mip & (1 << 5), 0, 'set_timer clears STIP') },
      { ecall: [Eid.SRST, 0, 0, 1] },
    ],
  ]);
  const end = await d.run();
  assert.equal(end.kind, 'fail');
  assert.equal(end.code, 1);
  assert.deepEqual(idles, [5]);
  assert.equal(harts[0]!.mip, 0);
  assert.equal(d.statistics().time.idleMs, 5);
});

test('IPI: SSIP on the target; a stopped hart stays stopped; hart_stop stops the caller', async () => {
  const { d, harts } = makeDomain([
    [
      { ecall: [Eid.HSM, 0, 1, 0x8020_0000, 0] },
      { ecall: [Eid.IPI, 0, 0b10, 0] },
      { spin: 1 },
      { ecall: [Eid.HSM, 1] },
    ],
    [
      { check: (h) => assert.equal(h.mip & 2, 2) },
      { ecall: [Eid.LEGACY_CLEAR_IPI, 0] },
      { check: (h) => assert.equal(h.mip & 2, 0) },
      { spin: 1 },
      { spin: 1 },
      { ecall: [Eid.SRST, 0, 0, 0] },
    ],
  ]);
  const end = await d.run();
  assert.equal(end.kind, 'poweroff');
  assert.equal(d.hartStatus(0), HsmState.STOPPED);
  assert.equal(harts[0]!.script.length, 0);
});

test('syscon fail and host stop end the run with their codes', async () => {
  const a = makeDomain([[{ check: () => a.d.onSyscon({ kind: 'fail', code: 3 }) }, { spin: 1 }]]);
  assert.deepEqual(await a.d.run(), { kind: 'fail', code: 3, why: 'syscon' });
  const b = makeDomain([[{ check: () => b.d.stop(130) }]]);
  assert.deepEqual(await b.d.run(), { kind: 'host-stop', code: 130 });
});

test('HSM suspend: retentive returns SUCCESS after an interrupt; non-retentive resumes at resume_addr', async () => {
  const { d, harts } = makeDomain([
    [
      { check: (h) => h.csr.set(Csr.mie, 1n << 5n) },
      { ecall: [Eid.TIME, 0, 30_000] },
      { ecall: [Eid.HSM, 3, 0, 0, 0] },
      { check: (h) => assert.equal(h.regs[10], 0n, 'retentive suspend returns SUCCESS') },
      { check: () => assert.equal(d.hartStatus(0), HsmState.STARTED) },
      { ecall: [Eid.TIME, 0, 60_000] },
      { ecall: [Eid.HSM, 3, 0x8000_0000, 0x8020_8000, 99] },
      { check: (h) => assert.deepEqual([h.pc, h.regs[10], h.regs[11], h.priv], [0x8020_8000n, 0n, 99n, 1]) },
      { ecall: [Eid.SRST, 0, 0, 0] },
    ],
  ]);
  const end = await d.run();
  assert.equal(end.kind, 'poweroff');
  assert.equal(harts[0]!.script.length, 0);
  assert.deepEqual(harts[0]!.resets, ['0x80200000@1', '0x80208000@1']);
});

test('STA: the steal-time record is written with the sequence protocol before the vCPU runs', async () => {
  const rec = 0x8000_1000;
  const { d } = makeDomain([
    [
      { ecall: [Eid.STA, 0, rec, 0, 0] },
      { spin: 1 },
      { check: () => assert.equal(d.ram.readU32(rec as never) % 2, 0, 'sequence even between updates') },
      { spin: 1 },
      { ecall: [Eid.SRST, 0, 0, 0] },
    ],
  ]);
  await d.run();
  const seq = d.ram.readU32(rec as never);
  assert.ok(seq >= 4 && seq % 2 === 0, `sequence ${seq}`);
  assert.equal(d.ram.readU8((rec + 16) as never), 0, 'preempted = 0 while running');
});

test('full mode: an MSIP raised for another hart ends the running hart’s slice', async () => {
  const { d, harts } = makeDomain(
    [[{ check: () => d.ipiRaised(1) }, { spin: 1 }], [{ check: () => d.onSyscon({ kind: 'poweroff' }) }]],
    'full',
  );
  const end = await d.run();
  assert.equal(end.kind, 'poweroff');
  assert.equal(harts[0]!.script.length, 1, 'hart 0 stopped right after raising the IPI; hart 1 ran next');
  assert.equal(d.statistics().exits.stop, 2);
});

/**
 * A busy vCPU (never exits on its own) with a timer due 1 000 instructions in: the clock follows
 * instructions retired (100 per tick), so the moment the interrupt line rises is exact.
 */
async function busyTimer(mode: 'pv' | 'full'): Promise<{ raisedAt: number; slices: number }> {
  let raisedAt = -1;
  const hart = fakeHart(0, mode === 'pv' ? [{ ecall: [Eid.TIME, 0, 10] }] : [], new ClockHost());
  const deadline = 10; // ticks = 1 000 instructions
  let domain: Domain | null = null;
  const setIrq = hart.setIrq.bind(hart);
  hart.setIrq = (bit, level) => {
    setIrq(bit, level);
    if (level && (bit === 5 || bit === 7) && raisedAt < 0) {
      raisedAt = hart.instret;
      domain?.stop(0);
    }
  };
  const time = { now: () => Math.floor(hart.instret / 100) };
  const machine: DomainMachine = {
    ram: new GuestRam(0x8000_0000, 0x40_0000),
    harts: [hart],
    time,
    // Full mode: a CLINT with mtimecmp = 10 raises MTIP when mtime reaches it.
    updateTimers: (now) => {
      if (now >= deadline) hart.setIrq(7, true);
    },
    nextDeadline: (now) => (now < deadline ? deadline : Number.POSITIVE_INFINITY),
    uartInput: (b) => b.length,
    mmioCounts: () => ({}),
    reset: () => {},
  };
  const host: DomainHost = {
    nowMs: () => 0,
    idle: async () => {},
    yield: async () => {},
    consoleOut: () => {},
  };
  domain = new Domain(mode, machine, host, { load: () => {}, entry: 0x8020_0000, fdt: 0x803f_0000 });
  const end = await domain.run();
  assert.equal(end.kind, 'host-stop');
  return { raisedAt, slices: domain.statistics().exits.slice };
}

test('timer: a busy vCPU sees its due set_timer deadline (STIP) within 20 000 instructions, not at its slice end', async () => {
  const { raisedAt, slices } = await busyTimer('pv');
  assert.ok(raisedAt >= 1_000 && raisedAt <= 20_000, `STIP raised at instruction ${raisedAt}`);
  assert.equal(slices, 0, 'the slice was not cut short: timers are checked inside it');
});

test('timer: a busy hart in full mode sees its due CLINT deadline (MTIP) within 20 000 instructions', async () => {
  const { raisedAt } = await busyTimer('full');
  assert.ok(raisedAt >= 1_000 && raisedAt <= 20_000, `MTIP raised at instruction ${raisedAt}`);
});

test('deterministic time: an idle domain jumps mtime to its next deadline instead of sleeping on the host', async () => {
  const hart = fakeHart(
    0,
    [
      { ecall: [Eid.TIME, 0, 50_000] },
      { check: (h) => h.csr.set(Csr.mie, 1n << 5n) },
      { wfi: true },
      { check: (h) => assert.equal(h.mip & (1 << 5), 1 << 5, 'STIP pending after the skipped wait') },
      { ecall: [Eid.SRST, 0, 0, 0] },
    ],
    new ClockHost(),
  );
  let skipped = 0;
  const machine: DomainMachine = {
    ram: new GuestRam(0x8000_0000, 0x40_0000),
    harts: [hart],
    time: { now: () => Math.floor(hart.instret / 100) + skipped },
    updateTimers: () => {},
    nextDeadline: () => Number.POSITIVE_INFINITY,
    skipTime: (ticks) => {
      skipped += ticks;
      return true;
    },
    uartInput: (b) => b.length,
    mmioCounts: () => ({}),
    reset: () => {},
  };
  const host: DomainHost = {
    nowMs: () => 0,
    idle: async () => {
      throw new Error('the host was asked to sleep');
    },
    yield: async () => {},
    consoleOut: () => {},
  };
  const d = new Domain('pv', machine, host, { load: () => {}, entry: 0x8020_0000, fdt: 0x803f_0000 });
  const end = await d.run();
  assert.equal(end.kind, 'poweroff');
  assert.equal(machine.time.now(), 50_000, 'mtime stands exactly at the deadline');
  assert.equal(d.statistics().time.idleMs, 0);
});

test('fairness: a vCPU whose every exit takes 1 ms of host time has its slice ended after 4 ms', async () => {
  let calls = 0;
  let seenByHart1 = -1;
  const storm: Step[] = [];
  for (let i = 0; i < 40; i++) {
    storm.push({ check: () => void tick(1) }, { ecall: [0x0b00_0000 + i, 0] }, { check: () => void calls++ });
  }
  const { d, tick } = makeDomain([
    [{ ecall: [Eid.HSM, 0, 1, 0x8020_0000, 0] }, ...storm],
    [{ check: () => void (seenByHart1 = calls) }, { ecall: [Eid.SRST, 0, 0, 0] }],
  ]);
  const end = await d.run();
  assert.equal(end.kind, 'poweroff');
  // Hart 1 was stopped when the round began: hart 0 had a one-vCPU slice of 4 ms, which ended
  // at its 4th call (whose count comes next, in its following slice); then hart 1 ran.
  assert.equal(seenByHart1, 3);
  assert.deepEqual(d.statistics().hypercalls.unknown, { unknown: seenByHart1 + 1 });
});

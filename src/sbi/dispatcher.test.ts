import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestRam } from '../memory/ram.js';
import { ALL_ONES, Eid, HsmState, PVM_IMPL_ID, SbiErr, SPEC_VERSION } from './consts.js';
import { createSbi } from './dispatcher.js';
import { ALLOW_ALL, HypercallPolicy, policyEntryError } from './policy.js';
import type { SbiExtension, SbiHart, SbiPlatform } from './types.js';
import { ok } from './types.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 0x10_0000;

/** A domain that records what the SBI layer asked of it. */
class FakePlatform implements SbiPlatform {
  readonly ram = new GuestRam(RAM_BASE, RAM_SIZE);
  readonly log: string[] = [];
  readonly status: number[];
  out: number[] = [];
  input: number[] = [];
  virt = new Map<bigint, bigint>();
  constructor(readonly hartCount: number) {
    this.status = Array.from({ length: hartCount }, (_, i) => (i === 0 ? HsmState.STARTED : HsmState.STOPPED));
  }
  setTimer(h: number, t: bigint) {
    this.log.push(`timer ${h} ${t}`);
  }
  sendIpi(h: number) {
    this.log.push(`ipi ${h}`);
  }
  clearIpi(h: number) {
    this.log.push(`clear_ipi ${h}`);
  }
  remoteFenceI(h: number) {
    this.log.push(`fence.i ${h}`);
  }
  remoteSfenceVma(h: number, s: bigint, n: bigint, asid: number) {
    this.log.push(`sfence ${h} ${s} ${n} ${asid}`);
  }
  hartStatus(h: number) {
    return this.status[h] as HsmState;
  }
  hartStart(h: number, a: bigint, o: bigint) {
    this.status[h] = HsmState.STARTED;
    this.log.push(`start ${h} 0x${a.toString(16)} ${o}`);
  }
  hartStop(h: number) {
    this.status[h] = HsmState.STOPPED;
    this.log.push(`stop ${h}`);
  }
  hartSuspend(h: number, r: boolean, a: bigint, o: bigint) {
    this.log.push(`suspend ${h} ${r} 0x${a.toString(16)} ${o}`);
  }
  systemReset(t: number, r: number) {
    this.log.push(`reset ${t} ${r}`);
  }
  consoleWrite(b: Uint8Array) {
    this.out.push(...b);
    return b.length;
  }
  consoleRead(max: number) {
    return Uint8Array.from(this.input.splice(0, max));
  }
  readGuestU64(_h: number, va: bigint) {
    return this.virt.get(va) ?? null;
  }
  setStealTimeShmem(h: number, pa: number | null) {
    this.log.push(`sta ${h} ${pa === null ? 'off' : `0x${pa.toString(16)}`}`);
  }
}

/** A hart with 32 BigInt registers. */
class FakeHart implements SbiHart {
  readonly regs = new Array<bigint>(32).fill(0n);
  constructor(readonly id = 0) {}
  getX(r: number) {
    return this.regs[r]!;
  }
  setX(r: number, v: bigint) {
    if (r !== 0) this.regs[r] = BigInt.asUintN(64, v);
  }
}

function setup(harts = 2) {
  const p = new FakePlatform(harts);
  return { p, sbi: createSbi(p) };
}

const u = (n: number | bigint) => BigInt.asUintN(64, BigInt(n));

/** Perform one ecall on a fake hart; returns [a0 as signed, a1]. */
function ecall(
  sbi: ReturnType<typeof createSbi>,
  eid: number | bigint,
  fid: number,
  args: (number | bigint)[] = [],
  hart = 0,
) {
  const h = new FakeHart(hart);
  h.regs[17] = u(eid);
  h.regs[16] = u(fid);
  h.regs[11] = 0xdeadn;
  args.forEach((v, i) => {
    h.regs[10 + i] = u(v);
  });
  sbi.handleEcall(h);
  return [Number(BigInt.asIntN(64, h.regs[10]!)), h.regs[11]!] as const;
}

test('base: spec version 2.0, pvm implementation id, truthful probe', () => {
  const { sbi } = setup();
  assert.deepEqual(ecall(sbi, Eid.BASE, 0), [0, BigInt(SPEC_VERSION)]);
  assert.equal(SPEC_VERSION, 0x0200_0000);
  assert.deepEqual(ecall(sbi, Eid.BASE, 1), [0, BigInt(PVM_IMPL_ID)]);
  for (const eid of [Eid.TIME, Eid.IPI, Eid.RFENCE, Eid.HSM, Eid.SRST, Eid.DBCN, Eid.STA, Eid.BASE, 0, 8]) {
    assert.deepEqual(ecall(sbi, Eid.BASE, 3, [eid]), [0, 1n], `probe 0x${eid.toString(16)}`);
  }
  for (const eid of [Eid.PMU, Eid.SUSP, 9, 0x0a00_0000, 2n ** 40n + 0x10n]) {
    assert.deepEqual(ecall(sbi, Eid.BASE, 3, [eid]), [0, 0n], `probe absent 0x${eid.toString(16)}`);
  }
  assert.deepEqual(ecall(sbi, Eid.BASE, 4), [0, 0n]);
});

test('unknown extension or function is NOT_SUPPORTED and counted', () => {
  const { sbi } = setup();
  assert.equal(ecall(sbi, 0x1234_5678, 0)[0], SbiErr.NOT_SUPPORTED);
  assert.equal(ecall(sbi, 2n ** 32n + BigInt(Eid.TIME), 0)[0], SbiErr.NOT_SUPPORTED);
  assert.equal(ecall(sbi, Eid.TIME, 1)[0], SbiErr.NOT_SUPPORTED);
  assert.equal(ecall(sbi, Eid.BASE, 7)[0], SbiErr.NOT_SUPPORTED);
  assert.equal(ecall(sbi, Eid.TIME, -1)[0], SbiErr.NOT_SUPPORTED);
  // Unknown calls aggregate: one key for every unknown extension, one per extension for its unknown functions.
  assert.deepEqual(sbi.stats, { unknown: { unknown: 2 }, TIME: { unknown: 2 }, BASE: { unknown: 1 } });
  assert.equal(sbi.calls, 5);
});

test('a storm of distinct unknown calls adds no statistics keys', () => {
  const { sbi } = setup();
  for (let i = 0; i < 5000; i++) {
    ecall(sbi, 0x0b00_0000 + i, i);
    ecall(sbi, Eid.HSM, 100 + i);
  }
  assert.deepEqual(sbi.stats, { unknown: { unknown: 5000 }, HSM: { unknown: 5000 } });
});

test('hypercall policy: a denied call is SBI_ERR_DENIED, counted, and changes nothing', () => {
  const { p, sbi } = setup();
  sbi.policy = new HypercallPolicy(['TIME', 'DBCN/console_write_byte']);
  assert.deepEqual(ecall(sbi, Eid.TIME, 0, [1234]), [0, 0n]);
  assert.equal(ecall(sbi, Eid.SRST, 0, [0, 0])[0], SbiErr.DENIED);
  assert.equal(p.log.filter((l) => l.startsWith('reset')).length, 0);
  assert.equal(ecall(sbi, Eid.DBCN, 2, [0x41])[0], 0);
  assert.equal(ecall(sbi, Eid.DBCN, 0, [1, 0, 0])[0], SbiErr.DENIED);
  // BASE is always allowed; probe_extension answers 0 for an extension nothing of which is allowed.
  assert.deepEqual(ecall(sbi, Eid.BASE, 3, [Eid.SRST]), [0, 0n]);
  assert.deepEqual(ecall(sbi, Eid.BASE, 3, [Eid.DBCN]), [0, 1n]);
  assert.deepEqual(ecall(sbi, Eid.BASE, 3, [Eid.TIME]), [0, 1n]);
  assert.deepEqual(sbi.stats.denied, { 'SRST/system_reset': 1, 'DBCN/console_write': 1 });
});

test('hypercall policy: tightening keeps only what both lists allow', () => {
  const p = new HypercallPolicy(['TIME', 'HSM', 'PVX/evtchn_send', 'DBCN/console_write']);
  assert.deepEqual(p.tighten(['HSM/hart_start', 'PVX', 'TIME', 'SRST']).entries, [
    'HSM/hart_start',
    'PVX/evtchn_send',
    'TIME',
  ]);
  assert.deepEqual(ALLOW_ALL.tighten(['TIME']).entries, ['TIME']);
  assert.equal(p.tighten(null), p);
  assert.throws(() => new HypercallPolicy(['NOPE']), /unknown hypercall extension "NOPE"/);
  assert.throws(() => new HypercallPolicy(['TIME/get_time']), /unknown TIME function "get_time"/);
  assert.match(policyEntryError('__proto__') ?? '', /unknown hypercall extension/);
  assert.equal(policyEntryError('PVX/evtchn_send'), null);
});

test('TIME set_timer passes the deadline through; a1 = 0', () => {
  const { p, sbi } = setup();
  assert.deepEqual(ecall(sbi, Eid.TIME, 0, [123456789], 1), [0, 0n]);
  assert.deepEqual(ecall(sbi, Eid.TIME, 0, [-1]), [0, 0n]);
  assert.deepEqual(p.log, ['timer 1 123456789', `timer 0 ${ALL_ONES}`]);
  assert.equal(sbi.stats['TIME']!['set_timer'], 2);
});

test('IPI hart masks: base -1 means all, bits beyond the last hart are INVALID_PARAM', () => {
  const { p, sbi } = setup(4);
  assert.equal(ecall(sbi, Eid.IPI, 0, [0b1010, 0])[0], 0);
  assert.equal(ecall(sbi, Eid.IPI, 0, [0, -1])[0], 0);
  assert.equal(ecall(sbi, Eid.IPI, 0, [0b1, 3])[0], 0);
  assert.deepEqual(p.log, ['ipi 1', 'ipi 3', 'ipi 0', 'ipi 1', 'ipi 2', 'ipi 3', 'ipi 3']);
  p.log.length = 0;
  assert.equal(ecall(sbi, Eid.IPI, 0, [0b11, 3])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.IPI, 0, [1, 4])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.IPI, 0, [1n << 63n, 0])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.IPI, 0, [1, 2n ** 62n])[0], SbiErr.INVALID_PARAM);
  assert.deepEqual(p.log, [], 'no hart is touched by a rejected mask');
  assert.equal(ecall(sbi, Eid.IPI, 0, [0, 1000])[0], 0, 'an empty mask is valid');
});

test('RFENCE: fence.i and sfence.vma per hart, asid only for the asid variant, hfence NOT_SUPPORTED', () => {
  const { p, sbi } = setup(2);
  assert.equal(ecall(sbi, Eid.RFENCE, 0, [0b11, 0])[0], 0);
  assert.equal(ecall(sbi, Eid.RFENCE, 1, [0b10, 0, 0x1000, 0x2000])[0], 0);
  assert.equal(ecall(sbi, Eid.RFENCE, 2, [0b1, 0, 0, -1, 7])[0], 0);
  assert.deepEqual(p.log, ['fence.i 0', 'fence.i 1', 'sfence 1 4096 8192 -1', `sfence 0 0 ${ALL_ONES} 7`]);
  assert.equal(ecall(sbi, Eid.RFENCE, 1, [1, 0, -4096, 0x2000])[0], SbiErr.INVALID_ADDRESS);
  assert.equal(ecall(sbi, Eid.RFENCE, 1, [0b100, 0, 0, 1])[0], SbiErr.INVALID_PARAM);
  for (let fid = 3; fid <= 6; fid++) assert.equal(ecall(sbi, Eid.RFENCE, fid, [1, 0])[0], SbiErr.NOT_SUPPORTED);
});

test('HSM start: bad hart INVALID_PARAM, address outside RAM INVALID_ADDRESS, started hart ALREADY_AVAILABLE', () => {
  const { p, sbi } = setup(2);
  assert.equal(ecall(sbi, Eid.HSM, 0, [2, RAM_BASE, 0])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.HSM, 0, [-1, RAM_BASE, 0])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.HSM, 0, [1, RAM_BASE + RAM_SIZE, 0])[0], SbiErr.INVALID_ADDRESS);
  assert.equal(ecall(sbi, Eid.HSM, 0, [1, 0x1000, 0])[0], SbiErr.INVALID_ADDRESS);
  assert.equal(ecall(sbi, Eid.HSM, 0, [1, -2, 0])[0], SbiErr.INVALID_ADDRESS);
  assert.equal(ecall(sbi, Eid.HSM, 0, [0, RAM_BASE, 0])[0], SbiErr.ALREADY_AVAILABLE);
  assert.deepEqual(ecall(sbi, Eid.HSM, 2, [1]), [0, BigInt(HsmState.STOPPED)]);
  assert.equal(ecall(sbi, Eid.HSM, 0, [1, RAM_BASE + 0x1000, 42])[0], 0);
  assert.deepEqual(ecall(sbi, Eid.HSM, 2, [1]), [0, BigInt(HsmState.STARTED)]);
  assert.equal(ecall(sbi, Eid.HSM, 0, [1, RAM_BASE, 0])[0], SbiErr.ALREADY_AVAILABLE);
  assert.equal(ecall(sbi, Eid.HSM, 2, [5])[0], SbiErr.INVALID_PARAM);
  assert.deepEqual(p.log, ['start 1 0x80001000 42']);
});

test('HSM stop and suspend types', () => {
  const { p, sbi } = setup(2);
  assert.equal(ecall(sbi, Eid.HSM, 1, [], 1)[0], SbiErr.FAILED, 'a stopped hart cannot stop');
  assert.equal(ecall(sbi, Eid.HSM, 1, [], 0)[0], 0);
  p.status[0] = HsmState.STARTED;
  assert.equal(ecall(sbi, Eid.HSM, 3, [0, 0, 0])[0], 0);
  assert.equal(ecall(sbi, Eid.HSM, 3, [0x8000_0000, RAM_BASE, 9])[0], 0);
  assert.equal(ecall(sbi, Eid.HSM, 3, [0x8000_0000, 0x10, 9])[0], SbiErr.INVALID_ADDRESS);
  for (const t of [1, 0x1000_0000, 0x8000_0001, 0x9000_0000, 2n ** 32n]) {
    assert.equal(ecall(sbi, Eid.HSM, 3, [t, RAM_BASE, 0])[0], SbiErr.INVALID_PARAM, `type ${t}`);
  }
  assert.deepEqual(p.log, ['stop 0', 'suspend 0 true 0x0 0', 'suspend 0 false 0x80000000 9']);
});

test('SRST: valid types/reasons reach the domain, reserved ones are INVALID_PARAM', () => {
  const { p, sbi } = setup();
  assert.equal(ecall(sbi, Eid.SRST, 0, [0, 0])[0], 0);
  assert.equal(ecall(sbi, Eid.SRST, 0, [1, 1])[0], 0);
  assert.equal(ecall(sbi, Eid.SRST, 0, [2, 0xe000_0001])[0], 0);
  for (const [t, r] of [
    [3, 0],
    [0xf000_0000, 0],
    [0, 2],
    [0, 0xdfff_ffff],
    [0, 2n ** 32n],
    [2n ** 32n, 0],
  ] as const) {
    assert.equal(ecall(sbi, Eid.SRST, 0, [t, r])[0], SbiErr.INVALID_PARAM, `type ${t} reason ${r}`);
  }
  assert.deepEqual(p.log, ['reset 0 0', 'reset 1 1', `reset 2 ${0xe000_0001}`]);
});

test('DBCN write/read straight from guest memory; buffers outside RAM are INVALID_PARAM', () => {
  const { p, sbi } = setup();
  p.ram.write((RAM_BASE + 0x100) as never, new TextEncoder().encode('hello'));
  assert.deepEqual(ecall(sbi, Eid.DBCN, 0, [5, RAM_BASE + 0x100, 0]), [0, 5n]);
  assert.deepEqual(ecall(sbi, Eid.DBCN, 2, [0x121]), [0, 0n]);
  assert.equal(new TextDecoder().decode(Uint8Array.from(p.out)), 'hello!');
  const bad: [number | bigint, number | bigint, number | bigint][] = [
    [5, RAM_BASE + RAM_SIZE - 4, 0],
    [5, RAM_BASE - 1, 0],
    [5, RAM_BASE, 1],
    [-1, RAM_BASE, 0],
    [1, -1, -1],
  ];
  for (const args of bad) assert.equal(ecall(sbi, Eid.DBCN, 0, args)[0], SbiErr.INVALID_PARAM, `write ${args}`);
  for (const args of bad) assert.equal(ecall(sbi, Eid.DBCN, 1, args)[0], SbiErr.INVALID_PARAM, `read ${args}`);
  assert.equal(p.out.length, 6);
  p.input = [0x61, 0x62, 0x63];
  assert.deepEqual(ecall(sbi, Eid.DBCN, 1, [2, RAM_BASE + 0x200, 0]), [0, 2n]);
  assert.deepEqual([...p.ram.slice((RAM_BASE + 0x200) as never, 3)], [0x61, 0x62, 0]);
  assert.deepEqual(ecall(sbi, Eid.DBCN, 1, [8, RAM_BASE + 0x200, 0]), [0, 1n]);
  assert.deepEqual(ecall(sbi, Eid.DBCN, 1, [8, RAM_BASE + 0x200, 0]), [0, 0n]);
});

test('STA: alignment and flags INVALID_PARAM, outside RAM INVALID_ADDRESS, block zeroed, -1 disables', () => {
  const { p, sbi } = setup();
  p.ram.fill((RAM_BASE + 0x400) as never, 64, 0xff);
  assert.equal(ecall(sbi, Eid.STA, 0, [RAM_BASE + 0x400, 0, 1])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.STA, 0, [RAM_BASE + 0x408, 0, 0])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.STA, 0, [RAM_BASE + RAM_SIZE, 0, 0])[0], SbiErr.INVALID_ADDRESS);
  assert.equal(ecall(sbi, Eid.STA, 0, [RAM_BASE, 1, 0])[0], SbiErr.INVALID_ADDRESS);
  assert.equal(ecall(sbi, Eid.STA, 0, [RAM_BASE + 0x400, 0, 0])[0], 0);
  assert.ok(p.ram.slice((RAM_BASE + 0x400) as never, 64).every((b) => b === 0));
  assert.equal(ecall(sbi, Eid.STA, 0, [-1, -1, 0])[0], 0);
  assert.deepEqual(p.log, ['sta 0 0x80000400', 'sta 0 off']);
});

test('legacy calls: a0 only, getchar -1 when empty, hart mask by pointer', () => {
  const { p, sbi } = setup(2);
  assert.deepEqual(ecall(sbi, Eid.LEGACY_CONSOLE_PUTCHAR, 77, [0x41]), [0, 0xdeadn], 'a1 untouched');
  assert.deepEqual(p.out, [0x41]);
  assert.equal(ecall(sbi, Eid.LEGACY_CONSOLE_GETCHAR, 0)[0], -1);
  p.input = [0x7a];
  assert.equal(ecall(sbi, Eid.LEGACY_CONSOLE_GETCHAR, 0)[0], 0x7a);
  ecall(sbi, Eid.LEGACY_SET_TIMER, 0, [1000], 1);
  ecall(sbi, Eid.LEGACY_CLEAR_IPI, 0, [], 1);
  p.virt.set(0xffff_ffff_8000_0000n, 0b10n);
  assert.equal(ecall(sbi, Eid.LEGACY_SEND_IPI, 0, [0xffff_ffff_8000_0000n])[0], 0);
  assert.equal(ecall(sbi, Eid.LEGACY_SEND_IPI, 0, [0])[0], 0);
  assert.equal(ecall(sbi, Eid.LEGACY_SEND_IPI, 0, [0x1234])[0], SbiErr.INVALID_ADDRESS);
  p.virt.set(0x5000n, 0b100n);
  assert.equal(ecall(sbi, Eid.LEGACY_REMOTE_FENCE_I, 0, [0x5000])[0], SbiErr.INVALID_PARAM);
  assert.equal(ecall(sbi, Eid.LEGACY_REMOTE_SFENCE_VMA, 0, [0, 0x1000, 0x1000])[0], 0);
  ecall(sbi, Eid.LEGACY_SHUTDOWN, 0);
  assert.deepEqual(p.log, [
    'timer 1 1000',
    'clear_ipi 1',
    'ipi 1',
    'ipi 0',
    'ipi 1',
    'sfence 0 4096 4096 -1',
    'sfence 1 4096 4096 -1',
    'reset 0 0',
  ]);
  assert.equal(sbi.stats['LEGACY']!['console_putchar'], 1);
});

test('extension table: ranges for the firmware-specific space, no double registration', () => {
  const { sbi } = setup();
  const pvx: SbiExtension = {
    name: 'PVX',
    probe: () => 0x10001,
    functionName: (_e, fid) => (fid === 0 ? 'version' : undefined),
    call: (_p, hart, eid) => ok(BigInt(eid) + BigInt(hart)),
  };
  sbi.register(pvx, Eid.FIRMWARE_FIRST, Eid.FIRMWARE_LAST);
  assert.deepEqual(ecall(sbi, Eid.BASE, 3, [0x0a50_5658]), [0, 0x10001n]);
  assert.deepEqual(ecall(sbi, 0x0a50_5658, 0, [], 1), [0, 0x0a50_5659n]);
  assert.equal(ecall(sbi, 0x0a50_5658, 1)[0], SbiErr.NOT_SUPPORTED);
  assert.throws(() => sbi.register(pvx, 0x0a00_0010));
  assert.throws(() => sbi.register(pvx, Eid.TIME));
});

/** A hart whose registers are int32 pairs, as the CPU's: the numeric fast path can read them. */
class PairHart implements SbiHart {
  readonly x = new Int32Array(64);
  constructor(readonly id = 0) {}
  getX(r: number) {
    return BigInt.asIntN(64, (BigInt(this.x[2 * r + 1]!) << 32n) | BigInt(this.x[2 * r]! >>> 0));
  }
  setX(r: number, v: bigint) {
    if (r === 0) return;
    this.x[2 * r] = Number(BigInt.asIntN(32, v));
    this.x[2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
  }
}

test('the numeric fast path makes the same calls, results and counts as handleEcall, or nothing', () => {
  const calls: [number | bigint, number, number | bigint][] = [
    [Eid.TIME, 0, 123456789],
    [Eid.TIME, 0, 2 ** 53 - 1],
    [Eid.TIME, 0, -1], // above 2^53: the slow path
    [Eid.TIME, 0, 2 ** 53],
    [Eid.TIME, 1, 5], // no such function
    [2n ** 32n + BigInt(Eid.TIME), 0, 5], // a7 wider than 32 bits
    [Eid.BASE, 0, 0], // no fast path
    [Eid.SRST, 0, 0], // denied below
    [Eid.LEGACY_CONSOLE_PUTCHAR, 0, 0x141], // the low byte: 'A'
    [Eid.LEGACY_CONSOLE_PUTCHAR, 9, 0x42], // legacy calls ignore a6
    [Eid.LEGACY_CONSOLE_PUTCHAR, 0, -1], // above 2^53: the slow path
    [Eid.LEGACY_CONSOLE_GETCHAR, 0, 0],
    [Eid.LEGACY_CONSOLE_GETCHAR, 0, 0], // no input left: -1
    [Eid.LEGACY_SET_TIMER, 0, 77], // the platform has no setTimerNum: the slow path
  ];
  for (const [policy, fastCalls] of [
    [ALLOW_ALL, 6],
    [new HypercallPolicy(['TIME/set_timer', 'BASE']), 2], // the two set_timer calls below 2^53
  ] as const) {
    const slow = setup();
    const fast = setup();
    slow.sbi.policy = fast.sbi.policy = policy;
    slow.p.input = [0x7a];
    fast.p.input = [0x7a];
    let fastOnes = 0;
    for (const [eid, fid, a0] of calls) {
      const regs = [a0, 7, 8, 9, 10, 11];
      const hs = new PairHart(1);
      const hf = new PairHart(1);
      for (const h of [hs, hf]) {
        h.setX(17, u(eid));
        h.setX(16, u(fid));
        for (const [i, v] of regs.entries()) h.setX(10 + i, u(v));
      }
      slow.sbi.handleEcall(hs);
      if (fast.sbi.handleEcallFast(hf)) fastOnes++;
      else fast.sbi.handleEcall(hf);
      assert.deepEqual(hf.x, hs.x, `registers after ${eid}/${fid}(${a0})`);
    }
    assert.equal(fastOnes, fastCalls);
    assert.deepEqual(fast.p.log, slow.p.log);
    assert.deepEqual(fast.p.out, slow.p.out);
    assert.deepEqual(fast.p.input, slow.p.input);
    assert.deepEqual(fast.sbi.stats, slow.sbi.stats);
    assert.equal(fast.sbi.calls, slow.sbi.calls);
  }
});

test('fast-path counts show in the statistics when read, in first-call order, and follow a new policy', () => {
  const { sbi } = setup();
  const h = new PairHart(0);
  const fastTimer = (t: number) => {
    h.setX(17, u(Eid.TIME));
    h.setX(16, 0n);
    h.setX(10, u(t));
    return sbi.handleEcallFast(h);
  };
  assert.equal(fastTimer(100), true);
  ecall(sbi, Eid.BASE, 0);
  assert.equal(fastTimer(200), true);
  assert.deepEqual(Object.keys(sbi.stats), ['TIME', 'BASE']);
  assert.deepEqual(sbi.stats.TIME, { set_timer: 2 });
  assert.equal(fastTimer(300), true);
  assert.deepEqual(sbi.stats.TIME, { set_timer: 3 }, 'read twice, counted once');
  // a policy without TIME: the fast path declines and the BigInt path denies and counts
  sbi.policy = sbi.policy.tighten(['BASE']);
  assert.equal(fastTimer(400), false);
  assert.equal(sbi.handleEcall(h).error, SbiErr.DENIED);
  assert.deepEqual(sbi.stats.TIME, { set_timer: 4 });
  assert.deepEqual(sbi.stats.denied, { 'TIME/set_timer': 1 });
  assert.equal(sbi.calls, 5);
});

/**
 * Every component state of a snapshot, one test each (fast-check): any state
 * the component can hold is written and read back equal, and written again to
 * the same bytes; the same bytes with a few bytes changed, cut or added are
 * either read as another valid state or refused with a SnapshotError, never
 * anything else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeState, encodeState, isSnapshotError, type StateCodec } from '../src/core/state.js';
import { type CpuState, cpuStateCodec } from '../src/cpu/snapshot.js';
import type { P9SessionState } from '../src/devices/virtio/9p/server.js';
import { p9StateCodec } from '../src/devices/virtio/9p/state.js';
import {
  type BalloonState as VirtioBalloonState,
  balloonStateCodec as virtioBalloonStateCodec,
} from '../src/devices/virtio/balloon/device.js';
import { consoleStateCodec } from '../src/devices/virtio/console/device.js';
import { type QueueState, type TransportState, transportStateCodec } from '../src/devices/virtio/state.js';
import { type RunLoopState, runLoopStateCodec } from '../src/hypervisor/domain-snapshot.js';
import { type BalloonState, balloonStateCodec } from '../src/hypervisor/pvx/balloon.js';
import {
  type EventChannelsState,
  eventChannelsStateCodec,
  type PortRecord,
} from '../src/hypervisor/pvx/event-channels.js';
import { type GrantTableState, grantTableStateCodec } from '../src/hypervisor/pvx/grant-table.js';
import { type PvxState, pvxStateCodec } from '../src/hypervisor/pvx/pvx-domain.js';
import { type SchedState, schedStateCodec } from '../src/hypervisor/pvx/sched.js';
import { type SharedInfoState, sharedInfoStateCodec } from '../src/hypervisor/pvx/shared-info.js';
import { type SnapshotDisk, snapshotDisksCodec } from '../src/hypervisor/snapshot/format.js';
import { type ClintState, clintStateCodec } from '../src/machine/clint.js';
import { type PlicState, plicStateCodec } from '../src/machine/plic.js';
import { boardTimeCodec, rtcStateCodec } from '../src/machine/snapshot.js';
import { type UartState, uartStateCodec } from '../src/machine/uart.js';
import { HsmState } from '../src/sbi/consts.js';
import { PortState, Virq } from '../src/sbi/pvx/consts.js';

const RUNS = { numRuns: 60 };

/** fc.record with ordinary objects, as the codecs read them. */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record<T>(model, { noNullPrototype: true });

/** A few bytes overwritten, the blob cut short or extended. */
const damage = fc.oneof(
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
    .map((edits) => (b: Uint8Array) => {
      const c = b.slice();
      for (const [at, v] of edits) if (c.length > 0) c[at % c.length] = v;
      return c;
    }),
  fc.nat().map((n) => (b: Uint8Array) => b.subarray(0, b.length === 0 ? 0 : n % b.length)),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => (b: Uint8Array) => Uint8Array.of(...b, ...extra)),
);

/** Round trip and damage properties of one codec. */
function codecTest<S, Shape>(name: string, codec: StateCodec<S, Shape>, state: fc.Arbitrary<S>, shape: Shape): void {
  test(`${name}: any state round-trips exactly`, () => {
    fc.assert(
      fc.property(state, (s) => {
        const bytes = encodeState(codec, s);
        const back = decodeState(codec, bytes, shape, name);
        assert.deepEqual(back, s);
        assert.deepEqual(encodeState(codec, back), bytes);
      }),
      RUNS,
    );
  });
  test(`${name}: damaged bytes are read or refused with a SnapshotError`, () => {
    fc.assert(
      fc.property(state, damage, (s, hurt) => {
        const bytes = hurt(encodeState(codec, s));
        try {
          const back = decodeState(codec, bytes, shape, name);
          assert.deepEqual(decodeState(codec, encodeState(codec, back), shape, name), back);
        } catch (e) {
          assert.ok(isSnapshotError(e), String(e));
        }
      }),
      RUNS,
    );
  });
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const i32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const word = fc.integer({ min: -0x8000_0000, max: 0xffff_ffff });
const int32s = (n: number) => fc.array(i32, { minLength: n, maxLength: n }).map((a) => Int32Array.from(a));
const u32s = (n: number, max = 0xffff_ffff) =>
  fc.array(fc.integer({ min: 0, max }), { minLength: n, maxLength: n }).map((a) => Uint32Array.from(a));
const ticks = fc.oneof(fc.maxSafeNat(), fc.constant(Number.POSITIVE_INFINITY), fc.constant(2 ** 62));
const ascending = (max: number, maxLength: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max }), { maxLength }).map((a) => a.sort((x, y) => x - y));

// ---- CPU
codecTest<CpuState, { id: number }>(
  'hart',
  cpuStateCodec,
  rec({
    id: fc.constant(3),
    priv: fc.constantFrom(0, 1, 3),
    words: fc.array(word, { minLength: 40, maxLength: 40 }),
    counters: fc.array(fc.maxSafeNat(), { minLength: 3, maxLength: 3 }),
    x: int32s(64),
    f: int32s(64),
    pmpcfg: int32s(4),
    pmpaddr: int32s(32),
    hidden: fc
      .tuple(fc.array(word, { minLength: 9, maxLength: 9 }), fc.maxSafeNat(), word)
      .map(([a, c, b]) => [...a, c, b]),
  }),
  { id: 3 },
);

// ---- board
codecTest('board time base', boardTimeCodec, fc.maxSafeInteger(), undefined);
codecTest('RTC', rtcStateCodec, fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), undefined);
codecTest<ClintState, { harts: number }>(
  'CLINT',
  clintStateCodec,
  rec({
    delta: fc.oneof(fc.maxSafeInteger(), fc.constant(2 ** 64 - 2 ** 20), fc.constant(-(2 ** 63))),
    harts: fc.array(rec({ msip: fc.boolean(), cmpLo: u32, cmpHi: u32, armed: fc.boolean() }), {
      minLength: 2,
      maxLength: 2,
    }),
  }),
  { harts: 2 },
);
codecTest<PlicState, { sources: number; contexts: number }>(
  'PLIC',
  plicStateCodec,
  rec({
    priority: u32s(40, 7),
    level: u32s(40, 1).map((a) => Uint8Array.from(a)),
    pending: u32s(2),
    claimed: u32s(2),
    enable: u32s(8),
    threshold: u32s(4, 7),
  }),
  { sources: 40, contexts: 4 },
);
codecTest<UartState, void>(
  'UART',
  uartStateCodec,
  rec({
    regs: fc.uint8Array({ minLength: 10, maxLength: 10 }),
    thrIpending: fc.boolean(),
    itl: fc.constantFrom(1, 4, 8, 14),
    irqLevel: fc.boolean(),
    rx: fc.uint8Array({ maxLength: 64 }),
  }),
  undefined,
);

// ---- virtio
const queue: fc.Arbitrary<QueueState> = rec({
  size: u32,
  ready: fc.boolean(),
  descAddr: fc.oneof(fc.maxSafeNat(), fc.constant(0xffff_ffff * 2 ** 32)),
  driverAddr: fc.maxSafeNat(),
  deviceAddr: fc.maxSafeNat(),
  active: fc.boolean(),
  lastAvail: fc.integer({ min: 0, max: 0xffff }),
  usedIdx: fc.integer({ min: 0, max: 0xffff }),
  signalledUsed: fc.integer({ min: 0, max: 0xffff }),
});
codecTest<TransportState, void>(
  'virtio transport',
  transportStateCodec,
  rec({
    deviceId: u32,
    status: fc.integer({ min: 0, max: 0xff }),
    interruptStatus: u32,
    configGeneration: u32,
    deviceFeaturesSel: u32,
    driverFeaturesSel: u32,
    driverFeatures: fc.tuple(u32, u32),
    negotiated: fc.tuple(u32, u32),
    queueSel: u32,
    queues: fc.array(queue, { maxLength: 4 }),
  }),
  undefined,
);
codecTest('virtio-console', consoleStateCodec, fc.uint8Array({ maxLength: 200 }), undefined);
/** Plain file names: 1..255 bytes, no "/" or NUL, not "." or "..". */
const p9Name = fc
  .uint8Array({ minLength: 1, maxLength: 12 })
  .map((b) => b.map((x) => (x === 0 || x === 0x2f ? 0x61 : x)))
  .filter((b) => !(b.length <= 2 && b.every((x) => x === 0x2e)));
codecTest<P9SessionState, void>(
  'virtio-9p',
  p9StateCodec,
  rec({
    negotiated: fc.boolean(),
    msize: fc.integer({ min: 0, max: 512 * 1024 }),
    fids: fc.uniqueArray(
      rec({
        fid: u32,
        kind: fc.constantFrom('dir', 'file', 'symlink', 'other', 'xattr'),
        openFlags: fc.integer({ min: -1, max: 0x7fff_ffff }),
        path: fc.array(p9Name, { maxLength: 4 }),
      }),
      { maxLength: 5, selector: (f) => f.fid },
    ),
  }),
  undefined,
);
codecTest<VirtioBalloonState, void>(
  'virtio-balloon',
  virtioBalloonStateCodec,
  rec({ target: u32, actual: u32, frames: ascending(0xffff_ffff, 20) }),
  undefined,
);

// ---- run loop
// the codec refuses `__proto__` (the counters are plain objects), so the generator never makes it
const name = fc.stringMatching(/^[a-z_#0-9]{1,20}$/).filter((n) => n !== '__proto__');
codecTest<RunLoopState, { mode: 'pv' | 'full'; vcpus: number; exitNames: ReadonlySet<string> }>(
  'run loop',
  runLoopStateCodec,
  rec({
    mode: fc.constant('pv' as const),
    vcpus: fc.array(
      rec({
        state: fc.constantFrom(HsmState.STARTED, HsmState.STOPPED, HsmState.SUSPENDED),
        waiting: fc.boolean(),
        deadline: ticks,
        suspend: fc.option(
          rec({
            retentive: fc.boolean(),
            addr: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            opaque: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          }),
        ),
        staAddr: fc.option(fc.maxSafeNat()),
        stealNs: fc.maxSafeNat(),
      }),
      { minLength: 2, maxLength: 2 },
    ),
    sbiInput: fc.uint8Array({ maxLength: 30 }),
    rebootPending: fc.boolean(),
    inputTo: fc.constantFrom('uart' as const, 'sbi' as const),
    exits: fc
      .uniqueArray(fc.constantFrom('hypercall', 'wfi', 'slice'), { maxLength: 3 })
      .chain((ks) => fc.tuple(...ks.map((k) => fc.tuple(fc.constant(k), fc.maxSafeNat())))),
    hypercalls: fc
      .uniqueArray(name, { maxLength: 3 })
      .chain((exts) =>
        fc.tuple(
          ...exts.map((e) =>
            fc.tuple(
              fc.constant(e),
              fc.uniqueArray(fc.tuple(name, fc.maxSafeNat()), { maxLength: 3, selector: (x) => x[0] }),
            ),
          ),
        ),
      ),
  }),
  { mode: 'pv', vcpus: 2, exitNames: new Set(['hypercall', 'wfi', 'slice']) },
);

// ---- PVX
const RAM_SIZE = 1 << 20;
const FRAMES = RAM_SIZE / 4096;
const page = fc.integer({ min: 0, max: FRAMES - 1 }).map((p) => p * 4096);
const pvxShape = { vcpus: 2, frames: FRAMES, ramSize: RAM_SIZE };
const shinfo: fc.Arbitrary<SharedInfoState> = fc.option(page);
/** Open ports, ascending, each VIRQ bound once (VIRQs other than the timer on vCPU 0). */
const ports: fc.Arbitrary<EventChannelsState> = fc
  .uniqueArray(fc.integer({ min: 1, max: 1023 }), { maxLength: 12 })
  .chain((ps) =>
    fc.tuple(
      ...ps
        .sort((a, b) => a - b)
        .map((port) =>
          fc
            .oneof(
              rec({
                state: fc.constant(PortState.UNBOUND),
                vcpu: fc.constant(0),
                remote: fc.integer({ min: 0, max: 0xffff }),
                remotePort: fc.constant(0),
              }),
              rec({
                state: fc.constant(PortState.INTERDOMAIN),
                vcpu: fc.integer({ min: 0, max: 1 }),
                remote: fc.integer({ min: 0, max: 0xffff }),
                remotePort: fc.integer({ min: 1, max: 1023 }),
              }),
              rec({
                state: fc.constant(PortState.IPI),
                vcpu: fc.integer({ min: 0, max: 1 }),
                remote: fc.constant(0),
                remotePort: fc.constant(0),
              }),
            )
            .map((r): PortRecord => ({ port, ...r })),
        ),
    ),
  )
  .chain((open) =>
    // VIRQ_TIMER on vCPU 1 and VIRQ_CONSOLE on vCPU 0 on the first free ports, if any.
    fc.boolean().map((withVirqs) => {
      if (!withVirqs) return open;
      const used = new Set(open.map((p) => p.port));
      const free = [...Array(1023).keys()].map((i) => i + 1).filter((p) => !used.has(p));
      const virqs: PortRecord[] = [
        { port: free[0]!, state: PortState.VIRQ, vcpu: 1, remote: Virq.TIMER, remotePort: 0 },
        { port: free[1]!, state: PortState.VIRQ, vcpu: 0, remote: Virq.CONSOLE, remotePort: 0 },
      ];
      return [...open, ...virqs].sort((a, b) => a.port - b.port);
    }),
  );
const grants: fc.Arbitrary<GrantTableState> = fc.option(
  fc
    .integer({ min: 1, max: 4 })
    .chain((frames) =>
      fc.integer({ min: 0, max: FRAMES - frames }).map((p) => ({ off: p * 4096, entries: frames * 512 })),
    ),
);
const sched: fc.Arbitrary<SchedState> = fc.array(
  rec({
    timer: ticks,
    wait: fc.constantFrom(0 as const, 1 as const, 2 as const),
    pollPorts: fc.array(fc.integer({ min: 1, max: 1023 }), { maxLength: 5 }),
    pollDeadline: ticks,
  }),
  { minLength: 2, maxLength: 2 },
);
const balloon: fc.Arbitrary<BalloonState> = rec({
  released: ascending(FRAMES - 1, 10),
  target: fc.integer({ min: 0, max: FRAMES }),
});
codecTest('PVX shared info', sharedInfoStateCodec, shinfo, pvxShape);
codecTest('PVX event channels', eventChannelsStateCodec, ports, pvxShape);
codecTest('PVX grant table', grantTableStateCodec, grants, pvxShape);
codecTest('PVX scheduling', schedStateCodec, sched, pvxShape);
codecTest('PVX balloon', balloonStateCodec, balloon, pvxShape);
codecTest<PvxState, typeof pvxShape>(
  'PVX domain',
  pvxStateCodec,
  fc
    .record(
      {
        domid: fc.integer({ min: 1, max: 0x7fef }),
        vcpus: fc.constant(2),
        frames: fc.constant(FRAMES),
        systemTicks: fc.maxSafeNat(), // never negative (a save file with negative system time is refused)
        shutdownRequest: fc.constantFrom(0, 1, 2),
        shinfo: page,
        events: ports,
        grants,
        sched,
        memory: balloon,
      },
      { noNullPrototype: true },
    )
    .map((s): PvxState => s),
  pvxShape,
);

// ---- the save file's own sections
codecTest<readonly SnapshotDisk[], void>(
  'DISK section',
  snapshotDisksCodec,
  fc.array(
    rec({
      device: fc.string({ maxLength: 8 }),
      path: fc.string({ unit: 'binary', maxLength: 40 }),
      readOnly: fc.boolean(),
    }),
    {
      maxLength: 4,
    },
  ),
  undefined,
);

/**
 * Fuzz targets (fast-check properties) over pvm's untrusted-input surfaces that a guest or a save
 * file reaches: the SBI/PVX dispatcher, the snapshot reader (whole files with their checksums
 * recomputed, and single component states) and each virtio device's rings. `bench/fuzz` runs
 * each for a given time; test/fuzz-targets.test.ts runs each a bounded number of times in CI.
 *
 * Each target is stateful across one batch (`start` builds the domain or device once and every
 * run of the batch goes on from the state the previous runs left), which is both faster and
 * closer to a long-lived hostile guest; a finding names the batch seed, which replays it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ControlPlane } from '../../src/api/control.js';
import { FakeDomainManager } from '../../src/api/fake-domain.js';
import { isSnapshotError } from '../../src/core/state.js';
import { gpa } from '../../src/core/types.js';
import { Hart } from '../../src/cpu/hart.js';
import { HART_STATE_BYTES } from '../../src/cpu/jit/state.js';
import { EMPTY_BUS } from '../../src/cpu/types.js';
import {
  ETH_HEADER,
  MAX_FRAME,
  macKey,
  parseMac,
  type SwitchEndpoint,
  VirtualSwitch,
} from '../../src/devices/switch.js';
import { decodeFrames, encodeFrames, MAX_LINK_MESSAGE, SwitchLinkPort } from '../../src/devices/switch-link.js';
import { MmioReg } from '../../src/devices/virtio/constants.js';
import { VirtioMmio } from '../../src/devices/virtio/mmio.js';
import { MockDriver } from '../../src/devices/virtio/mock-driver.js';
import { createLogger } from '../../src/host/logger.js';
import { nodeSnapshotCodecs } from '../../src/host/snapshot-file.js';
import type { Domain, DomainHost } from '../../src/hypervisor/domain.js';
import {
  decodeMessage,
  encodeEmpty,
  encodeError,
  encodeHello,
  encodePages,
  MIGRATION_PAGE_SIZE,
  MigrationStreamError,
  MSG,
  pageRecords,
  writePages,
} from '../../src/hypervisor/migration/stream.js';
import { PvxHost } from '../../src/hypervisor/pvx/host.js';
import type { PvxDomain } from '../../src/hypervisor/pvx/pvx-domain.js';
import { servePvx } from '../../src/hypervisor/pvx/remote.js';
import { LoopRemote } from '../../src/hypervisor/pvx/testing.js';
import { type DomainSnapshot, decodeSnapshotBytes, encodeSnapshotBytes } from '../../src/hypervisor/snapshot/index.js';
import { fakeImage } from '../../src/hypervisor/testing.js';
import { HartThreads, HELD, HOLD, HOLD_GEN, WorkerChannel } from '../../src/hypervisor/threads.js';
import { createVm } from '../../src/hypervisor/vm.js';
import { GuestRam } from '../../src/memory/ram.js';
import { Eid, HsmState } from '../../src/sbi/consts.js';
import { decodeHartMask } from '../../src/sbi/hartmask.js';
import { HYPERCALL_CATALOG } from '../../src/sbi/policy.js';
import { PVX_CALLS } from '../../src/sbi/pvx/calls.js';
import { PVX_EID, PvxFid } from '../../src/sbi/pvx/consts.js';
import type { SbiArgs } from '../../src/sbi/types.js';
import { type Daemon, startDaemon } from '../../src/server/daemon.js';
import { fileSnapshotStore } from '../../src/server/local.js';
import { checkedPages, progressOf } from '../../src/server/pool-protocol.js';
import { checkConfigText, checkRouterAnswer, configTextArb, requestArb } from './host-targets.js';
import { canaryIntact, devices, type Make, offer, QSIZE, scenario, VQ_BASE, VQ_RAM } from './virtqueue.js';

/** One fuzz target: `start` gives the property for one batch (state shared by its runs). */
export interface FuzzTarget {
  readonly name: string;
  /** What it feeds and what it checks, one line. */
  readonly about: string;
  /** A fresh property for one batch; the runs of the batch share its state. */
  start(): fc.IPropertyWithHooks<unknown> | fc.IAsyncPropertyWithHooks<unknown>;
  /** Whether the property is asynchronous (device completions run as promises). */
  readonly async?: boolean;
  /** Releases what the target started (a daemon), once its runs are over. */
  close?(): Promise<void>;
}

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 4 << 20;
const U64 = (1n << 64n) - 1n;
const host: DomainHost = { nowMs: () => 100, idle: async () => {}, yield: async () => {}, consoleOut: () => {} };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function pvDomain(pvxHost = new PvxHost<PvxDomain>(), sharedRam = false): Domain {
  return createVm({ mode: 'pv', harts: 2, memory: RAM_SIZE, kernel: fakeImage(), cmdline: '' }, host, {
    pvxHost,
    ...(sharedRam && { sharedRam }),
  });
}

/** The same domain with hart 1 on a thread (never run: no worker starts, a load keeps the state for it). */
function threadedDomain(): Domain {
  const spawn = () => {
    throw new Error('no worker in the fuzz target');
  };
  return createVm({ mode: 'pv', harts: 2, memory: RAM_SIZE, kernel: fakeImage(), cmdline: '', threads: true }, host, {
    pvxHost: new PvxHost<PvxDomain>(),
    threads: { spawn },
  });
}

/** Arguments a guest might pass: small numbers, RAM and grant-window addresses, anything. */
const arg = fc.oneof(
  { arbitrary: fc.constantFrom(0n, 1n, 2n, 3n, 7n, 8n, 63n, 64n, 512n, 1023n, 1024n, 4096n, 0x7ff0n), weight: 4 },
  {
    arbitrary: fc.integer({ min: 0, max: RAM_SIZE / 4096 - 1 }).map((p) => BigInt(RAM_BASE + p * 4096)),
    weight: 3,
  },
  { arbitrary: fc.integer({ min: 0, max: RAM_SIZE - 1 }).map((o) => BigInt(RAM_BASE + o)), weight: 1 },
  { arbitrary: fc.constantFrom(0x4000_0000n, 0x43ff_f000n, U64, 1n << 63n, BigInt(RAM_BASE - 8)), weight: 1 },
  { arbitrary: fc.bigInt({ min: 0n, max: U64 }), weight: 2 },
);
const args = fc.array(arg, { minLength: 6, maxLength: 6 }) as fc.Arbitrary<unknown> as fc.Arbitrary<SbiArgs>;
const STANDARD_EIDS = Object.values(Eid).filter((e) => e !== Eid.FIRMWARE_FIRST && e !== Eid.FIRMWARE_LAST);
const eid = fc.oneof(
  { arbitrary: fc.constantFrom(...STANDARD_EIDS, PVX_EID).map(BigInt), weight: 8 },
  { arbitrary: fc.bigInt({ min: 0n, max: U64 }), weight: 1 },
  { arbitrary: fc.integer({ min: 0x0a00_0000, max: 0x0aff_ffff }).map(BigInt), weight: 1 },
);
const fid = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 8 }).map(BigInt), weight: 6 },
  { arbitrary: fc.constantFrom(...PVX_CALLS.map((c) => BigInt(c.fid))), weight: 4 },
  { arbitrary: fc.bigInt({ min: 0n, max: U64 }), weight: 1 },
);

/** Statistics keys the dispatcher may have: the catalog, `unknown` per extension, `denied`. */
function statsBounded(d: Domain): boolean {
  let keys = 0;
  for (const fns of Object.values(d.sbi.stats)) keys += Object.keys(fns).length;
  const known = Object.values(HYPERCALL_CATALOG).reduce((a, f) => a + 2 * f.length + 1, 0);
  return keys <= known + 1;
}

/** Any SBI or PVX call from either hart: an SBI error code, no exception, bounded statistics. */
const sbiTarget: FuzzTarget = {
  name: 'sbi-dispatcher',
  about: 'random SBI and PVX calls (any EID, FID, arguments) on a PV domain: error codes only, bounded counters',
  start() {
    const d = pvDomain();
    return fc.property(eid, fid, args, fc.nat(1), (e, f, a, hart) => {
      const r = d.sbi.call(hart, e, f, a);
      check(Number.isInteger(r.error) && r.error <= 0 && r.error >= -13, `error ${r.error}`);
      check(typeof r.value === 'bigint' && r.value >= 0n && r.value <= U64, `value ${r.value}`);
      check(statsBounded(d), 'statistics keys beyond the catalog');
    });
  },
};

/**
 * The calls a hart on a thread serves itself (threads.ts `serveLocally`): hart 1's worker side
 * of a 3-hart threaded domain (harts 0 and 2 marked held, so fences of them do not wait) gets
 * random calls; whatever it serves must be a call the SBI layer answers SUCCESS (a plain 3-hart
 * domain is the reference), and every such IPI or fence not naming hart 0 for a fence must be
 * served there.
 */
const workerCallsTarget: FuzzTarget = {
  name: 'worker-calls',
  about: 'random SBI calls of a hart on a thread: served there exactly when the SBI layer succeeds and it may',
  start() {
    const harts = 3;
    const threads = new HartThreads(harts, () => {});
    const ram = new GuestRam(RAM_BASE, RAM_SIZE, harts * HART_STATE_BYTES, { shared: true });
    threads.prepare(
      {
        remoteEcall: () => HsmState.STARTED,
        stopping: false,
        fail: () => {},
        sendIpi: () => {},
        allowsCall: () => true,
        callPolicy: {},
      },
      { spawn: () => ({ terminate: () => {} }) },
      {} as never,
      () => 0,
    );
    threads.serve(); // the calls allowed, into the control words
    const w = new Int32Array(threads.control);
    // held as HartThreads.hold leaves a worker: asked to hold (generation 1) and stopped for it
    for (const k of [0, 2]) for (const i of [HOLD_GEN, HELD, HOLD]) Atomics.store(w, threads.at(k, i), 1);
    const ch = new WorkerChannel(threads.control, 1);
    const h = new Hart(ram, EMPTY_BUS, { id: 1, virtualM: true, jit: false });
    ch.hart = h;
    const ref = createVm({ mode: 'pv', harts, memory: RAM_SIZE, kernel: fakeImage(), cmdline: '' }, host);
    return fc.property(eid, fid, args, (e, f, a) => {
      h.setX(17, e);
      h.setX(16, f);
      for (let i = 0; i < a.length; i++) h.setX(10 + i, a[i]!);
      const served = ch.serveLocally(harts);
      const r = ref.sbi.call(1, e, f, a);
      if (served) {
        check(r.error === 0, `served on the thread, the SBI layer says ${r.error}`);
        check(h.getX(10) === 0n && h.getX(11) === 0n, 'a0, a1 of a call served on the thread');
      }
      const mayServe = (e === BigInt(Eid.IPI) && f === 0n) || (e === BigInt(Eid.RFENCE) && f >= 0n && f <= 2n);
      if (mayServe && r.error === 0) {
        const targets = decodeHartMask(a[0], a[1], harts);
        const fenceOfHart0 = e === BigInt(Eid.RFENCE) && typeof targets !== 'number' && targets.includes(0);
        check(served || fenceOfHart0, 'a call the thread may serve went to the owner');
      }
    });
  },
};

/** PVX calls between two domains of one registry, multicall batches with random entries. */
const pvxTarget: FuzzTarget = {
  name: 'pvx-dispatcher',
  about: 'random PVX calls (known FIDs, guest-like arguments, random multicall batches) between two domains',
  start() {
    const reg = new PvxHost<PvxDomain>();
    const a = pvDomain(reg);
    const b = pvDomain(reg);
    const call = (d: Domain, f: number, ...x: number[]) =>
      d.sbi.call(0, BigInt(PVX_EID), BigInt(f), [0, 1, 2, 3, 4, 5].map((i) => BigInt(x[i] ?? 0)) as unknown as SbiArgs);
    // Some state to attack: shared info pages, a grant table, channels.
    for (const d of [a, b]) {
      call(d, PvxFid.SHINFO_SET, RAM_BASE + 0x10_0000);
      call(d, PvxFid.GNTTAB_SETUP, RAM_BASE + 0x11_0000, 2);
      call(d, PvxFid.EVTCHN_BIND_IPI, 0);
    }
    call(a, PvxFid.EVTCHN_ALLOC_UNBOUND, b.pvx!.id);
    const mc = RAM_BASE + 0x20_0000;
    return fc.property(
      fc.constantFrom(...PVX_CALLS.map((c) => c.fid)),
      args,
      fc.boolean(),
      fc.uint8Array({ minLength: 72 * 4, maxLength: 72 * 4 }),
      (f, x, onA, batch) => {
        const d = onA ? a : b;
        if (f === PvxFid.MULTICALL) {
          d.ram.u8.set(batch, mc - RAM_BASE);
          new DataView(d.ram.u8.buffer).setUint32(mc - RAM_BASE + 72, PVX_EID, true);
          x = [BigInt(mc), x[1]! & 7n, x[2]!, x[3]!, x[4]!, x[5]!] as unknown as SbiArgs;
        }
        const r = d.sbi.call(0, BigInt(PVX_EID), BigInt(f), x);
        check(Number.isInteger(r.error) && r.error <= 0 && r.error >= -13, `error ${r.error}`);
      },
    );
  },
};

/** Fields of the messages between the pool's threads: good values, neighbours, other types. */
const wireValue = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 5, 511, 512, 1023, 1024, 4095, 4096, 0x7fef, 0x7ff0, -1, -3, 2 ** 32, 1.5, NaN),
  fc.integer(),
  fc.boolean(),
  fc.constantFrom(null, undefined, '1', [1], {}),
  fc.uint8Array({ maxLength: 4097 }),
);
const wireMessage = fc.record(
  {
    k: fc.constantFrom('bind', 'linked', 'map', 'copy', 'signal', 'closed', 'unmapped', 'unmap', 'gone', 'other'),
    to: fc.oneof(fc.constantFrom(1, 2), wireValue),
    from: fc.oneof(fc.constantFrom(1, 2), wireValue),
    id: wireValue,
    port: wireValue,
    fromPort: wireValue,
    ref: wireValue,
    page: wireValue,
    ro: wireValue,
    before: fc.oneof(fc.constantFrom(0, -3, -5, -6, -11), wireValue),
    after: fc.oneof(fc.constantFrom(0, -6), wireValue),
    have: wireValue,
    offset: wireValue,
    len: wireValue,
    toGrant: wireValue,
    data: wireValue,
  },
  { requiredKeys: ['k'] },
);

/**
 * Two domains in two registries, as on two threads of the daemon's pool (remote.ts): PVX calls
 * that cross between them, and messages of the other thread made up whole.
 */
const pvxRemoteTarget: FuzzTarget = {
  name: 'pvx-remote',
  about: "PVX calls between registries of two threads, and random messages into a registry's servePvx",
  start() {
    const ha = new PvxHost<PvxDomain>();
    const hb = new PvxHost<PvxDomain>();
    ha.remote = new LoopRemote(() => hb);
    hb.remote = new LoopRemote(() => ha);
    const a = pvDomain(ha, true);
    const b = pvDomain(hb, true);
    const call = (d: Domain, f: number, ...x: number[]) =>
      d.sbi.call(0, BigInt(PVX_EID), BigInt(f), [0, 1, 2, 3, 4, 5].map((i) => BigInt(x[i] ?? 0)) as unknown as SbiArgs);
    for (const d of [a, b]) {
      call(d, PvxFid.SHINFO_SET, RAM_BASE + 0x10_0000);
      call(d, PvxFid.GNTTAB_SETUP, RAM_BASE + 0x11_0000, 2);
    }
    call(a, PvxFid.EVTCHN_ALLOC_UNBOUND, b.pvx!.id);
    call(b, PvxFid.EVTCHN_ALLOC_UNBOUND, a.pvx!.id);
    return fc.property(
      fc.constantFrom(...PVX_CALLS.map((c) => c.fid)),
      args,
      fc.boolean(),
      fc.option(wireMessage, { freq: 2 }),
      (f, x, onA, m) => {
        if (m !== null) {
          const r = servePvx(onA ? ha : hb, m);
          check(r === undefined || (Number.isInteger(r.err) && r.err <= 0 && r.err >= -13), `reply ${r?.err}`);
          return;
        }
        const r = (onA ? a : b).sbi.call(0, BigInt(PVX_EID), BigInt(f), x);
        check(Number.isInteger(r.error) && r.error <= 0 && r.error >= -13, `error ${r.error}`);
      },
    );
  },
};

/** The file with its total size (header offset 24) and checksum trailer made to fit its new contents. */
function reseal(file: Uint8Array): Uint8Array {
  const out = file.slice();
  const n = nodeSnapshotCodecs.hasher.size;
  if (out.length >= 48) new DataView(out.buffer).setBigUint64(24, BigInt(out.length), true);
  if (out.length >= 48 + n) {
    const h = nodeSnapshotCodecs.hasher.create();
    h.update(out.subarray(0, out.length - n));
    out.set(h.digest(), out.length - n);
  }
  return out;
}

/** A save file of a domain with some of every kind of state (harts, timers, input, PVX). */
function busySnapshot(): DomainSnapshot {
  const d = pvDomain();
  const call = (f: number, ...x: number[]) =>
    d.sbi.call(0, BigInt(PVX_EID), BigInt(f), [0, 1, 2, 3, 4, 5].map((i) => BigInt(x[i] ?? 0)) as unknown as SbiArgs);
  d.hartStart(1, 0x8020_1000n, 77n);
  d.setTimer(1, 9_000_000n);
  d.input(Uint8Array.of(0x6c, 0x73, 0x0a));
  call(PvxFid.SHINFO_SET, RAM_BASE + 0x10_0000);
  call(PvxFid.EVTCHN_BIND_VIRQ, 0, 0);
  call(PvxFid.EVTCHN_BIND_IPI, 1);
  call(PvxFid.TIMER_SET, 5_000_000);
  call(PvxFid.GNTTAB_SETUP, RAM_BASE + 0x11_0000, 2);
  const snap: DomainSnapshot = { meta: { name: 'fuzz', config: { memory: '4M' } }, ...d.saveState(), disks: [] };
  d.pvx?.destroy();
  return snap;
}

/** Loads `snap` into `d`: success, or a SnapshotError (anything else is a finding); then `check`. */
function loadOrRefuse(d: Domain, load: () => DomainSnapshot, check?: (d: Domain, loaded: boolean) => void): void {
  let loaded = false;
  try {
    d.loadState(load());
    loaded = true;
  } catch (e) {
    if (!isSnapshotError(e)) throw e;
  }
  check?.(d, loaded);
}

const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 });

/** Whole save files, bytes changed / inserted / deleted, size and checksum recomputed. */
const snapshotFileTarget: FuzzTarget = {
  name: 'snapshot-file',
  about: 'save files with bytes changed, inserted or cut, size and checksum recomputed: read or SnapshotError',
  start() {
    const good = encodeSnapshotBytes(busySnapshot(), nodeSnapshotCodecs);
    const d = pvDomain();
    const body = (n: number) => 48 + (n % (good.length - 48 - 32));
    return fc.property(edits, fc.uint8Array({ maxLength: 8 }), fc.nat(16), (e, extra, cut) => {
      let f = good.slice();
      for (const [at, v] of e) f[body(at)] = v;
      const p = body(e[0]![0]);
      f = Uint8Array.of(...f.subarray(0, p), ...extra, ...f.subarray(p + cut));
      loadOrRefuse(d, () => decodeSnapshotBytes(reseal(f), nodeSnapshotCodecs));
    });
  },
};

/**
 * One component state (a hart, a device, the run loop, PVX) damaged inside a well-formed file,
 * loaded into `domain()`; what `checker` makes (once per start) runs after each load or refusal.
 */
function stateTarget(
  name: string,
  about: string,
  domain: () => Domain,
  checker?: () => (d: Domain, loaded: boolean) => void,
): FuzzTarget {
  return {
    name,
    about,
    start() {
      const good = busySnapshot();
      const parts = good.harts.length + good.devices.length + 1;
      const d = domain();
      const check = checker?.();
      const hurt = (b: Uint8Array, e: [number, number][], cut: number, extra: Uint8Array): Uint8Array => {
        const c = b.slice();
        for (const [at, v] of e) if (c.length > 0) c[at % c.length] = v;
        return cut > 0 ? c.subarray(0, Math.max(0, c.length - cut)) : Uint8Array.of(...c, ...extra);
      };
      return fc.property(
        fc.nat(parts - 1),
        edits,
        fc.nat(4),
        fc.uint8Array({ maxLength: 4 }),
        (which, e, cut, extra) => {
          loadOrRefuse(
            d,
            () => {
              const h = good.harts.length;
              if (which < h) {
                const harts = good.harts.map((x, i) => (i === which ? hurt(x, e, cut, extra) : x));
                return { ...good, harts };
              }
              if (which < h + good.devices.length) {
                const devices = good.devices.map((x, i) =>
                  i === which - h ? { ...x, state: hurt(x.state, e, cut, extra) } : x,
                );
                return { ...good, devices };
              }
              return { ...good, para: hurt(good.para, e, cut, extra) };
            },
            check,
          );
        },
      );
    },
  };
}

const snapshotStateTarget = stateTarget(
  'snapshot-state',
  'one component state of a save file (hart, board device, run loop, PVX) damaged: loaded or SnapshotError',
  pvDomain,
);

/**
 * The same into a domain whose hart 1 runs on a thread: a load hands hart 1's state to its
 * worker-to-be (RemoteHart.restored), which a refusal leaves as it was.
 */
const snapshotThreadsTarget = stateTarget(
  'snapshot-threads',
  'one component state damaged, loaded into a domain with a hart on a thread: loaded or SnapshotError, a refusal keeps the hart as it was',
  threadedDomain,
  () => {
    let before: unknown = null;
    return (d: Domain, loaded: boolean) => {
      const r = (d.vcpus[1]!.hart as { restored?: unknown }).restored;
      if (r === undefined) throw new Error('hart 1 is not on a thread');
      if (!loaded && r !== before) throw new Error('a refused load changed the state of the hart on a thread');
      before = r;
    };
  },
);

// ---------------------------------------------------------------- virtio devices

/** Hostile rings against one device: no exception, no write outside the buffers given, rings untouched. */
function virtioTarget(kind: string, make: Make): FuzzTarget {
  return {
    name: `virtio-${kind}`,
    about: `hostile descriptor tables, available rings and register writes against virtio-${kind}`,
    async: true,
    start() {
      const ram = new GuestRam(VQ_BASE, VQ_RAM);
      const { device, queues } = make();
      const mmio = new VirtioMmio(device, ram, { set() {} });
      return fc.asyncProperty(scenario, async (s) => {
        // Each run starts from a reset device: the driver brings it up again (liveness).
        const drv = new MockDriver(ram, mmio, VQ_BASE + 0x1000);
        drv.w32(MmioReg.STATUS, 0);
        const qs = drv.start(queues.map(() => QSIZE));
        check(!drv.needsReset, 'device alive after a reset');
        const { q, driverOwned } = offer(ram, drv, qs, s);
        const before = driverOwned();
        q.kick();
        // Completions of asynchronous backends (blk) are promise callbacks: let them run.
        for (let i = 0; i < 4; i++) await Promise.resolve();
        check(q.usedIdx <= s.heads.length, 'never more used entries than offered');
        check(canaryIntact(ram), 'no write outside the given buffers');
        check(driverOwned() === before, 'descriptor table and available ring untouched');
        ram.fill(gpa(VQ_BASE), 0x10_0000, 0);
      });
    },
  };
}

/** Any request to a daemon's router (on a fake domain manager): a documented status and a JSON error. */
function routerTarget(): FuzzTarget {
  let daemon: Promise<{ daemon: Daemon; dir: string }> | undefined;
  const start = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvm-fuzz-router-'));
    const d = await startDaemon({
      control: new ControlPlane({ manager: new FakeDomainManager(), store: fileSnapshotStore }),
      logger: createLogger({ level: 'silent' }),
      socketPath: join(dir, 'pvmd.sock'),
    });
    return { daemon: d, dir };
  };
  return {
    name: 'api-router',
    about: 'any method, path, query, content type and body: a documented status, a JSON error, no stack',
    async: true,
    start: () =>
      fc.asyncProperty(requestArb, async (r) => {
        daemon ??= start();
        await checkRouterAnswer((await daemon).daemon.socketPath, r);
      }),
    async close() {
      if (daemon === undefined) return;
      const { daemon: d, dir } = await daemon;
      daemon = undefined;
      await d.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Any JSON or YAML text (alias bombs, odd tags, huge numbers): a config or one usage error. */
const configTarget: FuzzTarget = {
  name: 'config-loader',
  about: 'any JSON or YAML text: a config or one usage error with a message',
  start: () => fc.property(configTextArb, checkConfigText),
};

/**
 * The live-migration stream decoder (what a destination daemon reads from the network): valid
 * messages with bytes changed, inserted or cut, and random bytes. Each decodes to a message
 * whose pages lie inside RAM, or is refused with a MigrationStreamError; nothing else.
 */
const migrationStreamTarget: FuzzTarget = {
  name: 'migration-stream',
  about: 'migration stream messages damaged or random: a message with pages inside RAM, or MigrationStreamError',
  start() {
    const ramPages = 64;
    const ram = new Uint8Array(ramPages * MIGRATION_PAGE_SIZE);
    ram[5 * MIGRATION_PAGE_SIZE + 7] = 1;
    const scratch = new Uint8Array(ram.length);
    const good = [
      encodeHello({
        protocol: 2,
        snapshotVersion: 3,
        pvm: '0.1.0',
        name: 'vm',
        config: { memory: '16M' },
        ramBase: 0x8000_0000,
        ramBytes: ramPages * MIGRATION_PAGE_SIZE,
        disks: [{ path: '/d.img', size: 4096, ino: 7, readOnly: false }],
      }),
      encodePages(ram, 2, [0, 5, 63], 0, 3),
      encodeError('bad-request', 'no'),
      encodeEmpty(MSG.go),
      encodeEmpty(MSG.sync),
    ];
    return fc.property(
      fc.nat(good.length),
      edits,
      fc.uint8Array({ maxLength: 16 }),
      fc.nat(64),
      (which, e, extra, cut) => {
        let m = which === good.length ? Uint8Array.from(extra) : good[which]!.slice();
        for (const [at, v] of e) if (m.length > 0) m[at % m.length] = v;
        const p = m.length === 0 ? 0 : e[0]![0] % m.length;
        m = Uint8Array.of(...m.subarray(0, p), ...extra, ...m.subarray(p + cut));
        try {
          const msg = decodeMessage(m, ramPages);
          if (msg.type === MSG.pages) {
            // Applying a checked message cannot fail or reach past RAM.
            writePages(msg, scratch);
            for (const pg of pageRecords(msg)) {
              if (pg.page >= ramPages) throw new Error(`page ${pg.page} outside RAM was accepted`);
              if (pg.data !== null && pg.data.length !== MIGRATION_PAGE_SIZE)
                throw new Error('a short page was accepted');
            }
          }
        } catch (err) {
          if (!(err instanceof MigrationStreamError)) throw err;
        }
      },
    );
  },
};

/**
 * What the migration adds between a pool's threads (docs/migration.md, "Daemons with workers"):
 * the bytes of a 'pages' message a worker gets for an arriving domain (a PAGES message damaged,
 * cut or random, or not bytes at all) are a PAGES message whose pages lie inside its RAM, applied
 * without reaching past it, or a MigrationStreamError; and any value posted as a worker's
 * `progress` is passed on as a phase and two counts (done at most total) or dropped.
 */
const poolMigrationTarget: FuzzTarget = {
  name: 'pool-migration',
  about:
    "a worker's page messages and progress messages of a migration, damaged or random: checked pages inside RAM or a MigrationStreamError; a well-formed progress or null",
  start() {
    const ramPages = 32;
    const ram = new Uint8Array(ramPages * MIGRATION_PAGE_SIZE);
    ram[3 * MIGRATION_PAGE_SIZE] = 9;
    const scratch = new Uint8Array(ram.length + MIGRATION_PAGE_SIZE);
    const good = encodePages(ram, 1, [0, 3, 31], 0, 3);
    const bytesArb = fc.oneof(
      fc.tuple(edits, fc.nat(64)).map(([e, cut]) => {
        const m = good.slice();
        for (const [at, v] of e) m[at % m.length] = v;
        return m.subarray(0, Math.max(0, m.length - cut));
      }),
      fc.uint8Array({ maxLength: 64 }),
      fc.anything(),
    );
    const progressArb = fc.oneof(
      fc.record({
        kind: fc.constant('progress'),
        seq: fc.nat(),
        phase: fc.oneof(fc.string({ maxLength: 70 }), fc.anything()),
        done: fc.oneof(fc.integer(), fc.double(), fc.anything()),
        total: fc.oneof(fc.integer(), fc.double(), fc.anything()),
      }),
      fc.anything(),
    );
    return fc.property(bytesArb, progressArb, (bytes, progress) => {
      try {
        const m = checkedPages(bytes, ramPages);
        scratch.fill(0xee, ram.length); // a canary past the end of RAM
        writePages(m, scratch.subarray(0, ram.length));
        check(
          scratch.subarray(ram.length).every((b) => b === 0xee),
          'a checked message wrote past RAM',
        );
        for (const pg of pageRecords(m)) check(pg.page < ramPages, `page ${pg.page} outside RAM was accepted`);
      } catch (err) {
        if (!(err instanceof MigrationStreamError)) throw err;
      }
      const p = progressOf(progress);
      if (p !== null) {
        check(Object.keys(p).join() === 'phase,done,total', 'progress with other fields');
        check(typeof p.phase === 'string' && p.phase.length > 0 && p.phase.length <= 64, 'a bad phase passed');
        check(Number.isSafeInteger(p.done) && Number.isSafeInteger(p.total), 'counts not integers');
        check(p.done >= 0 && p.done <= p.total, 'done outside 0..total');
      }
    });
  },
};

/** Messages a peer daemon might send on a switch link: batches, damaged, cut, near the limits, noise. */
const linkFrame = fc.uint8Array({ minLength: ETH_HEADER, maxLength: 1600 });
const linkBatch = fc.array(linkFrame, { minLength: 1, maxLength: 8 }).map((fs) => encodeFrames(fs));
const be32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const linkMessageArb = fc.oneof(
  { arbitrary: linkBatch, weight: 4 },
  {
    arbitrary: fc.tuple(linkBatch, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([m, at, v]) => {
      const c = m.slice();
      c[at % c.length] = v;
      return c;
    }),
    weight: 3,
  },
  { arbitrary: fc.tuple(linkBatch, fc.nat()).map(([m, n]) => m.subarray(0, n % (m.length + 1))), weight: 2 },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom(0, 1, 13, ETH_HEADER, MAX_FRAME, MAX_FRAME + 1, 0x7fff_ffff, 0xffff_ffff),
        fc.uint8Array({ maxLength: 64 }),
      )
      .map(([len, rest]) => Uint8Array.of(...be32(len), ...rest)),
    weight: 2,
  },
  { arbitrary: fc.uint8Array({ maxLength: 256 }), weight: 1 },
);

/**
 * A switch link's receive side (src/devices/switch-link.ts): any message from a peer daemon is
 * either split into frames that all reach the switch (a NIC counts them) or refused with a reason
 * that ends the link; never an exception, never a frame outside the limits.
 */
const switchLinkTarget: FuzzTarget = {
  name: 'switch-link',
  about: 'any message from a peer daemon: its frames reach the switch, or one refusal ends the link',
  start: () => {
    const sw = new VirtualSwitch('lan');
    let got = 0;
    let bad = 0;
    const nic: SwitchEndpoint = {
      mac: parseMac('52:54:00:00:00:01')!,
      deliver: (f) => {
        got++;
        if (f.length < ETH_HEADER || f.length > MAX_FRAME) bad++;
      },
    };
    sw.attach(nic);
    return fc.property(linkMessageArb, (msg) => {
      let closedWith: string | null = null;
      const link = new SwitchLinkPort(
        {
          send: () => {},
          queuedBytes: 0,
          close: (r) => {
            closedWith = r;
          },
        },
        (fn) => fn(),
      );
      const port = sw.attachPeer(link);
      const before = got;
      const frames = decodeFrames(msg);
      const refused = link.receive(msg);
      port.detach();
      check(bad === 0, 'a frame outside the limits reached a NIC');
      if (typeof frames === 'string') {
        check(refused === frames && closedWith === frames && got === before, `refusal: ${frames}`);
        check(link.stats.malformed === 1, 'a refusal is counted');
      } else {
        check(refused === null && closedWith === null, 'a good batch ends nothing');
        check(msg.length <= MAX_LINK_MESSAGE, 'only messages within the limit are taken');
        check(
          frames.every((f) => f.length >= ETH_HEADER && f.length <= MAX_FRAME),
          'frame sizes',
        );
        const again = encodeFrames(frames);
        check(again.length === msg.length && again.every((b, i) => b === msg[i]), 'the batch re-encodes to itself');
        // What the switch does with them: a multicast source is dropped; a destination the peer's
        // frames of this message taught it lives behind the peer is not sent back; all else reaches the NIC.
        const behindPeer = new Set<number>();
        let want = 0;
        for (const f of frames) {
          if ((f[6]! & 1) === 1) continue;
          behindPeer.add(macKey(f, 6));
          if ((f[0]! & 1) === 1 || !behindPeer.has(macKey(f, 0))) want++;
        }
        check(got - before === want, `the NIC got ${got - before} frames, expected ${want}`);
      }
    });
  },
};

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  sbiTarget,
  workerCallsTarget,
  pvxTarget,
  pvxRemoteTarget,
  snapshotFileTarget,
  snapshotStateTarget,
  snapshotThreadsTarget,
  ...Object.entries(devices).map(([k, m]) => virtioTarget(k, m)),
  routerTarget(),
  configTarget,
  switchLinkTarget,
  migrationStreamTarget,
  poolMigrationTarget,
];

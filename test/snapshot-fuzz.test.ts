/**
 * The snapshot reader against hostile files (fast-check): a real save file of
 * a busy PV domain (two harts, HSM and timer state, console input, shared
 * info, event channels, a grant table, a ballooned page), with bytes
 * overwritten, inserted or deleted, its total size and checksum recomputed so
 * that the damage reaches the sections and the component states. Reading and
 * loading each such file either succeeds or throws a SnapshotError; nothing
 * else escapes, and a refused load leaves the domain it was loaded into as
 * it was built, its PVX id the only one in its registry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isSnapshotError } from '../src/core/state.js';
import { nodeSnapshotCodecs } from '../src/host/snapshot-file.js';
import type { Domain, DomainHost } from '../src/hypervisor/domain.js';
import { PvxHost } from '../src/hypervisor/pvx/host.js';
import type { PvxDomain } from '../src/hypervisor/pvx/pvx-domain.js';
import { type DomainSnapshot, decodeSnapshotBytes, encodeSnapshotBytes } from '../src/hypervisor/snapshot/index.js';
import { fakeImage } from '../src/hypervisor/testing.js';
import { createVm } from '../src/hypervisor/vm.js';
import { PVX_EID, PvxFid } from '../src/sbi/pvx/consts.js';
import type { SbiArgs } from '../src/sbi/types.js';

const codecs = nodeSnapshotCodecs;
const RAM_BASE = 0x8000_0000;

const host: DomainHost = { nowMs: () => 100, idle: async () => {}, yield: async () => {}, consoleOut: () => {} };

function vm(pvxHost: PvxHost<PvxDomain>): Domain {
  return createVm({ mode: 'pv', harts: 2, memory: 4 << 20, kernel: fakeImage(), cmdline: '' }, host, { pvxHost });
}

function pvx(d: Domain, fid: number, ...a: number[]): void {
  const args = [0, 1, 2, 3, 4, 5].map((i) => BigInt(a[i] ?? 0)) as unknown as SbiArgs;
  const r = d.sbi.call(0, BigInt(PVX_EID), BigInt(fid), args);
  assert.equal(r.error, 0, `PVX 0x${fid.toString(16)}`);
}

/** The save file of a domain with some of every kind of state. */
function busyFile(): Uint8Array {
  const d = vm(new PvxHost<PvxDomain>());
  d.hartStart(1, 0x8020_1000n, 77n);
  d.setTimer(1, 9_000_000n);
  d.input(Uint8Array.of(0x6c, 0x73, 0x0a));
  pvx(d, PvxFid.SHINFO_SET, RAM_BASE + 0x10_0000);
  pvx(d, PvxFid.EVTCHN_BIND_VIRQ, 0, 0);
  pvx(d, PvxFid.EVTCHN_BIND_IPI, 1);
  pvx(d, PvxFid.EVTCHN_ALLOC_UNBOUND, 0x7ff0);
  pvx(d, PvxFid.TIMER_SET, 5_000_000);
  pvx(d, PvxFid.GNTTAB_SETUP, RAM_BASE + 0x11_0000, 2);
  new DataView(d.ram.u8.buffer).setBigUint64(0x12_0000, BigInt((RAM_BASE + 0x13_0000) / 4096), true);
  pvx(d, PvxFid.MEMORY_DECREASE, RAM_BASE + 0x12_0000, 1);
  const snap: DomainSnapshot = { meta: { name: 'fuzz', config: { memory: '4M' } }, ...d.saveState(), disks: [] };
  d.pvx?.destroy();
  return encodeSnapshotBytes(snap, codecs);
}

/** The file with its total size (header offset 24) and checksum trailer made to fit its new contents. */
function reseal(file: Uint8Array): Uint8Array {
  const out = file.slice();
  const n = codecs.hasher.size;
  if (out.length >= 48) new DataView(out.buffer).setBigUint64(24, BigInt(out.length), true);
  if (out.length >= 48 + n) {
    const h = codecs.hasher.create();
    h.update(out.subarray(0, out.length - n));
    out.set(h.digest(), out.length - n);
  }
  return out;
}

type Damage = (f: Uint8Array) => Uint8Array;
const BODY = 48;
/** Bytes of the body (between the header and the checksum) changed, added or taken away. */
const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map(
    (edits): Damage =>
      (f) => {
        const c = f.slice();
        for (const [at, v] of edits) c[BODY + (at % (c.length - BODY - 32))] = v;
        return c;
      },
  ),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(
    ([at, extra]): Damage =>
      (f) => {
        const p = BODY + (at % (f.length - BODY - 32));
        return Uint8Array.of(...f.subarray(0, p), ...extra, ...f.subarray(p));
      },
  ),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 })).map(
    ([at, n]): Damage =>
      (f) => {
        const p = BODY + (at % (f.length - BODY - 32 - n));
        return Uint8Array.of(...f.subarray(0, p), ...f.subarray(p + n));
      },
  ),
);

/** A component's state with a few bytes overwritten, or cut short, or extended. */
const stateDamage: fc.Arbitrary<Damage> = fc.oneof(
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }).map(
    (edits): Damage =>
      (b) => {
        const c = b.slice();
        for (const [at, v] of edits) if (c.length > 0) c[at % c.length] = v;
        return c;
      },
  ),
  fc.nat().map(
    (n): Damage =>
      (b) =>
        b.subarray(0, n % Math.max(1, b.length)),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map(
    (extra): Damage =>
      (b) =>
        Uint8Array.of(...b, ...extra),
  ),
);

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

test('damaged save files with valid checksums are read or refused with a SnapshotError, and a refusal changes nothing', () => {
  const good = busyFile();
  // The undamaged file loads, and saves back the same state (RAM aside: loading rewrites the
  // time fields of the shared info page).
  {
    const h = new PvxHost<PvxDomain>();
    const d = vm(h);
    const snap = decodeSnapshotBytes(good, codecs);
    d.loadState(snap);
    const again = d.saveState();
    assert.deepEqual([again.harts, again.devices, again.para], [snap.harts, snap.devices, snap.para]);
    d.pvx?.destroy();
  }
  let refusedByReader = 0;
  let refusedByDomain = 0;
  /** Read and load `file` into a fresh domain: success, or a SnapshotError and the domain unchanged. */
  const readAndLoad = (file: Uint8Array): void => {
    let snap: DomainSnapshot;
    try {
      snap = decodeSnapshotBytes(file, codecs);
    } catch (e) {
      assert.ok(isSnapshotError(e), String(e));
      refusedByReader++;
      return;
    }
    const h = new PvxHost<PvxDomain>();
    const d = vm(h);
    const fresh = d.saveState();
    try {
      d.loadState(snap);
    } catch (e) {
      assert.ok(isSnapshotError(e), String(e));
      refusedByDomain++;
      const now = d.saveState();
      assert.ok(same(now.ram.bytes, fresh.ram.bytes), 'RAM unchanged');
      assert.deepEqual(now.harts, fresh.harts);
      assert.deepEqual(now.devices, fresh.devices);
      assert.deepEqual(now.para, fresh.para);
      assert.deepEqual(h.ids(), [d.pvx!.id]);
    } finally {
      d.pvx?.destroy();
    }
  };
  // Damage anywhere in the file's body.
  fc.assert(
    fc.property(damage, (hurt) => readAndLoad(reseal(hurt(good)))),
    { numRuns: 200 },
  );
  // Damage inside one component's state (a hart, a device, the run loop, PVX), framed anew.
  const snap = decodeSnapshotBytes(good, codecs);
  const blobs = snap.harts.length + snap.devices.length + 1;
  fc.assert(
    fc.property(fc.nat(blobs - 1), stateDamage, (which, hurt) => {
      const h = snap.harts.length;
      const bad: DomainSnapshot =
        which < h
          ? { ...snap, harts: snap.harts.map((b, i) => (i === which ? hurt(b) : b)) }
          : which < blobs - 1
            ? {
                ...snap,
                devices: snap.devices.map((e, i) => (i === which - h ? { name: e.name, state: hurt(e.state) } : e)),
              }
            : { ...snap, para: hurt(snap.para) };
      readAndLoad(encodeSnapshotBytes(bad, codecs));
    }),
    { numRuns: 300 },
  );
  // Both layers were reached: the framing and the component states.
  assert.ok(refusedByReader > 0 && refusedByDomain > 0, `${refusedByReader} / ${refusedByDomain}`);
});

test('a domain with hart 1 on a thread loads the file and, before it runs, saves back the same state', () => {
  const good = busyFile();
  const threaded = (): Domain =>
    createVm({ mode: 'pv', harts: 2, memory: 4 << 20, kernel: fakeImage(), cmdline: '', threads: true }, host, {
      pvxHost: new PvxHost<PvxDomain>(),
      threads: { spawn: () => assert.fail('no worker: the domain does not run') },
    });
  // built and never run: its hart on a thread saves as a new hart, stopped, as an unthreaded one does
  const fresh = threaded();
  const plain = vm(new PvxHost<PvxDomain>());
  assert.deepEqual(fresh.saveState().harts, plain.saveState().harts);
  fresh.pvx?.destroy();
  plain.pvx?.destroy();
  const d = threaded();
  const snap = decodeSnapshotBytes(good, codecs);
  d.loadState(snap);
  const again = d.saveState();
  assert.deepEqual([again.harts, again.devices, again.para], [snap.harts, snap.devices, snap.para]);
  d.pvx?.destroy();
});

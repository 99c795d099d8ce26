import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeState, encodeState, isSnapshotError, SnapshotError } from '../core/state.js';
import { Csr } from './arch.js';
import type { Hart } from './hart.js';
import { applyHart, captureHart, cpuStateCodec } from './snapshot.js';
import { A, AMO } from './test-asm.js';
import { RAM_BASE, rig } from './test-util.js';

/** lr.d x7, (x10); sc.d x6, x8, (x10) */
const LR_SC = [A.amo(AMO.lr, 3, 7, 10, 0), A.amo(AMO.sc, 3, 6, 10, 8)];
const DATA = RAM_BASE + 0x8000;

function busy(): ReturnType<typeof rig> {
  const r = rig(LR_SC);
  const h = r.hart;
  for (let i = 1; i < 32; i++) h.setX(i, BigInt(i) * 0x0123_4567_89abn - 7n);
  h.setX(10, BigInt(DATA));
  h.setX(8, 0x5555n);
  for (let i = 0; i < 32; i++) h.f[i] = i === 3 ? Number.NaN : i * 1.5 - 3;
  h.fi[7] = 0x7ff8_1234; // a NaN payload in the raw bits
  h.fflags = 0x11;
  h.frm = 2;
  h.setCsr(Csr.mstatus, 0x6000n | 0x80n); // mstatus FS=dirty, MPIE
  h.setCsr(Csr.satp, (8n << 60n) | 0x80123n); // satp Sv39 (the rig does not run with it)
  h.setCsr(Csr.stvec, 0x8020_0100n); // stvec
  h.setCsr(Csr.mscratch, 0xdead_beef_cafen); // mscratch
  h.setCsr(Csr.minstret, 1_000_000n); // minstret: a counter offset in the hidden state
  h.setCsr(Csr.pmpaddr0, 0x2000_0000n); // pmpaddr0
  r.ram.w64(DATA, 0x1234n);
  return r;
}

const saveHart = (h: Hart) => encodeState(cpuStateCodec, captureHart(h));
const loadHart = (h: Hart, blob: Uint8Array) =>
  applyHart(h, decodeState(cpuStateCodec, blob, { id: h.id }, `hart ${h.id} state in the snapshot`));

test('saved hart state loads into another hart and saves to the same bytes', () => {
  const a = busy();
  const blob = saveHart(a.hart);
  const b = rig(LR_SC);
  loadHart(b.hart, blob);
  assert.deepEqual(saveHart(b.hart), blob);
  assert.equal(b.hart.getX(5), a.hart.getX(5));
  assert.equal(b.hart.getCsr(Csr.satp), a.hart.getCsr(Csr.satp));
  assert.equal(b.hart.getCsr(Csr.minstret), a.hart.getCsr(Csr.minstret));
  assert.equal(b.hart.fi[7], 0x7ff8_1234);
});

test('an LR reservation survives save and load: the SC after it succeeds on the restored hart', () => {
  const a = busy();
  a.hart.run(1); // lr.d only
  assert.equal(a.hart.getX(7), 0x1234n);
  const b = busy(); // same RAM contents
  loadHart(b.hart, saveHart(a.hart));
  b.hart.run(1); // sc.d
  assert.equal(b.hart.getX(6), 0n, 'sc.d succeeded');
  assert.equal(b.ram.r64(DATA), 0x5555n);
  // Without the reservation the same SC fails.
  const c = busy();
  c.hart.setPc(a.hart.getPc());
  c.hart.run(1);
  assert.equal(c.hart.getX(6), 1n);
});

test('a blob that is not a hart state is refused before anything changes', () => {
  const b = busy();
  const before = saveHart(b.hart);
  const good = saveHart(busy().hart);
  const refuse = (blob: Uint8Array, why: RegExp) =>
    assert.throws(
      () => loadHart(b.hart, blob),
      (e: unknown) => isSnapshotError(e) && e.kind === 'image' && why.test(e.message),
    );
  const edit = (at: number, f: (v: DataView) => void) => {
    const c = good.slice();
    f(new DataView(c.buffer, at));
    return c;
  };
  refuse(good.subarray(0, good.length - 8), /hart 0 state in the snapshot is not readable: hidden\[10\] needs 8 bytes/);
  refuse(Uint8Array.of(...good, 0), /1 unexpected bytes at the end/);
  refuse(
    edit(0, (v) => v.setUint32(0, 5, true)),
    /hart 0 state in the snapshot does not fit this domain: saved for hart 5/,
  );
  refuse(
    edit(4, (v) => v.setUint8(0, 2)),
    /privilege is 2, not one of 0, 1, 3/,
  );
  refuse(
    edit(5, (v) => v.setBigInt64(0, -(2n ** 40n), true)),
    /pcLo is -1099511627776, not -2147483648..4294967295/,
  );
  const counters = 5 + 8 * 40; // after the 40 words
  refuse(
    edit(counters, (v) => v.setBigUint64(0, 2n ** 60n, true)),
    /instret is 1152921504606846976, not 0..9007199254740991/,
  );
  assert.ok(new SnapshotError('bad-state', 'x') instanceof Error);
  assert.deepEqual(saveHart(b.hart), before);
});

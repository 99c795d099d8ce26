/**
 * AMOs and LR/SC on RAM shared between threads (docs/cpu.md, "LR/SC", "AMOs" and "Shared RAM"):
 * harts on worker threads over one shared WebAssembly.Memory increment shared counters with
 * every AMO form and with LR/SC loops; the totals must be exact. Plain doubleword stores of the
 * interpreter are never seen half-written by another thread. Also the single-hart semantics on
 * shared RAM, run in lockstep against the interpreter on private RAM.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { gpa } from '../src/core/types.js';
import { HART_STATE_BYTES } from '../src/cpu/jit/state.js';
import { A, li64, Prog } from '../src/cpu/test-asm.js';
import { RAM_BASE } from '../src/cpu/test-util.js';
import { GuestRam } from '../src/memory/ram.js';
import { boot, DATA, lockstep, type Machine, machine } from './support/jit-rig.js';

const li = (rd: number, v: number | bigint) => li64(rd, BigInt(v));
const RAM = 1 << 20;
const ITER = 50_000;
const BIG = 0x1_0000_0001n; // every amoadd.d of it carries into the high word

/**
 * Each hart: ITER times amoadd.w +1 at C, amoadd.d +BIG at C+8, an LR.D/SC.D increment loop at
 * C+16, an LR.W/SC.W increment loop at C+24, amomax.w of a unique value at C+32, amoor.d of
 * its own bit at C+40, amoswap.w/amoadd.w pair at C+48 (swap in 1, add back: sum of adds).
 */
function torture(): Prog {
  const C = DATA;
  const p = new Prog().i(...li(8, ITER), ...li(18, C), ...li(5, 1), ...li(6, BIG));
  p.i(A.addi(19, 18, 16), A.addi(20, 18, 24), A.addi(21, 18, 32), A.addi(22, 18, 40), A.addi(23, 18, 8));
  p.i(A.addi(24, 18, 48));
  // x25 = 1 << hart
  p.i(A.addi(25, 0, 1), A.sll(25, 25, 10));
  // start together (threads start milliseconds apart): count in at C+56, wait for all (a1)
  p.i(A.addi(26, 18, 56), A.amo(0x00, 2, 0, 26, 5), A.lw(27, 26, 0), A.bne(27, 11, -4));
  const loop = p.size;
  p.i(A.amo(0x00, 2, 0, 18, 5)); // amoadd.w
  p.i(A.amo(0x00, 3, 0, 23, 6)); // amoadd.d
  // retry until SC succeeds: the bne goes back 12 bytes to the LR
  p.i(A.amo(0x02, 3, 7, 19, 0), A.addi(7, 7, 1), A.amo(0x03, 3, 28, 19, 7), A.bne(28, 0, -12));
  p.i(A.amo(0x02, 2, 7, 20, 0), A.addi(7, 7, 1), A.amo(0x03, 2, 28, 20, 7), A.bne(28, 0, -12));
  // amomax.w of hart*ITER*2 + counter: the maximum is the last hart's first pass
  p.i(A.slli(29, 10, 20), A.add(29, 29, 8), A.amo(0x14, 2, 0, 21, 29));
  p.i(A.amo(0x08, 3, 0, 22, 25)); // amoor.d
  p.i(A.amo(0x00, 2, 0, 24, 5)); // amoadd.w +1 at C+48 (counted separately from C)
  p.i(A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size));
  p.i(A.wfi(), A.jal(0, -4));
  return p;
}

async function runThreads(
  prog: Prog,
  harts: number,
  jit: boolean,
  data: Uint8Array = new Uint8Array(0),
): Promise<{ ram: GuestRam; translated: number }> {
  const ram = new GuestRam(RAM_BASE, RAM, harts * HART_STATE_BYTES, { shared: true });
  assert.equal(ram.shared, true);
  ram.u8.set(prog.toBytes(), 0);
  ram.u8.set(data, DATA - RAM_BASE);
  const url = new URL('./support/atomics-worker.js', import.meta.url);
  const results = await Promise.all(
    Array.from({ length: harts }, (_, k) => {
      const w = new Worker(url, { workerData: { memory: ram.wasmMemory, size: RAM, harts, k, jit } });
      return new Promise<{ instret: number; translated: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }).finally(() => w.terminate());
    }),
  );
  return { ram, translated: results.reduce((a, r) => a + r.translated, 0) };
}

function checkTotals(ram: GuestRam, harts: number): void {
  const at = (o: number) => DATA - RAM_BASE + o;
  const v = ram.view;
  const n = harts * ITER;
  assert.equal(v.getInt32(at(0), true), n, 'amoadd.w');
  assert.equal(v.getBigUint64(at(8), true), BigInt(n) * BIG, 'amoadd.d');
  assert.equal(v.getBigUint64(at(16), true), BigInt(n), 'LR.D/SC.D');
  assert.equal(v.getInt32(at(24), true), n, 'LR.W/SC.W');
  assert.equal(v.getInt32(at(32), true), ((harts - 1) << 20) + ITER, 'amomax.w');
  assert.equal(v.getBigUint64(at(40), true), BigInt(((1 << harts) - 1) << 0) << 0n, 'amoor.d');
  assert.equal(v.getInt32(at(48), true), n, 'amoadd.w, second counter');
}

for (const jit of [false, true]) {
  test(`AMO and LR/SC torture on 4 threads, ${jit ? 'translated' : 'interpreted'}: exact totals`, async () => {
    const { ram, translated } = await runThreads(torture(), 4, jit);
    checkTotals(ram, 4);
    if (jit) assert.ok(translated > 4 * ITER * 10, `translated ${translated}`);
  });
}

const LOW = 0x0000_0000_ffff_ffffn;
const HIGH = 0xffff_ffff_0000_0000n;
const FLIPS = 400_000;

/**
 * Hart 0 stores LOW and HIGH in turn FLIPS times each, with SD at C and with FSD at C+32; hart
 * 1 loads both (LD; FLD then FSD to C+48 and LD from there) until hart 0 says it is done (C+8),
 * counting values that are neither: at C+16 (LD), C+40 (FLD), and its passes at C+24.
 */
function tearing(): Prog {
  const C = DATA;
  const p = new Prog().i(...li(5, 1), ...li(18, C), ...li(7, 0x6000), A.csrrs(0, 0x300, 7)); // mstatus.FS
  p.i(...li(12, LOW), ...li(13, HIGH), A.fld(1, 18, 64), A.fld(2, 18, 72));
  p.i(A.addi(26, 18, 56), A.amo(0x00, 2, 0, 26, 5), A.lw(27, 26, 0), A.bne(27, 11, -4));
  const toReader = p.size;
  p.i(0); // patched: bne a0, x0, reader
  p.i(...li(8, FLIPS));
  const wloop = p.size;
  p.i(A.sd(13, 18, 0), A.fsd(2, 18, 32), A.sd(12, 18, 0), A.fsd(1, 18, 32), A.addi(8, 8, -1));
  p.i(A.bne(8, 0, wloop - p.size), A.sw(5, 18, 8), A.wfi(), A.jal(0, -4));
  const reader = p.size;
  p.i(A.ld(9, 18, 0), A.beq(9, 12, 12), A.beq(9, 13, 8), A.addi(20, 20, 1));
  p.i(A.fld(3, 18, 32), A.fsd(3, 18, 48), A.ld(9, 18, 48), A.beq(9, 12, 12), A.beq(9, 13, 8), A.addi(21, 21, 1));
  p.i(A.addi(22, 22, 1), A.lw(7, 18, 8), A.beq(7, 0, reader - (p.size + 8)));
  p.i(A.sd(20, 18, 16), A.sd(21, 18, 40), A.sd(22, 18, 24), A.wfi(), A.jal(0, -4));
  const branch = A.bne(10, 0, reader - toReader);
  for (let i = 0; i < 4; i++) p.bytes[toReader + i] = (branch >>> (8 * i)) & 255;
  return p;
}

test('on shared RAM, no thread sees a doubleword half-written by the interpreter (SD, FSD; LD, FLD)', async () => {
  const data = new Uint8Array(0x100);
  const dv = new DataView(data.buffer);
  dv.setBigUint64(0, LOW, true);
  dv.setBigUint64(32, LOW, true);
  dv.setBigUint64(64, LOW, true);
  dv.setBigUint64(72, HIGH, true);
  const { ram } = await runThreads(tearing(), 2, false, data);
  const at = (o: number) => ram.view.getBigUint64(DATA - RAM_BASE + o, true);
  const passes = at(24);
  assert.ok(passes > 1000n, `reader passes ${passes}`);
  assert.deepEqual({ ld: at(16), fld: at(40) }, { ld: 0n, fld: 0n }, `torn values in ${passes} passes`);
});

/** Both machines: the interpreter on private RAM, and `jit` on shared RAM. */
function sharedPair(prog: Prog, jit: boolean): [Machine, Machine] {
  const a = machine(false);
  const b = machine(jit, true);
  for (const m of [a, b]) boot(m, prog, new Uint8Array(0x2000));
  return [a, b];
}

test('on shared RAM, AMOs and LR/SC give the private-RAM results, both tiers', () => {
  // every AMO .W and .D, LR/SC success, no reservation, another address, a changed value
  const p = new Prog().i(...li(8, 1500), ...li(18, DATA), ...li(5, -7), ...li(6, 0x1234_5678_9abc_def0n));
  p.i(A.addi(19, 18, 64));
  const loop = p.size;
  for (const f5 of [0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c]) {
    p.i(A.amo(f5, 2, 9, 18, 5), A.add(10, 10, 9));
    p.i(A.amo(f5, 3, 9, 18, 6), A.add(10, 10, 9));
    p.i(A.addi(5, 5, 13), A.xor(6, 6, 5), A.slli(11, 6, 7), A.add(6, 6, 11));
  }
  p.i(A.amo(0x02, 3, 7, 19, 0), A.addi(7, 7, 1), A.amo(0x03, 3, 12, 19, 7), A.add(10, 10, 12));
  p.i(A.amo(0x03, 3, 12, 19, 7), A.add(10, 10, 12));
  p.i(A.amo(0x02, 2, 7, 19, 0), A.amo(0x03, 2, 12, 18, 7), A.add(10, 10, 12));
  p.i(A.amo(0x02, 2, 7, 19, 0), A.addi(13, 7, 3), A.sw(13, 19, 0), A.amo(0x03, 2, 12, 19, 7), A.add(10, 10, 12));
  p.i(A.amo(0x02, 2, 7, 19, 0), A.addi(7, 7, -1), A.amo(0x03, 2, 12, 19, 7), A.add(10, 10, 12));
  p.i(A.addi(20, 18, 4), A.andi(14, 8, 255), A.bne(14, 0, 8), A.amo(0x00, 3, 9, 20, 6)); // misaligned: cause 6
  p.i(A.addi(8, 8, -1));
  p.i(A.bne(8, 0, loop - p.size), A.jal(0, 0));
  for (const jit of [false, true]) {
    const [a, b] = sharedPair(p, jit);
    assert.equal(b.ram.shared, true);
    lockstep(a, b, new Array<number>(60).fill(3000));
    assert.equal(b.hart.getX(8), 0n);
    assert.equal(b.hart.getX(28), 5n * 6n); // passes 1280, 1024, 768, 512, 256
    if (jit) assert.ok(b.hart.jit!.stats.instructions > 50_000);
  }
});

test("on shared RAM, the hypervisor's own doubleword accesses are never seen half-written (GuestRam.readU64, writeU64)", async () => {
  const ram = new GuestRam(RAM_BASE, RAM, 0, { shared: true });
  const at = RAM_BASE + 0x100;
  ram.writeU64(gpa(at), 0xffff_ffff);
  ram.writeBigU64(gpa(at + 8), 0xffff_ffffn);
  const w = new Worker(new URL('./support/ram64-worker.js', import.meta.url), {
    workerData: { memory: ram.wasmMemory, base: RAM_BASE, size: RAM, at, flips: FLIPS },
  });
  const done = new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  // This thread reads while the worker writes: both forms, until its done word.
  let passes = 0;
  let tornU64 = 0;
  let tornBig = 0;
  while (Atomics.load(ram.i32, 0x110 / 4) === 0) {
    const v = ram.readU64(gpa(at));
    if (v !== 0xffff_ffff && v !== 0xffff_ffff_0000_0000) tornU64++;
    const b = ram.readBigU64(gpa(at + 8));
    if (b !== LOW && b !== HIGH) tornBig++;
    passes++;
  }
  await done;
  await w.terminate();
  assert.ok(passes > 1000, `reader passes ${passes}`);
  assert.deepEqual({ tornU64, tornBig }, { tornU64: 0, tornBig: 0 }, `torn values in ${passes} passes`);
});

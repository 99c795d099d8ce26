import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cause, Csr, MSTATUS_MPRV, Priv } from './arch.js';
import { PMP_R, PMP_W, PMP_X, Pmp } from './pmp.js';
import { A, li64, Prog } from './test-asm.js';
import { RAM_BASE, rig } from './test-util.js';

const TOR = 0x08;
const NA4 = 0x10;
const NAPOT = 0x18;
const L = 0x80;
const RWX = PMP_R | PMP_W | PMP_X;

/** A Pmp with entry i configured (cfg byte, pmpaddr as a number of 4-byte units). */
function pmpWith(entries: [number, number, number][]): Pmp {
  const p = new Pmp();
  for (const [i, , addr] of entries) p.writeAddr(i, (addr % 2 ** 32) | 0, Math.floor(addr / 2 ** 32));
  const cfg = [0n, 0n];
  for (const [i, c] of entries) cfg[i >> 3]! |= BigInt(c) << BigInt(8 * (i & 7));
  for (const n of [0, 1]) p.writeCfg(n, Number(BigInt.asIntN(32, cfg[n]!)), Number(BigInt.asIntN(32, cfg[n]! >> 32n)));
  return p;
}

const napot = (base: number, size: number) => Math.floor((base + size / 2 - 1) / 4);

test('no entry matches: M-mode is allowed, S and U are denied (16 entries are implemented)', () => {
  const p = new Pmp();
  assert.equal(p.allowed(0x8000_0000, 8, Priv.M), RWX);
  assert.equal(p.allowed(0x8000_0000, 8, Priv.S), 0);
  assert.equal(p.allowed(0x8000_0000, 8, Priv.U), 0);
});

test('TOR, NA4 and NAPOT ranges, OFF entries ignored, the lowest-numbered match wins', () => {
  const p = pmpWith([
    [0, TOR | PMP_R, 0x8000_1000 / 4], // [0, 0x8000_1000)
    [1, NA4 | PMP_W, 0x8000_1000 / 4], // [0x8000_1000, +4)
    [2, NAPOT | PMP_X, napot(0x8000_1000, 0x1000)], // [0x8000_1000, 0x8000_2000), behind entry 1
    [3, 0 | RWX, 0], // OFF
    [4, TOR | RWX, 0x8000_3000 / 4], // [pmpaddr3 * 4 = 0, 0x8000_3000)
  ]);
  assert.equal(p.allowed(0x8000_0ff8, 8, Priv.S), PMP_R);
  assert.equal(p.allowed(0x8000_1000, 4, Priv.S), PMP_W);
  assert.equal(p.allowed(0x8000_1004, 4, Priv.S), PMP_X);
  assert.equal(p.allowed(0x8000_2000, 8, Priv.U), RWX);
  assert.equal(p.allowed(0x8000_3000, 1, Priv.S), 0, 'past every range');
  assert.equal(p.allowed(0x8000_3000, 1, Priv.M), RWX, 'M is bound by locked entries only');
  assert.equal(p.allowed(0x8000_0ff8, 8, Priv.M), RWX);
});

test('an access that matches only part of the first matching entry fails, whatever comes later', () => {
  const p = pmpWith([
    [0, NA4 | RWX, 0x8000_0004 / 4],
    [1, NAPOT | RWX, napot(0x8000_0000, 0x1000)],
  ]);
  assert.equal(p.allowed(0x8000_0004, 4, Priv.S), RWX);
  assert.equal(p.allowed(0x8000_0000, 8, Priv.S), -1, 'bytes 4..7 match entry 0, 0..3 do not');
  assert.equal(p.allowed(0x8000_0006, 4, Priv.S), -1);
  assert.equal(p.check(0x8000_0000, 8, PMP_R, Priv.S), false);
  assert.equal(p.allowed(0x8000_0008, 8, Priv.S), RWX);
  assert.equal(p.page(0x8000_0123, Priv.S), -1, 'the page holds two outcomes');
  assert.equal(p.page(0x8000_0000, Priv.M), RWX, 'unlocked entries leave M alone');
});

test('a TOR entry whose bottom is not below its top matches nothing', () => {
  const p = pmpWith([
    [0, 0, 0x8000_2000 / 4],
    [1, TOR | RWX, 0x8000_1000 / 4],
  ]);
  assert.equal(p.allowed(0x8000_1800, 4, Priv.S), 0);
  assert.equal(p.allowed(0x8000_0800, 4, Priv.S), 0);
});

test('NAPOT with every address bit set covers the whole physical address space', () => {
  const p = new Pmp();
  p.writeAddr(0, -1, -1);
  p.writeCfg(0, NAPOT | PMP_R, 0);
  assert.equal(p.addr[1], 0x3fffff, 'bits 63:54 of pmpaddr are read-only zero');
  assert.equal(p.allowed(0, 8, Priv.S), PMP_R);
  assert.equal(p.allowed(2 ** 55, 8, Priv.U), PMP_R);
});

test('locked entries bind M-mode, ignore writes to their pmpcfg and pmpaddr until reset', () => {
  const p = pmpWith([[0, NAPOT | PMP_R | L, napot(0x8000_0000, 0x1000)]]);
  assert.equal(p.allowed(0x8000_0000, 8, Priv.M), PMP_R);
  assert.equal(p.check(0x8000_0000, 8, PMP_W, Priv.M), false);
  assert.equal(p.allowed(0x8000_1000, 8, Priv.M), RWX, 'outside the entry M is free');
  p.writeCfg(0, NAPOT | RWX, 0);
  p.writeAddr(0, 0, 0);
  assert.equal(p.cfgOf(0), NAPOT | PMP_R | L);
  assert.equal(p.addr[0], napot(0x8000_0000, 0x1000));
  p.writeCfg(0, NAPOT | PMP_R | L | ((TOR | PMP_R) << 8), 0);
  assert.equal(p.cfgOf(1), TOR | PMP_R, 'the unlocked byte of the same register is written');
  p.reset();
  assert.equal(p.cfgOf(0), 0);
  assert.equal(p.allowed(0x8000_0000, 8, Priv.M), RWX);
});

test('a locked TOR entry locks the pmpaddr below it; reserved cfg bits read as zero', () => {
  const p = pmpWith([
    [0, 0, 0x8000_0000 / 4],
    [1, TOR | PMP_R | L, 0x8000_1000 / 4],
  ]);
  p.writeAddr(0, 0, 0);
  assert.equal(p.addr[0], 0x8000_0000 / 4);
  const q = pmpWith([
    [0, 0, 0x8000_0000 / 4],
    [1, NAPOT | PMP_R | L, napot(0x8000_0000, 0x1000)],
  ]);
  q.writeAddr(0, 0, 0);
  assert.equal(q.addr[0], 0, 'a locked NAPOT entry does not lock the address below it');
  q.writeCfg(1, 0xff, 0);
  assert.equal(q.cfgOf(8), 0x9f);
});

// ---- through the hart ----

/**
 * S-mode code at RAM_BASE after `setup`, with the rig's PMP entry 0 (all memory) left in place
 * unless replaced. Returns the trap cause and tval the EBREAK or fault left in mcause/mtval.
 */
function runS(insns: number[], setup: (csr: (n: number, v: bigint) => void) => void, priv: number = Priv.S) {
  const r = rig(new Prog().i(...insns, A.ebreak()));
  setup((n, v) => r.hart.setCsr(n, v));
  r.hart.priv = priv;
  r.hart.run(1000);
  return { ...r, cause: Number(r.hart.getCsr(Csr.mcause)), tval: r.hart.getCsr(Csr.mtval) };
}

const DATA = RAM_BASE + 0x2_0000;
/** Entries 0-1: [RAM_BASE, DATA) RWX (code, halt loop beyond), then entry 2 on the data page, then all memory R. */
function layout(dataCfg: number, dataAddr: number) {
  return (csr: (n: number, v: bigint) => void) => {
    csr(Csr.pmpaddr0, BigInt(RAM_BASE / 4));
    csr(Csr.pmpaddr0 + 1, BigInt(DATA / 4));
    csr(Csr.pmpaddr0 + 2, BigInt(dataAddr));
    csr(Csr.pmpaddr0 + 3, (1n << 54n) - 1n);
    csr(Csr.pmpcfg0, (BigInt(TOR | RWX) << 8n) | (BigInt(dataCfg) << 16n) | (BigInt(NAPOT | PMP_R) << 24n));
  };
}

test('S-mode loads, stores and fetches that PMP denies are access faults with tval = the address', () => {
  const denyData = layout(NAPOT, napot(DATA, 0x1000));
  const load = runS([...li64(5, BigInt(DATA + 8)), A.ld(6, 5, 0)], denyData);
  assert.deepEqual([load.cause, load.tval], [Cause.LoadAccess, BigInt(DATA + 8)]);
  const store = runS([...li64(5, BigInt(DATA + 8)), A.sd(6, 5, 0)], denyData);
  assert.deepEqual([store.cause, store.tval], [Cause.StoreAccess, BigInt(DATA + 8)]);
  const amo = runS([...li64(5, BigInt(DATA + 8)), A.amo(0, 3, 6, 5, 6)], layout(NAPOT | PMP_R, napot(DATA, 0x1000)));
  assert.deepEqual([amo.cause, amo.tval], [Cause.StoreAccess, BigInt(DATA + 8)], 'an AMO needs W');
  const fetch = runS([...li64(5, BigInt(DATA)), A.jalr(0, 5, 0)], layout(NAPOT | PMP_R | PMP_W, napot(DATA, 0x1000)));
  assert.deepEqual([fetch.cause, fetch.tval], [Cause.InstAccess, BigInt(DATA)]);
  const readOnly = runS(
    [...li64(5, BigInt(DATA + 8)), A.ld(6, 5, 0), A.sd(6, 5, 0)],
    layout(NAPOT | PMP_R, napot(DATA, 0x1000)),
  );
  assert.deepEqual(
    [readOnly.cause, readOnly.tval],
    [Cause.StoreAccess, BigInt(DATA + 8)],
    'the load passes, the store faults',
  );
  const u = runS([...li64(5, BigInt(DATA + 8)), A.ld(6, 5, 0)], denyData, Priv.U);
  assert.equal(u.cause, Cause.LoadAccess);
});

test('a page divided by PMP stays out of the TLB: each access is checked, again and again', () => {
  // entry 2: NA4 on DATA + 0x10 with no permission; the rest of the page falls to entry 3 (R)
  const insns = [...li64(5, BigInt(DATA))];
  for (let i = 0; i < 4; i++) insns.push(A.ld(6, 5, 0), A.ld(7, 5, 8), A.lw(8, 5, 0x14));
  insns.push(A.lw(9, 5, 0x10));
  const r = runS(insns, layout(NA4, (DATA + 0x10) / 4));
  assert.deepEqual([r.cause, r.tval], [Cause.LoadAccess, BigInt(DATA + 0x10)]);
  const partial = runS([...li64(5, BigInt(DATA)), A.ld(6, 5, 0), A.ld(6, 5, 0xc)], layout(NA4, (DATA + 0x10) / 4));
  assert.deepEqual(
    [partial.cause, partial.tval],
    [Cause.LoadAccess, BigInt(DATA + 0xc)],
    'bytes 0x10-0x13 only match partly',
  );
});

test('writing pmpcfg or pmpaddr flushes the TLB: a page loaded before is checked again', () => {
  // M-mode code: load DATA with MPRV = 1, MPP = S (cached in the S data TLB), lock the data page
  // out through pmpcfg, load again: the second load faults.
  const r = rig(
    new Prog().i(
      ...li64(5, BigInt(DATA)),
      ...li64(10, BigInt(MSTATUS_MPRV | (1 << 11))),
      A.csrrs(0, Csr.mstatus, 10),
      A.ld(6, 5, 0),
      A.csrrc(0, Csr.mstatus, 10),
      ...li64(11, BigInt(NAPOT) << 16n),
      A.csrrc(0, Csr.pmpcfg0, 11), // entry 2: OFF -> nothing matches the page: S denied
      A.csrrs(0, Csr.mstatus, 10),
      A.ld(7, 5, 0),
      A.ebreak(),
    ),
  );
  layout(NAPOT | PMP_R, napot(DATA, 0x1000))((n, v) => r.hart.setCsr(n, v));
  r.hart.setCsr(Csr.pmpcfg0, r.hart.getCsr(Csr.pmpcfg0) & ~(0xffn << 24n)); // no catch-all entry 3
  r.hart.run(1000);
  assert.equal(r.hart.getCsr(Csr.mcause), BigInt(Cause.LoadAccess));
  assert.equal(r.hart.getCsr(Csr.mtval), BigInt(DATA));
});

test('MPRV: an M-mode load with MPP = S is checked as an S-mode access; without MPRV M is free', () => {
  const deny = layout(NAPOT, napot(DATA, 0x1000));
  const m = runS([...li64(5, BigInt(DATA)), A.ld(6, 5, 0)], deny, Priv.M);
  assert.equal(m.cause, Cause.Breakpoint);
  const mprv = runS(
    [
      ...li64(5, BigInt(DATA)),
      ...li64(10, BigInt(MSTATUS_MPRV | (1 << 11))),
      A.csrrs(0, Csr.mstatus, 10),
      A.ld(6, 5, 0),
    ],
    deny,
    Priv.M,
  );
  assert.deepEqual([mprv.cause, mprv.tval], [Cause.LoadAccess, BigInt(DATA)]);
});

test('a page-table walk that PMP denies is an access fault of the access kind, not a page fault', () => {
  // the Sv39 root is at DATA, which PMP denies to S (page-table reads are S-mode accesses)
  const sv39 = (csr: (n: number, v: bigint) => void) => {
    layout(NAPOT, napot(DATA, 0x1000))(csr);
    csr(Csr.satp, (8n << 60n) | BigInt(DATA / 4096));
  };
  const fetch = runS([A.ebreak()], sv39);
  assert.deepEqual([fetch.cause, fetch.tval], [Cause.InstAccess, BigInt(RAM_BASE)]);
  // M-mode code with MPRV = 1, MPP = S: the load is translated, its walk denied
  const mprv = BigInt(MSTATUS_MPRV | (1 << 11));
  const load = runS([...li64(10, mprv), A.csrrs(0, Csr.mstatus, 10), ...li64(5, 0x1000n), A.ld(6, 5, 0)], sv39, Priv.M);
  assert.deepEqual([load.cause, load.tval], [Cause.LoadAccess, 0x1000n]);
});

test('PMP state: the registers read back as written, within WARL rules, and reset clears them', () => {
  const { hart } = rig([A.ebreak()]);
  hart.setCsr(Csr.pmpaddr0 + 15, -1n);
  assert.equal(hart.getCsr(Csr.pmpaddr0 + 15), (1n << 54n) - 1n, 'bits 63:54 read as zero');
  hart.setCsr(Csr.pmpcfg0 + 2, 0xffff_ffff_ffff_ffffn);
  assert.equal(hart.getCsr(Csr.pmpcfg0 + 2), 0x9f9f_9f9f_9f9f_9f9fn, 'bits 6:5 of each byte read as zero');
  hart.setCsr(Csr.pmpaddr0 + 15, 0n);
  assert.equal(hart.getCsr(Csr.pmpaddr0 + 15), (1n << 54n) - 1n, 'entry 15 is locked now');
  hart.reset(BigInt(RAM_BASE), 3);
  assert.equal(hart.getCsr(Csr.pmpcfg0 + 2), 0n);
  assert.equal(hart.pmp.allowed(RAM_BASE, 4, Priv.S), 0);
});

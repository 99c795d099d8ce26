import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cause, Csr } from './arch.js';
import { Exit } from './exits.js';
import { A, li64, Prog } from './test-asm.js';
import { HALT, RAM_BASE, rig } from './test-util.js';

const ALL = -1n;

/** Run `insns` then EBREAK in privilege `priv`; returns the rig after the trap. */
function run(insns: number[], priv = 3, setup?: (r: ReturnType<typeof rig>) => void) {
  const r = rig(new Prog().i(...insns, A.ebreak()));
  r.hart.priv = priv;
  setup?.(r);
  const exit = r.hart.run(1000);
  return { ...r, exit, cause: r.hart.getCsr(Csr.mcause), tval: r.hart.getCsr(Csr.mtval), epc: r.hart.getCsr(Csr.mepc) };
}

test('CSRRW/RS/RC and immediate forms: old value to rd, set/clear bits, x0 source does not write', () => {
  const r = run([
    ...li64(5, 0x1234_5678_9abc_def0n),
    A.csrrw(6, Csr.mscratch, 5), // x6 = 0
    A.csrrs(7, Csr.mscratch, 0), // read only
    ...li64(8, 0xf0n),
    A.csrrc(9, Csr.mscratch, 8), // clear 0xf0
    A.csrrsi(10, Csr.mscratch, 0x1f), // set 0x1f
    A.csrrci(11, Csr.mscratch, 0x3), // clear 3
    A.csrrwi(12, Csr.mscratch, 7),
    A.csrrs(13, Csr.mscratch, 0),
    A.csrrs(14, Csr.mhartid, 0), // read-only CSR with rs1 = x0: no write, legal
    A.csrrsi(15, Csr.mvendorid, 0), // same with uimm = 0
  ]);
  assert.equal(r.cause, 3n);
  assert.equal(r.hart.getX(6), 0n);
  assert.equal(r.hart.getX(7), 0x1234_5678_9abc_def0n);
  assert.equal(r.hart.getX(9), 0x1234_5678_9abc_def0n);
  assert.equal(r.hart.getX(10), 0x1234_5678_9abc_de00n);
  assert.equal(r.hart.getX(11), 0x1234_5678_9abc_de1fn);
  assert.equal(r.hart.getX(12), 0x1234_5678_9abc_de1cn);
  assert.equal(r.hart.getX(13), 7n);
  assert.equal(r.hart.getX(14), 0n);
});

test('unknown CSRs, writes to read-only CSRs and CSRs above the current privilege are illegal (tval = insn)', () => {
  const cases: [number, number][] = [
    [A.csrrs(5, 0x7c0, 0), 3], // unknown custom CSR
    [A.csrrs(5, 0x3a1, 0), 3], // odd pmpcfg does not exist on RV64
    [A.csrrw(5, Csr.mhartid, 6), 3], // read-only
    [A.csrrsi(5, Csr.cycle, 1), 3], // read-only counter, written
    [A.csrrs(5, Csr.mstatus, 0), 1], // M CSR from S
    [A.csrrs(5, Csr.sstatus, 0), 0], // S CSR from U
    [A.csrrs(5, 0x5a8, 0), 3], // hypervisor CSR space
  ];
  for (const [insn, priv] of cases) {
    const r = run([insn], priv, ({ hart }) => hart.setCsr(Csr.medeleg, 0n));
    assert.equal(r.cause, BigInt(Cause.Illegal), `insn ${insn.toString(16)}`);
    assert.equal(r.tval, BigInt(insn >>> 0));
    assert.equal(r.epc, BigInt(RAM_BASE));
    assert.equal(r.hart.priv, 3);
  }
});

test('WARL masks of mstatus, sstatus, misa, medeleg, mideleg, mie, mip, sie, sip, mtvec, mepc, satp', () => {
  const { hart } = rig([]);
  hart.setCsr(Csr.mstatus, ALL);
  // SIE MIE SPIE MPIE SPP MPP FS MPRV SUM MXR TVM TW TSR, UXL=SXL=2, SD (FS dirty)
  assert.equal(hart.getCsr(Csr.mstatus), 0x8000_000a_007e_79aan);
  assert.equal(hart.getCsr(Csr.sstatus), 0x8000_0002_000c_6122n);
  hart.setCsr(Csr.mstatus, 0n);
  assert.equal(hart.getCsr(Csr.mstatus), 0xa_0000_0000n);
  hart.setCsr(Csr.mstatus, 1n << 11n); // MPP = S
  hart.setCsr(Csr.mstatus, 2n << 11n); // reserved value keeps the old MPP
  assert.equal((hart.getCsr(Csr.mstatus) >> 11n) & 3n, 1n);
  assert.equal(hart.getCsr(Csr.misa), (2n << 62n) | 0x14112dn);
  hart.setCsr(Csr.misa, 0n);
  assert.equal(hart.getCsr(Csr.misa), (2n << 62n) | 0x14112dn, 'misa is read-only');
  hart.setCsr(Csr.medeleg, ALL);
  assert.equal(hart.getCsr(Csr.medeleg), 0xb3ffn);
  hart.setCsr(Csr.mideleg, ALL);
  assert.equal(hart.getCsr(Csr.mideleg), 0x222n);
  hart.setCsr(Csr.mie, ALL);
  assert.equal(hart.getCsr(Csr.mie), 0xaaan);
  assert.equal(hart.getCsr(Csr.sie), 0x222n);
  hart.setCsr(Csr.sie, 0n);
  assert.equal(hart.getCsr(Csr.mie), 0x888n);
  hart.setCsr(Csr.mip, ALL);
  assert.equal(hart.getCsr(Csr.mip), 0x222n, 'only SSIP STIP SEIP writable in mip');
  assert.equal(hart.getCsr(Csr.sip), 0x222n);
  hart.setCsr(Csr.sip, 0n);
  assert.equal(hart.getCsr(Csr.mip), 0x220n, 'only SSIP writable in sip');
  hart.setCsr(Csr.mideleg, 0n);
  assert.equal(hart.getCsr(Csr.sip), 0n);
  hart.setCsr(Csr.mtvec, 0x8000_1003n);
  assert.equal(hart.getCsr(Csr.mtvec), 0x8000_1000n, 'reserved mode 3 -> direct');
  hart.setCsr(Csr.mtvec, 0x8000_1001n);
  assert.equal(hart.getCsr(Csr.mtvec), 0x8000_1001n);
  hart.setCsr(Csr.stvec, 0x8000_2002n);
  assert.equal(hart.getCsr(Csr.stvec), 0x8000_2000n);
  hart.setCsr(Csr.mepc, 0x8000_0003n);
  assert.equal(hart.getCsr(Csr.mepc), 0x8000_0002n);
  hart.setCsr(Csr.sepc, ALL);
  assert.equal(hart.getCsr(Csr.sepc), (1n << 64n) - 2n);
  hart.setCsr(Csr.satp, (8n << 60n) | (5n << 44n) | 0x80123n);
  assert.equal(hart.getCsr(Csr.satp), (8n << 60n) | (5n << 44n) | 0x80123n);
  hart.setCsr(Csr.satp, (10n << 60n) | 1n); // Sv57 unsupported: no effect
  assert.equal(hart.getCsr(Csr.satp), (8n << 60n) | (5n << 44n) | 0x80123n);
  hart.setCsr(Csr.satp, (9n << 60n) | 7n);
  assert.equal(hart.getCsr(Csr.satp), (9n << 60n) | 7n);
  hart.setCsr(Csr.satp, 1n << 60n); // mode 1 (Sv32) unsupported on RV64
  assert.equal(hart.getCsr(Csr.satp), (9n << 60n) | 7n);
  for (const c of [0xb03, 0xb1f, 0xc03, 0x323, 0x33f]) {
    hart.setCsr(c, ALL);
    assert.equal(hart.getCsr(c), 0n, `hpm CSR ${c.toString(16)} reads zero`);
  }
  hart.setCsr(Csr.pmpaddr0, ALL);
  assert.equal(hart.getCsr(Csr.pmpaddr0), (1n << 54n) - 1n);
  hart.setCsr(Csr.pmpcfg0, ALL);
  assert.equal(hart.getCsr(Csr.pmpcfg0), 0x9f9f9f9f9f9f9f9fn);
  hart.setCsr(Csr.menvcfg, ALL);
  assert.equal(hart.getCsr(Csr.menvcfg), (1n << 63n) | 1n, 'FIOM and STCE (Sstc)');
  assert.equal(hart.getCsr(Csr.mhartid), 0n);
  assert.equal(hart.getCsr(Csr.mconfigptr), 0n);
  hart.setCsr(Csr.tselect, ALL);
  assert.equal(hart.getCsr(Csr.tselect), 0n, 'tselect hard-wired: no triggers');
  assert.equal(hart.getCsr(Csr.tdata1), 0n);
});

test('counters: instret counts retired instructions; mcounteren/scounteren gate S and U reads', () => {
  const r = run([A.addi(5, 0, 1), A.addi(5, 0, 1), A.csrrs(6, Csr.instret, 0), A.csrrs(7, Csr.instret, 0)]);
  assert.equal(r.hart.getX(7) - r.hart.getX(6), 1n);
  assert.equal(r.hart.getX(6), 2n);
  // S-mode without mcounteren: illegal
  assert.equal(run([A.csrrs(6, Csr.cycle, 0)], 1).cause, BigInt(Cause.Illegal));
  // S-mode with mcounteren.CY
  const s = run([A.csrrs(6, Csr.time, 0)], 1, ({ hart }) => hart.setCsr(Csr.mcounteren, 2n));
  assert.equal(s.cause, 3n);
  // U-mode needs both
  const u1 = run([A.csrrs(6, Csr.time, 0)], 0, ({ hart }) => hart.setCsr(Csr.mcounteren, 2n));
  assert.equal(u1.cause, BigInt(Cause.Illegal));
  const u2 = run([A.csrrs(6, Csr.time, 0)], 0, ({ hart }) => {
    hart.setCsr(Csr.mcounteren, 2n);
    hart.setCsr(Csr.scounteren, 2n);
  });
  assert.equal(u2.cause, 3n);
  // minstret/mcycle writes: the next instruction reads the written value; 64-bit wrap-around is exact
  const w = run([A.csrrwi(0, Csr.minstret, 10), A.csrrs(6, Csr.minstret, 0)]);
  assert.equal(w.hart.getX(6), 10n);
  const o = run([
    A.addi(5, 0, -1),
    A.csrrw(0, Csr.minstret, 5),
    A.csrrs(6, Csr.minstret, 0),
    A.csrrs(7, Csr.minstret, 0),
    A.csrrw(0, Csr.mcycle, 5),
    A.addi(0, 0, 0),
    A.csrrs(8, Csr.cycle, 0),
  ]);
  assert.equal(o.hart.getX(6), -1n);
  assert.equal(o.hart.getX(7), 0n);
  assert.equal(o.hart.getX(8), 0n);
});

test('fflags/frm/fcsr trap when mstatus.FS is Off and set FS Dirty when written', () => {
  const off = run([A.csrrs(5, Csr.fcsr, 0)]);
  assert.equal(off.cause, BigInt(Cause.Illegal));
  const on = run([A.csrrwi(5, Csr.frm, 3), A.csrrwi(6, Csr.fflags, 0x1f), A.csrrs(7, Csr.fcsr, 0)], 3, ({ hart }) =>
    hart.setCsr(Csr.mstatus, 1n << 13n),
  );
  assert.equal(on.cause, 3n);
  assert.equal(on.hart.getX(7), 0x7fn);
  assert.equal((on.hart.getCsr(Csr.mstatus) >> 13n) & 3n, 3n);
  assert.equal(on.hart.getCsr(Csr.mstatus) >> 63n, 1n, 'SD');
  const fl = run([A.fld(1, 0, 0)]);
  assert.equal(fl.cause, BigInt(Cause.Illegal), 'FP load with FS off');
});

test('ECALL cause per mode, EBREAK tval = pc, epc = the instruction', () => {
  for (const [priv, cause] of [
    [0, Cause.EcallU],
    [1, Cause.EcallS],
    [3, Cause.EcallM],
  ] as const) {
    const r = run([A.addi(0, 0, 0), A.ecall()], priv);
    assert.equal(r.cause, BigInt(cause));
    assert.equal(r.epc, BigInt(RAM_BASE + 4));
    assert.equal(r.tval, 0n);
    assert.equal(r.hart.priv, 3);
    assert.equal((r.hart.getCsr(Csr.mstatus) >> 11n) & 3n, BigInt(priv), 'MPP = previous mode');
  }
  const b = run([A.addi(0, 0, 0)]);
  assert.equal(b.cause, 3n);
  assert.equal(b.tval, BigInt(RAM_BASE + 4));
  assert.equal(b.epc, BigInt(RAM_BASE + 4));
});

test('delegated exceptions go to S (scause, sepc, stval, SPP, SPIE); M-mode traps are never delegated', () => {
  const setup = ({ hart }: ReturnType<typeof rig>) => {
    hart.setCsr(Csr.medeleg, 0xffffn);
    hart.setCsr(Csr.stvec, BigInt(HALT));
    hart.setCsr(Csr.mstatus, 1n << 1n); // SIE
  };
  const u = run([A.ecall()], 0, setup);
  assert.equal(u.hart.priv, 1);
  assert.equal(u.hart.getCsr(Csr.scause), 8n);
  assert.equal(u.hart.getCsr(Csr.sepc), BigInt(RAM_BASE));
  const st = u.hart.getCsr(Csr.mstatus);
  assert.equal((st >> 8n) & 1n, 0n, 'SPP = U');
  assert.equal((st >> 5n) & 1n, 1n, 'SPIE = old SIE');
  assert.equal((st >> 1n) & 1n, 0n, 'SIE cleared');
  assert.equal(u.cause, 0n, 'mcause untouched');
  const s = run([A.csrrs(5, Csr.mstatus, 0)], 1, setup);
  assert.equal(s.hart.priv, 1);
  assert.equal(s.hart.getCsr(Csr.scause), 2n);
  assert.equal(s.hart.getCsr(Csr.stval), BigInt(A.csrrs(5, Csr.mstatus, 0)));
  assert.equal((s.hart.getCsr(Csr.mstatus) >> 8n) & 1n, 1n, 'SPP = S');
  const m = run([A.ecall()], 3, setup);
  assert.equal(m.hart.priv, 3);
  assert.equal(m.cause, 11n);
});

test('MRET restores MPP/MIE, sets MPIE, MPP = U, clears MPRV when leaving M; SRET likewise; TSR', () => {
  const r = rig(new Prog().i(A.mret()));
  const target = RAM_BASE + 0x100;
  r.ram.load(target, new Prog().i(A.ebreak()).toBytes());
  r.hart.setCsr(Csr.medeleg, 0n);
  r.hart.setCsr(Csr.mepc, BigInt(target));
  r.hart.setCsr(Csr.mstatus, (1n << 11n) | (1n << 7n) | (1n << 17n)); // MPP = S, MPIE, MPRV
  r.hart.run(1);
  assert.equal(r.hart.priv, 1);
  assert.equal(r.hart.getPc(), BigInt(target));
  const st = r.hart.getCsr(Csr.mstatus);
  assert.equal((st >> 3n) & 1n, 1n, 'MIE = MPIE');
  assert.equal((st >> 7n) & 1n, 1n, 'MPIE = 1');
  assert.equal((st >> 11n) & 3n, 0n, 'MPP = U');
  assert.equal((st >> 17n) & 1n, 0n, 'MPRV cleared');

  const s = rig(new Prog().i(A.sret()));
  s.hart.priv = 1;
  s.hart.setCsr(Csr.sepc, BigInt(target));
  s.hart.setCsr(Csr.mstatus, (1n << 5n) | (1n << 17n)); // SPIE, SPP = U, MPRV
  s.hart.run(1);
  assert.equal(s.hart.priv, 0);
  assert.equal(s.hart.getPc(), BigInt(target));
  const ss = s.hart.getCsr(Csr.mstatus);
  assert.equal((ss >> 1n) & 1n, 1n, 'SIE = SPIE');
  assert.equal((ss >> 5n) & 1n, 1n, 'SPIE = 1');
  assert.equal((ss >> 17n) & 1n, 0n, 'MPRV cleared');

  const tsr = run([A.sret()], 1, ({ hart }) => hart.setCsr(Csr.mstatus, 1n << 22n));
  assert.equal(tsr.cause, BigInt(Cause.Illegal));
  assert.equal(run([A.sret()], 0).cause, BigInt(Cause.Illegal));
  assert.equal(run([A.mret()], 1).cause, BigInt(Cause.Illegal));
});

test('WFI: returns Exit.Wfi when nothing is pending, continues when an enabled interrupt is pending; TW and U trap', () => {
  const w = rig(new Prog().i(A.wfi(), A.addi(5, 0, 1), A.ebreak()));
  assert.equal(w.hart.run(100), Exit.Wfi);
  assert.equal(w.hart.getPc(), BigInt(RAM_BASE + 4), 'pc after the wfi');
  assert.equal(w.hart.run(100), Exit.Wfi);
  assert.equal(w.hart.getX(5), 1n);
  const p = rig(new Prog().i(A.wfi(), A.addi(5, 0, 1), A.ebreak()));
  p.hart.setCsr(Csr.mie, 1n << 7n);
  p.hart.setIrq(7, true); // MTIP pending and enabled in mie, MIE = 0: no trap, wfi completes
  p.hart.run(3);
  assert.equal(p.hart.getX(5), 1n);
  assert.equal(run([A.wfi()], 1, ({ hart }) => hart.setCsr(Csr.mstatus, 1n << 21n)).cause, BigInt(Cause.Illegal));
  assert.equal(run([A.wfi()], 0).cause, BigInt(Cause.Illegal));
  assert.equal(run([A.wfi()], 1).exit, Exit.Wfi);
});

test('SFENCE.VMA: legal in S and M, illegal in U and in S with TVM; satp access in S with TVM is illegal', () => {
  assert.equal(run([A.sfence_vma()], 3).cause, 3n);
  assert.equal(run([A.sfence_vma(5, 6)], 1).cause, 3n);
  assert.equal(run([A.sfence_vma()], 0).cause, BigInt(Cause.Illegal));
  const tvm = ({ hart }: ReturnType<typeof rig>) => hart.setCsr(Csr.mstatus, 1n << 20n);
  assert.equal(run([A.sfence_vma()], 1, tvm).cause, BigInt(Cause.Illegal));
  assert.equal(run([A.csrrs(5, Csr.satp, 0)], 1, tvm).cause, BigInt(Cause.Illegal));
  assert.equal(run([A.csrrs(5, Csr.satp, 0)], 1).cause, 3n);
});

test('illegal base encodings raise illegal instruction with tval = instruction bits', () => {
  const bad = [
    0xffffffff, // all ones
    0x0000007f, // unknown opcode
    A.slli(5, 5, 0) | (1 << 26), // slli with funct6 != 0
    A.slliw(5, 5, 0) | (1 << 25), // slliw shamt[5]
    A.beq(0, 0, 8) | (2 << 12), // branch funct3 2
    A.jalr(0, 1, 0) | (1 << 12),
    0x00007003 | (7 << 7), // load funct3 7
    0x00004023, // store funct3 4
    0x02000033 | (0x10 << 25), // OP funct7 0x12
    0x00004073, // SYSTEM funct3 4
    0x00200073, // uret-ish unknown
  ];
  for (const insn of bad) {
    const r = run([insn]);
    assert.equal(r.cause, BigInt(Cause.Illegal), `insn ${insn.toString(16)}`);
    assert.equal(r.tval, BigInt(insn >>> 0));
  }
});

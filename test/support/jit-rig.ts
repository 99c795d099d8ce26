/**
 * A rig for testing the translation tier against the interpreter: two harts on their own
 * WebAssembly-backed RAM (one with the translator, one without), programs loaded at RAM_BASE
 * with an M-mode trap handler that skips the trapping instruction and sums the causes in x28,
 * and a lockstep runner comparing the architectural state after every slice.
 */
import assert from 'node:assert/strict';
import { Csr } from '../../src/cpu/arch.js';
import { encI } from '../../src/cpu/encode.js';
import { Hart } from '../../src/cpu/hart.js';
import { HART_STATE_BYTES } from '../../src/cpu/jit/state.js';
import { A, li64, Prog } from '../../src/cpu/test-asm.js';
import { HALT, LogBus, MMIO_BASE, openPmp, RAM_BASE } from '../../src/cpu/test-util.js';
import { GuestRam } from '../../src/memory/ram.js';

export const DATA = RAM_BASE + 0x4_0000; // two data pages; x21 points near the end of the first
export const HANDLER = RAM_BASE + 0x8_0000;
export const BAD = 0x4000_0000; // nothing there: access faults

export const csrrs = (rd: number, csr: number, rs1: number) => encI(0x73, 2, rd, rs1, csr);
export const csrrw = (rd: number, csr: number, rs1: number) => encI(0x73, 1, rd, rs1, csr);

export interface Machine {
  hart: Hart;
  ram: GuestRam;
  bus: LogBus;
}

/**
 * A machine; `shared`: its RAM is a shared WebAssembly.Memory (AMOs and LR/SC through atomics);
 * `jitAsync`: its modules compile off the thread (installed only when the caller yields).
 */
export function machine(jit: boolean, shared = false, jitAsync = false): Machine {
  const ram = new GuestRam(RAM_BASE, 1 << 20, HART_STATE_BYTES, { shared });
  const bus = new LogBus();
  return { hart: new Hart(ram, bus, { jit, jitAfter: 0, jitAsync }), ram, bus };
}

export function put(m: Machine, pa: number, bytes: Uint8Array): void {
  m.ram.u8.set(bytes, pa - RAM_BASE);
}

/** Load `prog` at RAM_BASE, the trap handler (skip the trapping 4-byte instruction, sum the causes in x28) and reset. */
export function boot(m: Machine, prog: Prog, data: Uint8Array): void {
  m.ram.u8.fill(0);
  put(m, RAM_BASE, prog.toBytes());
  put(m, DATA, data);
  const h = new Prog().i(
    csrrs(30, Csr.mepc, 0),
    A.addi(30, 30, 4),
    csrrw(0, Csr.mepc, 30),
    csrrs(29, Csr.mcause, 0),
    A.add(28, 28, 29),
    A.mret(),
  );
  put(m, HANDLER, h.toBytes());
  put(m, HALT, new Prog().i(A.wfi(), A.jal(0, -4)).toBytes());
  m.bus.writes.length = 0;
  m.bus.reads.length = 0;
  m.hart.reset(BigInt(RAM_BASE), 3);
  m.hart.setCsr(Csr.mtvec, BigInt(HANDLER));
  openPmp(m.hart);
}

/** Everything architectural the two tiers must agree on. */
export function snapshot(m: Machine, exit: number): unknown {
  const h = m.hart;
  return {
    exit,
    pc: h.getPc(),
    instret: h.instret,
    priv: h.priv,
    x: Array.from(h.x),
    mepc: h.getCsr(Csr.mepc),
    mcause: h.getCsr(Csr.mcause),
    mtval: h.getCsr(Csr.mtval),
    mscratch: h.getCsr(Csr.mscratch),
    mstatus: h.getCsr(Csr.mstatus),
    sepc: h.getCsr(Csr.sepc),
    scause: h.getCsr(Csr.scause),
    stval: h.getCsr(Csr.stval),
    sscratch: h.getCsr(Csr.sscratch),
  };
}

/** Run both in the same slices, comparing after each. Returns the instructions run translated. */
export function lockstep(a: Machine, b: Machine, slices: readonly number[]): number {
  for (const s of slices) {
    const ea = a.hart.run(s);
    const eb = b.hart.run(s);
    assert.deepEqual(snapshot(b, eb), snapshot(a, ea));
  }
  assert.deepEqual(
    b.ram.u8.subarray(DATA - RAM_BASE, DATA - RAM_BASE + 0x2000),
    a.ram.u8.subarray(DATA - RAM_BASE, DATA - RAM_BASE + 0x2000),
  );
  assert.deepEqual(b.bus.writes, a.bus.writes);
  assert.deepEqual(b.bus.reads, a.bus.reads);
  return b.hart.jit?.stats.instructions ?? 0;
}

/** `lockstep`, returning to the event loop after every slice (modules compiled off the thread are installed then). */
export async function lockstepYielding(a: Machine, b: Machine, slices: readonly number[]): Promise<number> {
  let n = 0;
  for (const s of slices) {
    n = lockstep(a, b, [s]);
    await new Promise((r) => setImmediate(r));
  }
  return n;
}

/** One generated piece of a program: a compressed instruction or 32-bit ones. */
export type Piece = { c?: number; i?: readonly number[] };

/** A loop of `body` run `iterations` times after registers x1..x20 get `init`, then a jump-to-self. */
export function program(init: readonly bigint[], body: readonly Piece[], iterations: number): Prog {
  const p = new Prog();
  init.forEach((v, i) => {
    p.i(...li64(i + 1, v));
  });
  p.i(...li64(21, BigInt(DATA + 4096 - 32)), ...li64(23, BigInt(BAD)), ...li64(24, BigInt(MMIO_BASE)));
  p.i(...li64(31, BigInt(iterations)));
  const top = p.size;
  for (const x of body) {
    if (x.c !== undefined) p.c(x.c);
    else p.i(...x.i!);
  }
  p.i(A.addi(31, 31, -1));
  p.i(A.bne(31, 0, top - p.size));
  p.i(A.jal(0, 0));
  return p;
}

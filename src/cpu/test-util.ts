/**
 * Test fixture: a hart on 1 MiB of RAM at 0x8000_0000 with a recording MMIO
 * device at 0x1000_0000 (reads return 0x11223344 >> 8*(offset&3), writes are logged).
 */

import { Csr } from './arch.js';
import { Hart, type HartOptions } from './hart.js';
import { Prog } from './test-asm.js';
import type { PhysBus } from './types.js';

export const RAM_BASE = 0x8000_0000;
export const MMIO_BASE = 0x1000_0000;
/** mtvec of the rig: WFI then a jump back to it, so a trap ends run() with Exit.Wfi. */
export const HALT = RAM_BASE + 0xf_f000;

export class TestRam {
  readonly base = RAM_BASE;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly view: DataView;
  constructor(size = 4 << 20) {
    this.size = size;
    this.buffer = new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
  }
  load(pa: number, bytes: Uint8Array): void {
    this.u8.set(bytes, pa - this.base);
  }
  r64(pa: number): bigint {
    return this.view.getBigUint64(pa - this.base, true);
  }
  w64(pa: number, v: bigint): void {
    this.view.setBigUint64(pa - this.base, BigInt.asUintN(64, v), true);
  }
  r32(pa: number): number {
    return this.view.getUint32(pa - this.base, true);
  }
  w32(pa: number, v: number): void {
    this.view.setUint32(pa - this.base, v >>> 0, true);
  }
}

export class LogBus implements PhysBus {
  readonly writes: [number, number, number][] = [];
  readonly reads: [number, number][] = [];
  onWrite: ((pa: number, size: number, v: number) => void) | null = null;
  has(pa: number): boolean {
    return pa >= MMIO_BASE && pa < MMIO_BASE + 0x1000;
  }
  read(pa: number, size: 1 | 2 | 4): number {
    this.reads.push([pa, size]);
    const v = 0x11223344 >>> (8 * (pa & 3));
    return size === 4 ? v : v & ((1 << (8 * size)) - 1);
  }
  write(pa: number, size: 1 | 2 | 4, value: number): void {
    this.writes.push([pa, size, value]);
    this.onWrite?.(pa, size, value);
  }
}

export interface Rig {
  hart: Hart;
  ram: TestRam;
  bus: LogBus;
}

/** A hart in M-mode at RAM_BASE with `prog` loaded there. */
export function rig(prog: Prog | number[], opts: HartOptions = {}): Rig {
  const ram = new TestRam();
  const bus = new LogBus();
  const r = { hart: new Hart(ram, bus, opts), ram, bus };
  restart(r, prog);
  return r;
}

/**
 * Reset the rig's hart (registers, CSRs, TLB) to M-mode at RAM_BASE with `prog` loaded there, as
 * `rig` leaves it; RAM outside the program and the halt loop keeps its contents. For tests that
 * run many programs (a hart and its RAM cost far more to create than to reset).
 */
export function restart({ hart, ram }: Rig, prog: Prog | number[]): void {
  hart.reset(BigInt(RAM_BASE), 3);
  const p = Array.isArray(prog) ? new Prog().i(...prog) : prog;
  ram.load(RAM_BASE, p.toBytes());
  ram.load(HALT, new Prog().i(0x10500073, 0xffdff06f).toBytes()); // wfi; j .-4
  hart.setCsr(Csr.mtvec, BigInt(HALT));
  openPmp(hart);
}

/** What firmware does before it leaves M-mode: PMP entry 0 opens all memory to S and U (NAPOT, R W X). */
export function openPmp(hart: Hart): void {
  hart.setCsr(Csr.pmpaddr0, (1n << 54n) - 1n);
  hart.setCsr(Csr.pmpcfg0, 0x1fn);
}

import { Csr, Priv } from '../cpu/arch.js';
import { Exit } from '../cpu/exits.js';
import type { DomainHost } from './domain.js';
import type { VcpuHart } from './guest-hart.js';

/** What a scripted hart does with one step: the exit to report, or `undefined` to go on to the next step at once. */
export type PerformStep<S> = (hart: ScriptedHart<S>, step: S) => number | undefined;

/**
 * Test fixture: a vCPU hart that follows a script instead of running instructions. Each `run` takes
 * the next step (one instruction retired) and hands it to `perform`; an empty script spends the whole
 * budget. A pending `requestStop` ends the next `run` with Exit.Stop before any step is taken.
 */
export class ScriptedHart<S> implements VcpuHart {
  readonly regs = new Array<bigint>(32).fill(0n);
  priv: number;
  virtualM: boolean;
  instret = 0;
  exitCause = 0;
  exitIsInterrupt = false;
  exitTval = 0;
  pc = 0n;
  mip = 0;
  readonly csr = new Map<number, bigint>();
  /** Every reset, as `0x<pc>@<priv>`. */
  readonly resets: string[] = [];
  /** How many runs ended with Exit.Stop. */
  stops = 0;
  private stopRequested = false;
  constructor(
    readonly id: number,
    readonly script: S[],
    private readonly perform: PerformStep<S>,
    init: { priv: number; virtualM: boolean } = { priv: Priv.M, virtualM: false },
  ) {
    this.priv = init.priv;
    this.virtualM = init.virtualM;
  }
  getX(r: number) {
    return this.regs[r]!;
  }
  setX(r: number, v: bigint) {
    if (r !== 0) this.regs[r] = BigInt.asUintN(64, v);
  }
  getPc() {
    return this.pc;
  }
  setPc(v: bigint) {
    this.pc = v;
  }
  getCsr(n: number) {
    return n === Csr.mip ? BigInt(this.mip) : (this.csr.get(n) ?? 0n);
  }
  setCsr(n: number, v: bigint) {
    this.csr.set(n, v);
  }
  setIrq(bit: number, level: boolean) {
    this.mip = level ? this.mip | (1 << bit) : this.mip & ~(1 << bit);
  }
  flushTlb() {}
  requestStop() {
    this.stopRequested = true;
  }
  reset(pc: bigint, priv: number) {
    this.pc = pc;
    this.priv = priv;
    this.resets.push(`0x${pc.toString(16)}@${priv}`);
  }
  run(budget: number): number {
    for (;;) {
      if (this.stopRequested) {
        this.stopRequested = false;
        this.stops++;
        return Exit.Stop;
      }
      const s = this.script.shift();
      if (s === undefined) {
        this.instret += budget;
        return Exit.Budget;
      }
      this.instret += 1;
      const exit = this.perform(this, s);
      if (exit !== undefined) return exit;
    }
  }
  /** An ECALL to M-mode: a7 = eid, a6 = fid, a0.. = args (registers past the args keep their values). */
  ecall(eid: number, fid: number, args: readonly (number | bigint)[]): number {
    this.regs[17] = BigInt(eid);
    this.regs[16] = BigInt(fid);
    args.forEach((a, i) => {
      this.regs[10 + i] = BigInt.asUintN(64, BigInt(a));
    });
    this.exitCause = 9;
    return Exit.MachineTrap;
  }
}

/** Test fixture: a DomainHost on a fake millisecond clock; `idle` records each sleep and moves the clock past it. */
export class ClockHost implements DomainHost {
  clockMs = 0;
  /** Every idle sleep asked for, in ms. */
  readonly idles: number[] = [];
  /** Console output, byte by byte. */
  readonly out: number[] = [];
  nowMs() {
    return this.clockMs;
  }
  async idle(ms: number) {
    this.idles.push(ms);
    this.clockMs += ms;
  }
  async yield() {}
  consoleOut(bytes: Uint8Array) {
    this.out.push(...bytes);
  }
}

/** A RISC-V Linux Image header (magic "RSC\x05" at 0x38, image_size 4 KiB) and zeros: enough for createVm. */
export function fakeImage(): Uint8Array {
  const b = new Uint8Array(4096);
  const v = new DataView(b.buffer);
  v.setBigUint64(16, 4096n, true); // image_size
  v.setUint32(0x38, 0x05435352, true);
  return b;
}

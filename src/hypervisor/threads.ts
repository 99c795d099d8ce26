/**
 * Harts on threads (docs/scheduler.md, "Harts on threads"): the harts of one PV domain running
 * in parallel. Hart 0, the devices, the SBI layer and PVX stay on the domain's *owner* thread;
 * every other hart runs on a thread of its own (a worker) with its own `Hart`, TLBs, translator
 * and code cache over the domain's shared WebAssembly.Memory (GuestRam `shared`), so guest RAM
 * and the harts' state areas are the same bytes on every thread.
 *
 * What crosses threads goes through one SharedArrayBuffer of control words:
 * - **Requests** from a worker (device MMIO, hypercalls, a fatal trap): the worker writes the
 *   request into its channel, bumps the domain's request counter and waits (`Atomics.wait`);
 *   the owner, which never blocks on a worker's behalf, serves it from its run loop (between
 *   `Hart.run` calls) or, while it idles, when `Atomics.waitAsync` on the counter wakes it, and
 *   wakes the worker with `Atomics.notify`. A hypercall is served by the same SBI dispatcher as
 *   hart 0's: the worker hart's registers are in the shared state area, so `RemoteHart`, the
 *   owner's stand-in for it, reads and writes them directly while the worker waits.
 * - **Commands** to a worker (interrupt lines, HSM start, park, stimecmp, TLB and instruction
 *   fences): words in its channel and a doorbell the worker waits on while it idles; a running
 *   worker looks at them between `Hart.run` calls (CHUNK instructions). Fences are synchronous
 *   as SBI requires: the owner waits (serving requests meanwhile) until the worker has flushed.
 * - **Hold and save** (a pause, a save, a migration): the owner asks every worker to stop at an
 *   instruction boundary (a word in its channel) and waits, serving the requests they posted
 *   meanwhile, until each says it is held; a worker whose loop has not begun yet sees the word
 *   before its first instruction and is not waited for. A held worker still takes commands and
 *   fences, and on request writes its hart's state (cpuStateCodec, the save file's hart blob)
 *   into the save area. The workers stay held until the owner's run loop goes on.
 * - **The guest clock**: the host time of mtime 0 (a float64 control word), which the owner sets
 *   when the workers start and moves on by the time a pause lasted when it releases them, so
 *   their `time` stops with hart 0's.
 * - **Calls a worker serves itself**: `send_ipi` and the remote fences, when the domain's
 *   hypercall policy allows them (a word the owner keeps up to date) and, for fences, hart 0 is
 *   not a target: the worker rings the other workers itself (fences: waits for their
 *   acknowledgement, taking the fences asked of it meanwhile), and an IPI to hart 0 is a bit the
 *   owner picks up at its next serve. It counts them in its channel for the statistics.
 */
import { PvmError } from '../core/errors.js';
import { encodeState } from '../core/state.js';
import { Cause, Csr, IrqBit, Priv } from '../cpu/arch.js';
import { Exit } from '../cpu/exits.js';
import { Hart } from '../cpu/hart.js';
import type { HartExtensions } from '../cpu/isa.js';
import { HART_STATE_BYTES } from '../cpu/jit/state.js';
import { applyHart, type CpuState, captureHart, cpuStateCodec } from '../cpu/snapshot.js';
import type { PhysBus } from '../cpu/types.js';
import { GuestRam } from '../memory/ram.js';
import { ALL_ONES, Eid, HsmState } from '../sbi/consts.js';
import type { SbiCallStats } from '../sbi/dispatcher.js';
import { decodeHartMask } from '../sbi/hartmask.js';
import type { VcpuHart } from './guest-hart.js';
import { enterSupervisor, redirectToSupervisor } from './pv.js';
import { CapBudget } from './scheduler.js';

/** Instructions a worker's hart runs between two looks at its commands. */
const CHUNK = 10_000;
const TICKS_PER_MS = 10_000;
/**
 * How long a worker whose hart executed PAUSE (a spin-wait hint) waits on its doorbell (ms):
 * the host core goes to the thread the guest spins for, and a command (an IPI, a fence, an
 * interrupt line) ends the wait at once.
 */
const PAUSE_WAIT_MS = 0.05;
/** Longest wait of an idle worker (ms) when no timer is armed: commands wake it earlier. */
const MAX_IDLE_MS = 500;
/** How long the owner waits for a worker to acknowledge a fence or a park before it gives up (ms). */
const ACK_TIMEOUT_MS = 2000;
/** How long the owner waits for a worker to stop for a hold or to write its state before the save fails (ms). */
const HOLD_TIMEOUT_MS = 10_000;
/** Room for one hart's state blob in the save area (an encoded CpuState is about 1 KiB). */
const SAVE_BYTES = 4096;

// Words of the control buffer: GLOBAL_WORDS for the domain, then CHANNEL_WORDS per hart.
const GLOBAL_WORDS = 16;
// (exported: the protocol tests drive a channel by hand)
export const PENDING = 0; // requests posted (a counter the owner waits on)
/** Float64 index of the clock's epoch: mtime 0 as an absolute host time (ms), moved on at every resume. */
const EPOCH_F64 = 1; // (words 2 and 3)
const LOCAL = 4; // which calls workers serve themselves: bit 1 << LOCAL_CALLS index
const OWNER_IPI = 5; // nonzero: a worker sent hart 0 an IPI (the owner sets its SSIP at its next serve)
const CAP = 6; // each hart's part of the domain's cap, in hundredths of a percent of one core; 0: none
const CHANNEL_WORDS = 64;
// a channel's words
const DOORBELL = 0;
const IRQ_LEVEL = 1;
const IRQ_DIRTY = 2;
const CMD = 3;
export const HSM = 4;
export const REQ = 5; // 0 none, 1 posted, 3 being served, 2 answered
export const KIND = 6;
const ARG = 8; // 8 words of arguments
export const RET = 16; // 4 words of reply
const START = 20; // pc lo, hi, opaque lo, hi (HSM start; also the resume point of a suspend)
const STIMECMP = 24; // lo, hi
const SATP = 26; // lo, hi: the worker's satp at its last request
export const TLB_SEQ = 28;
export const TLB_DONE = 29;
const FENCEI_SEQ = 30;
const FENCEI_DONE = 31;
const PARK_SEQ = 32;
const PARK_DONE = 33;
const RUN_STATE = 34; // what the worker is doing (RUN_* below), for statistics
export const HELD = 35; // the worker: the hold (HOLD_GEN) it stopped for
const PC = 36; // lo, hi: the worker's pc after its last chunk, for statistics
const ALIVE = 38; // 1 once the worker's loop has begun (a hold waits for live workers only)
export const HOLD = 39; // 1: stop at the next instruction boundary and stay there
const INSTRET = 40; // a float64 (two words, 8-aligned)
const LOCAL_COUNT = 42; // one counter per LOCAL_CALLS entry (4): calls this worker served itself
export const HOLD_GEN = 46; // which hold (the owner counts them)
export const SAVE_SEQ = 47;
export const SAVE_DONE = 48;
const SAVED_RUN = 49; // the saving worker's loop state: SAVED_* bits
const SAVED_SUSPEND = 50; // resume pc lo, hi, opaque lo, hi of an HSM suspend in progress
const SAVED_LEN = 54; // bytes of its state blob in the save area
// command bits
const CMD_EXIT = 1;
const CMD_PARK = 2;
const CMD_START = 4;
const CMD_STIMECMP = 8;
// RUN_STATE values
const RUN_STOPPED = 0;
const RUN_RUNNING = 1;
const RUN_WAITING = 2;
const RUN_HELD = 3;
// SAVED_RUN bits
const SAVED_STARTED = 1;
const SAVED_WAITING = 2;
const SAVED_SUSPENDED = 4;
const SAVED_RETENTIVE = 8;
// request kinds
const REQ_HAS = 1;
const REQ_READ = 2;
const REQ_WRITE = 3;
export const REQ_ECALL = 4;
const REQ_FAIL = 5;
// ecall replies
const GO_ON = 0;
const GO_PARK = 1;
const GO_SUSPEND = 2;

/** What a worker needs to run hart `hart` of a domain (posted to it as its start data). */
export interface RemoteHartInit {
  hart: number;
  harts: number;
  /** The domain's shared WebAssembly.Memory and RAM geometry. */
  memory: object;
  ramBase: number;
  ramSize: number;
  /** Byte offset of this hart's state area in the memory. */
  stateOff: number;
  /** The control words (a SharedArrayBuffer; the guest clock's origin is one of them). */
  control: SharedArrayBuffer;
  /** Where a held worker writes its hart's state blob (SAVE_BYTES per hart; a SharedArrayBuffer). */
  saveArea: SharedArrayBuffer;
  extensions: HartExtensions;
  jit: boolean;
  jitAfter: number;
  sstc: boolean;
  /** PAUSE ends a chunk and waits briefly (HartOptions.pauseExits, PAUSE_WAIT_MS). */
  pauseExits?: boolean;
  /** The state a restore loaded for this hart (absent: it starts as a new hart, stopped). */
  restore?: RemoteHartState;
}

/** What a worker's loop knows of its hart beyond the hart itself (the run loop's VcpuRunState for it). */
export interface RemoteRunState {
  started: boolean;
  /** In WFI, or in an HSM suspend, until an interrupt. */
  waiting: boolean;
  suspend: { retentive: boolean; pc: bigint; opaque: bigint } | null;
}

/** A hart on a thread's whole state: its hart's and its loop's. */
export interface RemoteHartState {
  cpu: CpuState;
  run: RemoteRunState;
}

/** What a save collects from a held worker: its hart's state blob (cpuStateCodec) and its loop's state. */
export interface RemoteCapture {
  cpu: Uint8Array;
  run: RemoteRunState;
}

/** Starts a worker thread running `runRemoteHart(init)`; the host (Node, a browser) provides it. */
export interface HartThreadSpawner {
  spawn(init: RemoteHartInit, onExit: (error: string | null) => void): { terminate(): void };
}

/** What a hart on a thread is doing, as its worker last published it (DomainStatsJson.threads). */
export interface ThreadHartStats {
  hart: number;
  /** `request` while it waits for the owner (`request` names what it asked); `held` while held (a pause, a save). */
  state: 'stopped' | 'running' | 'waiting' | 'request' | 'held';
  request?: 'has' | 'read' | 'write' | 'ecall' | 'fail';
  /** pc after its last chunk of CHUNK instructions (hex). */
  pc: string;
  instret: number;
}

const REQUEST_NAMES = [undefined, 'has', 'read', 'write', 'ecall', 'fail'] as const;

/** The calls a worker may serve itself, as the statistics name them: index k is LOCAL bit 1 << k. */
const LOCAL_CALLS = [
  ['IPI', 'send_ipi'],
  ['RFENCE', 'remote_fence_i'],
  ['RFENCE', 'remote_sfence_vma'],
  ['RFENCE', 'remote_sfence_vma_asid'],
] as const;

/** What the owner side needs from the domain while it serves requests. */
export interface ThreadedDomain {
  /** A hypercall of remote hart `hart` (registers in its state area): make it, return the vCPU's HSM state after it. */
  remoteEcall(hart: number): HsmState;
  /** The domain ended or reboots: parked workers stay parked. */
  readonly stopping: boolean;
  fail(code: number, why: string): void;
  /** SBI send_ipi to hart `hart` (hart 0: a worker asked for it). */
  sendIpi(hart: number): void;
  /** Whether the hypercall policy allows the call `ext`/`fn` (LOCAL_CALLS; asked when it changes). */
  allowsCall(ext: string, fn: string): boolean;
  /** The policy object, compared by identity: a new one means asking `allowsCall` again. */
  readonly callPolicy: object;
}

const clock = (globalThis as unknown as { performance: { now(): number; timeOrigin: number } }).performance;
const atomics = Atomics as unknown as {
  waitAsync?: (a: Int32Array, i: number, v: number) => { async: boolean; value: Promise<unknown> | string };
};

/** Absolute host time in ms, comparable across threads. */
export function absoluteMs(): number {
  return clock.timeOrigin + clock.now();
}

/** The control words of a threaded domain and the owner's side of the protocol. */
export class HartThreads {
  readonly control: SharedArrayBuffer;
  readonly saveArea: SharedArrayBuffer;
  private readonly w: Int32Array;
  private readonly f64: Float64Array;
  /** The remote harts by id (hart 0 is never one). */
  readonly remotes: (RemoteHart | null)[];
  private domain: ThreadedDomain | null = null;
  private workers: { terminate(): void }[] = [];
  private seen = 0;
  private armed = false;
  private stopped = false;
  /** Every worker is held (or none runs yet): the run loop releases them when it goes on. */
  private held = false;
  private holdGen = 0;
  /** mtime now (ticks): the owner's clock, which stands still while the domain is paused. */
  private mtime: () => number = () => 0;

  constructor(
    readonly harts: number,
    private readonly wake: () => void,
  ) {
    this.control = new SharedArrayBuffer((GLOBAL_WORDS + harts * CHANNEL_WORDS) * 4);
    this.saveArea = new SharedArrayBuffer(harts * SAVE_BYTES);
    this.w = new Int32Array(this.control);
    this.f64 = new Float64Array(this.control);
    this.remotes = new Array<RemoteHart | null>(harts).fill(null);
  }

  /** Index of word `i` of hart `k`'s channel. */
  at(k: number, i: number): number {
    return GLOBAL_WORDS + k * CHANNEL_WORDS + i;
  }

  /** The owner's stand-in for hart `id` (the board's createHart calls it for every hart but 0). */
  remoteHart(id: number, ram: GuestRam, bus: PhysBus): RemoteHart {
    const h = new RemoteHart(this, id, ram, bus);
    this.remotes[id] = h;
    return h;
  }

  /** What `start` needs, given when the domain is built (createVm). */
  private pending: { spawner: HartThreadSpawner; base: RemoteHartBase } | null = null;
  private base: RemoteHartBase | null = null;

  /**
   * The domain is built: its workers start when it first runs (a domain built and dropped costs
   * no thread). `mtime` is the domain's clock (ticks), which the workers follow.
   */
  prepare(domain: ThreadedDomain, spawner: HartThreadSpawner, base: RemoteHartBase, mtime: () => number): void {
    this.domain = domain;
    this.pending = { spawner, base };
    this.base = base;
    this.mtime = mtime;
  }

  /**
   * The workers' clock follows the owner's from now on (at start and at every release). Called
   * only while no worker runs a hart, so a plain float64 store will do: the stores and the
   * doorbell that follow order it before their next read.
   */
  private setEpoch(): void {
    this.f64[EPOCH_F64] = absoluteMs() - this.mtime() / TICKS_PER_MS;
  }

  /** Start the workers (the domain's run loop begins); once. */
  start(): void {
    const p = this.pending;
    const domain = this.domain;
    if (p === null || domain === null || this.stopped) return;
    this.pending = null;
    this.held = false;
    this.setEpoch();
    for (const r of this.remotes) {
      if (r === null) continue;
      const init: RemoteHartInit = {
        ...p.base,
        hart: r.id,
        stateOff: r.stateOff,
        ...(r.restored !== null ? { restore: r.restored } : {}),
      };
      r.restored = null;
      this.workers.push(
        p.spawner.spawn(init, (error) => {
          if (error !== null && !this.stopped) {
            domain.fail(1, `hart ${r.id}'s thread ended: ${error}`);
            this.wake();
          }
        }),
      );
    }
    this.arm();
  }

  /** End every worker (the domain ended). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const r of this.remotes) if (r !== null) this.command(r.id, CMD_EXIT);
    // settle a pending waitAsync, so nothing keeps the host's event loop alive
    Atomics.add(this.w, PENDING, 1);
    Atomics.notify(this.w, PENDING);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }

  /** Wake the owner when a worker posts a request while the owner idles. */
  private arm(): void {
    if (this.armed || this.stopped || atomics.waitAsync === undefined) return;
    const r = atomics.waitAsync(this.w, PENDING, this.seen);
    if (!r.async) {
      this.wake();
      return;
    }
    this.armed = true;
    (r.value as Promise<unknown>).then(() => {
      this.armed = false;
      if (!this.stopped) this.wake();
    });
  }

  /**
   * Serve the requests workers posted (cheap when there are none): MMIO, hypercalls, failures.
   * `scan` looks at every channel even when the counter has not moved: a serve nested in a
   * hypercall (a fence waiting for its target) must find the requests the outer serve counted
   * in `seen` but has not reached yet.
   */
  serve(scan = false): void {
    const domain = this.domain!;
    if (domain.callPolicy !== this.policySeen) this.allowLocal(domain);
    const n = Atomics.load(this.w, PENDING);
    if (n === this.seen && !scan) {
      this.arm();
      return;
    }
    this.seen = n;
    if (Atomics.exchange(this.w, OWNER_IPI, 0) !== 0) domain.sendIpi(0);
    for (const r of this.remotes) {
      if (r === null || Atomics.compareExchange(this.w, this.at(r.id, REQ), 1, 3) !== 1) continue;
      // (state 3: a hypercall may wait for a fence and serve others meanwhile, never this one again)
      this.answer(r);
      Atomics.store(this.w, this.at(r.id, REQ), 2);
      Atomics.notify(this.w, this.at(r.id, REQ));
    }
    this.arm();
  }

  private policySeen: object | null = null;

  /** Tell the workers which calls they may serve themselves under the domain's policy now. */
  private allowLocal(domain: ThreadedDomain): void {
    this.policySeen = domain.callPolicy;
    let bits = 0;
    LOCAL_CALLS.forEach(([ext, fn], k) => {
      if (domain.allowsCall(ext, fn)) bits |= 1 << k;
    });
    Atomics.store(this.w, LOCAL, bits);
  }

  /**
   * The domain's cap (% of one core, 0 = none), which for a threaded domain is its total over
   * its harts (docs/scheduler.md, "Harts on threads"): each hart gets an equal part. The harts on
   * threads hold themselves to theirs from their next chunk; returns the owner's part, for its
   * scheduler entity (the turns of hart 0).
   */
  setCap(cap: number): number {
    const part = cap / this.harts;
    // (a part below the word's unit still caps: one hundredth of a percent)
    Atomics.store(this.w, CAP, cap > 0 ? Math.max(1, Math.round(part * 100)) : 0);
    // a worker waiting for its budget looks again (a cap lifted or raised lets it run now)
    for (let k = 1; k < this.harts; k++) this.ring(k);
    return part;
  }

  /** The calls the workers served themselves, added to the owner's `calls` (a copy). */
  withLocalCalls(calls: SbiCallStats): { calls: SbiCallStats; local: number } {
    const out: SbiCallStats = {};
    for (const [ext, fns] of Object.entries(calls)) out[ext] = { ...fns };
    let local = 0;
    for (const r of this.remotes) {
      if (r === null) continue;
      LOCAL_CALLS.forEach(([ext, fn], k) => {
        const n = this.word(r.id, LOCAL_COUNT + k);
        if (n === 0) return;
        const m = (out[ext] ??= {});
        m[fn] = (m[fn] ?? 0) + n;
        local += n;
      });
    }
    return { calls: out, local };
  }

  private answer(r: RemoteHart): void {
    const w = this.w;
    const c = (i: number) => this.at(r.id, i);
    const kind = w[c(KIND)]!;
    const pa = (w[c(ARG)]! >>> 0) + (w[c(ARG + 1)]! >>> 0) * 0x1_0000_0000;
    switch (kind) {
      case REQ_HAS:
        w[c(RET)] = r.bus.has(pa) ? 1 : 0;
        return;
      case REQ_READ:
        w[c(RET)] = r.bus.read(pa, w[c(ARG + 2)]! as 1 | 2 | 4);
        return;
      case REQ_WRITE:
        r.bus.write(pa, w[c(ARG + 2)]! as 1 | 2 | 4, w[c(ARG + 3)]!);
        return;
      case REQ_ECALL: {
        const state = this.domain!.remoteEcall(r.id);
        w[c(HSM)] = state;
        w[c(RET)] =
          this.domain!.stopping || state === HsmState.STOPPED
            ? GO_PARK
            : state === HsmState.SUSPENDED
              ? GO_SUSPEND
              : GO_ON;
        return;
      }
      case REQ_FAIL:
        this.domain!.fail(
          1,
          w[c(ARG + 2)] === 1
            ? `double fault on hart ${r.id}: the S-mode trap vector faults (cause ${w[c(ARG + 3)]})`
            : `hart ${r.id}: trap cause ${w[c(ARG + 3)]} in virtual M-mode at pc 0x${pa.toString(16)}`,
        );
        w[c(RET)] = GO_PARK;
        return;
      default:
        throw new PvmError('internal', `hart ${r.id}: unknown request ${kind}`);
    }
  }

  /** Post command bits to hart `k` and ring its doorbell. */
  command(k: number, bits: number): void {
    Atomics.or(this.w, this.at(k, CMD), bits);
    this.ring(k);
  }

  ring(k: number): void {
    Atomics.add(this.w, this.at(k, DOORBELL), 1);
    Atomics.notify(this.w, this.at(k, DOORBELL));
  }

  /** Ask hart `k` for a fence or a park (`seq` word) and wait until it has done it (`done` word). */
  request(k: number, seq: number, done: number): void {
    // not started (a restore's device loads fence): a worker starts with nothing cached
    if (this.pending !== null) return;
    const want = Atomics.add(this.w, this.at(k, seq), 1) + 1;
    this.ring(k);
    // a hart whose request is being served waits for us: it does the fence before it runs on
    if (Atomics.load(this.w, this.at(k, REQ)) === 3 || this.stopped) return;
    const until = clock.now() + ACK_TIMEOUT_MS;
    while (Atomics.load(this.w, this.at(k, done)) < want) {
      this.serve(true); // the worker may be waiting for us
      const cur = Atomics.load(this.w, this.at(k, done));
      if (cur >= want || clock.now() > until) return;
      Atomics.wait(this.w, this.at(k, done), cur, 1);
    }
  }

  /**
   * Hart 0 executed PAUSE (a spin-wait, HartOptions.pauseExits): the owner waits for a worker's
   * request up to PAUSE_WAIT_MS, giving the host core to the threads hart 0 may wait for, then
   * serves what they asked.
   */
  pauseWait(): void {
    if (this.pending !== null || this.stopped) return;
    Atomics.wait(this.w, PENDING, this.seen, PAUSE_WAIT_MS);
    this.serve();
  }

  /** Instructions retired by hart `k` (published by its worker after every chunk). */
  instret(k: number): number {
    return this.f64[this.at(k, INSTRET) / 2]!;
  }

  /** Hart `k`'s instruction count and pc as its worker would publish them (a restore, before it starts). */
  publish(k: number, instret: number, pcLo: number, pcHi: number): void {
    this.f64[this.at(k, INSTRET) / 2] = instret;
    this.w[this.at(k, PC)] = pcLo;
    this.w[this.at(k, PC + 1)] = pcHi;
  }

  /** What every hart on a thread is doing now (a hang shows where each one is). */
  stats(): ThreadHartStats[] {
    const out: ThreadHartStats[] = [];
    for (const r of this.remotes) {
      if (r === null) continue;
      const k = r.id;
      const req = this.word(k, REQ);
      const run = this.word(k, RUN_STATE);
      const pc = (BigInt(this.word(k, PC + 1) >>> 0) << 32n) | BigInt(this.word(k, PC) >>> 0);
      const s: ThreadHartStats = {
        hart: k,
        state:
          run === RUN_HELD
            ? 'held'
            : req === 1 || req === 3
              ? 'request'
              : run === RUN_RUNNING
                ? 'running'
                : run === RUN_WAITING
                  ? 'waiting'
                  : 'stopped',
        pc: `0x${pc.toString(16)}`,
        instret: this.instret(k),
      };
      if (s.state === 'request') {
        const name = REQUEST_NAMES[this.word(k, KIND)];
        if (name !== undefined) s.request = name;
      }
      out.push(s);
    }
    return out;
  }

  word(k: number, i: number): number {
    return Atomics.load(this.w, this.at(k, i));
  }

  setWords(k: number, i: number, v: bigint): void {
    this.w[this.at(k, i)] = Number(BigInt.asIntN(32, v));
    this.w[this.at(k, i + 1)] = Number(BigInt.asIntN(32, v >> 32n));
  }

  /** Park every remote hart and wait until each has (guest reboot: RAM is about to be reloaded). */
  parkAll(): void {
    for (const r of this.remotes) {
      if (r === null) continue;
      Atomics.store(this.w, this.at(r.id, HSM), HsmState.STOPPED);
      this.command(r.id, CMD_PARK);
      this.request(r.id, PARK_SEQ, PARK_DONE);
    }
  }

  /**
   * Stop every hart on a thread at an instruction boundary and keep it there until `release`
   * (a pause, a save). A worker waiting for a request of its own (MMIO, a hypercall) is served
   * first: its instruction completes, then it stops. Workers still starting (not ALIVE) are not
   * waited for: each sets ALIVE before it first reads HOLD, and the owner sets HOLD before it
   * reads ALIVE, so one of the two sees the other's store and the worker stops before its
   * first instruction. Throws when one does not stop in time.
   */
  hold(): void {
    if (this.held || this.stopped) return;
    this.held = true;
    if (this.pending !== null) return; // never ran: nothing to stop
    const gen = ++this.holdGen;
    for (const r of this.remotes) {
      if (r === null) continue;
      Atomics.store(this.w, this.at(r.id, HOLD_GEN), gen);
      Atomics.store(this.w, this.at(r.id, HOLD), 1);
      this.ring(r.id);
    }
    try {
      for (const r of this.remotes) {
        if (r === null || Atomics.load(this.w, this.at(r.id, ALIVE)) === 0) continue;
        this.awaitWord(r.id, HELD, gen, 'stop');
      }
      // what they posted before they stopped: an IPI to hart 0 lands before a save reads it
      this.serve(true);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** The held workers go on (the run loop got its next turn), their clock moved on past the pause. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (this.stopped || this.pending !== null) return;
    this.setEpoch();
    for (const r of this.remotes) {
      if (r === null) continue;
      Atomics.store(this.w, this.at(r.id, HOLD), 0);
      this.ring(r.id);
    }
  }

  /** The state of every hart on a thread, by hart id (null for the others); `hold` first. */
  capture(): (RemoteCapture | null)[] {
    if (!this.held) throw new PvmError('internal', 'the harts on threads must be held to be saved');
    return this.remotes.map((r) => {
      if (r === null) return null;
      if (this.pending !== null || this.stopped) {
        // never ran: what a restore loaded, or a new hart
        const s = r.restored ?? {
          cpu: this.newHartState(r.id),
          run: { started: false, waiting: false, suspend: null },
        };
        return { cpu: encodeState(cpuStateCodec, s.cpu), run: { ...s.run } };
      }
      const k = r.id;
      const seq = Atomics.add(this.w, this.at(k, SAVE_SEQ), 1) + 1;
      this.ring(k);
      this.awaitWord(k, SAVE_DONE, seq, 'write its state');
      const len = this.word(k, SAVED_LEN);
      if (len <= 0 || len > SAVE_BYTES) throw new PvmError('internal', `hart ${k}: a state of ${len} bytes`);
      const bits = this.word(k, SAVED_RUN);
      const pair = (i: number) =>
        BigInt.asUintN(64, (BigInt(this.word(k, i + 1)) << 32n) | BigInt(this.word(k, i) >>> 0));
      return {
        cpu: new Uint8Array(this.saveArea, k * SAVE_BYTES, len).slice(),
        run: {
          started: (bits & SAVED_STARTED) !== 0,
          waiting: (bits & SAVED_WAITING) !== 0,
          suspend:
            (bits & SAVED_SUSPENDED) === 0
              ? null
              : {
                  retentive: (bits & SAVED_RETENTIVE) !== 0,
                  pc: pair(SAVED_SUSPEND),
                  opaque: pair(SAVED_SUSPEND + 2),
                },
        },
      };
    });
  }

  /** The state of a hart as its worker would build it (a save of a domain that never ran). */
  private newHartState(id: number): CpuState {
    const b = this.base;
    if (b === null) throw new PvmError('internal', 'harts on threads not prepared');
    const none: PhysBus = { has: () => false, read: () => 0, write: () => {} };
    return captureHart(
      new Hart(new GuestRam(b.ramBase, 4096), none, { id, virtualM: true, extensions: b.extensions, jit: false }),
    );
  }

  /** Wait until word `i` of hart `k` is `want`, serving requests meanwhile (the worker may wait for one). */
  private awaitWord(k: number, i: number, want: number, what: string): void {
    const until = clock.now() + HOLD_TIMEOUT_MS;
    for (;;) {
      this.serve(true);
      const cur = Atomics.load(this.w, this.at(k, i));
      if (cur === want) return;
      if (this.stopped) throw new PvmError('state', 'the domain has ended');
      if (clock.now() > until)
        throw new PvmError('state', `hart ${k} on its thread did not ${what} within ${HOLD_TIMEOUT_MS} ms`);
      Atomics.wait(this.w, this.at(k, i), cur, 1);
    }
  }
}

/** What every worker of a domain starts from (RemoteHartInit less its own hart's). */
export type RemoteHartBase = Omit<RemoteHartInit, 'hart' | 'stateOff' | 'restore'>;

/**
 * The owner's stand-in for a hart that runs on a worker: what the domain, the board and the
 * SBI layer do to a hart becomes a command to the worker; the registers are the shared ones.
 */
export class RemoteHart implements VcpuHart {
  readonly x: Int32Array;
  readonly stateOff: number;
  priv: number = Priv.S;
  virtualM = true;
  readonly exitCause = 0;
  readonly exitIsInterrupt = false;
  readonly exitTval = 0;
  readonly jit = null;
  /** Vcpu.remote: the domain's run loop never runs this hart. */
  readonly remoteThread = true;
  /** State a restore loaded, handed to the worker when it starts; null: it starts as a new hart. */
  restored: RemoteHartState | null = null;
  private readonly words: Int32Array;

  constructor(
    private readonly threads: HartThreads,
    readonly id: number,
    ram: GuestRam,
    readonly bus: PhysBus,
  ) {
    this.stateOff = ram.claimCpuState(HART_STATE_BYTES);
    if (this.stateOff < 0) throw new PvmError('internal', 'no state area for a hart on a thread');
    this.x = new Int32Array(ram.buffer, this.stateOff, 64);
    this.words = new Int32Array(threads.control);
  }

  get instret(): number {
    return this.threads.instret(this.id);
  }

  getX(r: number): bigint {
    return BigInt.asIntN(64, (BigInt(this.x[2 * r + 1]!) << 32n) | BigInt(this.x[2 * r]! >>> 0));
  }
  setX(r: number, v: bigint): void {
    if (r === 0) return;
    this.x[2 * r] = Number(BigInt.asIntN(32, v));
    this.x[2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
  }

  run(): number {
    throw new PvmError('internal', `hart ${this.id} runs on its own thread`);
  }
  requestStop(): void {}

  setIrq(bit: number, level: boolean): void {
    const t = this.threads;
    const m = 1 << bit;
    const i = t.at(this.id, IRQ_LEVEL);
    if (level) Atomics.or(this.words, i, m);
    else Atomics.and(this.words, i, ~m);
    Atomics.or(this.words, t.at(this.id, IRQ_DIRTY), m);
    t.ring(this.id);
  }

  getPc(): bigint {
    throw new PvmError('internal', `hart ${this.id}'s pc is on its own thread`);
  }
  setPc(): void {
    throw new PvmError('internal', `hart ${this.id}'s pc is on its own thread`);
  }

  getCsr(n: number): bigint {
    // the legacy calls read hart masks through the caller's satp, published with its request
    if (n === Csr.satp) {
      const t = this.threads;
      return (BigInt(t.word(this.id, SATP + 1) >>> 0) << 32n) | BigInt(t.word(this.id, SATP) >>> 0);
    }
    if (n === Csr.mip || n === Csr.mie) return 0n;
    throw new PvmError('internal', `CSR 0x${n.toString(16)} of hart ${this.id} is on its own thread`);
  }
  setCsr(n: number, v: bigint): void {
    if (n !== Csr.stimecmp)
      throw new PvmError('internal', `CSR 0x${n.toString(16)} of hart ${this.id} is on its own thread`);
    this.threads.setWords(this.id, STIMECMP, v);
    this.threads.command(this.id, CMD_STIMECMP);
  }

  flushTlb(): void {
    this.threads.request(this.id, TLB_SEQ, TLB_DONE);
  }
  flushIcache(): void {
    this.threads.request(this.id, FENCEI_SEQ, FENCEI_DONE);
  }
  reset(): void {}
  updateTimer(): void {}
  timerDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }

  /** HSM hart_start: the worker enters S-mode at `pc` with a0 = its id, a1 = `opaque`. */
  start(pc: bigint, opaque: bigint): void {
    const t = this.threads;
    t.setWords(this.id, START, pc);
    t.setWords(this.id, START + 2, opaque);
    this.setHsm(HsmState.STARTED);
    t.command(this.id, CMD_START);
  }

  /** HSM suspend of the hart (in its own hypercall): where it resumes. */
  suspend(retentive: boolean, pc: bigint, opaque: bigint): void {
    const t = this.threads;
    t.setWords(this.id, START, pc);
    t.setWords(this.id, START + 2, opaque);
    this.words[t.at(this.id, RET + 1)] = retentive ? 1 : 0;
    this.setHsm(HsmState.SUSPENDED);
  }

  setHsm(state: HsmState): void {
    Atomics.store(this.words, this.threads.at(this.id, HSM), state);
  }

  /** A restore (before the domain runs): the worker starts from `s`, its HSM state `hsm`. */
  restore(s: RemoteHartState, hsm: HsmState): void {
    this.restored = s;
    this.setHsm(hsm);
    // until its worker publishes, the statistics show the count and pc the restore gave it
    this.threads.publish(this.id, s.cpu.counters[0] ?? 0, s.cpu.words[0] ?? 0, s.cpu.words[1] ?? 0);
  }

  /** HSM state as the worker last set it (a suspended hart resumes on its own). */
  hsm(): HsmState {
    return this.threads.word(this.id, HSM) as HsmState;
  }
}

/** A worker's bus: every access is a request to the owner, where the devices are. */
class RequestBus implements PhysBus {
  constructor(private readonly ch: WorkerChannel) {}
  has(pa: number): boolean {
    return this.ch.ask(REQ_HAS, pa, 0, 0) !== 0;
  }
  read(pa: number, size: 1 | 2 | 4): number {
    return this.ch.ask(REQ_READ, pa, size, 0);
  }
  write(pa: number, size: 1 | 2 | 4, value: number): void {
    this.ch.ask(REQ_WRITE, pa, size, value);
  }
}

/** A worker's side of its channel (exported for the fuzz target of `serveLocally`). */
export class WorkerChannel {
  readonly w: Int32Array;
  readonly f64: Float64Array;
  hart: Hart | null = null;
  constructor(
    control: SharedArrayBuffer,
    private readonly k: number,
  ) {
    this.w = new Int32Array(control);
    this.f64 = new Float64Array(control);
  }
  at(i: number): number {
    return GLOBAL_WORDS + this.k * CHANNEL_WORDS + i;
  }
  /** Index of word `i` of hart `k`'s channel (another worker's). */
  of(k: number, i: number): number {
    return GLOBAL_WORDS + k * CHANNEL_WORDS + i;
  }
  /** Fences asked of this hart and taken so far (the TLB_SEQ and FENCEI_SEQ values acknowledged). */
  private tlbDone = 0;
  private fenceDone = 0;
  /** Take the fences other threads asked of this hart since the last look, and say so. */
  takeFences(): void {
    const w = this.w;
    const h = this.hart!;
    const tlb = Atomics.load(w, this.at(TLB_SEQ));
    const fence = Atomics.load(w, this.at(FENCEI_SEQ));
    if (tlb !== this.tlbDone) {
      h.flushTlb();
      this.tlbDone = tlb;
      Atomics.store(w, this.at(TLB_DONE), tlb);
      Atomics.notify(w, this.at(TLB_DONE));
    }
    if (fence !== this.fenceDone) {
      h.flushIcache();
      this.fenceDone = fence;
      Atomics.store(w, this.at(FENCEI_DONE), fence);
      Atomics.notify(w, this.at(FENCEI_DONE));
    }
  }

  /**
   * Serve the hart's hypercall here when it is one a worker may make alone (LOCAL): true when
   * done (a0, a1 set; the caller steps over the ECALL), false to ask the owner. Anything out of
   * the ordinary (a bad hart mask or range, a fence of hart 0) goes to the owner, whose SBI
   * layer answers it.
   */
  serveLocally(harts: number): boolean {
    const h = this.hart!;
    const x = h.x;
    if (x[35] !== 0 || x[33] !== 0) return false;
    const eid = x[34]! >>> 0;
    const fid = x[32]! >>> 0;
    const k = eid === Eid.IPI && fid === 0 ? 0 : eid === Eid.RFENCE && fid <= 2 ? 1 + fid : -1;
    if (k < 0 || (Atomics.load(this.w, LOCAL) & (1 << k)) === 0) return false;
    const targets = decodeHartMask(BigInt.asUintN(64, h.getX(10)), BigInt.asUintN(64, h.getX(11)), harts);
    if (typeof targets === 'number') return false;
    if (k > 1) {
      const start = BigInt.asUintN(64, h.getX(12));
      const size = BigInt.asUintN(64, h.getX(13));
      if (size !== ALL_ONES && start + size > ALL_ONES + 1n) return false;
    }
    if (k > 0 && targets.includes(0)) return false;
    const w = this.w;
    for (const t of targets) {
      if (k === 0) {
        if (t === this.k) h.setIrq(IrqBit.SSIP, true);
        else if (t === 0) {
          Atomics.store(w, OWNER_IPI, 1);
          Atomics.add(w, PENDING, 1);
          Atomics.notify(w, PENDING);
        } else {
          Atomics.or(w, this.of(t, IRQ_LEVEL), 1 << IrqBit.SSIP);
          Atomics.or(w, this.of(t, IRQ_DIRTY), 1 << IrqBit.SSIP);
          this.ring(t);
        }
      } else if (t === this.k) {
        if (k === 1) h.flushIcache();
        else h.flushTlb();
      } else if (k === 1) this.fence(t, FENCEI_SEQ, FENCEI_DONE);
      else this.fence(t, TLB_SEQ, TLB_DONE);
    }
    Atomics.add(w, this.at(LOCAL_COUNT + k), 1);
    x[20] = x[21] = x[22] = x[23] = 0; // a0 = SBI_SUCCESS, a1 = 0
    return true;
  }

  private ring(t: number): void {
    Atomics.add(this.w, this.of(t, DOORBELL), 1);
    Atomics.notify(this.w, this.of(t, DOORBELL));
  }

  /**
   * Whether hart `t` (another worker's) is held: stopped for the hold asked now, so it takes the
   * fences asked of it before it runs again (HOLD first: a new hold's HOLD_GEN is stored before it).
   */
  private held(t: number): boolean {
    const w = this.w;
    return (
      Atomics.load(w, this.of(t, HOLD)) !== 0 &&
      Atomics.load(w, this.of(t, HELD)) === Atomics.load(w, this.of(t, HOLD_GEN))
    );
  }

  /**
   * Ask hart `t` (another worker's) for a fence and wait until it has taken it, as the owner's
   * HartThreads.request does: a held hart takes it before it runs again, so it is not waited
   * for; fences asked of this hart meanwhile are taken (two harts fencing each other).
   */
  private fence(t: number, seq: number, done: number): void {
    const w = this.w;
    const want = Atomics.add(w, this.of(t, seq), 1) + 1;
    this.ring(t);
    const until = clock.now() + ACK_TIMEOUT_MS;
    for (let cur = Atomics.load(w, this.of(t, done)); cur < want; cur = Atomics.load(w, this.of(t, done))) {
      if (this.held(t) || clock.now() > until) return;
      this.takeFences();
      Atomics.wait(w, this.of(t, done), cur, 1);
    }
  }

  /** Post a request and wait for the owner's answer (RET word). */
  ask(kind: number, pa: number, a: number, b: number): number {
    const w = this.w;
    w[this.at(KIND)] = kind;
    w[this.at(ARG)] = pa | 0;
    w[this.at(ARG + 1)] = Math.floor(pa / 0x1_0000_0000) | 0;
    w[this.at(ARG + 2)] = a;
    w[this.at(ARG + 3)] = b;
    const h = this.hart;
    if (h !== null) {
      w[this.at(SATP)] = h.satpLo;
      w[this.at(SATP + 1)] = h.satpHi;
    }
    Atomics.store(w, this.at(REQ), 1);
    Atomics.add(w, PENDING, 1);
    Atomics.notify(w, PENDING);
    for (let r = Atomics.load(w, this.at(REQ)); r !== 2; r = Atomics.load(w, this.at(REQ)))
      Atomics.wait(w, this.at(REQ), r);
    Atomics.store(w, this.at(REQ), 0);
    this.applyIrqs();
    return w[this.at(RET)]!;
  }
  /** Interrupt lines the owner changed (a device, an IPI) since the last look. */
  applyIrqs(): void {
    const dirty = Atomics.exchange(this.w, this.at(IRQ_DIRTY), 0);
    if (dirty === 0 || this.hart === null) return;
    const level = Atomics.load(this.w, this.at(IRQ_LEVEL));
    for (let bit = 0; bit < 32; bit++) if ((dirty >>> bit) & 1) this.hart.setIrq(bit, ((level >>> bit) & 1) === 1);
  }
  pair(i: number): bigint {
    return BigInt.asUintN(64, (BigInt(this.w[this.at(i + 1)]!) << 32n) | BigInt(this.w[this.at(i)]! >>> 0));
  }
  setPair(i: number, v: bigint): void {
    this.w[this.at(i)] = Number(BigInt.asIntN(32, v));
    this.w[this.at(i + 1)] = Number(BigInt.asIntN(32, v >> 32n));
  }
  /** A held hart's state into the save area and the SAVED_* words (the owner reads them after SAVE_DONE). */
  save(h: Hart, run: RemoteRunState, area: SharedArrayBuffer): void {
    const blob = encodeState(cpuStateCodec, captureHart(h));
    if (blob.length > SAVE_BYTES) throw new PvmError('internal', `hart ${this.k}: a state of ${blob.length} bytes`);
    new Uint8Array(area, this.k * SAVE_BYTES, blob.length).set(blob);
    const s = run.suspend;
    this.w[this.at(SAVED_RUN)] =
      (run.started ? SAVED_STARTED : 0) |
      (run.waiting ? SAVED_WAITING : 0) |
      (s !== null ? SAVED_SUSPENDED : 0) |
      (s?.retentive ? SAVED_RETENTIVE : 0);
    this.setPair(SAVED_SUSPEND, s?.pc ?? 0n);
    this.setPair(SAVED_SUSPEND + 2, s?.opaque ?? 0n);
    this.w[this.at(SAVED_LEN)] = blob.length;
  }
}

/** A worker's main loop: run hart `init.hart` until the owner says exit. */
export function runRemoteHart(init: RemoteHartInit): void {
  const ch = new WorkerChannel(init.control, init.hart);
  const ram = new GuestRam(init.ramBase, init.ramSize, init.harts * HART_STATE_BYTES, {
    memory: init.memory,
    stateStart: init.stateOff,
  });
  // the owner's guest clock: its epoch moves on at every release, as the owner's stands still while paused
  const now = () => Math.floor((absoluteMs() - ch.f64[EPOCH_F64]!) * TICKS_PER_MS);
  const h = new Hart(ram, new RequestBus(ch), {
    id: init.hart,
    time: { now },
    virtualM: true,
    extensions: init.extensions,
    jit: init.jit,
    jitAfter: init.jitAfter,
    pauseExits: init.pauseExits === true,
  });
  if (h.stateOff !== init.stateOff) throw new PvmError('internal', 'the hart did not get its state area');
  ch.hart = h;
  const w = ch.w;
  let started = false;
  let waiting = false;
  let suspend: { retentive: boolean; pc: bigint; opaque: bigint } | null = null;
  if (init.restore !== undefined) {
    applyHart(h, init.restore.cpu);
    ({ started, waiting, suspend } = init.restore.run);
  }
  ch.f64[ch.at(INSTRET) / 2] = h.instret;
  w[ch.at(PC)] = h.pcLo;
  w[ch.at(PC + 1)] = h.pcHi;
  let parkDone = 0;
  let saveDone = 0;
  // this hart's part of the domain's cap (HartThreads.setCap), spent by the chunks it runs
  const budget = new CapBudget(0, clock.now());
  // before the first look at HOLD (HartThreads.hold)
  Atomics.store(w, ch.at(ALIVE), 1);
  for (;;) {
    const bell = Atomics.load(w, ch.at(DOORBELL));
    const cmd = Atomics.exchange(w, ch.at(CMD), 0);
    if (cmd & CMD_EXIT) return;
    if (cmd & CMD_PARK) {
      started = false;
      waiting = false;
      suspend = null;
      // a reboot reloads RAM: nothing translated or cached before it is used again
      h.flushTlb();
      h.flushIcache();
    }
    if (cmd & CMD_START) {
      enterSupervisor(h, ch.pair(START), BigInt(init.hart), ch.pair(START + 2), init.sstc);
      started = true;
      waiting = false;
      suspend = null;
      h.woke();
    }
    if (cmd & CMD_STIMECMP) h.setCsr(Csr.stimecmp, ch.pair(STIMECMP));
    ch.takeFences();
    const park = Atomics.load(w, ch.at(PARK_SEQ));
    if (park !== parkDone) {
      parkDone = park;
      Atomics.store(w, ch.at(PARK_DONE), park);
      Atomics.notify(w, ch.at(PARK_DONE));
    }
    ch.applyIrqs();
    const save = Atomics.load(w, ch.at(SAVE_SEQ));
    if (save !== saveDone) {
      saveDone = save;
      ch.save(h, { started, waiting, suspend }, init.saveArea);
      Atomics.store(w, ch.at(SAVE_DONE), save);
      Atomics.notify(w, ch.at(SAVE_DONE));
    }
    if (Atomics.load(w, ch.at(HOLD)) !== 0) {
      const gen = Atomics.load(w, ch.at(HOLD_GEN));
      // (the statistics say held once the owner's hold returns)
      Atomics.store(w, ch.at(RUN_STATE), RUN_HELD);
      if (Atomics.load(w, ch.at(HELD)) !== gen) {
        Atomics.store(w, ch.at(HELD), gen);
        Atomics.notify(w, ch.at(HELD));
      }
      Atomics.wait(w, ch.at(DOORBELL), bell, MAX_IDLE_MS);
      continue;
    }
    if (!started) {
      Atomics.store(w, ch.at(RUN_STATE), RUN_STOPPED);
      Atomics.wait(w, ch.at(DOORBELL), bell, MAX_IDLE_MS);
      continue;
    }
    const t = now();
    h.updateTimer(t);
    if (waiting) {
      if (!h.interruptPending()) {
        const d = h.timerDeadline();
        // a deadline already passed (its interrupt is pending but masked) is no reason to wake
        const ms = Number.isFinite(d) && d > t ? Math.min(MAX_IDLE_MS, (d - t) / TICKS_PER_MS) : MAX_IDLE_MS;
        Atomics.store(w, ch.at(RUN_STATE), RUN_WAITING);
        Atomics.wait(w, ch.at(DOORBELL), bell, ms);
        continue;
      }
      waiting = false;
      h.woke();
      if (suspend !== null) {
        if (!suspend.retentive) enterSupervisor(h, suspend.pc, BigInt(init.hart), suspend.opaque, init.sstc);
        suspend = null;
        Atomics.store(w, ch.at(HSM), HsmState.STARTED);
      }
    }
    const cap = Atomics.load(w, CAP) / 100;
    let ranFrom = 0;
    if (cap !== budget.cap || cap > 0) {
      ranFrom = clock.now();
      if (cap !== budget.cap) budget.set(cap, ranFrom);
      const wait = budget.waitMs(ranFrom);
      if (wait > 0) {
        // runnable, not running: until the budget is positive again, or a command comes
        Atomics.wait(w, ch.at(DOORBELL), bell, Math.min(MAX_IDLE_MS, wait));
        continue;
      }
    }
    Atomics.store(w, ch.at(RUN_STATE), RUN_RUNNING);
    const exit = h.run(CHUNK);
    if (cap > 0) {
      const end = clock.now();
      budget.spend(end - ranFrom, end);
    }
    ch.f64[ch.at(INSTRET) / 2] = h.instret;
    w[ch.at(PC)] = h.pcLo;
    w[ch.at(PC + 1)] = h.pcHi;
    if (exit === Exit.Wfi) waiting = true;
    else if (exit === Exit.Pause) {
      // a spin-wait (pause-loop exiting): the core to the thread it waits for; then its commands
      Atomics.wait(w, ch.at(DOORBELL), bell, PAUSE_WAIT_MS);
    } else if (exit === Exit.MachineTrap && !h.exitIsInterrupt) {
      const cause = h.exitCause;
      if (cause === Cause.EcallS) {
        if (ch.serveLocally(init.harts)) {
          h.skip(4);
          continue;
        }
        const go = ch.ask(REQ_ECALL, 0, 0, 0);
        if (go === GO_PARK) started = false;
        else {
          h.skip(4);
          if (go === GO_SUSPEND) {
            waiting = true;
            suspend = { retentive: w[ch.at(RET + 1)] === 1, pc: ch.pair(START), opaque: ch.pair(START + 2) };
          }
        }
        continue;
      }
      const tval = BigInt.asUintN(64, BigInt(h.exitTval));
      const vec = h.getCsr(Csr.stvec) & ~3n;
      if (h.priv === Priv.M || h.getPc() === vec) {
        const pc = Number(h.getPc() & 0xff_ffff_ffff_ffffn);
        ch.ask(REQ_FAIL, pc, h.priv === Priv.M ? 0 : 1, cause);
        started = false;
        continue;
      }
      redirectToSupervisor(h, cause, tval);
    }
  }
}

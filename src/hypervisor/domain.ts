import { ByteQueue } from '../core/byte-queue.js';
import { PvmError } from '../core/errors.js';
import { Cause, Csr, IrqBit, Priv } from '../cpu/arch.js';
import { Exit } from '../cpu/exits.js';
import type { TimeSource } from '../cpu/types.js';
import type { GuestRam } from '../memory/ram.js';
import { ALL_ONES, Eid, HsmState, ResetReason, ResetType } from '../sbi/consts.js';
import { createSbi, type SbiDispatcher } from '../sbi/dispatcher.js';
import { PVX_MAX_VCPUS } from '../sbi/pvx/consts.js';
import type { SbiPlatform } from '../sbi/types.js';
import { loadDomain, saveDomain } from './domain-snapshot.js';
import type { VcpuHart } from './guest-hart.js';
import { SBI_INPUT_MAX } from './limits.js';
import { enterSupervisor, redirectToSupervisor } from './pv.js';
import type { PvxDomain } from './pvx/pvx-domain.js';
import type { MachineState } from './snapshot/format.js';
import { DomainStats, type DomainStatsJson, jitStatsOf } from './stats.js';
import { type HartThreads, RemoteHart, type ThreadedDomain } from './threads.js';
import { Vcpu } from './vcpu.js';
import { translate } from './vmem.js';

export type DomainMode = 'pv' | 'full';

/** Where host console input goes: the UART, pvm's SBI console (PV mode), or the virtio console. */
export type ConsoleInput = 'uart' | 'sbi' | 'virtio';

/** How a domain is run, beyond its machine and boot plan. */
export interface DomainOptions {
  /** End the domain (DomainEnd 'limit') once its vCPUs have retired this many instructions in all. */
  maxInstructions?: number;
  /** Console input for the domain's virtio console, when it has one (ConsoleInput 'virtio'). */
  virtioConsoleInput?: (bytes: Uint8Array) => void;
  /** What the domain's virtio transports refused so far, per transport and rule (for its statistics). */
  virtioRefused?: () => Record<string, Record<string, number>>;
  /**
   * End slices after a bounded host time (default true). False with deterministic time, where
   * a slice must end at the same instruction in every run; slices are then bounded by their
   * instruction budget alone (exits and traps counted at a weight, see EXIT_COST).
   */
  timedSlices?: boolean;
}

/** Most vCPUs a domain may have: PVX's shared info page has room for 8 vCPU records. */
export const MAX_HARTS = PVX_MAX_VCPUS;

/** Instructions per time slice when several vCPUs are runnable / when one is. */
const SLICE_SMP = 20_000;
const SLICE_UP = 200_000;
/**
 * Fairness: a slice also ends after this much host time (ms), whatever the guest does, so a
 * vCPU that makes every instruction expensive (an endless chain of redirected traps, a
 * delegated page-fault loop, an ecall storm) gets its share of the host and no more. The clock
 * is read between Hart.run calls of CHECK_EVERY instructions and after every exit, never on
 * the CPU's fast path (docs/hypervisor.md, "Fairness").
 */
const SLICE_UP_MS = 4;
const SLICE_SMP_MS = 1;
/**
 * A slice runs in Hart.run calls of at most this many instructions: between two, due timers
 * are delivered (so a busy vCPU sees its timer interrupt at most this late) and the slice's
 * time is checked. Measured cost: well under 1 % of a slice (see docs/hypervisor.md).
 */
const CHECK_EVERY = 10_000;
/**
 * What an exit costs against the slice's instruction budget. Exits are answered in TypeScript
 * (microseconds each); counted as one instruction, a stream of them would hold a slice (and,
 * with deterministic time, where slices are not timed, the host) for seconds.
 */
const EXIT_COST = 32;
/**
 * The run loop hands control back to the host event loop at least this often (ms): the length
 * of a domain's turn. With one runnable vCPU its slice also ends with the turn, so two busy
 * domains of one daemon alternate every ~4 ms and the daemon's I/O waits at most about a turn
 * per domain (docs/hypervisor.md, "Fairness").
 */
const HOST_YIELD_MS = 4;
/** Longest idle sleep without a deadline (ms): input wakes the loop earlier. */
const MAX_IDLE_MS = 500;
const TICKS_PER_MS = 10_000;
/** Extensions after whose calls the slice ends (bigints made once: machineTrap runs per hypercall). */
const EID_IPI = BigInt(Eid.IPI);
const EID_RFENCE = BigInt(Eid.RFENCE);
const EID_LEGACY_SEND_IPI = BigInt(Eid.LEGACY_SEND_IPI);

/** The board as the domain drives it (implemented over src/machine by the composer). */
export interface DomainMachine {
  readonly ram: GuestRam;
  readonly harts: readonly VcpuHart[];
  /** mtime (ticks of 10 MHz), shared by the harts' `time` CSR and the CLINT. */
  readonly time: TimeSource;
  /** Re-evaluate time-driven interrupts (CLINT MTIP, the harts' Sstc STIP) at mtime `now`. */
  updateTimers(now: number): void;
  /** Earliest timer deadline after `now` (ticks: CLINT, Sstc), or Infinity. */
  nextDeadline(now: number): number;
  /**
   * Deterministic time (instret): move mtime forward by `ticks` while every vCPU idles and
   * return true; false (or absent) when time follows the host clock and the host must sleep.
   */
  skipTime?(ticks: number): boolean;
  /** Host console input for the emulated UART; returns bytes accepted. */
  uartInput(bytes: Uint8Array): number;
  /** MMIO accesses per device since creation. */
  mmioCounts(): Record<string, number>;
  /** Put the board's devices back to their reset state (guest reboot). */
  reset(): void;
}

/** What the domain needs from the host (Node, a worker, a browser). */
export interface DomainHost {
  /** Monotonic milliseconds. */
  nowMs(): number;
  /** Sleep up to `ms`; resolves early when `wake()` was called (input arrived). */
  idle(ms: number): Promise<void>;
  /** Let pending host I/O run (a macrotask turn). */
  yield(): Promise<void>;
  /** Guest console output (UART and SBI console both end here). */
  consoleOut(bytes: Uint8Array): void;
  /** Host CPU time used by this process so far (ms), when the host can tell. */
  cpuMs?(): number;
  /**
   * Set by a domain whose harts run on threads, for a host that pauses (GatedDomainHost): called
   * when the run loop parks at a pause, to hold those harts too (they go on when the loop does).
   */
  onPark?: (() => void) | undefined;
}

/** What loading put where, and what to do at (re)boot. */
export interface BootPlan {
  /** Write the images and the device tree into RAM (called at boot and at every guest reboot). */
  load(ram: GuestRam): void;
  /** Entry point: 0x8020_0000 in PV mode (S-mode), 0x8000_0000 in full mode (M-mode). */
  entry: number;
  /** a1 at entry: the device tree. */
  fdt: number;
  /** a2 at entry in full mode (OpenSBI fw_dynamic_info), when set. */
  a2?: number;
  /**
   * PV mode: pvm, as the firmware, enables Sstc on every hart it starts (menvcfg.STCE, as
   * OpenSBI does on harts that have it) and serves SBI set_timer by writing stimecmp.
   */
  sstc?: boolean;
}

/** How a domain ended. */
export type DomainEnd =
  | { kind: 'poweroff'; code: 0 }
  | { kind: 'fail'; code: number; why: string }
  | { kind: 'host-stop'; code: number }
  /** DomainOptions.maxInstructions were retired. */
  | { kind: 'limit'; instructions: number };

/**
 * One virtual machine: RAM, vCPUs, the board and (in PV mode) the para-API.
 * The run loop gives each runnable vCPU a time slice in turn, handles its
 * exits, delivers virtual interrupts and idles the host when every vCPU
 * waits. It is single-threaded and cooperative: it yields to the host event
 * loop every few milliseconds so console input and timers get in.
 */
export class Domain implements SbiPlatform, ThreadedDomain {
  readonly vcpus: Vcpu[];
  readonly sbi: SbiDispatcher;
  readonly stats = new DomainStats();
  readonly ram: GuestRam;
  readonly hartCount: number;
  private ended: DomainEnd | null = null;
  private rebootPending = false;
  /** Input for the SBI console (legacy getchar / DBCN read): up to SBI_INPUT_MAX bytes, memory only once typed into. */
  private readonly sbiInput = new ByteQueue(SBI_INPUT_MAX);
  /** Host console input dropped because the SBI console's queue or the UART's buffer was full. */
  consoleInputDropped = 0;
  /** Where host console input goes (createVm decides from the command line; a PV guest binding VIRQ_CONSOLE moves it to the SBI console). */
  inputTo: ConsoleInput = 'uart';
  private current: Vcpu | null = null;
  private yieldSlice = false;
  /** When the run loop's current turn ends (host ms): it yields to the host event loop then. */
  private turnEndMs = Infinity;
  /** PVX state and run-loop hooks (PV mode), set by attachPvx (src/hypervisor/pvx); null = no PVX. */
  pvx: PvxDomain | null = null;
  /** Harts on threads (threads.ts): the vCPUs whose hart is a RemoteHart run there; null = all here. */
  threads: HartThreads | null = null;

  constructor(
    readonly mode: DomainMode,
    readonly machine: DomainMachine,
    readonly host: DomainHost,
    readonly plan: BootPlan,
    private readonly options: DomainOptions = {},
  ) {
    this.ram = machine.ram;
    this.hartCount = machine.harts.length;
    if (this.hartCount < 1 || this.hartCount > MAX_HARTS)
      throw new PvmError('usage', `a domain has 1 to ${MAX_HARTS} vCPUs, got ${this.hartCount}`);
    this.vcpus = machine.harts.map((h, i) => new Vcpu(i, h, i === 0));
    this.sbi = createSbi(this);
    if (this.mode === 'pv') {
      for (const h of machine.harts) if (h.ecallHook !== undefined) h.ecallHook = () => this.fastHypercall(h);
    }
    this.boot();
  }

  /** Load images and put every hart at its entry point. */
  private boot(): void {
    this.threads?.parkAll(); // a reboot reloads RAM: the harts on threads stop first
    this.plan.load(this.ram);
    this.pvx?.reset();
    const { entry, fdt } = this.plan;
    for (const v of this.vcpus) {
      v.waiting = false;
      v.deadline = Number.POSITIVE_INFINITY;
      v.suspend = null;
      v.staAddr = null;
      v.hart.setIrq(IrqBit.STIP, false);
      v.hart.setIrq(IrqBit.SSIP, false);
      if (this.mode === 'pv') {
        // PV: hart 0 enters the kernel in S-mode; the others wait, STOPPED, for HSM hart_start.
        v.state = v.id === 0 ? HsmState.STARTED : HsmState.STOPPED;
        if (v.hart instanceof RemoteHart) v.hart.setHsm(HsmState.STOPPED);
        if (v.id === 0) enterSupervisor(v.hart, BigInt(entry), 0n, BigInt(fdt), this.plan.sstc === true);
      } else {
        // Full: every hart enters the firmware in M-mode with a0 = hartid, a1 = FDT.
        v.state = HsmState.STARTED;
        v.hart.virtualM = false;
        v.hart.reset(BigInt(entry), Priv.M);
        v.hart.setX(10, BigInt(v.id));
        v.hart.setX(11, BigInt(fdt));
        if (this.plan.a2 !== undefined) v.hart.setX(12, BigInt(this.plan.a2));
      }
    }
  }

  /**
   * Full mode: the board raised MSIP on `target` (a CLINT write by the running hart). End the
   * sender's slice so the target runs next, as a PV IPI hypercall does: the sender usually waits
   * for it (OpenSBI's remote fences spin until every target has answered).
   */
  ipiRaised(target: number): void {
    const cur = this.current;
    if (cur !== null && cur.id !== target && !this.yieldSlice) {
      this.yieldSlice = true;
      cur.hart.requestStop();
    }
  }

  /** Host console input (keyboard): to the device `inputTo` names. The host wakes the loop. */
  input(bytes: Uint8Array): void {
    if (this.inputTo === 'sbi') {
      const take = this.sbiInput.push(bytes);
      this.consoleInputDropped += bytes.length - take;
      this.pvx?.consoleInput();
    } else if (this.inputTo === 'virtio' && this.options.virtioConsoleInput) this.options.virtioConsoleInput(bytes);
    else this.consoleInputDropped += bytes.length - this.machine.uartInput(bytes);
  }

  /** Instructions retired by every vCPU since boot. */
  instructions(): number {
    let n = 0;
    for (const v of this.vcpus) n += v.hart.instret;
    return n;
  }

  /** End the domain from the host side (Ctrl-A X, a signal). */
  stop(code: number): void {
    if (this.ended === null) this.ended = { kind: 'host-stop', code };
    this.current?.hart.requestStop();
  }

  /** Called by the board when the guest writes the syscon (sifive,test0). */
  onSyscon(e: { kind: 'poweroff' } | { kind: 'reboot' } | { kind: 'fail'; code: number }): void {
    if (e.kind === 'reboot') this.rebootPending = true;
    else if (this.ended === null) {
      this.ended =
        e.kind === 'poweroff' ? { kind: 'poweroff', code: 0 } : { kind: 'fail', code: e.code, why: 'syscon' };
    }
    this.current?.hart.requestStop();
  }

  /** Ask the guest to shut down (PVX VIRQ_SHUTDOWN_REQUEST, §5.4); false when it does not listen. */
  requestShutdown(reason: 'poweroff' | 'reboot'): boolean {
    return this.pvx?.requestShutdown(reason === 'reboot' ? 2 : 1) ?? false;
  }

  /**
   * Snapshots (domain-snapshot.ts): the state at an instruction boundary; call only while the
   * run loop is parked. The harts on threads are held first (holdThreads) and stay held until
   * the run loop goes on, so RAM does not change while the caller writes it out.
   */
  saveState(): MachineState {
    if (this.ended !== null) throw new PvmError('state', 'the domain has ended: nothing to save');
    this.holdThreads();
    // (serving the held harts' last requests may have ended the domain)
    if (this.ended !== null) throw new PvmError('state', 'the domain has ended: nothing to save');
    const remote = this.threads?.capture() ?? [];
    return saveDomain(this, { sbiInput: this.pendingSbiInput(), rebootPending: this.rebootPending }, remote);
  }

  /**
   * A pause or a save while the run loop is parked: the harts on threads stop at an instruction
   * boundary too and stay there until the run loop goes on (threads.ts, HartThreads.hold).
   */
  holdThreads(): void {
    this.threads?.hold();
  }

  /**
   * The run loop parks at a pause (DomainHost.onPark): the harts on threads stop with it. One
   * that does not stop in time runs on through the pause; a save holds them again and fails.
   */
  private holdAtPause(): void {
    try {
      this.holdThreads();
    } catch {
      // (a hold that failed has let every worker go again: nothing is left half held)
    }
  }

  /** Load saveState's result into this freshly built domain before it runs (domain-snapshot.ts). */
  loadState(state: MachineState): void {
    const p = loadDomain(this, state);
    this.sbiInput.clear();
    this.sbiInput.push(p.sbiInput);
    this.rebootPending = p.rebootPending;
  }

  /** SBI console input not read yet, oldest first. */
  private pendingSbiInput(): Uint8Array {
    return this.sbiInput.peek(this.sbiInput.length);
  }

  /** End the domain with a failure exit code (PVX SCHED_SHUTDOWN crash/watchdog). */
  fail(code: number, why: string): void {
    if (this.ended === null) this.ended = { kind: 'fail', code, why };
  }

  get result(): DomainEnd | null {
    return this.ended;
  }

  /** The domain ended or reboots (threads.ts: a hart on a thread then parks). */
  get stopping(): boolean {
    return this.ended !== null || this.rebootPending;
  }

  /** ThreadedDomain: the hypercall policy, which says what a hart on a thread may serve itself. */
  get callPolicy(): object {
    return this.sbi.policy;
  }
  allowsCall(ext: string, fn: string): boolean {
    return this.sbi.policy.allows(ext, fn);
  }

  /** A hypercall of the hart on a thread `hart` (threads.ts), served here; its HSM state after it. */
  remoteEcall(hart: number): HsmState {
    const v = this.vcpus[hart]!;
    // a suspended hart resumed on its thread: it says so in its HSM word only
    if (v.hart instanceof RemoteHart) v.state = v.hart.hsm();
    // the thread's hart reads its own clock: a reading here is at least every time it has seen,
    // which a timer call compares its deadline with (TimeSource.recent)
    this.machine.time.now();
    this.stats.exits.hypercall++;
    if (!this.sbi.handleEcallFast(v.hart)) this.sbi.handleEcall(v.hart);
    return v.state;
  }

  /** Run until the guest powers off or the host stops it. */
  async run(): Promise<DomainEnd> {
    const host = this.host;
    this.stats.startMs = host.nowMs();
    this.stats.startCpuMs = host.cpuMs?.() ?? 0;
    let lastYield = this.stats.startMs;
    this.turnEndMs = lastYield + HOST_YIELD_MS;
    if (this.threads !== null) host.onPark = () => this.holdAtPause();
    this.threads?.start();
    while (this.ended === null) {
      this.threads?.release(); // held by a pause or a save: the loop goes on, so do they
      if (this.rebootPending) {
        this.rebootPending = false;
        this.machine.reset();
        this.boot();
      }
      const ran = this.runRound();
      const limit = this.options.maxInstructions;
      if (this.ended === null && limit !== undefined && this.instructions() >= limit) {
        this.ended = { kind: 'limit', instructions: this.instructions() };
      }
      if (this.ended !== null) break;
      if (!ran && (await this.idle())) {
        lastYield = host.nowMs();
        this.turnEndMs = lastYield + HOST_YIELD_MS;
        continue;
      }
      // Running, or idle time skipped (deterministic time): still let host I/O in now and then.
      if (host.nowMs() - lastYield >= HOST_YIELD_MS) {
        await host.yield();
        lastYield = host.nowMs();
        this.turnEndMs = lastYield + HOST_YIELD_MS;
      }
    }
    this.stats.endMs = host.nowMs();
    this.stats.endCpuMs = host.cpuMs?.() ?? 0;
    this.threads?.stop();
    this.pvx?.destroy();
    return this.ended;
  }

  /** Statistics so far. */
  statistics(): DomainStatsJson {
    this.collectMmio();
    // calls the harts on threads served themselves count as the owner's do
    const local = this.threads?.withLocalCalls(this.sbi.stats);
    const s = this.stats.toJSON(
      this.mode,
      this.vcpus.map((v) => v.hart.instret),
      local?.calls ?? this.sbi.stats,
      this.ended === null ? this.host.nowMs() : this.stats.endMs,
      {
        traps: this.vcpus.reduce((a, v) => a + (v.hart.mTraps ?? 0), 0),
        instructions: this.vcpus.reduce((a, v) => a + (v.hart.mInstret ?? 0), 0),
      },
      jitStatsOf(this.vcpus.map((v) => v.hart)),
    );
    if (this.threads !== null) s.threads = this.threads.stats();
    if (local !== undefined) {
      s.exits.hypercall += local.local;
      s.exitsTotal += local.local;
    }
    return s;
  }

  private collectMmio(): void {
    const now = this.machine.mmioCounts();
    for (const k of Object.keys(now)) this.stats.mmio[k] = now[k]!;
    if (this.options.virtioRefused) this.stats.virtioRefused = this.options.virtioRefused();
  }

  /** Deliver timer interrupts due at mtime `now`. */
  private pollTimers(now: number): void {
    this.threads?.serve(); // requests of the harts on threads (MMIO, hypercalls)
    // the board's timers: the CLINT (full mode) and the harts' stimecmp (Sstc, both modes)
    this.machine.updateTimers(now);
    if (this.mode === 'full') return;
    this.pvx?.pollTimers(now);
    for (const v of this.vcpus) {
      if (now >= v.deadline) {
        v.hart.setIrq(IrqBit.STIP, true);
        v.deadline = Number.POSITIVE_INFINITY;
      }
    }
  }

  /** Can a waiting hart resume? WFI wakes on any interrupt pending and enabled in mie, whatever the global enables. */
  private wakeable(v: Vcpu): boolean {
    const pvx = this.pvx?.wakeable(v.id);
    if (pvx !== undefined) return pvx;
    return (v.hart.getCsr(Csr.mip) & v.hart.getCsr(Csr.mie)) !== 0n;
  }

  /** One pass over the vCPUs. Returns false when none could run (all waiting or stopped). */
  private runRound(): boolean {
    const host = this.host;
    let ran = false;
    let runnable = 0;
    this.threads?.serve(); // also when no hart here runs (hart 0 stopped)
    for (const v of this.vcpus) if (v.state === HsmState.STARTED && !v.waiting && !v.remote) runnable++;
    for (const v of this.vcpus) {
      if (this.ended !== null || this.rebootPending) break;
      if (v.state === HsmState.STOPPED || v.remote) continue;
      this.pollTimers(this.machine.time.now());
      if (v.waiting) {
        if (!this.wakeable(v)) continue;
        v.waiting = false;
        v.hart.woke?.();
        if (v.state === HsmState.SUSPENDED) this.resumeFromSuspend(v);
      }
      let slice = runnable > 1 ? SLICE_SMP : SLICE_UP;
      const limit = this.options.maxInstructions;
      if (limit !== undefined) {
        const left = limit - this.instructions();
        if (left <= 0) break; // run() ends the domain
        slice = Math.min(slice, left);
      }
      ran = true;
      this.current = v;
      const t0 = host.nowMs();
      this.accountSteal(v, t0);
      // Timed slices; the only runnable vCPU's also ends with the domain's turn (HOST_YIELD_MS).
      const deadline =
        this.options.timedSlices === false
          ? Infinity
          : runnable > 1
            ? t0 + SLICE_SMP_MS
            : Math.min(t0 + SLICE_UP_MS, this.turnEndMs);
      this.runSlice(v, slice, deadline);
      const t1 = host.nowMs();
      this.stats.guestMs += t1 - t0;
      if (v.state === HsmState.STARTED && !v.waiting) v.readySinceMs = t1;
      this.current = null;
    }
    return ran;
  }

  private runSlice(v: Vcpu, budget: number, deadlineMs: number): void {
    const h = v.hart;
    const host = this.host;
    this.yieldSlice = false;
    while (budget > 0) {
      const before = h.instret;
      const chunk = Math.min(budget, CHECK_EVERY);
      const exit = h.run(chunk);
      if (exit === Exit.Budget) {
        budget -= chunk;
        if (budget <= 0 || host.nowMs() >= deadlineMs) {
          this.stats.exits.slice++;
          return;
        }
        // Mid-slice: deliver timers that came due while the vCPU was busy.
        this.pollTimers(this.machine.time.now());
        continue;
      }
      budget -= h.instret - before + EXIT_COST;
      if (exit === Exit.Wfi) {
        this.stats.exits.wfi++;
        v.waiting = true;
        return;
      }
      if (exit === Exit.Stop) {
        this.stats.exits.stop++;
        return;
      }
      if (exit === Exit.Pause) {
        // hart 0 of a domain with harts on threads spins (PAUSE): wait a little for the others,
        // and end the slice (a stop asked at the same boundary returns Pause too)
        this.threads?.pauseWait();
        return;
      }
      if (exit === Exit.MachineTrap) {
        this.machineTrap(v);
        if (this.yieldSlice || this.ended !== null || this.rebootPending || v.state !== HsmState.STARTED || v.waiting) {
          return;
        }
      }
      if (host.nowMs() >= deadlineMs) {
        this.stats.exits.slice++;
        return;
      }
    }
  }

  /**
   * The hypercall fast path, called by the hart inside `run` (VcpuHart.ecallHook): the calls
   * the SBI layer makes without BigInts (a timer, an event channel send) are made and counted
   * here and the guest goes on without an exit; any other returns false and exits as before.
   */
  private fastHypercall(h: VcpuHart): boolean {
    if (h.skip === undefined || !this.sbi.handleEcallFast(h)) return false;
    this.stats.exits.hypercall++;
    h.skip(4);
    return true;
  }

  /** PV mode: a trap that would have gone to M-mode. */
  private machineTrap(v: Vcpu): void {
    const h = v.hart;
    if (h.exitIsInterrupt) {
      // No M-level interrupt source is wired in PV mode; count and carry on.
      this.stats.exits['m-interrupt']++;
      return;
    }
    const cause = h.exitCause;
    if (cause === Cause.EcallS) {
      this.stats.exits.hypercall++;
      const eid = h.getX(17);
      if (!this.sbi.handleEcallFast(h)) this.sbi.handleEcall(h);
      if (v.state === HsmState.STARTED || v.state === HsmState.SUSPENDED) {
        if (h.skip !== undefined) h.skip(4);
        else h.setPc(h.getPc() + 4n);
      }
      // After an IPI or a remote fence, let the target run at once: the caller usually spins waiting for it.
      if (eid === EID_IPI || eid === EID_RFENCE || eid === EID_LEGACY_SEND_IPI) {
        this.yieldSlice = true;
      }
      return;
    }
    this.stats.exits['trap-redirect']++;
    // The exit keeps tval as a (possibly negative, sign-extended) number or a bigint: as the
    // 64-bit CSR value it is, for stval and for messages.
    const tval = BigInt.asUintN(64, typeof h.exitTval === 'bigint' ? h.exitTval : BigInt(h.exitTval));
    if (h.priv === Priv.M) {
      throw new PvmError(
        'internal',
        `hart ${v.id}: trap cause ${cause} in virtual M-mode at pc 0x${h.getPc().toString(16)}`,
      );
    }
    // The guest's own trap handler faults at its first instruction (stvec points at garbage or
    // unmapped memory): redirecting again would loop forever. End this domain only, as a
    // firmware would report a double fault.
    const vec = h.getCsr(Csr.stvec) & ~3n;
    if (h.getPc() === vec) {
      this.fail(
        1,
        `double fault on hart ${v.id}: the S-mode trap vector 0x${vec.toString(16)} faults (cause ${cause}, tval 0x${tval.toString(16)})`,
      );
      h.requestStop();
      return;
    }
    redirectToSupervisor(h, cause, tval);
  }

  /** Earliest armed timer deadline (mtime ticks; CLINT ones after `now`), or Infinity. */
  private nextTimer(now: number): number {
    let next = this.machine.nextDeadline(now);
    if (this.mode === 'pv') for (const v of this.vcpus) if (v.deadline < next) next = v.deadline;
    if (this.pvx !== null) next = Math.min(next, this.pvx.nextDeadline());
    return next;
  }

  /**
   * Every vCPU waits. With deterministic time and a timer armed, jump mtime to its deadline
   * (returns false: nothing slept). Otherwise sleep until the deadline or host input (true).
   */
  private async idle(): Promise<boolean> {
    const now = this.machine.time.now();
    const next = this.nextTimer(now);
    if (Number.isFinite(next) && this.machine.skipTime?.(Math.max(0, next - now))) return false;
    const ms = Number.isFinite(next) ? Math.min(MAX_IDLE_MS, Math.max(0, (next - now) / TICKS_PER_MS)) : MAX_IDLE_MS;
    const t0 = this.host.nowMs();
    await this.host.idle(ms);
    this.stats.idleMs += this.host.nowMs() - t0;
    return true;
  }

  private resumeFromSuspend(v: Vcpu): void {
    const s = v.suspend;
    v.suspend = null;
    v.state = HsmState.STARTED;
    if (s !== null && !s.retentive) enterSupervisor(v.hart, s.addr, BigInt(v.id), s.opaque, this.plan.sstc === true);
  }

  /** STA: time this vCPU was runnable but not running, reported in its shared record (SBI v2.0 §13.1). */
  private accountSteal(v: Vcpu, nowMs: number): void {
    if (v.readySinceMs >= 0) {
      v.stealNs += Math.round((nowMs - v.readySinceMs) * 1e6);
      v.readySinceMs = -1;
    }
    const pa = v.staAddr;
    if (pa === null || !this.ram.contains(pa, 64)) return;
    const off = pa - this.ram.base;
    const dv = this.ram.view;
    const seq = dv.getUint32(off, true);
    dv.setUint32(off, (seq | 1) >>> 0, true);
    dv.setBigUint64(off + 8, BigInt(v.stealNs), true);
    dv.setUint8(off + 16, 0);
    dv.setUint32(off, ((seq | 1) + 1) >>> 0, true);
    this.ram.dirty.mark(off, 17);
  }

  // ---- SbiPlatform: what the para-API does to the domain. Arguments arrive validated. ----

  setTimer(hart: number, stime: bigint): void {
    const v = this.vcpus[hart]!;
    if (this.plan.sstc === true) {
      // STIP follows stimecmp (Sstc): set_timer writes it, as OpenSBI does on such harts
      v.hart.setCsr(Csr.stimecmp, stime);
      return;
    }
    if (stime === ALL_ONES || stime >= 1n << 53n) {
      v.hart.setIrq(IrqBit.STIP, false);
      v.deadline = Number.POSITIVE_INFINITY;
      return;
    }
    this.setTimerNum(hart, Number(stime));
  }

  setTimerNum(hart: number, stime: number): void {
    const v = this.vcpus[hart]!;
    if (this.plan.sstc === true) {
      v.hart.setCsr(Csr.stimecmp, BigInt(stime));
      return;
    }
    v.hart.setIrq(IrqBit.STIP, false);
    // due by the clock's last reading: now; else the run loop's timer polls (Sched.timerSetNum)
    const t = this.machine.time;
    if ((t.recent !== undefined ? t.recent() : t.now()) >= stime) v.hart.setIrq(IrqBit.STIP, true);
    else v.deadline = stime;
  }

  sendIpi(hart: number): void {
    this.vcpus[hart]!.hart.setIrq(IrqBit.SSIP, true);
  }

  clearIpi(hart: number): void {
    this.vcpus[hart]!.hart.setIrq(IrqBit.SSIP, false);
  }

  remoteFenceI(hart: number): void {
    // The interpreter decodes from RAM each time; a CPU that caches decoded code exposes flushIcache.
    this.vcpus[hart]!.hart.flushIcache?.();
  }

  remoteSfenceVma(hart: number, _start: bigint, _size: bigint, _asid: number): void {
    this.vcpus[hart]!.hart.flushTlb();
  }

  hartStatus(hart: number): HsmState {
    const v = this.vcpus[hart]!;
    if (v.hart instanceof RemoteHart) v.state = v.hart.hsm(); // a suspended hart resumes on its thread
    return v.state;
  }

  hartStart(hart: number, startAddr: bigint, opaque: bigint): void {
    const v = this.vcpus[hart]!;
    v.state = HsmState.STARTED;
    v.waiting = false;
    v.suspend = null;
    v.readySinceMs = -1;
    if (v.hart instanceof RemoteHart) v.hart.start(startAddr, opaque);
    else enterSupervisor(v.hart, startAddr, BigInt(hart), opaque, this.plan.sstc === true);
  }

  hartStop(hart: number): void {
    const v = this.vcpus[hart]!;
    v.state = HsmState.STOPPED;
    v.waiting = false;
    v.deadline = Number.POSITIVE_INFINITY;
    v.staAddr = null;
    v.hart.setIrq(IrqBit.STIP, false);
    v.hart.setIrq(IrqBit.SSIP, false);
    if (v.hart instanceof RemoteHart) v.hart.setHsm(HsmState.STOPPED);
  }

  hartSuspend(hart: number, retentive: boolean, resumeAddr: bigint, opaque: bigint): void {
    const v = this.vcpus[hart]!;
    v.state = HsmState.SUSPENDED;
    if (v.hart instanceof RemoteHart) {
      v.hart.suspend(retentive, resumeAddr, opaque);
      return;
    }
    v.waiting = true;
    v.suspend = { retentive, addr: resumeAddr, opaque };
  }

  systemReset(type: number, reason: number): void {
    if (type === ResetType.SHUTDOWN) {
      if (this.ended === null) {
        this.ended =
          reason === ResetReason.NONE
            ? { kind: 'poweroff', code: 0 }
            : { kind: 'fail', code: 1, why: `SBI system_reset reason 0x${reason.toString(16)}` };
      }
    } else {
      this.rebootPending = true;
    }
  }

  consoleWrite(bytes: Uint8Array): number {
    this.host.consoleOut(bytes);
    return bytes.length;
  }

  consoleRead(max: number): Uint8Array {
    return this.sbiInput.peek(max, true);
  }

  readGuestU64(hart: number, va: bigint): bigint | null {
    const h = this.vcpus[hart]!.hart;
    const pa = translate(this.ram, h.getCsr(Csr.satp), va);
    if (pa === null || !this.ram.contains(pa, 8)) return null;
    return this.ram.view.getBigUint64(pa - this.ram.base, true);
  }

  setStealTimeShmem(hart: number, pa: number | null): void {
    this.vcpus[hart]!.staAddr = pa;
  }
}

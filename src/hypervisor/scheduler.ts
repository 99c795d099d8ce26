import { PvmError } from '../core/errors.js';

/**
 * The credit scheduler of a host thread: which domain's run loop gets the thread next, with
 * per-domain weights and caps as Xen's credit schedulers give them (docs/scheduler.md).
 *
 * A domain's run loop hands the thread back at the end of every turn (about 4 ms, see
 * HOST_YIELD_MS in domain.ts) and when it idles. The scheduler then grants the next turn to the
 * waiting domain with the least *virtual time*: running for `t` ms adds `t * 256 / weight` to a
 * domain's virtual time (Xen credit2 burns credit at a rate inversely proportional to the
 * weight), so busy domains share the thread in proportion to their weights. A domain that asks
 * for a turn behind the virtual time of the last turn granted (it idled, was paused, or was
 * created long ago) starts from there: not running banks no credit. A
 * cap is a budget refilled at `cap` % of real time (at most one CAP_PERIOD_MS worth): a domain
 * whose budget is spent waits, even on an idle host, until it is positive again (Xen credit2's
 * cap as a budget replenished every period).
 *
 * One grant per macrotask of the host's event loop: each granted domain runs one turn, then the
 * host's own I/O (API requests, consoles) runs before the next grant. The scheduler reads its
 * clock and sets its timers through `SchedulerClock`, so tests drive it with a fake clock.
 */
export interface SchedulerClock {
  /** Monotonic milliseconds (real time: a paused domain's clock stopping does not stop this one). */
  now(): number;
  /** Runs `fn` in a later macrotask turn. */
  later(fn: () => void): void;
  /** Runs `fn` after `ms`; returns what cancels it. */
  timer(ms: number, fn: () => void): () => void;
}

/** What `pvm sched` shows and sets: Xen's credit parameters. */
export interface SchedParams {
  /** Relative share of the host thread among busy domains, 1..65535 (Xen's default 256). */
  readonly weight: number;
  /** Most host time the domain may use, in % of one host core; 0 = no cap. */
  readonly cap: number;
}

export const SCHED_DEFAULTS: SchedParams = { weight: 256, cap: 0 };
/** Xen's range for credit weights. */
export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 65535;
/** A cap's budget is refilled continuously, and holds at most this much time's worth (ms). */
export const CAP_PERIOD_MS = 30;

/** Checks weight and cap (cap: percent of one core, up to 100 per vCPU as Xen); returns a message or null. */
export function schedParamsError(p: Partial<SchedParams>, vcpus: number): string | null {
  if (p.weight !== undefined && !(Number.isInteger(p.weight) && p.weight >= WEIGHT_MIN && p.weight <= WEIGHT_MAX)) {
    return `weight must be a whole number from ${WEIGHT_MIN} to ${WEIGHT_MAX}, got ${p.weight}`;
  }
  const maxCap = 100 * vcpus;
  if (p.cap !== undefined && !(Number.isInteger(p.cap) && p.cap >= 0 && p.cap <= maxCap)) {
    return `cap must be a whole percentage from 0 (none) to ${maxCap} (100 per vCPU), got ${p.cap}`;
  }
  return null;
}

/**
 * A cap as a budget of host time (ms): refilled continuously at `cap` % of real time, holding
 * at most CAP_PERIOD_MS worth, spent by the time run; a run may overshoot it, and the debt is
 * paid by waiting longer. The scheduler keeps one per domain (SchedEntity); a hart on a thread
 * keeps one for its part of its domain's cap (threads.ts). Times in ms of one clock.
 */
export class CapBudget {
  /** Budget (ms) at `refilledAt`. */
  budget: number;

  constructor(
    /** % of one core; 0 = none. */
    public cap: number,
    private refilledAt: number,
  ) {
    this.budget = this.burst();
  }

  /** Largest budget (ms). */
  burst(): number {
    return (this.cap / 100) * CAP_PERIOD_MS;
  }

  /** The budget at `now` (refilled at cap % of the time since the last refill). */
  refill(now: number): void {
    if (this.cap === 0) return;
    this.budget = Math.min(this.burst(), this.budget + ((now - this.refilledAt) * this.cap) / 100);
    this.refilledAt = now;
  }

  /** Milliseconds from `now` until the cap lets a run start (0 = now). */
  waitMs(now: number): number {
    if (this.cap === 0) return 0;
    this.refill(now);
    return this.budget > 0 ? 0 : (-this.budget * 100) / this.cap + 1e-6;
  }

  /** A run of `ms` that ended at `now`. */
  spend(ms: number, now: number): void {
    if (this.cap === 0) return;
    this.refill(now);
    this.budget -= ms;
  }

  /** A new cap from `now`: the budget refilled so far kept, up to the new burst. */
  set(cap: number, now: number): void {
    this.refill(now);
    this.cap = cap;
    this.budget = Math.min(this.budget, this.burst());
  }
}

/** One domain's place in the scheduler. */
export class SchedEntity {
  /** Virtual time (ms scaled by 256 / weight). */
  vtime = 0;
  /** Host time this entity's turns took, in all (ms). */
  usedMs = 0;
  /** Turns granted so far. */
  turns = 0;
  readonly capBudget: CapBudget;
  /** Waiting for a turn: the resolver of its `acquire`. */
  grant: (() => void) | null = null;
  removed = false;

  constructor(
    readonly scheduler: CreditScheduler,
    public weight: number,
    cap: number,
    now: number,
  ) {
    this.capBudget = new CapBudget(cap, now);
  }

  get cap(): number {
    return this.capBudget.cap;
  }

  get params(): SchedParams {
    return { weight: this.weight, cap: this.cap };
  }

  /** Milliseconds from `now` until the cap lets this entity run (0 = now). */
  capWaitMs(now: number): number {
    return this.capBudget.waitMs(now);
  }

  /** Ends a turn of `usedMs` (at a yield, before an idle sleep, or 0 when it parks): the thread goes to the next entity. */
  release(usedMs: number): void {
    this.scheduler.charge(this, usedMs);
  }

  /** Resolves when this entity is granted its next turn. */
  acquire(): Promise<void> {
    return this.scheduler.enqueue(this);
  }

  /** Sets weight and cap (checked by the caller); they count from the next grant. */
  set(p: Partial<SchedParams>): void {
    if (p.weight !== undefined) this.weight = p.weight;
    if (p.cap !== undefined) this.capBudget.set(p.cap, this.scheduler.clock.now());
    this.scheduler.kick();
  }

  /** A pending `acquire` resolves now, without a turn (a pause parks the loop at once, capped or not). */
  interrupt(): void {
    const g = this.grant;
    this.grant = null;
    g?.();
  }

  /** The domain is gone: a pending grant is dropped. */
  remove(): void {
    this.scheduler.remove(this);
  }
}

export class CreditScheduler {
  private readonly entities = new Set<SchedEntity>();
  /** Virtual time of the last turn granted: where a waking entity starts. */
  private svt = 0;
  private pumping = false;
  private cancelTimer: (() => void) | null = null;

  constructor(readonly clock: SchedulerClock) {}

  /** A new domain's entity (it starts at the current virtual time). */
  add(params: Partial<SchedParams> = {}): SchedEntity {
    const e = new SchedEntity(
      this,
      params.weight ?? SCHED_DEFAULTS.weight,
      params.cap ?? SCHED_DEFAULTS.cap,
      this.clock.now(),
    );
    e.vtime = this.svt;
    this.entities.add(e);
    return e;
  }

  /** Entities waiting for a turn now. */
  get waiting(): number {
    let n = 0;
    for (const e of this.entities) if (e.grant !== null) n++;
    return n;
  }

  charge(e: SchedEntity, usedMs: number): void {
    const used = Math.max(0, usedMs);
    e.usedMs += used;
    e.vtime += (used * SCHED_DEFAULTS.weight) / e.weight;
    e.capBudget.spend(used, this.clock.now());
  }

  enqueue(e: SchedEntity): Promise<void> {
    if (e.removed) return Promise.resolve();
    // Behind the last grant only when it did not compete meanwhile (a busy entity's virtual time
    // passed the last grant's when it was charged): no credit for idling or being paused.
    if (e.vtime < this.svt) e.vtime = this.svt;
    const p = new Promise<void>((resolve) => {
      e.grant = resolve;
    });
    this.kick();
    return p;
  }

  remove(e: SchedEntity): void {
    e.removed = true;
    this.entities.delete(e);
    const g = e.grant;
    e.grant = null;
    g?.(); // a loop waiting for its turn goes on to see that it was stopped
    this.kick();
  }

  /** Schedules a grant when one is due and none is scheduled. */
  kick(): void {
    if (this.pumping) return;
    if (this.cancelTimer !== null) {
      // A cap timer is set, but what changed (a new waiter, a new cap) may allow a turn now.
      this.cancelTimer();
      this.cancelTimer = null;
    }
    if (this.waiting === 0) return;
    this.pumping = true;
    this.clock.later(() => this.pump());
  }

  /** Grants one turn: the eligible waiter with the least virtual time; sets a timer when every waiter is capped. */
  private pump(): void {
    this.pumping = false;
    const now = this.clock.now();
    let best: SchedEntity | null = null;
    let soonest = Number.POSITIVE_INFINITY;
    for (const e of this.entities) {
      if (e.grant === null) continue;
      const wait = e.capWaitMs(now);
      if (wait > 0) soonest = Math.min(soonest, wait);
      else if (best === null || e.vtime < best.vtime) best = e;
    }
    if (best !== null) {
      const g = best.grant!;
      best.grant = null;
      best.turns++;
      if (best.vtime > this.svt) this.svt = best.vtime;
      g();
      this.kick();
    } else if (Number.isFinite(soonest)) {
      this.cancelTimer = this.clock.timer(soonest, () => {
        this.cancelTimer = null;
        this.kick();
      });
    }
  }
}

/** Refuses bad parameters with PvmError('usage'). */
export function checkSchedParams(p: Partial<SchedParams>, vcpus: number): void {
  const e = schedParamsError(p, vcpus);
  if (e !== null) throw new PvmError('usage', e);
}

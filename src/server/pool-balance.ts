/**
 * The rebalancer's decision (docs/scheduler.md, "Rebalancing"), a pure function of what one look
 * saw: which domains are busy on which worker, with their weights and caps. PoolDomainManager
 * makes the look and the move; this file only chooses.
 *
 * Each worker's credit scheduler splits its thread among its busy domains by weight, none
 * above its cap (CreditScheduler, work-conserving: what a capped domain leaves goes to the
 * others). So a placement gives each busy domain a share of a core. Across the pool the share
 * Xen's credit scheduler aims at, moving vCPUs between pCPUs, is the same split over all the
 * pool's cores, each domain using at most one (its domain runs on one thread) and at most its
 * cap. The rebalancer moves the one domain that brings the placement's shares closest to those
 * (the sum of the differences), when that gains at least MIN_GAIN of a core.
 */

/** A busy domain as one look of the rebalancer saw it. */
export interface BusyDomain {
  readonly id: number;
  /** Credit weight (1..65535). */
  readonly weight: number;
  /** Cap, % of one core; 0 = none. */
  readonly cap: number;
  /** Whether it may move now: not held after a move or a refusal, no command in progress, not being destroyed. */
  readonly movable: boolean;
}

/** A worker as one look saw it. */
export interface WorkerView {
  /** Its busy domains, oldest placed first. */
  readonly busy: readonly BusyDomain[];
  /** Domains placed on it, busy or not (a tie between targets goes to the one with fewer). */
  readonly domains: number;
  /** It answered the look and can take a domain. */
  readonly live: boolean;
}

/** A move the rebalancer chose: domain `id` from worker `from` to worker `to`, bringing the shares `gain` cores closer. */
export interface PlannedMove {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly gain: number;
}

/**
 * The least improvement (in cores, summed over the busy domains) worth a move: a move pauses
 * the domain for a save and a restore, and near-equal weights would otherwise move domains for
 * a difference no one measures.
 */
export const MIN_GAIN = 0.1;

/** The most of a core a busy domain uses: its cap, else a whole one (a domain runs on one thread). */
export function demand(d: BusyDomain): number {
  return d.cap > 0 ? Math.min(1, d.cap / 100) : 1;
}

/**
 * `cores` shared among `domains` in proportion to their weights, none above its demand, what
 * one leaves going to the others (water-filling): the shares a credit scheduler gives busy
 * domains on a thread (cores = 1), and the pool's ideal (cores = its workers).
 */
export function fairShares(domains: readonly BusyDomain[], cores: number): number[] {
  const shares = new Array<number>(domains.length).fill(0);
  // Those whose demand is smallest for their weight are satisfied first.
  const order = domains.map((_, i) => i).sort((a, b) => ratio(domains[a]!) - ratio(domains[b]!) || a - b);
  let left = cores;
  let weights = 0;
  for (const d of domains) weights += d.weight;
  for (const i of order) {
    const d = domains[i]!;
    const fair = weights > 0 ? (left * d.weight) / weights : 0;
    const s = Math.max(0, Math.min(demand(d), fair));
    shares[i] = s;
    left -= s;
    weights -= d.weight;
  }
  return shares;
}

const ratio = (d: BusyDomain): number => demand(d) / d.weight;

/** How far a placement's shares are from the pool's ideal: the sum of the differences, in cores. */
export function placementError(workers: readonly (readonly BusyDomain[])[]): number {
  const all = workers.flat();
  const ideal = fairShares(all, workers.length);
  let error = 0;
  let k = 0;
  for (const on of workers) {
    // `all` lists each worker's domains in order: the k-th share is the k-th domain's.
    for (const s of fairShares(on, 1)) error += Math.abs(s - ideal[k++]!);
  }
  return error;
}

/**
 * The one move that brings the live workers' shares closest to the pool's ideal, or null when
 * none gains MIN_GAIN. Only movable busy domains are candidates; workers that did not answer
 * are left out (neither source nor target). Ties go to the newest domain of the first source,
 * then to the target with the fewest domains, then the lowest index.
 */
export function planMove(workers: readonly WorkerView[]): PlannedMove | null {
  const live = workers.map((w, i) => ({ w, i })).filter((x) => x.w.live);
  if (live.length < 2) return null;
  const base = placementError(live.map((x) => x.w.busy));
  const targets = [...live].sort((a, b) => a.w.domains - b.w.domains || a.i - b.i);
  let best: PlannedMove | null = null;
  let bestError = base - MIN_GAIN;
  for (const src of live) {
    for (let k = src.w.busy.length - 1; k >= 0; k--) {
      const d = src.w.busy[k]!;
      if (!d.movable) continue;
      for (const dst of targets) {
        if (dst.i === src.i) continue;
        const after = live.map((x) => {
          if (x.i === src.i) return x.w.busy.filter((o) => o !== d);
          if (x.i === dst.i) return [...x.w.busy, d];
          return x.w.busy;
        });
        const e = placementError(after);
        // Strictly better by a margin above float noise: the first of equals keeps its place.
        if (e < bestError - 1e-9) {
          bestError = e;
          best = { id: d.id, from: src.i, to: dst.i, gain: base - e };
        }
      }
    }
  }
  return best;
}

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type BusyDomain,
  fairShares,
  MIN_GAIN,
  type PlannedMove,
  placementError,
  planMove,
  type WorkerView,
} from './pool-balance.js';

const d = (id: number, weight = 256, cap = 0, movable = true): BusyDomain => ({ id, weight, cap, movable });
const on = (busy: BusyDomain[], domains = busy.length, live = true): WorkerView => ({ busy, domains, live });
const round = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);

describe('fair shares: what a credit scheduler gives busy domains, on one thread or the pool', () => {
  test('one thread: by weight; a cap holds and what it leaves goes to the others', () => {
    assert.deepEqual(round(fairShares([d(1, 256), d(2, 512)], 1)), [0.333, 0.667]);
    assert.deepEqual(round(fairShares([d(1, 256, 25), d(2, 256)], 1)), [0.25, 0.75]);
    assert.deepEqual(round(fairShares([d(1, 256, 25)], 1)), [0.25]);
    assert.deepEqual(fairShares([], 1), []);
  });

  test('the pool: at most one core each (work-conserving whatever the weights), the rest by weight', () => {
    assert.deepEqual(round(fairShares([d(1, 256), d(2, 512)], 2)), [1, 1]);
    assert.deepEqual(round(fairShares([d(1, 256), d(2, 256), d(3, 512)], 2)), [0.5, 0.5, 1]);
    assert.deepEqual(round(fairShares([d(1), d(2), d(3)], 2)), [0.667, 0.667, 0.667]);
    // A cap of 25 % and two busy domains on two cores: the others share the 1.75 left.
    assert.deepEqual(round(fairShares([d(1, 256, 25), d(2), d(3)], 2)), [0.25, 0.875, 0.875]);
    // A cap above one core (a domain of several vCPUs) still runs on one thread.
    assert.deepEqual(round(fairShares([d(1, 256, 200)], 2)), [1]);
  });

  test('a placement error: zero when the placement gives every domain its share of the pool', () => {
    assert.equal(placementError([[d(3, 512)], [d(1), d(2)]]), 0);
    assert.equal(round([placementError([[d(1), d(3, 512)], [d(2)]])])[0], 1);
    assert.equal(placementError([[d(1), d(2)], []]), 1);
  });
});

describe('the rebalancer chooses one move', () => {
  test('two busy domains on one worker, none on the other: the newest movable one goes', () => {
    assert.deepEqual(planMove([on([d(1), d(2)]), on([])]), { id: 2, from: 0, to: 1, gain: 1 });
    assert.deepEqual(planMove([on([d(1), d(2, 256, 0, false)]), on([])]), { id: 1, from: 0, to: 1, gain: 1 });
    assert.equal(planMove([on([d(1, 256, 0, false), d(2, 256, 0, false)]), on([])]), null);
  });

  test('weights 1, 1, 2 on two workers: the weight-2 domain ends alone', () => {
    // Placed by count: 1 and 3 on worker 0, 2 on worker 1 (shares 1/3, 1, 2/3 for 1/2, 1/2, 1).
    const m = planMove([on([d(1), d(3, 512)]), on([d(2)])]) as PlannedMove;
    assert.deepEqual({ ...m, gain: Math.round(m.gain * 1000) / 1000 }, { id: 1, from: 0, to: 1, gain: 1 });
    // There: nothing moves.
    assert.equal(planMove([on([d(3, 512)]), on([d(2), d(1)])]), null);
    // The weight-2 one cannot move: the best left is moving the other.
    assert.equal(planMove([on([d(1, 256, 0, false), d(3, 512, 0, false)]), on([d(2)])]), null);
    // All three on one worker: the heavy one leaves.
    assert.deepEqual(planMove([on([d(1), d(2), d(3, 512)]), on([])])?.id, 3);
  });

  test('work-conserving: one busy domain per worker stays, whatever the weights', () => {
    assert.equal(planMove([on([d(1, 1)]), on([d(2, 65535)])]), null);
    assert.equal(planMove([on([d(1, 256, 25)]), on([d(2)])]), null);
  });

  test('no gain, no move: three equal domains on two workers stay 2 and 1 (the move back would be equal)', () => {
    assert.equal(planMove([on([d(1), d(2)]), on([d(3)])]), null);
    assert.equal(planMove([on([d(1)]), on([d(2), d(3)])]), null);
    // Near-equal weights: a gain below MIN_GAIN is not worth a move.
    const m = planMove([on([d(1, 256), d(2, 300)]), on([d(3, 280)])]);
    assert.equal(m, null);
  });

  test('caps: a capped domain counts for its cap; it is not moved to gain nothing', () => {
    const m = planMove([on([d(1, 256, 25), d(2), d(3)]), on([])]) as PlannedMove;
    assert.deepEqual([m.id, m.from, m.to], [3, 0, 1]);
    assert.equal(planMove([on([d(1, 256, 25), d(2)]), on([d(3)])]), null);
    assert.equal(planMove([on([d(2)]), on([d(3), d(1, 256, 25)])]), null);
    // Two domains capped at 50 % fill one worker: a third busy one is better alone.
    const n = planMove([on([d(1, 256, 50), d(2, 256, 50), d(3)]), on([])]) as PlannedMove;
    assert.deepEqual([n.id, n.to], [3, 1]);
  });

  test('targets: live ones only, the one with the fewest domains first', () => {
    assert.deepEqual(planMove([on([d(1), d(2)]), on([], 0, false), on([], 3)])?.to, 2);
    assert.deepEqual(planMove([on([d(1), d(2)]), on([], 5), on([], 1)])?.to, 2);
    assert.equal(planMove([on([d(1), d(2)]), on([], 0, false)]), null);
    // A worker that did not answer is no source either.
    assert.equal(planMove([on([d(1), d(2)], 2, false), on([]), on([])]), null);
  });

  test('no ping-pong: from random placements, each move gains at least MIN_GAIN and the moves end', () => {
    let seed = 1;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const weights = [1, 128, 256, 256, 512, 1024, 65535];
    const caps = [0, 0, 0, 25, 50, 100];
    let total = 0;
    for (let round = 0; round < 300; round++) {
      const nw = 2 + rand(3);
      const workers: BusyDomain[][] = Array.from({ length: nw }, () => []);
      const n = 1 + rand(7);
      for (let id = 1; id <= n; id++)
        workers[rand(nw)]!.push(d(id, weights[rand(weights.length)]!, caps[rand(caps.length)]!));
      let moves = 0;
      for (let m = planMove(workers.map((b) => on(b))); m !== null; m = planMove(workers.map((b) => on(b)))) {
        const before = placementError(workers);
        const moving = workers[m.from]!.find((x) => x.id === m.id)!;
        workers[m.from] = workers[m.from]!.filter((x) => x !== moving);
        workers[m.to]!.push(moving);
        assert.ok(before - placementError(workers) >= MIN_GAIN - 1e-9, `round ${round}: a move that gains nothing`);
        assert.ok(++moves <= 2 * n, `round ${round}: ${moves} moves for ${n} domains`);
        total++;
      }
    }
    assert.ok(total > 100, `${total} moves in all`);
  });
});

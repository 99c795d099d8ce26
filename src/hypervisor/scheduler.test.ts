import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Exit } from '../cpu/exits.js';
import { GuestRam } from '../memory/ram.js';
import { type BootPlan, Domain, type DomainMachine } from './domain.js';
import { GatedDomainHost } from './gated-host.js';
import {
  CapBudget,
  CreditScheduler,
  type SchedEntity,
  type SchedParams,
  type SchedulerClock,
  schedParamsError,
} from './scheduler.js';
import { ScriptedHart } from './testing.js';

/**
 * A fake clock: time moves only when a simulated domain runs a turn (it adds the turn's length)
 * or when the scheduler sleeps on a cap timer (the clock jumps to the deadline; nothing else
 * runs then, since every waiter is capped). Grants run in real macrotasks.
 */
class FakeClock implements SchedulerClock {
  t = 0;
  timers = 0;
  now(): number {
    return this.t;
  }
  later(fn: () => void): void {
    setImmediate(fn);
  }
  timer(ms: number, fn: () => void): () => void {
    const due = this.t + ms;
    let live = true;
    this.timers++;
    setImmediate(() => {
      if (!live) return;
      this.t = Math.max(this.t, due);
      fn();
    });
    return () => {
      live = false;
    };
  }
}

/** A busy domain: takes turns of `turnMs` until the clock passes `untilMs`. */
async function busy(clock: FakeClock, e: SchedEntity, turnMs: number, untilMs: number): Promise<void> {
  while (clock.t < untilMs) {
    await e.acquire();
    clock.t += turnMs;
    e.release(turnMs);
  }
}

describe('credit scheduler', () => {
  test('weights 1:2: two busy domains get the thread in that ratio', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add({ weight: 256 });
    const b = s.add({ weight: 512 });
    await Promise.all([busy(clock, a, 4, 3000), busy(clock, b, 4, 3000)]);
    assert.equal(a.usedMs + b.usedMs, clock.t, 'the thread never idled');
    // Exact: one turn of a for two of b, from the first grant on.
    assert.ok(Math.abs(b.turns - 2 * a.turns) <= 2, `turns ${a.turns} : ${b.turns}`);
    assert.ok(Math.abs(b.usedMs / a.usedMs - 2) < 0.02, `ratio ${b.usedMs / a.usedMs}`);
  });

  test('equal weights alternate turn by turn', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const order: string[] = [];
    const a = s.add();
    const b = s.add();
    const run = async (e: SchedEntity, name: string) => {
      for (let i = 0; i < 4; i++) {
        await e.acquire();
        order.push(name);
        clock.t += 4;
        e.release(4);
      }
    };
    await Promise.all([run(a, 'a'), run(b, 'b')]);
    assert.deepEqual(order, ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  });

  test('a cap of 25 % holds a domain alone on an idle host to a quarter of the time', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add({ cap: 25 });
    await busy(clock, a, 4, 3000);
    const share = a.usedMs / clock.t;
    assert.ok(Math.abs(share - 0.25) < 0.01, `share ${share}`);
    assert.ok(clock.timers > 100, 'the scheduler slept on timers, it did not spin');
  });

  test('a capped domain next to a busy one: 25 % and 75 %', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add({ cap: 25 });
    const b = s.add();
    await Promise.all([busy(clock, a, 4, 3000), busy(clock, b, 4, 3000)]);
    const share = a.usedMs / clock.t;
    assert.ok(Math.abs(share - 0.25) < 0.01, `capped share ${share}`);
    assert.equal(a.usedMs + b.usedMs, clock.t, 'the uncapped domain used the rest');
  });

  test('a cap above the weight share does not raise the share; the weight rules', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add({ cap: 80 });
    const b = s.add();
    await Promise.all([busy(clock, a, 4, 2000), busy(clock, b, 4, 2000)]);
    assert.ok(Math.abs(a.usedMs / clock.t - 0.5) < 0.01);
  });

  test('changing the weight at run time changes the share from then on', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add();
    const b = s.add();
    await Promise.all([busy(clock, a, 4, 1000), busy(clock, b, 4, 1000)]);
    const [a0, b0] = [a.usedMs, b.usedMs];
    a.set({ weight: 768 });
    await Promise.all([busy(clock, a, 4, 3000), busy(clock, b, 4, 3000)]);
    const ratio = (a.usedMs - a0) / (b.usedMs - b0);
    assert.ok(Math.abs(ratio - 3) < 0.1, `ratio ${ratio}`);
  });

  test('not running banks no credit: a domain that idled, was paused or never ran shares evenly, it does not monopolise', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add();
    const b = s.add();
    // a waits (created paused, or idle) while b runs alone for a second.
    await busy(clock, b, 4, 1000);
    const b0 = b.usedMs;
    await Promise.all([busy(clock, a, 4, 2000), busy(clock, b, 4, 2000)]);
    assert.ok(Math.abs(a.usedMs - (b.usedMs - b0)) <= 8, `${a.usedMs} vs ${b.usedMs - b0}`);
  });

  test('removing an entity lets its waiting loop go on and the others keep running', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const a = s.add({ cap: 1 });
    const b = s.add();
    a.release(40); // far over its budget: a waits ~4 s for its next turn
    const waiting = a.acquire();
    a.remove();
    await waiting;
    await busy(clock, b, 4, 100);
    assert.equal(b.usedMs, 100);
    assert.equal(s.waiting, 0);
  });

  test('parameters are checked with messages naming the range', () => {
    assert.equal(schedParamsError({ weight: 256, cap: 0 }, 1), null);
    assert.equal(schedParamsError({ cap: 200 }, 2), null);
    assert.match(schedParamsError({ weight: 0 }, 1)!, /weight must be a whole number from 1 to 65535, got 0/);
    assert.match(schedParamsError({ weight: 1.5 }, 1)!, /got 1.5/);
    assert.match(schedParamsError({ cap: 101 }, 1)!, /cap must be a whole percentage from 0 \(none\) to 100/);
    assert.match(schedParamsError({ cap: -1 }, 4)!, /to 400/);
  });
});

/**
 * Run loops of real Domains (src/hypervisor/domain.ts) on scripted harts under one scheduler,
 * on the fake clock: every `run` call of a hart retires its budget at 10 instructions per µs
 * of fake time, so a domain's instructions measure the host time it was given.
 */
describe('domains under the credit scheduler', () => {
  function domainsOn(clock: FakeClock, s: CreditScheduler, untilMs: number, params: Partial<SchedParams>[]) {
    class FakeHost extends GatedDomainHost {
      protected clock(): number {
        return clock.t;
      }
      protected timer(ms: number, fn: () => void): () => void {
        return clock.timer(ms, fn);
      }
      protected turn(): Promise<void> {
        return new Promise((r) => setImmediate(r));
      }
    }
    return params.map((p) => {
      const entity = s.add(p);
      const host = new FakeHost(() => {}, { sched: entity });
      let d: Domain | null = null;
      const hart = new ScriptedHart(0, [], () => undefined);
      hart.run = (budget: number): number => {
        if (clock.t >= untilMs) d!.stop(0);
        if (hart.stops === -1) return Exit.Stop;
        hart.instret += budget;
        clock.t += budget / 10_000;
        return Exit.Budget;
      };
      const stop = hart.requestStop.bind(hart);
      hart.requestStop = () => {
        stop();
        hart.stops = -1;
      };
      const machine: DomainMachine = {
        ram: new GuestRam(0x8000_0000, 0x10_0000),
        harts: [hart],
        time: { now: () => Math.floor(clock.t * 10_000) },
        updateTimers: () => {},
        nextDeadline: () => Number.POSITIVE_INFINITY,
        uartInput: (b) => b.length,
        mmioCounts: () => ({}),
        reset: () => {},
      };
      const plan: BootPlan = { load: () => {}, entry: 0x8020_0000, fdt: 0x800f_0000 };
      d = new Domain('pv', machine, host, plan);
      d.setStealTimeShmem(0, 0x8000_1000);
      return { d, entity, host };
    });
  }

  test("weights 1:2 give instructions 1:2; each one's steal time is the time the other ran", async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const [a, b] = domainsOn(clock, s, 3000, [{ weight: 256 }, { weight: 512 }]);
    await Promise.all([a!.d.run(), b!.d.run()]);
    const ia = a!.d.instructions();
    const ib = b!.d.instructions();
    assert.ok(Math.abs(ib / ia - 2) < 0.05, `instructions ${ia} : ${ib}`);
    // Runnable all along: a vCPU's steal is the other domain's share of the thread (to a turn).
    const stealA = a!.d.vcpus[0]!.stealNs / 1e6;
    const stealB = b!.d.vcpus[0]!.stealNs / 1e6;
    assert.ok(Math.abs(stealA - b!.entity.usedMs) <= 4, `steal of a ${stealA} ms, b ran ${b!.entity.usedMs} ms`);
    assert.ok(Math.abs(stealB - a!.entity.usedMs) <= 4, `steal of b ${stealB} ms, a ran ${a!.entity.usedMs} ms`);
    // And the guest reads it in its STA record (SBI v2.0 §13.1: steal at offset 8, sequence even).
    const view = a!.d.ram.view;
    assert.equal(view.getUint32(0x1000, true) % 2, 0);
    const reported = Number(view.getBigUint64(0x1000 + 8, true)) / 1e6;
    assert.ok(reported <= stealA && reported >= stealA - 8, `record says ${reported} ms of ${stealA}`);
  });

  test('a cap of 25 % on a domain alone: a quarter of the instructions, the rest is steal', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const [a] = domainsOn(clock, s, 3000, [{ cap: 25 }]);
    await a!.d.run();
    const ranMs = a!.d.instructions() / 10_000;
    assert.ok(Math.abs(ranMs / clock.t - 0.25) < 0.01, `ran ${ranMs} ms of ${clock.t}`);
    const steal = a!.d.vcpus[0]!.stealNs / 1e6;
    assert.ok(Math.abs(steal - (clock.t - ranMs)) <= 8, `steal ${steal} ms, not running ${clock.t - ranMs} ms`);
  });

  test('a pause while the domain waits for its turn parks it before it runs again', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const [a, b] = domainsOn(clock, s, 200, [{}, {}]);
    const runs = [a!.d.run(), b!.d.run()];
    await new Promise((r) => setImmediate(r));
    await a!.host.pause();
    const before = a!.d.instructions();
    await runs[1];
    assert.equal(a!.d.instructions(), before, 'a did not run while paused');
    a!.host.unpause();
    await runs[0];
  });

  test('a pause of a domain its cap holds back parks it at once, without waiting for the cap', async () => {
    const clock = new FakeClock();
    const s = new CreditScheduler(clock);
    const [a] = domainsOn(clock, s, 60_000, [{ cap: 1 }]);
    const run = a!.d.run();
    // Its first turn (4 ms) spends 4 s of a 1 % budget: it then waits on the cap's timer.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const turns = a!.entity.turns;
    await a!.host.pause();
    assert.equal(a!.entity.turns, turns, 'parked without being granted another turn');
    a!.d.stop(0);
    a!.host.unpause();
    await run;
  });
});

describe('a cap budget (a domain on the scheduler, a hart on a thread)', () => {
  test('refilled at the cap, at most 30 ms worth; an overshoot is paid by waiting', () => {
    const b = new CapBudget(25, 0);
    assert.equal(b.budget, 7.5);
    assert.equal(b.waitMs(100), 0, 'a full budget: run now');
    b.spend(10, 110); // full (the 2.5 refilled meanwhile would pass the burst), 10 spent
    assert.equal(b.budget, -2.5);
    b.spend(10, 120); // 2.5 refilled, 10 spent
    assert.equal(b.budget, -10);
    assert.equal(Math.round(b.waitMs(120)), 40, '10 ms of debt at 25 %');
    assert.ok(b.waitMs(150) > 0);
    assert.equal(b.waitMs(161), 0);
    const none = new CapBudget(0, 0);
    none.spend(1000, 1000);
    assert.equal(none.waitMs(1000), 0, 'no cap, no wait');
    none.set(50, 5000); // a cap set later starts from a full budget
    assert.equal(none.waitMs(5000), 0);
    assert.equal(none.budget, 15);
  });

  test('a loop of 3 ms runs gets 25 % of 10 s, within one burst and one run', () => {
    const b = new CapBudget(25, 0);
    let t = 0;
    let ran = 0;
    while (t < 10_000) {
      const wait = b.waitMs(t);
      if (wait > 0) t += wait;
      else {
        t += 3;
        ran += 3;
        b.spend(3, t);
      }
    }
    assert.ok(ran <= 0.25 * t + 7.5 + 3 && ran >= 0.25 * t - 3, `ran ${ran} ms of ${t}`);
  });
});

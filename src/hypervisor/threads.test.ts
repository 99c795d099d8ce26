import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HART_STATE_BYTES } from '../cpu/jit/state.js';
import type { PhysBus } from '../cpu/types.js';
import { GuestRam } from '../memory/ram.js';
import { HsmState } from '../sbi/consts.js';
import { HartThreads, KIND, PENDING, REQ, REQ_ECALL, type ThreadedDomain, TLB_DONE, TLB_SEQ } from './threads.js';

const bus: PhysBus = { has: () => false, read: () => 0, write: () => {} };

/** A domain of `harts` harts with no worker started: the test plays the workers' side by hand. */
function owner(harts: number, remoteEcall: (hart: number) => void) {
  const threads = new HartThreads(harts, () => {});
  const ram = new GuestRam(0x8000_0000, 0x1_0000, harts * HART_STATE_BYTES, { shared: true });
  for (let id = 1; id < harts; id++) threads.remoteHart(id, ram, bus);
  const domain: ThreadedDomain = {
    remoteEcall(hart) {
      remoteEcall(hart);
      return HsmState.STARTED;
    },
    stopping: false,
    fail: (_code, why) => assert.fail(why),
  };
  threads.prepare(domain, { spawn: () => assert.fail('no worker in this test') }, {} as never);
  const w = new Int32Array(threads.control);
  /** What a worker's `ask` does: the request words, then the counter. */
  const post = (hart: number) => {
    w[threads.at(hart, KIND)] = REQ_ECALL;
    Atomics.store(w, threads.at(hart, REQ), 1);
    Atomics.add(w, PENDING, 1);
  };
  return { threads, w, post };
}

test('a fence nested in a hypercall serves the request its target posted in the same round', () => {
  // Hart 1 and hart 2 both post a hypercall before the owner looks (one serve counts both).
  // Hart 1's is a remote fence to hart 2: the owner waits for hart 2's acknowledgement, and
  // hart 2 acknowledges only once its own request is answered, so the serve nested in the
  // fence must find hart 2's request although the counter has not moved since.
  const order: string[] = [];
  const { threads, w, post } = owner(3, (hart) => {
    if (hart === 1) {
      order.push('hart 1: begin');
      threads.remotes[2]!.flushTlb();
      order.push(`hart 1: end, fence acknowledged ${w[threads.at(2, TLB_DONE)]! >= w[threads.at(2, TLB_SEQ)]!}`);
    } else {
      order.push('hart 2');
      // the worker: its request answered, it runs on and takes the fence at once
      Atomics.store(w, threads.at(2, TLB_DONE), Atomics.load(w, threads.at(2, TLB_SEQ)));
    }
  });
  post(1);
  post(2);
  threads.serve();
  threads.stop();
  assert.deepEqual(order, ['hart 1: begin', 'hart 2', 'hart 1: end, fence acknowledged true']);
  assert.equal(w[threads.at(1, REQ)], 2);
  assert.equal(w[threads.at(2, REQ)], 2);
});

test('a request posted while nothing moved is served once, its channel answered', () => {
  const served: number[] = [];
  const { threads, w, post } = owner(2, (hart) => served.push(hart));
  threads.serve();
  assert.deepEqual(served, []);
  post(1);
  threads.serve();
  threads.serve(true);
  threads.stop();
  assert.deepEqual(served, [1]);
  assert.equal(w[threads.at(1, REQ)], 2);
});

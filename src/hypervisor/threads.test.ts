import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Priv } from '../cpu/arch.js';
import { HART_STATE_BYTES } from '../cpu/jit/state.js';
import type { PhysBus } from '../cpu/types.js';
import { GuestRam } from '../memory/ram.js';
import { HsmState } from '../sbi/consts.js';
import { Domain, type DomainHost, type DomainMachine } from './domain.js';
import { ScriptedHart } from './testing.js';
import {
  HartThreads,
  HSM,
  KIND,
  PENDING,
  REQ,
  REQ_ECALL,
  RET,
  type ThreadedDomain,
  TLB_DONE,
  TLB_SEQ,
} from './threads.js';

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
    sendIpi: () => assert.fail('no IPI in this test'),
    allowsCall: () => true,
    callPolicy: {},
  };
  // started with no thread behind it: the test plays the workers
  threads.prepare(domain, { spawn: () => ({ terminate: () => {} }) }, {} as never, () => 0);
  threads.start();
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

test('a hart on a thread that resumed from an HSM suspend is started at its next hypercall', () => {
  const threads = new HartThreads(2, () => {});
  const ram = new GuestRam(0x8000_0000, 0x40_0000, 2 * HART_STATE_BYTES, { shared: true });
  const hart0 = new ScriptedHart<never>(0, [], () => undefined, { priv: Priv.S, virtualM: true });
  const hart1 = threads.remoteHart(1, ram, bus);
  const host: DomainHost = {
    nowMs: () => 0,
    idle: async () => {},
    yield: async () => {},
    consoleOut: () => {},
  };
  const machine: DomainMachine = {
    ram,
    harts: [hart0, hart1],
    time: { now: () => 0 },
    updateTimers: () => {},
    nextDeadline: () => Number.POSITIVE_INFINITY,
    uartInput: (b) => b.length,
    mmioCounts: () => ({}),
    reset: () => {},
  };
  const d = new Domain('pv', machine, host, { load: () => {}, entry: 0x8020_0000, fdt: 0x803f_0000 });
  d.threads = threads;
  threads.prepare(d, { spawn: () => assert.fail('no worker in this test') }, {} as never, () => 0);
  const w = new Int32Array(threads.control);
  /** Hart 1's worker makes hypercall `eid`/`fid` and gets the owner's answer (its RET word). */
  const ecall = (eid: number, fid: number, a0: bigint, a1 = 0n): number => {
    hart1.setX(17, BigInt(eid));
    hart1.setX(16, BigInt(fid));
    hart1.setX(10, a0);
    hart1.setX(11, a1);
    w[threads.at(1, KIND)] = REQ_ECALL;
    Atomics.store(w, threads.at(1, REQ), 1);
    Atomics.add(w, PENDING, 1);
    threads.serve();
    assert.equal(w[threads.at(1, REQ)], 2);
    Atomics.store(w, threads.at(1, REQ), 0);
    return w[threads.at(1, RET)]!;
  };
  d.hartStart(1, 0x8020_0000n, 0n);
  const HSM_EID = 0x48_534d;
  assert.equal(ecall(HSM_EID, 3, 0n), 2, 'a retentive suspend: the worker waits for an interrupt');
  // the worker's interrupt came: it resumes on its own and says so (runRemoteHart)
  Atomics.store(w, threads.at(1, HSM), HsmState.STARTED);
  assert.equal(ecall(0x10, 0, 0n), 0, 'get_spec_version: the hart runs on');
  assert.equal(hart1.getX(10), 0n);
  assert.equal(d.hartStatus(1), HsmState.STARTED);
  threads.stop();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestRam } from '../../memory/ram.js';
import { SbiErr } from '../consts.js';
import { SbiDispatcher } from '../dispatcher.js';
import { HypercallPolicy } from '../policy.js';
import type { SbiArgs, SbiPlatform } from '../types.js';
import { ok } from '../types.js';
import { PVX_CALLS, type PvxBackend } from './calls.js';
import { PVX_EID, PVX_FEATURES_ALL, PvxFeature, PvxFid } from './consts.js';
import { PvxExtension } from './extension.js';

const GROUPS = new Set(['events', 'grants', 'sched', 'memory']);

/**
 * A backend that answers every call with ok(1) (numeric ones, `fooNum`, with error 0) and
 * records it as `group.method(args)` (`foo` for `fooNum`: the same call).
 */
function stubBackend(log: string[], prefix = ''): PvxBackend {
  return new Proxy({} as PvxBackend, {
    get: (_t, name: string) => {
      if (prefix === '' && GROUPS.has(name)) return stubBackend(log, `${name}.`);
      if (name === 'domid') return () => 7;
      if (name.endsWith('Num')) {
        return (...args: unknown[]) => {
          log.push(`${prefix}${name.slice(0, -3)}(${args.map(String).join(',')})`);
          return SbiErr.SUCCESS;
        };
      }
      return (...args: unknown[]) => {
        log.push(`${prefix}${name}(${args.map(String).join(',')})`);
        return ok(1);
      };
    },
  });
}

function setup(features = PVX_FEATURES_ALL) {
  const ram = new GuestRam(0x8000_0000, 1 << 16);
  const platform = { hartCount: 1, ram } as unknown as SbiPlatform;
  const d = new SbiDispatcher(platform);
  const log: string[] = [];
  d.register(new PvxExtension(stubBackend(log), d, features), PVX_EID);
  const call = (fid: number, ...a: number[]) =>
    d.call(0, BigInt(PVX_EID), BigInt(fid), [0, 1, 2, 3, 4, 5].map((i) => BigInt(a[i] ?? 0)) as unknown as SbiArgs);
  return { d, log, call, ram };
}

test('PVX answers at its EID only; unknown FIDs are NOT_SUPPORTED and counted', () => {
  const { d, call } = setup();
  assert.equal(d.probe(BigInt(PVX_EID)), 1);
  assert.equal(d.probe(BigInt(PVX_EID - 1)), 0);
  assert.deepEqual(call(PvxFid.GET_VERSION), { error: 0, value: 0x0001_0000n });
  assert.deepEqual(call(PvxFid.GET_DOMID), { error: 0, value: 7n });
  assert.equal(call(0x105).error, SbiErr.NOT_SUPPORTED);
  assert.equal(d.call(0, BigInt(PVX_EID), 1n << 32n, [0n, 0n, 0n, 0n, 0n, 0n]).error, SbiErr.NOT_SUPPORTED);
  assert.deepEqual(d.stats.PVX, { get_version: 1, get_domid: 1, unknown: 2 });
});

test('a function whose feature bit is clear answers NOT_SUPPORTED and GET_FEATURES says so', () => {
  const { call, log } = setup(PVX_FEATURES_ALL & ~PvxFeature.GNTTAB_MAP & ~PvxFeature.MEMORY);
  assert.deepEqual(call(PvxFid.GET_FEATURES, 0), { error: 0, value: BigInt(0x1ff & ~0x20 & ~0x100) });
  assert.equal(call(PvxFid.GNTTAB_MAP, 1, 0, 0x4000_0000, 0).error, SbiErr.NOT_SUPPORTED);
  assert.equal(call(PvxFid.GNTTAB_UNMAP, 0x4000_0000).error, SbiErr.NOT_SUPPORTED);
  assert.equal(call(PvxFid.MEMORY_RESERVATION, 0).error, SbiErr.NOT_SUPPORTED);
  assert.equal(call(PvxFid.GNTTAB_COPY, 1, 0, 0, 0, 1, 0).error, 0);
  assert.deepEqual(log, ['grants.copy(1,0,0,0,1,0)']);
});

test('every FID reaches its backend method with its arguments in order', () => {
  const { call, log } = setup();
  const fids = Object.values(PvxFid).filter(
    (f) => ![PvxFid.GET_VERSION, PvxFid.GET_FEATURES, PvxFid.GET_DOMID, PvxFid.MULTICALL].includes(f as never),
  );
  for (const f of fids) call(f, 11, 12, 13, 14, 15, 16);
  assert.equal(log.length, fids.length);
  assert.equal(log[0], 'limit(11)');
  assert.ok(log.includes('grants.copy(11,12,13,14,15,16)'));
  assert.ok(log.includes('sched.poll(0,11,12,13)'), 'sched calls get the calling vCPU first');
  assert.ok(log.includes('shinfoSet(0,11)'));
});

test('multicall runs through the dispatcher: nested PVX multicall, block, poll and yield are refused', () => {
  const { call, log, ram } = setup();
  const put = (i: number, fid: number) => {
    ram.view.setUint32(72 * i, PVX_EID, true);
    ram.view.setUint32(72 * i + 4, fid, true);
  };
  put(0, PvxFid.EVTCHN_SEND);
  put(1, PvxFid.MULTICALL);
  put(2, PvxFid.SCHED_BLOCK);
  put(3, PvxFid.SCHED_POLL);
  put(4, PvxFid.SCHED_YIELD);
  put(5, PvxFid.GET_DOMID);
  assert.deepEqual(call(PvxFid.MULTICALL, 0x8000_0000, 6), { error: 0, value: 6n });
  const errs = [0, 1, 2, 3, 4, 5].map((i) => Number(ram.view.getBigInt64(72 * i + 56, true)));
  assert.deepEqual(errs, [0, -2, -2, -2, -2, 0]);
  assert.equal(ram.view.getBigUint64(72 * 5 + 64, true), 7n);
  assert.deepEqual(log, ['events.send(0)']);
  // outside a batch the same calls go through
  call(PvxFid.SCHED_YIELD);
  assert.deepEqual(log, ['events.send(0)', 'sched.yield(0)']);
});

test('the call table has one row per FID of PVX 1.0, in FID order, with distinct names', () => {
  assert.deepEqual(
    PVX_CALLS.map((c) => c.fid),
    Object.values(PvxFid).sort((a, b) => a - b),
  );
  assert.equal(new Set(PVX_CALLS.map((c) => c.name)).size, PVX_CALLS.length);
  assert.deepEqual(
    PVX_CALLS.filter((c) => c.notInBatch).map((c) => c.name),
    ['multicall', 'sched_yield', 'sched_block', 'sched_poll'],
  );
  assert.deepEqual(
    PVX_CALLS.filter((c) => c.endsBatch).map((c) => c.name),
    ['sched_shutdown'],
  );
});

test('hypercall policy: a denied multicall entry answers DENIED in its slot; the others run', () => {
  const { d, call, log, ram } = setup();
  d.policy = new HypercallPolicy(['PVX/multicall', 'PVX/get_domid']);
  const put = (i: number, fid: number) => {
    ram.view.setUint32(72 * i, PVX_EID, true);
    ram.view.setUint32(72 * i + 4, fid, true);
  };
  put(0, PvxFid.EVTCHN_SEND);
  put(1, PvxFid.GET_DOMID);
  assert.deepEqual(call(PvxFid.MULTICALL, 0x8000_0000, 2), { error: 0, value: 2n });
  const errs = [0, 1].map((i) => Number(ram.view.getBigInt64(72 * i + 56, true)));
  assert.deepEqual(errs, [SbiErr.DENIED, 0]);
  assert.deepEqual(log, [], 'the denied send never reached the backend');
  assert.equal(call(PvxFid.EVTCHN_SEND, 1).error, SbiErr.DENIED);
  assert.deepEqual(d.stats.denied, { 'PVX/evtchn_send': 2 });
});

test('the numeric fast path: TIMER_SET and EVTCHN_SEND only, with the same backend calls and counts', () => {
  const regs = new Int32Array(64);
  const h = { id: 0, x: regs, getX: () => 0n, setX: () => {} };
  const ecall = (d: SbiDispatcher, fid: number, a0: number) => {
    regs.fill(0);
    regs[34] = PVX_EID; // a7
    regs[32] = fid; // a6
    regs[20] = a0; // a0 (low word)
    regs[22] = 99; // a1: cleared by a call made
    return d.handleEcallFast(h);
  };
  const { d, log } = setup();
  assert.equal(ecall(d, PvxFid.TIMER_SET, 5000), true);
  assert.deepEqual([regs[20], regs[21], regs[22], regs[23]], [0, 0, 0, 0]);
  assert.equal(ecall(d, PvxFid.EVTCHN_SEND, 3), true);
  assert.equal(ecall(d, PvxFid.EVTCHN_UNMASK, 3), false); // no fast path: nothing done
  assert.equal(regs[22], 99);
  assert.deepEqual(log, ['sched.timerSet(0,5000)', 'events.send(3)']);
  assert.deepEqual(d.stats.PVX, { timer_set: 1, evtchn_send: 1 });
  // a feature switched off answers NOT_SUPPORTED on the fast path as on the other
  const off = setup(PVX_FEATURES_ALL & ~PvxFeature.TIMER);
  assert.equal(ecall(off.d, PvxFid.TIMER_SET, 5000), true);
  assert.equal(regs[20], SbiErr.NOT_SUPPORTED);
  assert.deepEqual(off.log, []);
});

/**
 * Every bad argument of every PVX call, as a table of
 * (caller, function, arguments) -> expected SBI error, against the error
 * tables of docs/para-api-pvx.md §3-§9 and the validation order of §1.2.
 * Each row runs on a fresh pair of domains; a failing call must leave the
 * caller's RAM untouched (no side effect on error).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SbiErr } from '../../sbi/consts.js';
import { PvxFid as F, Gtf } from '../../sbi/pvx/consts.js';
import { At, RAM_BASE, RAM_SIZE, splitDomains, type TestDomain, twoDomains } from './testing.js';

const E = SbiErr;
const ALL = (1n << 64n) - 1n;
const W = 0x4000_0000; // grant window base
const RAM_END = RAM_BASE + RAM_SIZE;

interface Fixture {
  a: TestDomain; // domain 1
  b: TestDomain; // domain 2
}

/**
 * 'bare': domains 1 and 2 exist, nothing registered.
 * 'full': both have shared info; domain 1: port 1 = VIRQ_TIMER on vCPU 0, port 2 UNBOUND for domain 2,
 *   grant table (512 entries) with ref 0 = RW to 2 (At.PAGE), ref 1 = RO to 2, ref 2 invalid, ref 3 = RW to
 *   domain 3, ref 4 = unknown flag bits, ref 5 = frame outside RAM; domain 2: grant table, port 1 UNBOUND for
 *   itself, ref 0 of domain 1 mapped RW at the window base.
 */
function fixture(kind: 'bare' | 'full', split: boolean): Fixture {
  const { a, b } = split ? splitDomains() : twoDomains();
  if (kind === 'full') {
    a.registerShinfo();
    b.registerShinfo();
    a.ok(F.EVTCHN_BIND_VIRQ, [0, 0]);
    a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
    a.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
    a.grant(0, 2, At.PAGE, Gtf.PERMIT_ACCESS);
    a.grant(1, 2, At.PAGE + 0x1000, Gtf.PERMIT_ACCESS | Gtf.READONLY);
    a.grant(3, 3, At.PAGE, Gtf.PERMIT_ACCESS);
    a.grant(4, 2, At.PAGE, Gtf.PERMIT_ACCESS | 0x20);
    a.grant(5, 2, RAM_END + 0x1000, Gtf.PERMIT_ACCESS);
    b.ok(F.GNTTAB_SETUP, [At.GNTTAB, 1]);
    b.ok(F.EVTCHN_ALLOC_UNBOUND, [0x7ff0]);
    b.ok(F.GNTTAB_MAP, [1, 0, W, 0]);
  }
  return { a, b };
}

interface Row {
  why: string;
  fix: 'bare' | 'full';
  by?: 'a' | 'b';
  hart?: number;
  fid: number;
  args: (number | bigint)[];
  want: number;
  prep?: (f: Fixture) => void;
}

const rows: Row[] = [
  // §2: unknown functions
  { why: 'unknown fid in the info group', fix: 'bare', fid: 0x004, args: [], want: E.NOT_SUPPORTED },
  { why: 'unknown fid in the evtchn group', fix: 'full', fid: 0x208, args: [1], want: E.NOT_SUPPORTED },
  { why: 'unknown fid far out', fix: 'bare', fid: 0x7ff, args: [], want: E.NOT_SUPPORTED },
  // §3
  { why: 'feature word 1 does not exist', fix: 'bare', fid: F.GET_FEATURES, args: [1], want: E.INVALID_PARAM },
  { why: 'limit id 8', fix: 'bare', fid: F.GET_LIMIT, args: [8], want: E.INVALID_PARAM },
  { why: 'limit id all ones', fix: 'bare', fid: F.GET_LIMIT, args: [ALL], want: E.INVALID_PARAM },
  // §4.1
  { why: 'shinfo misaligned', fix: 'bare', fid: F.SHINFO_SET, args: [At.SHINFO + 8], want: E.INVALID_ADDRESS },
  { why: 'shinfo in the grant window', fix: 'bare', fid: F.SHINFO_SET, args: [W], want: E.INVALID_ADDRESS },
  { why: 'shinfo past RAM', fix: 'bare', fid: F.SHINFO_SET, args: [RAM_END], want: E.INVALID_ADDRESS },
  { why: 'shinfo far above 2^53', fix: 'bare', fid: F.SHINFO_SET, args: [1n << 63n], want: E.INVALID_ADDRESS },
  { why: 'shinfo twice', fix: 'full', fid: F.SHINFO_SET, args: [At.BUF], want: E.ALREADY_AVAILABLE },
  { why: 'unregister with none', fix: 'bare', fid: F.SHINFO_SET, args: [ALL], want: E.INVALID_STATE },
  { why: 'unregister with open ports', fix: 'full', fid: F.SHINFO_SET, args: [ALL], want: E.INVALID_STATE },
  // §4.5
  { why: 'timer without shinfo', fix: 'bare', fid: F.TIMER_SET, args: [0], want: E.NO_SHMEM },
  { why: 'timer without VIRQ_TIMER', fix: 'full', by: 'b', fid: F.TIMER_SET, args: [0], want: E.INVALID_STATE },
  {
    why: 'timer VIRQ bound on another vCPU',
    fix: 'full',
    hart: 1,
    fid: F.TIMER_SET,
    args: [0],
    want: E.INVALID_STATE,
  },
  // §5.3 alloc_unbound
  {
    why: 'remote domid wider than u16',
    fix: 'full',
    fid: F.EVTCHN_ALLOC_UNBOUND,
    args: [0x10001],
    want: E.INVALID_PARAM,
  },
  { why: 'remote domid not existing', fix: 'full', fid: F.EVTCHN_ALLOC_UNBOUND, args: [9], want: E.INVALID_PARAM },
  { why: 'remote domid 0', fix: 'full', fid: F.EVTCHN_ALLOC_UNBOUND, args: [0], want: E.INVALID_PARAM },
  { why: 'alloc without shinfo', fix: 'bare', fid: F.EVTCHN_ALLOC_UNBOUND, args: [2], want: E.NO_SHMEM },
  { why: 'alloc for self without shinfo', fix: 'bare', fid: F.EVTCHN_ALLOC_UNBOUND, args: [0x7ff0], want: E.NO_SHMEM },
  {
    why: 'no free port',
    fix: 'full',
    fid: F.EVTCHN_ALLOC_UNBOUND,
    args: [2],
    want: E.FAILED,
    prep: ({ a }) => {
      for (let i = 3; i < 1024; i++) a.ok(F.EVTCHN_ALLOC_UNBOUND, [2]);
    },
  },
  // bind_interdomain
  { why: 'bind: unknown domain', fix: 'full', fid: F.EVTCHN_BIND_INTERDOMAIN, args: [9, 1], want: E.INVALID_PARAM },
  { why: 'bind: remote port 0', fix: 'full', fid: F.EVTCHN_BIND_INTERDOMAIN, args: [2, 0], want: E.INVALID_PARAM },
  {
    why: 'bind: remote port 1024',
    fix: 'full',
    fid: F.EVTCHN_BIND_INTERDOMAIN,
    args: [2, 1024],
    want: E.INVALID_PARAM,
  },
  {
    why: 'bind: remote port with high bits',
    fix: 'full',
    fid: F.EVTCHN_BIND_INTERDOMAIN,
    args: [2, (1n << 32n) | 1n],
    want: E.INVALID_PARAM,
  },
  { why: 'bind: domid before port', fix: 'full', fid: F.EVTCHN_BIND_INTERDOMAIN, args: [9, 0], want: E.INVALID_PARAM },
  { why: 'bind without shinfo', fix: 'bare', fid: F.EVTCHN_BIND_INTERDOMAIN, args: [2, 1], want: E.NO_SHMEM },
  {
    why: 'bind to a FREE remote port',
    fix: 'full',
    fid: F.EVTCHN_BIND_INTERDOMAIN,
    args: [2, 7],
    want: E.INVALID_STATE,
  },
  { why: 'bind to own VIRQ port', fix: 'full', fid: F.EVTCHN_BIND_INTERDOMAIN, args: [1, 1], want: E.INVALID_STATE },
  {
    why: 'bind to a port reserved for another domain',
    fix: 'full',
    fid: F.EVTCHN_BIND_INTERDOMAIN,
    args: [2, 1],
    want: E.DENIED,
  },
  // bind_virq / bind_ipi
  { why: 'virq 4', fix: 'full', fid: F.EVTCHN_BIND_VIRQ, args: [4, 0], want: E.INVALID_PARAM },
  { why: 'global virq on vCPU 1', fix: 'full', fid: F.EVTCHN_BIND_VIRQ, args: [1, 1], want: E.INVALID_PARAM },
  { why: 'virq on vCPU 2 of 2', fix: 'full', fid: F.EVTCHN_BIND_VIRQ, args: [0, 2], want: E.INVALID_PARAM },
  { why: 'virq without shinfo', fix: 'bare', fid: F.EVTCHN_BIND_VIRQ, args: [0, 0], want: E.NO_SHMEM },
  { why: 'virq bound twice', fix: 'full', fid: F.EVTCHN_BIND_VIRQ, args: [0, 0], want: E.ALREADY_AVAILABLE },
  { why: 'ipi on vCPU 2 of 2', fix: 'full', fid: F.EVTCHN_BIND_IPI, args: [2], want: E.INVALID_PARAM },
  { why: 'ipi without shinfo', fix: 'bare', fid: F.EVTCHN_BIND_IPI, args: [0], want: E.NO_SHMEM },
  // send / close / unmask / status
  { why: 'send port 0', fix: 'full', fid: F.EVTCHN_SEND, args: [0], want: E.INVALID_PARAM },
  { why: 'send port 1024', fix: 'full', fid: F.EVTCHN_SEND, args: [1024], want: E.INVALID_PARAM },
  { why: 'send on a FREE port', fix: 'full', fid: F.EVTCHN_SEND, args: [9], want: E.INVALID_PARAM },
  { why: 'send on a VIRQ port', fix: 'full', fid: F.EVTCHN_SEND, args: [1], want: E.INVALID_STATE },
  { why: 'send without shinfo (port FREE)', fix: 'bare', fid: F.EVTCHN_SEND, args: [1], want: E.INVALID_PARAM },
  { why: 'close port 0', fix: 'full', fid: F.EVTCHN_CLOSE, args: [0], want: E.INVALID_PARAM },
  { why: 'close a FREE port', fix: 'full', fid: F.EVTCHN_CLOSE, args: [9], want: E.INVALID_PARAM },
  { why: 'close port all ones', fix: 'full', fid: F.EVTCHN_CLOSE, args: [ALL], want: E.INVALID_PARAM },
  { why: 'unmask port 1024', fix: 'full', fid: F.EVTCHN_UNMASK, args: [1024], want: E.INVALID_PARAM },
  { why: 'unmask a FREE port', fix: 'full', fid: F.EVTCHN_UNMASK, args: [9], want: E.INVALID_PARAM },
  { why: 'status port 0', fix: 'full', fid: F.EVTCHN_STATUS, args: [0], want: E.INVALID_PARAM },
  { why: 'status port 1024', fix: 'full', fid: F.EVTCHN_STATUS, args: [1024], want: E.INVALID_PARAM },
  { why: 'status without shinfo', fix: 'bare', fid: F.EVTCHN_STATUS, args: [1], want: E.NO_SHMEM },
  // §6.2 setup
  { why: 'setup 0 frames', fix: 'bare', fid: F.GNTTAB_SETUP, args: [At.GNTTAB, 0], want: E.INVALID_PARAM },
  { why: 'setup 5 frames', fix: 'bare', fid: F.GNTTAB_SETUP, args: [At.GNTTAB, 5], want: E.INVALID_PARAM },
  { why: 'remove with frames', fix: 'full', fid: F.GNTTAB_SETUP, args: [ALL, 1], want: E.INVALID_PARAM },
  { why: 'setup misaligned', fix: 'bare', fid: F.GNTTAB_SETUP, args: [At.GNTTAB + 8, 1], want: E.INVALID_ADDRESS },
  { why: 'setup past RAM', fix: 'bare', fid: F.GNTTAB_SETUP, args: [RAM_END - 0x1000, 2], want: E.INVALID_ADDRESS },
  { why: 'setup in the window', fix: 'bare', fid: F.GNTTAB_SETUP, args: [W, 1], want: E.INVALID_ADDRESS },
  { why: 'setup twice', fix: 'full', fid: F.GNTTAB_SETUP, args: [At.GNTTAB, 1], want: E.ALREADY_AVAILABLE },
  { why: 'remove with none', fix: 'bare', fid: F.GNTTAB_SETUP, args: [ALL, 0], want: E.INVALID_STATE },
  { why: 'remove while a grant is mapped', fix: 'full', fid: F.GNTTAB_SETUP, args: [ALL, 0], want: E.INVALID_STATE },
  // §6.4 map (domain 2 maps grants of domain 1)
  {
    why: 'map: domid > u16',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [0x10001, 0, W + 0x1000, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: own domid',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [2, 0, W + 0x1000, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: DOMID_SELF',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [0x7ff0, 0, W + 0x1000, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: unknown domain',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [9, 0, W + 0x1000, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: ref = entry count',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 512, W + 0x1000, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: ref > u32',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 1n << 32n, W + 0x1000, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: flags bit 1',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 0, W + 0x1000, 2],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: ref before address',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 512, 5, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'map: misaligned slot',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 0, W + 8, 0],
    want: E.INVALID_ADDRESS,
  },
  {
    why: 'map: past the window',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 0, W + 0x0400_0000, 0],
    want: E.INVALID_ADDRESS,
  },
  { why: 'map: into RAM', fix: 'full', by: 'b', fid: F.GNTTAB_MAP, args: [1, 0, At.BUF, 0], want: E.INVALID_ADDRESS },
  { why: 'map: granter without table', fix: 'bare', by: 'b', fid: F.GNTTAB_MAP, args: [1, 0, W, 0], want: E.NO_SHMEM },
  { why: 'map: slot taken', fix: 'full', by: 'b', fid: F.GNTTAB_MAP, args: [1, 1, W, 1], want: E.ALREADY_AVAILABLE },
  { why: 'map: invalid entry', fix: 'full', by: 'b', fid: F.GNTTAB_MAP, args: [1, 2, W + 0x1000, 0], want: E.DENIED },
  {
    why: 'map: RW of a RO grant',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 1, W + 0x1000, 0],
    want: E.DENIED,
  },
  {
    why: 'map: grant for domain 3',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 3, W + 0x1000, 0],
    want: E.DENIED,
  },
  {
    why: 'map: unknown flag bits',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 4, W + 0x1000, 1],
    want: E.DENIED,
  },
  {
    why: 'map: frame outside RAM',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_MAP,
    args: [1, 5, W + 0x1000, 1],
    want: E.DENIED,
  },
  // unmap
  { why: 'unmap misaligned', fix: 'full', by: 'b', fid: F.GNTTAB_UNMAP, args: [W + 1], want: E.INVALID_ADDRESS },
  { why: 'unmap in RAM', fix: 'full', by: 'b', fid: F.GNTTAB_UNMAP, args: [RAM_BASE], want: E.INVALID_ADDRESS },
  { why: 'unmap an empty slot', fix: 'full', by: 'b', fid: F.GNTTAB_UNMAP, args: [W + 0x1000], want: E.INVALID_STATE },
  // §6.5 copy
  {
    why: 'copy: unknown domain',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [9, 0, 0, At.BUF, 16, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'copy: own domain',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [2, 0, 0, At.BUF, 16, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'copy: ref 512',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 512, 0, At.BUF, 16, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'copy: flags 2',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 0, At.BUF, 16, 2],
    want: E.INVALID_PARAM,
  },
  {
    why: 'copy: ref checked before range',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 512, 4096, W, 0, 0],
    want: E.INVALID_PARAM,
  },
  {
    why: 'copy: offset 4096',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 4096, At.BUF, 1, 0],
    want: E.BAD_RANGE,
  },
  { why: 'copy: length 0', fix: 'full', by: 'b', fid: F.GNTTAB_COPY, args: [1, 0, 0, At.BUF, 0, 0], want: E.BAD_RANGE },
  {
    why: 'copy: past the frame',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 4000, At.BUF, 97, 0],
    want: E.BAD_RANGE,
  },
  {
    why: 'copy: huge length',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 1, At.BUF, ALL, 0],
    want: E.BAD_RANGE,
  },
  {
    why: 'copy: local in window',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 0, W, 16, 0],
    want: E.INVALID_ADDRESS,
  },
  {
    why: 'copy: local past RAM',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 0, RAM_END - 8, 16, 0],
    want: E.INVALID_ADDRESS,
  },
  {
    why: 'copy: granter without table',
    fix: 'bare',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 0, 0, At.BUF, 16, 0],
    want: E.NO_SHMEM,
  },
  {
    why: 'copy: invalid entry',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 2, 0, At.BUF, 16, 0],
    want: E.DENIED,
  },
  {
    why: 'copy: into a RO grant',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 1, 0, At.BUF, 16, 1],
    want: E.DENIED,
  },
  {
    why: 'copy: grant for domain 3',
    fix: 'full',
    by: 'b',
    fid: F.GNTTAB_COPY,
    args: [1, 3, 0, At.BUF, 16, 0],
    want: E.DENIED,
  },
  // §6.3 end access
  { why: 'end: ref 512', fix: 'full', fid: F.GNTTAB_END_ACCESS, args: [512], want: E.INVALID_PARAM },
  { why: 'end: ref > u32', fix: 'full', fid: F.GNTTAB_END_ACCESS, args: [1n << 32n], want: E.INVALID_PARAM },
  { why: 'end: no table', fix: 'bare', fid: F.GNTTAB_END_ACCESS, args: [0], want: E.NO_SHMEM },
  { why: 'end: grant still mapped', fix: 'full', fid: F.GNTTAB_END_ACCESS, args: [0], want: E.INVALID_STATE },
  // §7 multicall
  { why: 'multicall of 0', fix: 'full', fid: F.MULTICALL, args: [At.MC, 0], want: E.INVALID_PARAM },
  { why: 'multicall of 65', fix: 'full', fid: F.MULTICALL, args: [At.MC, 65], want: E.INVALID_PARAM },
  { why: 'multicall count before address', fix: 'full', fid: F.MULTICALL, args: [W, 0], want: E.INVALID_PARAM },
  { why: 'multicall misaligned', fix: 'full', fid: F.MULTICALL, args: [At.MC + 4, 1], want: E.INVALID_ADDRESS },
  { why: 'multicall in the window', fix: 'full', fid: F.MULTICALL, args: [W, 1], want: E.INVALID_ADDRESS },
  { why: 'multicall past RAM', fix: 'full', fid: F.MULTICALL, args: [RAM_END - 72, 2], want: E.INVALID_ADDRESS },
  // §8 sched
  { why: 'block without shinfo', fix: 'bare', fid: F.SCHED_BLOCK, args: [], want: E.NO_SHMEM },
  { why: 'poll 0 ports', fix: 'full', fid: F.SCHED_POLL, args: [At.LIST, 0, ALL], want: E.INVALID_PARAM },
  { why: 'poll 129 ports', fix: 'full', fid: F.SCHED_POLL, args: [At.LIST, 129, ALL], want: E.INVALID_PARAM },
  { why: 'poll misaligned', fix: 'full', fid: F.SCHED_POLL, args: [At.LIST + 2, 1, ALL], want: E.INVALID_ADDRESS },
  { why: 'poll past RAM', fix: 'full', fid: F.SCHED_POLL, args: [RAM_END - 4, 2, ALL], want: E.INVALID_ADDRESS },
  { why: 'poll without shinfo', fix: 'bare', fid: F.SCHED_POLL, args: [At.LIST, 1, ALL], want: E.NO_SHMEM },
  {
    why: 'poll on port 0',
    fix: 'full',
    fid: F.SCHED_POLL,
    args: [At.LIST, 2, ALL],
    want: E.INVALID_PARAM,
    prep: ({ a }) => {
      a.setU32(At.LIST, 1);
      a.setU32(At.LIST + 4, 0);
    },
  },
  {
    why: 'poll on a FREE port',
    fix: 'full',
    fid: F.SCHED_POLL,
    args: [At.LIST, 1, ALL],
    want: E.INVALID_PARAM,
    prep: ({ a }) => a.setU32(At.LIST, 9),
  },
  {
    why: 'poll with a past deadline',
    fix: 'full',
    fid: F.SCHED_POLL,
    args: [At.LIST, 1, 5],
    want: E.TIMEOUT,
    prep: ({ a }) => a.setU32(At.LIST, 2),
  },
  { why: 'shutdown reason 4', fix: 'full', fid: F.SCHED_SHUTDOWN, args: [4], want: E.INVALID_PARAM },
  // §9 memory
  { why: 'decrease 0 frames', fix: 'full', fid: F.MEMORY_DECREASE, args: [At.LIST, 0], want: E.INVALID_PARAM },
  { why: 'decrease 513 frames', fix: 'full', fid: F.MEMORY_DECREASE, args: [At.LIST, 513], want: E.INVALID_PARAM },
  {
    why: 'decrease list misaligned',
    fix: 'full',
    fid: F.MEMORY_DECREASE,
    args: [At.LIST + 4, 1],
    want: E.INVALID_ADDRESS,
  },
  { why: 'decrease list in window', fix: 'full', fid: F.MEMORY_DECREASE, args: [W, 1], want: E.INVALID_ADDRESS },
  {
    why: 'decrease a GFN outside RAM',
    fix: 'full',
    fid: F.MEMORY_DECREASE,
    args: [At.LIST, 1],
    want: E.INVALID_ADDRESS,
    prep: ({ a }) => a.setU64(At.LIST, W / 4096),
  },
  {
    why: 'decrease the shared info frame',
    fix: 'full',
    fid: F.MEMORY_DECREASE,
    args: [At.LIST, 1],
    want: E.DENIED,
    prep: ({ a }) => a.setU64(At.LIST, At.SHINFO / 4096),
  },
  {
    why: 'decrease the grant table frame',
    fix: 'full',
    fid: F.MEMORY_DECREASE,
    args: [At.LIST, 1],
    want: E.DENIED,
    prep: ({ a }) => a.setU64(At.LIST, At.GNTTAB / 4096),
  },
  {
    why: 'decrease a frame a peer maps',
    fix: 'full',
    fid: F.MEMORY_DECREASE,
    args: [At.LIST, 1],
    want: E.DENIED,
    prep: ({ a }) => a.setU64(At.LIST, At.PAGE / 4096),
  },
  {
    why: 'increase a frame that was not released',
    fix: 'full',
    fid: F.MEMORY_INCREASE,
    args: [At.LIST, 1],
    want: E.INVALID_STATE,
    prep: ({ a }) => a.setU64(At.LIST, At.BUF / 4096),
  },
  { why: 'reservation which = 3', fix: 'full', fid: F.MEMORY_RESERVATION, args: [3], want: E.INVALID_PARAM },
];

// Each row with both domains in one registry, and with each in its own, as on two threads of the
// daemon's pool (remote.ts): the same error, and no side effect either way.
for (const [r, split] of rows.flatMap((r) => [[r, false] as const, [r, true] as const])) {
  test(`PVX 0x${r.fid.toString(16).padStart(3, '0')} ${r.why}${split ? ' (two threads)' : ''} -> ${r.want}`, () => {
    const f = fixture(r.fix, split);
    r.prep?.(f);
    const d = r.by === 'b' ? f.b : f.a;
    const before = d.env.ram.u8.slice();
    const ret = d.call(r.fid, r.args, r.hart ?? 0);
    assert.equal(ret.error, r.want);
    if (r.want !== E.TIMEOUT) assert.equal(ret.value, 0n);
    assert.ok(
      Buffer.compare(Buffer.from(before), Buffer.from(d.env.ram.u8)) === 0,
      'a failed call changed guest memory',
    );
  });
}

test('the error table covers every PVX function', () => {
  const covered = new Set(rows.map((r) => r.fid));
  const need = Object.values(F).filter(
    (f) => ![F.GET_VERSION, F.GET_DOMID, F.SCHED_YIELD, F.SCHED_SHUTDOWN].includes(f as never),
  );
  for (const f of need) assert.ok(covered.has(f), `no bad-argument row for fid 0x${f.toString(16)}`);
});

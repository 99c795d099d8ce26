import { PvmError } from '../core/errors.js';
import { isCpuHart, loadHart, saveHart } from '../cpu/snapshot.js';
import { VirtBoard } from '../machine/board.js';
import { loadBoard, type NamedState, saveBoard } from '../machine/snapshot.js';
import { HsmState } from '../sbi/consts.js';
import type { ConsoleInput } from './domain.js';
import type { MachineState } from './snapshot/format.js';

/**
 * Save and restore of a whole Domain (the MachineState of a save file):
 *
 *   harts    one src/cpu/snapshot.ts blob per hart
 *   ram      the guest RAM (the caller keeps the domain paused while it writes it)
 *   devices  the board's devices (src/machine/snapshot.ts) and one entry
 *            `hypervisor`: ASCII JSON of the run loop's state (below)
 *   para     PvxDomain.saveState() in PV mode, empty otherwise
 *
 * The hypervisor entry, format 1: mode, per vCPU the HSM state, WFI wait,
 * PV timer deadline (mtime ticks, null = disarmed), HSM suspend, STA record
 * address and steal time; SBI console input not yet read; a guest reboot
 * requested but not yet done; where console input goes; exit and hypercall
 * counters.
 *
 * Time: the board entry carries the time base, so mtime (and with it every
 * deadline above, the PVX timers and system time) goes on from the saved
 * instant. TLBs are not saved; loading flushes them. Exit and hypercall
 * counters are kept; MMIO counts and host-time statistics start again.
 */
export const DOMAIN_STATE_FORMAT = 1;
const HV = 'hypervisor';

interface VcpuState {
  state: number;
  waiting: boolean;
  deadline: number | null;
  suspend: { retentive: boolean; addr: string; opaque: string } | null;
  staAddr: number | null;
  stealNs: number;
}

interface HvState {
  format: 1;
  mode: 'pv' | 'full';
  vcpus: VcpuState[];
  sbiInput: number[];
  rebootPending: boolean;
  inputTo: ConsoleInput;
  /** Exit and hypercall counters, so `pvm stats` goes on counting (MMIO counts and host times start again). */
  stats: { exits: Record<string, number>; hypercalls: Record<string, Record<string, number>> };
}

/** What domain-snapshot needs of a Domain (structural, so domain.ts does not import this module's types back). */
export interface SnapshotDomain {
  readonly mode: 'pv' | 'full';
  readonly machine: object & { readonly harts: readonly unknown[] };
  readonly ram: { readonly base: number; readonly size: number; readonly u8: Uint8Array };
  readonly vcpus: readonly {
    state: number;
    waiting: boolean;
    deadline: number;
    suspend: { retentive: boolean; addr: bigint; opaque: bigint } | null;
    staAddr: number | null;
    stealNs: number;
    readySinceMs: number;
  }[];
  readonly pvx: { saveState(): Uint8Array; loadState(b: Uint8Array): void } | null;
  inputTo: ConsoleInput;
  readonly stats: { readonly exits: Record<string, number> };
  readonly sbi: { readonly stats: Record<string, Record<string, number>> };
}

/** Run-loop facts private to Domain, passed in and out by its saveState/loadState. */
export interface DomainPrivate {
  sbiInput: number[];
  rebootPending: boolean;
}

const ascii = (o: unknown): Uint8Array => Uint8Array.from(JSON.stringify(o), (c) => c.charCodeAt(0));

function board(d: SnapshotDomain): VirtBoard {
  if (!(d.machine instanceof VirtBoard)) throw new PvmError('state', 'this domain has no board that can be saved');
  return d.machine;
}

/** The domain's state. Call only while the run loop is parked (every hart at an instruction boundary). */
export function saveDomain(d: SnapshotDomain, priv: DomainPrivate): MachineState {
  const b = board(d);
  const harts = d.machine.harts.map((h, i) => {
    if (!isCpuHart(h)) throw new PvmError('state', `hart ${i} cannot be saved`);
    return saveHart(h);
  });
  const hv: HvState = {
    format: 1,
    mode: d.mode,
    vcpus: d.vcpus.map((v) => ({
      state: v.state,
      waiting: v.waiting,
      deadline: Number.isFinite(v.deadline) ? v.deadline : null,
      suspend:
        v.suspend === null
          ? null
          : { retentive: v.suspend.retentive, addr: v.suspend.addr.toString(), opaque: v.suspend.opaque.toString() },
      staAddr: v.staAddr,
      stealNs: v.stealNs,
    })),
    sbiInput: [...priv.sbiInput],
    rebootPending: priv.rebootPending,
    inputTo: d.inputTo,
    stats: { exits: { ...d.stats.exits }, hypercalls: structuredCopy(d.sbi.stats) },
  };
  return {
    harts,
    ram: { base: d.ram.base, bytes: d.ram.u8 },
    devices: [...saveBoard(b), { name: HV, state: ascii(hv) }],
    para: d.pvx?.saveState() ?? new Uint8Array(0),
  };
}

const structuredCopy = (h: Record<string, Record<string, number>>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, { ...v }]));

/** Extension and function names as the dispatcher counts them (never `__proto__`: the counters are plain objects). */
const NAME = /^(?!__proto__$)[\x21-\x7e]{1,64}$/;

const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;

function parseHv(e: NamedState | undefined, d: SnapshotDomain): HvState {
  const bad = (why: string) => new PvmError('image', `hypervisor state in the snapshot: ${why}`);
  if (!e) throw bad('missing');
  let s: HvState;
  try {
    let j = '';
    for (let i = 0; i < e.state.length; i += 8192) j += String.fromCharCode(...e.state.subarray(i, i + 8192));
    s = JSON.parse(j) as HvState;
  } catch {
    throw bad('not readable');
  }
  if (s === null || typeof s !== 'object' || s.format !== DOMAIN_STATE_FORMAT) throw bad('unknown format');
  if (s.mode !== d.mode) throw bad(`saved in ${String(s.mode)} mode, this domain runs in ${d.mode} mode`);
  if (!Array.isArray(s.vcpus) || s.vcpus.length !== d.vcpus.length) throw bad('other vCPU count');
  const okNum = (x: unknown, min = 0) => typeof x === 'number' && Number.isFinite(x) && x >= min;
  const states = new Set<number>([HsmState.STARTED, HsmState.STOPPED, HsmState.SUSPENDED]);
  for (const v of s.vcpus) {
    if (v === null || typeof v !== 'object' || !states.has(v.state) || typeof v.waiting !== 'boolean') {
      throw bad('vCPU state');
    }
    if (!(v.deadline === null || okNum(v.deadline, Number.MIN_SAFE_INTEGER))) throw bad('vCPU timer deadline');
    if (!(v.staAddr === null || Number.isSafeInteger(v.staAddr)) || !okNum(v.stealNs)) throw bad('vCPU steal time');
    if (
      v.suspend !== null &&
      (typeof v.suspend !== 'object' ||
        typeof v.suspend.retentive !== 'boolean' ||
        !/^\d{1,20}$/.test(String(v.suspend.addr)) ||
        !/^\d{1,20}$/.test(String(v.suspend.opaque)))
    ) {
      throw bad('vCPU suspend');
    }
  }
  if (!Array.isArray(s.sbiInput) || s.sbiInput.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw bad('console input');
  }
  if (typeof s.rebootPending !== 'boolean' || !['uart', 'sbi', 'virtio'].includes(s.inputTo as string))
    throw bad('run loop');
  const st = s.stats;
  const known = new Set(Object.keys(d.stats.exits));
  if (
    st === null ||
    typeof st !== 'object' ||
    typeof st.exits !== 'object' ||
    st.exits === null ||
    Object.entries(st.exits).some(([k, v]) => !known.has(k) || !isCount(v)) ||
    typeof st.hypercalls !== 'object' ||
    st.hypercalls === null ||
    Object.entries(st.hypercalls).some(
      ([ext, fns]) =>
        !NAME.test(ext) ||
        typeof fns !== 'object' ||
        fns === null ||
        Object.entries(fns).some(([fn, v]) => !NAME.test(fn) || !isCount(v)),
    )
  ) {
    throw bad('statistics');
  }
  return s;
}

/**
 * Loads a saveDomain state into a freshly built domain of the same config
 * that has not run. Everything that can be checked up front (hart count and
 * blobs, RAM size, device entries, the hypervisor entry) is checked before
 * anything changes; PvmError('image') names what does not fit. The PVX blob
 * is checked by PvxDomain.loadState after RAM is in place: if it refuses, the
 * domain is half-loaded and must be dropped (the control plane does).
 */
export function loadDomain(d: SnapshotDomain, state: MachineState): DomainPrivate {
  const b = board(d);
  const bad = (why: string) => new PvmError('image', `snapshot does not fit this domain: ${why}`);
  if (state.harts.length !== d.machine.harts.length) {
    throw bad(`${state.harts.length} harts saved, the domain has ${d.machine.harts.length}`);
  }
  if (state.ram.base !== d.ram.base || state.ram.bytes.length !== d.ram.size) {
    throw bad(`${state.ram.bytes.length} bytes of RAM at 0x${state.ram.base.toString(16)} saved`);
  }
  const hv = parseHv(
    state.devices.find((e) => e.name === HV),
    d,
  );
  if (d.pvx === null && state.para.length !== 0) throw bad('para-API state saved but this domain has no PVX');
  if (d.pvx !== null && state.para.length === 0) throw bad('no para-API state saved');
  const harts = d.machine.harts;
  harts.forEach((h, i) => {
    if (!isCpuHart(h)) throw new PvmError('state', `hart ${i} cannot be restored`);
  });
  // Apply. loadHart and loadBoard validate before they write; a refusal there leaves a domain to drop.
  d.ram.u8.set(state.ram.bytes);
  harts.forEach((h, i) => {
    loadHart(h as Parameters<typeof loadHart>[0], state.harts[i]!);
  });
  loadBoard(
    b,
    state.devices.filter((e) => e.name !== HV),
  );
  hv.vcpus.forEach((s, i) => {
    const v = d.vcpus[i]!;
    v.state = s.state;
    v.waiting = s.waiting;
    v.deadline = s.deadline === null ? Number.POSITIVE_INFINITY : s.deadline;
    v.suspend =
      s.suspend === null
        ? null
        : { retentive: s.suspend.retentive, addr: BigInt(s.suspend.addr), opaque: BigInt(s.suspend.opaque) };
    v.staAddr = s.staAddr;
    v.stealNs = s.stealNs;
    v.readySinceMs = -1;
  });
  d.inputTo = hv.inputTo;
  Object.assign(d.stats.exits, hv.stats.exits);
  for (const k of Object.keys(d.sbi.stats)) delete d.sbi.stats[k];
  Object.assign(d.sbi.stats, structuredCopy(hv.stats.hypercalls));
  d.pvx?.loadState(state.para);
  return { sbiInput: hv.sbiInput, rebootPending: hv.rebootPending };
}

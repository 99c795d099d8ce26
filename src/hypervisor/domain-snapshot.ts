import { PvmError } from '../core/errors.js';
import { decodeState, encodeState, SnapshotError, type StateCodec, type StateReader } from '../core/state.js';
import { Priv } from '../cpu/arch.js';
import { applyHart, type CpuState, captureHart, cpuStateCodec, isCpuHart } from '../cpu/snapshot.js';
import { VirtBoard } from '../machine/board.js';
import { type BoardState, loadBoard, type NamedState, readBoard, saveBoard } from '../machine/snapshot.js';
import { HsmState } from '../sbi/consts.js';
import type { ConsoleInput } from './domain.js';
import { SBI_INPUT_MAX } from './limits.js';
import type { PvxDomain, PvxState } from './pvx/pvx-domain.js';
import type { MachineState } from './snapshot/format.js';
import { type RemoteCapture, RemoteHart } from './threads.js';

/**
 * Save and restore of a whole Domain (the MachineState of a save file), every
 * part written by its own state codec (src/core/state.ts):
 *
 *   harts    one cpuStateCodec blob per hart (src/cpu/snapshot.ts)
 *   ram      the guest RAM (the caller keeps the domain paused while it writes it)
 *   devices  the board's devices (src/machine/snapshot.ts) and one entry
 *            `hypervisor`: the run loop's state (runLoopStateCodec below)
 *   para     PvxDomain.saveState() in PV mode, empty otherwise
 *
 * The run loop's state: mode, per vCPU the HSM state, WFI wait, PV timer
 * deadline (mtime ticks), HSM suspend, STA record address and steal time;
 * SBI console input not yet read; a guest reboot requested but not yet done;
 * where console input goes; exit and hypercall counters.
 *
 * Time: the board entry carries the time base, so mtime (and with it every
 * deadline above, the PVX timers and system time) goes on from the saved
 * instant. TLBs are not saved; loading flushes them. Exit and hypercall
 * counters are kept; MMIO counts and host-time statistics start again.
 *
 * Loading reads and checks every part before it changes anything: a refused
 * state leaves the domain as it was built.
 *
 * Harts on threads (threads.ts) are saved as every other hart: their worker writes the same
 * hart blob, and their loop's WFI wait and HSM suspend go where the run loop's own are. So a
 * save file does not say where the harts ran: a domain saved with harts on threads restores
 * without, and the other way round (a RemoteHart hands what it loads to its worker).
 */

const HV = 'hypervisor';

export interface VcpuRunState {
  readonly state: HsmState;
  readonly waiting: boolean;
  /** mtime ticks, Infinity = disarmed. */
  readonly deadline: number;
  readonly suspend: { readonly retentive: boolean; readonly addr: bigint; readonly opaque: bigint } | null;
  readonly staAddr: number | null;
  readonly stealNs: number;
}

/** Counters by name, in the order they were saved. */
export type Counts = readonly (readonly [name: string, count: number])[];

export interface RunLoopState {
  readonly mode: 'pv' | 'full';
  readonly vcpus: readonly VcpuRunState[];
  readonly sbiInput: Uint8Array;
  readonly rebootPending: boolean;
  readonly inputTo: ConsoleInput;
  /** Exit counts by reason, so `pvm stats` goes on counting. */
  readonly exits: Counts;
  /** Hypercall counts by extension, then function. */
  readonly hypercalls: readonly (readonly [ext: string, fns: Counts])[];
}

const MODES = ['pv', 'full'] as const;
const INPUTS = ['uart', 'sbi', 'virtio'] as const satisfies readonly ConsoleInput[];
const HSM_STATES = [HsmState.STARTED, HsmState.STOPPED, HsmState.SUSPENDED];
/**
 * Counter lists are short: exit reasons, and hypercalls by extension and function, which the
 * dispatcher bounds (unknown calls aggregate under one name; src/sbi/dispatcher.ts).
 */
const MAX_COUNTERS = 1024;
/** Extension and function names as the dispatcher counts them (never `__proto__`: the counters are plain objects). */
const NAME = /^(?!__proto__$)[\x21-\x7e]{1,64}$/;

function readName(r: StateReader, field: string): string {
  const s = r.string(field, 64);
  if (!NAME.test(s)) r.fail(`${field} ${JSON.stringify(s)} is not a counter name`);
  return s;
}

function writeCounts(w: Parameters<StateCodec<unknown>['write']>[0], c: Counts): void {
  w.list(c, (w, [k, n]) => w.string(k).uint(n));
}

function readCounts(r: StateReader, field: string, known?: ReadonlySet<string>): Counts {
  const seen = new Set<string>();
  return r.list(field, MAX_COUNTERS, 13, (r) => {
    const name = readName(r, `${field} name`);
    if (known !== undefined && !known.has(name)) r.fail(`${field}: unknown counter ${name}`);
    if (seen.has(name)) r.fail(`${field}: ${name} appears twice`);
    seen.add(name);
    return [name, r.uint(`${field} ${name}`)] as const;
  });
}

/** An enum saved as its index in `values`. */
const index = <T>(values: readonly T[], v: T): number => values.indexOf(v);

export const runLoopStateCodec: StateCodec<
  RunLoopState,
  { mode: 'pv' | 'full'; vcpus: number; exitNames: ReadonlySet<string> }
> = {
  write(w, s) {
    w.u8(index(MODES, s.mode));
    w.list(s.vcpus, (w, v) => {
      w.u8(v.state).bool(v.waiting).ticks(v.deadline);
      w.opt(v.suspend, (w, x) => w.bool(x.retentive).u64(x.addr).u64(x.opaque));
      w.opt(v.staAddr, (w, a) => w.uint(a)).uint(v.stealNs);
    });
    w.bytes(s.sbiInput).bool(s.rebootPending).u8(index(INPUTS, s.inputTo));
    writeCounts(w, s.exits);
    w.list(s.hypercalls, (w, [ext, fns]) => {
      w.string(ext);
      writeCounts(w, fns);
    });
  },
  read(r, shape) {
    const mode = MODES[r.u8('mode', MODES.length - 1)]!;
    if (mode !== shape.mode) r.mismatch(`saved in ${mode} mode, this domain runs in ${shape.mode} mode`);
    const vcpus = r.list('vCPUs', shape.vcpus, 20, (r) => ({
      state: r.oneOf('HSM state', HSM_STATES),
      waiting: r.bool('waiting'),
      deadline: r.ticks('timer deadline'),
      suspend: r.opt('suspend', (r) => ({
        retentive: r.bool('suspend retentive'),
        addr: r.u64('resume address'),
        opaque: r.u64('resume opaque'),
      })),
      staAddr: r.opt('steal-time record', (r) => r.uint('steal-time record address')),
      stealNs: r.uint('steal time'),
    }));
    if (vcpus.length !== shape.vcpus) r.mismatch(`${vcpus.length} vCPUs saved, the domain has ${shape.vcpus}`);
    const sbiInput = r.bytes('console input', SBI_INPUT_MAX).slice();
    const rebootPending = r.bool('reboot pending');
    const inputTo = INPUTS[r.u8('input to', INPUTS.length - 1)]!;
    const exits = readCounts(r, 'exits', shape.exitNames);
    const extSeen = new Set<string>();
    const hypercalls = r.list('hypercalls', MAX_COUNTERS, 9, (r) => {
      const ext = readName(r, 'extension');
      if (extSeen.has(ext)) r.fail(`hypercalls: ${ext} appears twice`);
      extSeen.add(ext);
      return [ext, readCounts(r, `hypercalls ${ext}`)] as const;
    });
    return { mode, vcpus, sbiInput, rebootPending, inputTo, exits, hypercalls };
  },
};

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
  readonly pvx: Pick<PvxDomain, 'saveState' | 'readState' | 'loadState'> | null;
  inputTo: ConsoleInput;
  readonly stats: { readonly exits: Record<string, number> };
  readonly sbi: { readonly stats: Record<string, Record<string, number>> };
}

/** Run-loop facts private to Domain, passed in and out by its saveState/loadState. */
export interface DomainPrivate {
  sbiInput: Uint8Array;
  rebootPending: boolean;
}

function board(d: SnapshotDomain): VirtBoard {
  if (!(d.machine instanceof VirtBoard)) throw new PvmError('state', 'this domain has no board that can be saved');
  return d.machine;
}

/**
 * The domain's state. Call only while the run loop is parked (every hart at an instruction
 * boundary) and the harts on threads are held; `remote` is what they captured, by hart id.
 */
export function saveDomain(
  d: SnapshotDomain,
  priv: DomainPrivate,
  remote: readonly (RemoteCapture | null)[] = [],
): MachineState {
  const b = board(d);
  const harts = d.machine.harts.map((h, i) => {
    const r = remote[i];
    if (h instanceof RemoteHart && r) return r.cpu;
    if (!isCpuHart(h)) throw new PvmError('state', `hart ${i} cannot be saved`);
    return encodeState(cpuStateCodec, captureHart(h));
  });
  const hv: RunLoopState = {
    mode: d.mode,
    vcpus: d.vcpus.map((v, i) => {
      const h = d.machine.harts[i];
      const r = remote[i];
      if (h instanceof RemoteHart && r) {
        // the worker's own loop state; its HSM state as it last set it (a suspend ends there)
        const s = r.run.suspend;
        return {
          state: h.hsm(),
          waiting: r.run.waiting,
          deadline: v.deadline,
          suspend: s === null ? null : { retentive: s.retentive, addr: s.pc, opaque: s.opaque },
          staAddr: v.staAddr,
          stealNs: v.stealNs,
        };
      }
      return {
        state: v.state as HsmState,
        waiting: v.waiting,
        deadline: v.deadline,
        suspend: v.suspend === null ? null : { ...v.suspend },
        staAddr: v.staAddr,
        stealNs: v.stealNs,
      };
    }),
    sbiInput: priv.sbiInput,
    rebootPending: priv.rebootPending,
    inputTo: d.inputTo,
    exits: Object.entries(d.stats.exits),
    hypercalls: Object.entries(d.sbi.stats).map(([ext, fns]) => [ext, Object.entries(fns)] as const),
  };
  return {
    harts,
    ram: { base: d.ram.base, bytes: d.ram.u8 },
    devices: [...saveBoard(b), { name: HV, state: encodeState(runLoopStateCodec, hv) }],
    para: d.pvx?.saveState() ?? new Uint8Array(0),
  };
}

/** Everything a MachineState holds, read and checked against one domain. */
interface DomainState {
  readonly harts: readonly CpuState[];
  readonly board: BoardState;
  readonly runLoop: RunLoopState;
  readonly pvx: PvxState | null;
}

/** Reads every part of `state` for `d`; throws SnapshotError naming what does not fit, and changes nothing. */
function readDomain(d: SnapshotDomain, state: MachineState): DomainState {
  const b = board(d);
  const mismatch = (why: string) => new SnapshotError('mismatch', `snapshot does not fit this domain: ${why}`);
  const harts = d.machine.harts;
  if (state.harts.length !== harts.length) {
    throw mismatch(`${state.harts.length} harts saved, the domain has ${harts.length}`);
  }
  if (state.ram.base !== d.ram.base || state.ram.bytes.length !== d.ram.size) {
    throw mismatch(`${state.ram.bytes.length} bytes of RAM at 0x${state.ram.base.toString(16)} saved`);
  }
  harts.forEach((h, i) => {
    if (!isCpuHart(h) && !(h instanceof RemoteHart)) throw new PvmError('state', `hart ${i} cannot be restored`);
  });
  const cpus = state.harts.map((blob, id) =>
    decodeState(cpuStateCodec, blob, { id }, `hart ${id} state in the snapshot`),
  );

  const hvEntry = state.devices.find((e: NamedState) => e.name === HV);
  if (!hvEntry) throw new SnapshotError('mismatch', 'hypervisor state in the snapshot: missing');
  const runLoop = decodeState(
    runLoopStateCodec,
    hvEntry.state,
    { mode: d.mode, vcpus: d.vcpus.length, exitNames: new Set(Object.keys(d.stats.exits)) },
    'hypervisor state in the snapshot',
  );
  // A running PV hart never stops in M-mode: pvm is its (virtual) M-mode and runs between
  // instructions (a stopped one is reset by hart_start, whatever it holds).
  cpus.forEach((c, id) => {
    if (d.mode === 'pv' && c.priv === Priv.M && runLoop.vcpus[id]!.state !== HsmState.STOPPED) {
      throw new SnapshotError('bad-state', `hart ${id} state in the snapshot: a PV hart saved in M-mode`);
    }
  });
  const boardState = readBoard(
    b,
    state.devices.filter((e) => e.name !== HV),
  );
  if (d.pvx === null && state.para.length !== 0) throw mismatch('para-API state saved but this domain has no PVX');
  if (d.pvx !== null && state.para.length === 0) throw mismatch('no para-API state saved');
  const pvx = d.pvx === null ? null : d.pvx.readState(state.para);
  return { harts: cpus, board: boardState, runLoop, pvx };
}

/**
 * Loads a saveDomain state into a freshly built domain of the same config
 * that has not run. Every part is read and checked first; SnapshotError
 * names what does not fit, and then nothing has changed.
 */
export function loadDomain(d: SnapshotDomain, state: MachineState): DomainPrivate {
  const s = readDomain(d, state);
  // A live migration's destination received the pages straight into the domain's RAM.
  if (state.ram.bytes !== d.ram.u8) d.ram.u8.set(state.ram.bytes);
  d.machine.harts.forEach((h, i) => {
    if (h instanceof RemoteHart) {
      // its worker starts from this state when the domain first runs
      const v = s.runLoop.vcpus[i]!;
      const x = v.suspend;
      h.restore(
        {
          cpu: s.harts[i]!,
          run: {
            started: v.state !== HsmState.STOPPED,
            waiting: v.waiting,
            suspend: x === null ? null : { retentive: x.retentive, pc: x.addr, opaque: x.opaque },
          },
        },
        v.state,
      );
    } else applyHart(h as Parameters<typeof applyHart>[0], s.harts[i]!);
  });
  loadBoard(board(d), s.board);
  s.runLoop.vcpus.forEach((x, i) => {
    const v = d.vcpus[i]!;
    v.state = x.state;
    v.waiting = x.waiting;
    v.deadline = x.deadline;
    v.suspend = x.suspend === null ? null : { ...x.suspend };
    v.staAddr = x.staAddr;
    v.stealNs = x.stealNs;
    v.readySinceMs = -1;
  });
  d.inputTo = s.runLoop.inputTo;
  for (const [k, n] of s.runLoop.exits) d.stats.exits[k] = n;
  for (const k of Object.keys(d.sbi.stats)) delete d.sbi.stats[k];
  for (const [ext, fns] of s.runLoop.hypercalls) d.sbi.stats[ext] = Object.fromEntries(fns);
  if (s.pvx !== null) d.pvx!.loadState(s.pvx);
  return { sbiInput: s.runLoop.sbiInput, rebootPending: s.runLoop.rebootPending };
}

import { emptyJitStats, type JitStats } from '../cpu/jit/jit.js';
import type { SbiCallStats } from '../sbi/dispatcher.js';
import type { ThreadHartStats } from './threads.js';

/** Why the run loop took control back from a vCPU. */
export type ExitReason =
  | 'hypercall' // ecall from S-mode answered by pvm (PV mode)
  | 'wfi' // WFI with nothing pending
  | 'trap-redirect' // exception not delegated to S-mode, reflected into it (PV mode)
  | 'm-interrupt' // an M-level interrupt in PV mode (ignored)
  | 'slice' // time slice used up
  | 'stop'; // stop requested (poweroff, reset, host)

/** Per-domain statistics, printed by `pvm run --stats` and written as JSON by `--stats-json`. */
export interface DomainStatsJson {
  /** 'bare': `pvm run --bare` (a bare-metal ELF on the board, no hypervisor: no hypercalls, no firmware). */
  mode: 'pv' | 'full' | 'bare';
  harts: number;
  instructions: number;
  instructionsPerHart: number[];
  exits: Record<ExitReason, number>;
  exitsTotal: number;
  hypercalls: SbiCallStats;
  hypercallsTotal: number;
  mmio: Record<string, number>;
  mmioTotal: number;
  /** Driver writes the virtio transports refused, per transport and rule (src/devices/virtio/mmio.ts VIRTIO_RULES); transports with none are left out. */
  virtioRefused: Record<string, Record<string, number>>;
  /** Full mode: traps into the guest's M-mode firmware and instructions it executed (0 in PV and bare mode). */
  firmware: { traps: number; instructions: number };
  /** Host time: wall clock split into guest (inside Hart.run), hypervisor and idle; CPU time of the process. */
  time: { wallMs: number; guestMs: number; hypervisorMs: number; idleMs: number; cpuMs: number };
  mips: number;
  /**
   * The translation tier (docs/cpu.md), summed over the harts; absent when it is off: instructions
   * retired in translated code and their share of all, time translating and compiling, blocks and
   * modules made, blocks cached now, pages invalidated by stores, full flushes (FENCE.I, reset).
   */
  jit?: JitStats & { share: number };
  /** Harts on threads (docs/scheduler.md): what each is doing, as its worker last published it. */
  threads?: ThreadHartStats[];
}

/** The translation statistics of `harts` added up, or undefined when none of them translates. */
export function jitStatsOf(
  harts: readonly { readonly jit?: { readonly stats: JitStats } | null }[],
): JitStats | undefined {
  let sum: JitStats | undefined;
  for (const h of harts) {
    const s = h.jit?.stats;
    if (s === undefined) continue;
    sum ??= emptyJitStats();
    for (const k of Object.keys(sum) as (keyof JitStats)[]) {
      if (k === 'ends') for (const [e, n] of Object.entries(s.ends)) sum.ends[e] = (sum.ends[e] ?? 0) + n;
      else sum[k] += s[k];
    }
  }
  return sum;
}

export class DomainStats {
  readonly exits: Record<ExitReason, number> = {
    hypercall: 0,
    wfi: 0,
    'trap-redirect': 0,
    'm-interrupt': 0,
    slice: 0,
    stop: 0,
  };
  /** MMIO accesses per device (loads and stores). */
  readonly mmio: Record<string, number> = Object.create(null);
  /** Refusals per virtio transport and rule (filled by whoever owns the transports). */
  virtioRefused: Record<string, Record<string, number>> = Object.create(null);
  guestMs = 0;
  idleMs = 0;
  startMs = 0;
  endMs = 0;
  /** Host CPU time of the process at start and end (0 when the host cannot tell). */
  startCpuMs = 0;
  endCpuMs = 0;

  toJSON(
    mode: DomainStatsJson['mode'],
    instret: number[],
    hypercalls: SbiCallStats,
    nowMs: number = this.endMs,
    firmware: { traps: number; instructions: number } = { traps: 0, instructions: 0 },
    jit?: JitStats,
  ): DomainStatsJson {
    const wallMs = Math.max(0, nowMs - this.startMs);
    const instructions = instret.reduce((a, b) => a + b, 0);
    const exitsTotal = Object.entries(this.exits).reduce((a, [k, v]) => (k === 'slice' ? a : a + v), 0);
    const hypercallsTotal = Object.values(hypercalls).reduce(
      (a, fns) => a + Object.values(fns).reduce((x, y) => x + y, 0),
      0,
    );
    const mmioTotal = Object.values(this.mmio).reduce((a, b) => a + b, 0);
    const r = (x: number) => Math.round(x * 10) / 10;
    return {
      mode,
      harts: instret.length,
      instructions,
      instructionsPerHart: instret,
      exits: { ...this.exits },
      exitsTotal: exitsTotal + mmioTotal,
      hypercalls,
      hypercallsTotal,
      mmio: { ...this.mmio },
      mmioTotal,
      virtioRefused: Object.fromEntries(Object.entries(this.virtioRefused).map(([k, v]) => [k, { ...v }])),
      firmware,
      time: {
        wallMs: r(wallMs),
        guestMs: r(this.guestMs),
        hypervisorMs: r(Math.max(0, wallMs - this.guestMs - this.idleMs)),
        idleMs: r(this.idleMs),
        cpuMs: r(Math.max(0, this.endCpuMs - this.startCpuMs)),
      },
      mips: this.guestMs > 0 ? r(instructions / this.guestMs / 1000) : 0,
      ...(jit !== undefined
        ? {
            jit: {
              ...jit,
              translateMs: r(jit.translateMs),
              asyncWaitMs: r(jit.asyncWaitMs),
              share: instructions > 0 ? Math.round((jit.instructions / instructions) * 1000) / 1000 : 0,
            },
          }
        : {}),
    };
  }
}

/** Human-readable statistics (one item per line), for `pvm run --stats`. */
export function formatStats(s: DomainStatsJson): string {
  const lines: string[] = [];
  lines.push(`domain: mode ${s.mode}, ${s.harts} hart(s)`);
  lines.push(
    `instructions retired: ${s.instructions} (${s.instructionsPerHart.join(' + ')}), ${s.mips} MIPS while in guest`,
  );
  lines.push(
    `time: wall ${s.time.wallMs} ms, guest ${s.time.guestMs} ms, hypervisor ${s.time.hypervisorMs} ms, idle ${s.time.idleMs} ms; host CPU ${s.time.cpuMs} ms`,
  );
  const ex = Object.entries(s.exits)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  lines.push(`exits: ${s.exitsTotal} total (mmio ${s.mmioTotal}${ex.length ? `, ${ex.join(', ')}` : ''})`);
  if (s.firmware.traps > 0) {
    lines.push(`firmware (M-mode): ${s.firmware.traps} traps, ${s.firmware.instructions} instructions`);
  }
  const mm = Object.entries(s.mmio).map(([k, n]) => `${k} ${n}`);
  if (mm.length) lines.push(`mmio by device: ${mm.join(', ')}`);
  const refused = Object.entries(s.virtioRefused).map(
    ([dev, rules]) =>
      `${dev} (${Object.entries(rules)
        .map(([rule, n]) => `${rule} ${n}`)
        .join(', ')})`,
  );
  if (refused.length) lines.push(`virtio refusals: ${refused.join(', ')}`);
  if (s.jit !== undefined) {
    const j = s.jit;
    lines.push(
      `translated: ${j.instructions} instructions (${Math.round(j.share * 1000) / 10} %), ${j.blocks} blocks in ${j.modules} modules, ${j.translateMs} ms translating; ${j.cached} cached, ${j.evictions} evicted; invalidated ${j.pageInvalidations} pages, ${j.flushes} flushes`,
      ...(j.asyncModules > 0
        ? [
            `  compiled off the thread: ${j.asyncModules} modules (${j.lateModules} compiled on it after all, a block having waited too long), ${j.staleBlocks} blocks stale at install; waited ${Math.round(j.asyncWaitMs)} ms, ${j.asyncWaitInstructions} instructions in all`,
          ]
        : []),
      `  blocks end at: ${Object.entries(j.ends)
        .sort((a, b) => b[1] - a[1])
        .map(([e, n]) => `${e} ${n}`)
        .join(', ')}`,
    );
  }
  for (const t of s.threads ?? []) {
    const what = t.request !== undefined ? `${t.state} (${t.request})` : t.state;
    lines.push(`hart ${t.hart} on its thread: ${what}, pc ${t.pc}, ${t.instret} instructions`);
  }
  lines.push(`hypercalls: ${s.hypercallsTotal}`);
  for (const [ext, fns] of Object.entries(s.hypercalls)) {
    lines.push(
      `  ${ext}: ${Object.entries(fns)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

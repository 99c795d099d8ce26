/**
 * Linux boot benchmark: the same kernel and initramfs booted, one after the
 * other in one run, by pvm in PV mode (pvm answers SBI), by pvm in full mode
 * (Debian's OpenSBI in emulated M-mode) and by qemu-system-riscv64 -machine
 * virt (TCG, same firmware). For each: milliseconds from process start to
 * `pvm-guest: init ready` and to exit after the guest's poweroff (and the CPU
 * time of each VM process), plus pvm's
 * domain statistics (instructions, exits by reason, MMIO by device,
 * hypercalls, firmware traps). A fourth run, `pvHvc`, boots PV mode with the
 * paravirtual console (console=hvc0: SBI calls instead of UART registers): the
 * paravirtual configuration, compared with full mode and QEMU in `ratios` too
 * (pvHvcOverQemu_*, fullOverPvHvc_*; docs/cpu.md says why).
 * With --sstc, PV mode boots twice more through the library (bench/boot-vm.ts), with
 * Sstc and without it: the kernel programs its timer through stimecmp (no exit) or
 * through SBI set_timer (an exit each), the hardware assist against the PV timer.
 * Prints JSON (and writes it to --out FILE).
 *
 * With --no-jit the pvm runs use the interpreter alone (docs/cpu.md, the translation tier).
 *
 *   node dist/bench/linux-boot.js [--smp N] [--memory 256M] [--runs N] [--out FILE] [--skip-qemu] [--sstc] [--no-jit]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const smp = Number(opt('--smp', '1'));
const memory = opt('--memory', '256M');
const runs = Number(opt('--runs', '1'));
const out = opt('--out', '');
const noJit = args.includes('--no-jit');
const guest = opt('--guest', join(root, '../shared/guests/linux'));
const kernel = join(guest, 'Image');
const initrd = join(guest, 'initramfs.cpio.gz');
const firmware = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
/** init prints "init ready", runs `true`, powers off: boot and shutdown, nothing else. */
const append = 'console=ttyS0 pvm.run=true';

for (const f of [kernel, initrd, firmware]) {
  if (!existsSync(f)) throw new Error(`missing ${f}`);
}

interface Timing {
  initReadyMs: number | null;
  exitMs: number;
  /** User + system CPU time of the VM process (the machine is shared: wall time is noisy, CPU time less so). */
  cpuMs: number;
  status: number | null;
  ok: boolean;
}

/** bash's `times` prints the children's user and system time on its second line ("0m3.771s 0m0.120s"). */
function parseTimes(stderr: string): number {
  const lines = stderr.trim().split('\n');
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(lines[lines.length - 1] ?? '');
  if (m === null) return Number.NaN;
  return Math.round((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000);
}

/** Spawn a VM process (through bash, for its CPU time), timing `init ready` on its console and its exit. */
function timeBoot(cmd: string, argv: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('bash', ['-c', '"$@"; s=$?; times >&2; exit $s', 'timed', cmd, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    let err = '';
    let ready: number | null = null;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (s: string) => {
      text += s;
      if (ready === null && text.includes('pvm-guest: init ready')) ready = performance.now() - t0;
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => {
      err += s;
    });
    p.on('error', reject);
    p.on('close', (status) =>
      resolve({
        initReadyMs: ready === null ? null : Math.round(ready),
        exitMs: Math.round(performance.now() - t0),
        cpuMs: parseTimes(err),
        status,
        ok: ready !== null && /pvm-guest: exit 0/.test(text),
      }),
    );
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'pvm-bench-'));

/** PV mode with the paravirtual console (SBI, hvc0) instead of the emulated UART. */
const appendHvc = append.replace('console=ttyS0', 'console=hvc0');

/** The guest and its statistics file, as `pvm run` and bench/boot-vm.ts take them. */
const guestArgs = (cmdline: string, stats: string) => [
  '--smp',
  String(smp),
  '--memory',
  memory,
  '--kernel',
  kernel,
  '--initrd',
  initrd,
  '--append',
  cmdline,
  '--stats-json',
  stats,
];

async function pvmBoot(variant: 'pv' | 'full' | 'pvHvc', run: number) {
  const mode = variant === 'full' ? 'full' : 'pv';
  const stats = join(tmp, `${variant}-${run}.json`);
  const t = await timeBoot(process.execPath, [
    join(root, 'bin/pvm.js'),
    'run',
    '--mode',
    mode,
    ...(noJit ? ['--no-jit'] : []),
    ...guestArgs(variant === 'pvHvc' ? appendHvc : append, stats),
  ]);
  return { ...t, stats: t.status === 0 ? JSON.parse(readFileSync(stats, 'utf8')) : null };
}

/** PV mode through the library with Sstc on or off (VmConfig.sstc). */
async function sstcBoot(sstc: 'on' | 'off', run: number) {
  const stats = join(tmp, `pv-sstc-${sstc}-${run}.json`);
  const t = await timeBoot(process.execPath, [
    join(root, 'dist/bench/boot-vm.js'),
    '--mode',
    'pv',
    '--sstc',
    sstc,
    ...guestArgs(append, stats),
  ]);
  return { ...t, stats: t.status === 0 ? JSON.parse(readFileSync(stats, 'utf8')) : null };
}

function qemuBoot() {
  return timeBoot('qemu-system-riscv64', [
    '-machine',
    'virt',
    '-nographic',
    '-m',
    memory,
    '-smp',
    String(smp),
    '-bios',
    firmware,
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    append,
  ]);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!;
};

const results: Record<string, { runs: Timing[]; stats?: unknown }> = {
  pv: { runs: [] },
  full: { runs: [] },
  pvHvc: { runs: [] },
  qemu: { runs: [] },
  pvSstc: { runs: [] },
  pvNoSstc: { runs: [] },
};
const compareSstc = args.includes('--sstc');
for (let r = 0; r < runs; r++) {
  // the order turns each run, so a change in the machine's load does not always hit the same mode
  const order = (['pv', 'full', 'pvHvc'] as const).map((_, i, a) => a[(i + r) % a.length]!);
  for (const mode of order) {
    const b = await pvmBoot(mode, r);
    results[mode]!.runs.push({
      initReadyMs: b.initReadyMs,
      exitMs: b.exitMs,
      cpuMs: b.cpuMs,
      status: b.status,
      ok: b.ok,
    });
    results[mode]!.stats = b.stats;
    process.stderr.write(`${mode} run ${r}: init ready ${b.initReadyMs} ms, exit ${b.exitMs} ms, CPU ${b.cpuMs} ms\n`);
  }
  if (compareSstc) {
    // alternate which goes first, so a change in the machine's load hits both alike
    for (const s of r % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const b = await sstcBoot(s, r);
      const k = s === 'on' ? 'pvSstc' : 'pvNoSstc';
      results[k]!.runs.push({
        initReadyMs: b.initReadyMs,
        exitMs: b.exitMs,
        cpuMs: b.cpuMs,
        status: b.status,
        ok: b.ok,
      });
      results[k]!.stats = b.stats;
      process.stderr.write(`${k} run ${r}: init ready ${b.initReadyMs} ms, exit ${b.exitMs} ms, CPU ${b.cpuMs} ms\n`);
    }
  }
  if (!args.includes('--skip-qemu')) {
    const q = await qemuBoot();
    results['qemu']!.runs.push(q);
    process.stderr.write(`qemu run ${r}: init ready ${q.initReadyMs} ms, exit ${q.exitMs} ms, CPU ${q.cpuMs} ms\n`);
  }
}

const summary = (k: string) => {
  const rs = results[k]!.runs;
  return {
    initReadyMs: median(rs.map((x) => x.initReadyMs ?? Number.NaN)),
    poweroffMs: median(rs.map((x) => x.exitMs)),
    cpuMs: median(rs.map((x) => x.cpuMs)),
    allOk: rs.length > 0 && rs.every((x) => x.ok),
  };
};
type Stats = {
  instructions: number;
  exitsTotal: number;
  exits: Record<string, number>;
  hypercallsTotal: number;
  hypercalls: Record<string, Record<string, number>>;
  mmioTotal: number;
  mmio: Record<string, number>;
  firmware: { traps: number; instructions: number };
  time: Record<string, number>;
  mips: number;
  jit?: unknown;
} | null;
const pick = (s: Stats) =>
  s === null
    ? null
    : {
        instructions: s.instructions,
        mips: s.mips,
        exitsTotal: s.exitsTotal,
        exits: s.exits,
        mmioTotal: s.mmioTotal,
        mmio: s.mmio,
        firmware: s.firmware,
        hypercallsTotal: s.hypercallsTotal,
        hypercalls: s.hypercalls,
        time: s.time,
        jit: s.jit,
      };
const pv = summary('pv');
const full = summary('full');
const pvHvc = summary('pvHvc');
const qemu = summary('qemu');
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
const report = {
  bench: 'linux-boot',
  kernel,
  initrd,
  append,
  smp,
  memory,
  runs,
  pv: { ...pv, stats: pick(results['pv']!.stats as Stats) },
  full: { ...full, stats: pick(results['full']!.stats as Stats) },
  pvHvc: { append: appendHvc, ...pvHvc, stats: pick(results['pvHvc']!.stats as Stats) },
  qemu,
  ...(compareSstc
    ? {
        pvSstc: { ...summary('pvSstc'), stats: pick(results['pvSstc']!.stats as Stats) },
        pvNoSstc: { ...summary('pvNoSstc'), stats: pick(results['pvNoSstc']!.stats as Stats) },
      }
    : {}),
  ratios: {
    fullOverPv_initReady: ratio(full.initReadyMs, pv.initReadyMs),
    fullOverPv_poweroff: ratio(full.poweroffMs, pv.poweroffMs),
    fullOverPv_cpu: ratio(full.cpuMs, pv.cpuMs),
    fullOverPvHvc_initReady: ratio(full.initReadyMs, pvHvc.initReadyMs),
    fullOverPvHvc_cpu: ratio(full.cpuMs, pvHvc.cpuMs),
    fullOverPvHvc_exits: ratio(
      (results['full']!.stats as Stats)?.exitsTotal ?? Number.NaN,
      (results['pvHvc']!.stats as Stats)?.exitsTotal ?? Number.NaN,
    ),
    pvOverQemu_cpu: ratio(pv.cpuMs, qemu.cpuMs),
    pvOverQemu_initReady: ratio(pv.initReadyMs, qemu.initReadyMs),
    // the paravirtual configuration (console on hvc0): docs/cpu.md says why it is PV mode's row
    pvHvcOverQemu_initReady: ratio(pvHvc.initReadyMs, qemu.initReadyMs),
    pvHvcOverQemu_cpu: ratio(pvHvc.cpuMs, qemu.cpuMs),
    fullOverQemu_initReady: ratio(full.initReadyMs, qemu.initReadyMs),
    fullOverPv_instructions: ratio(
      (results['full']!.stats as Stats)?.instructions ?? Number.NaN,
      (results['pv']!.stats as Stats)?.instructions ?? Number.NaN,
    ),
    fullOverPv_exits: ratio(
      (results['full']!.stats as Stats)?.exitsTotal ?? Number.NaN,
      (results['pv']!.stats as Stats)?.exitsTotal ?? Number.NaN,
    ),
  },
};
const json = JSON.stringify(report, null, 2);
if (out) writeFileSync(out, `${json}\n`);
process.stdout.write(`${json}\n`);

import { writeFileSync } from 'node:fs';
import { defaultMac, parseDiskSpec, parseNetSpec } from '../../api/config.js';
import { PvmError } from '../../core/errors.js';
import type { VirtioRefusal } from '../../devices/virtio/mmio.js';
import { createVmWithDevices, type DeviceSpec, SwitchRegistry } from '../../host/devices.js';
import { NodeDomainHost } from '../../host/domain-host.js';
import type { DomainEnd, DomainMode } from '../../hypervisor/domain.js';
import { type DomainStatsJson, formatStats } from '../../hypervisor/stats.js';
import { type CliContext, endStatus } from '../context.js';
import { readImage } from '../host.js';

/** Debian's OpenSBI build (package `opensbi`), the default firmware of full mode. */
export const DEFAULT_FIRMWARE = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
/** Kernel command line when --append is not given: the UART is the console. */
export const DEFAULT_APPEND = 'console=ttyS0';

export interface VmRunFlags {
  kernel: string;
  initrd?: string;
  append?: string;
  memory: number;
  smp?: number;
  mode?: string;
  firmware?: string;
  stats?: boolean;
  statsJson?: string;
  /** Guest time follows instructions retired (VmConfig.time 'instret'); the RTC starts at 1970. */
  deterministic?: boolean;
  /** --disk path[,ro][,cache=writeback|writethrough|unsafe], in order (vda, vdb, ...). */
  disk?: string[];
  /** --net switch[,mac=XX:XX:XX:XX:XX:XX], in order (eth0, eth1, ...). */
  net?: string[];
  /** virtio-rng (/dev/hwrng from the host's RNG). */
  rng?: boolean;
  /** virtio-balloon. */
  balloon?: boolean;
}

/**
 * The virtio devices the flags name, or null when none (then the domain gets no virtio
 * devices at all, as before these flags). With any of them the domain also gets the
 * virtio console in slot 0 (hvc1 in PV mode, where hvc0 is the SBI console).
 */
export function deviceSpecFromFlags(flags: VmRunFlags): DeviceSpec | null {
  const disks = (flags.disk ?? []).map((d) => {
    const r = parseDiskSpec(d);
    if (typeof r === 'string') throw new PvmError('usage', `--disk: ${r}`);
    return r;
  });
  const nets = (flags.net ?? []).map((n, i) => {
    const r = parseNetSpec(n);
    if (typeof r === 'string') throw new PvmError('usage', `--net: ${r}`);
    return { switch: r.switch, mac: r.mac ?? defaultMac(0, i) };
  });
  const rng = flags.rng === true;
  const balloon = flags.balloon === true;
  if (disks.length === 0 && nets.length === 0 && !rng && !balloon) return null;
  const count = 1 + disks.length + nets.length + (rng ? 1 : 0) + (balloon ? 1 : 0);
  if (count > 8) throw new PvmError('usage', `at most 8 virtio devices (console included), got ${count}`);
  return { name: 'vm0', disks, nets, rng, balloon };
}

/** Ctrl-A, the console escape (as QEMU's -nographic): Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A. */
const ESCAPE = 0x01;

/**
 * Boots a Linux kernel (or another S-mode image) in a domain with the
 * console on this terminal: raw mode when stdin is a TTY, keyboard bytes to
 * the guest's console, Ctrl-A x to quit. Returns the process exit status: 0
 * when the guest powers off, the guest's code when it reports failure.
 */
export async function runVmCommand(flags: VmRunFlags, ctx: CliContext): Promise<number> {
  const mode = (flags.mode ?? 'pv') as DomainMode;
  if (mode !== 'pv' && mode !== 'full') throw new PvmError('usage', `--mode must be pv or full, got '${flags.mode}'`);
  if (flags.firmware !== undefined && mode !== 'full') throw new PvmError('usage', '--firmware needs --mode full');
  const kernel = readImage(flags.kernel, 'kernel');
  const initrd = flags.initrd !== undefined ? readImage(flags.initrd, 'initrd') : undefined;
  const firmware = mode === 'full' ? readImage(flags.firmware ?? DEFAULT_FIRMWARE, 'firmware') : undefined;

  const host = new NodeDomainHost((b) => ctx.io.stdout(b));
  const spec = deviceSpecFromFlags(flags);
  const vm = await createVmWithDevices(
    {
      mode,
      harts: flags.smp ?? 1,
      memory: flags.memory,
      kernel,
      ...(initrd ? { initrd } : {}),
      ...(firmware ? { firmware } : {}),
      cmdline: flags.append ?? DEFAULT_APPEND,
      ...(flags.deterministic ? { time: 'instret' as const } : { wallClockNs: () => BigInt(Date.now()) * 1_000_000n }),
      // --stats also reports, as they happen, what the virtio transports refuse (once per device and rule).
      ...(flags.stats ? { onVirtioRefusal: (r: VirtioRefusal) => ctx.io.stderr(`pvm: ${r.message}`) } : {}),
    },
    spec ?? { name: 'vm0', disks: [], nets: [], rng: false, balloon: false },
    host,
    { switches: new SwitchRegistry(), withConsole: spec !== null },
  );
  const domain = vm.domain;

  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  let escaped = false;
  const onData = (chunk: Buffer) => {
    const out: number[] = [];
    for (const b of chunk) {
      if (raw && escaped) {
        escaped = false;
        if (b === 0x78 || b === 0x58) {
          ctx.io.stderr('\r\npvm: terminated (Ctrl-A x)');
          domain.stop(0);
          host.wake();
          return;
        }
        if (b === ESCAPE) out.push(b);
        continue;
      }
      if (raw && b === ESCAPE) escaped = true;
      else out.push(b);
    }
    if (out.length) {
      domain.input(Uint8Array.from(out));
      host.wake();
    }
  };
  const onSignal = () => {
    domain.stop(130);
    host.wake();
  };
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.on('error', () => {});
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let end: DomainEnd;
  try {
    end = await domain.run();
  } finally {
    host.flush();
    stdin.off('data', onData);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await vm.close();
  }

  writeStats(domain.statistics(), flags, ctx);
  // A failure the guest did not report itself (a double fault): say why.
  if (end.kind === 'fail' && end.why !== 'syscon') ctx.io.stderr(`pvm: guest failed: ${end.why}`);
  return endStatus(end);
}

/** --stats (text on stderr) and --stats-json FILE, for domains and bare runs alike. */
export function writeStats(stats: DomainStatsJson, flags: { stats?: boolean; statsJson?: string }, ctx: CliContext) {
  if (flags.stats) ctx.io.stderr(formatStats(stats).trimEnd());
  if (flags.statsJson !== undefined) {
    try {
      writeFileSync(flags.statsJson, `${JSON.stringify(stats, null, 2)}\n`);
    } catch (e) {
      throw new PvmError('io', `cannot write ${flags.statsJson}: ${(e as Error).message}`);
    }
  }
}

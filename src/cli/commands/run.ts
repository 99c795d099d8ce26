import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_VERSION, type PvmConfig } from '../../api/config.js';
import { USER_SWITCH } from '../../api/spec.js';
import { PvmError } from '../../core/errors.js';
import type { VirtioRefusal } from '../../devices/virtio/mmio.js';
import { HostResources, openDevices, readImage } from '../../host/builder.js';
import { BareControl, runBare } from '../../hypervisor/bare.js';
import { type CliContext, ExitStatus, guestStatus } from '../context.js';
import { addDomainFlags, type DomainFlags, domainFlagsSet, flagName, specFromFlags } from '../domain-flags.js';
import { nodeBareHost } from '../host.js';
import { ESCAPE_HELP, KeyReader } from '../keyboard.js';
import { parseCount } from '../options.js';
import { type RunOptions, runDomains, writeStats } from './run-domains.js';

/** Flags of `pvm run`: the domain flags (src/cli/domain-flags.ts) and how to run. */
export interface RunFlags extends DomainFlags, RunOptions {
  bare?: boolean;
}

/** Declares `pvm run` on `program`; returns the command so more options can be chained on. */
export function registerRun(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('run')
    .description('boot a guest in the foreground, its console on this terminal (no image: the embedded pvos)')
    .argument(
      '[file]',
      'a config file (.yaml, .yml, .json: every domain in it); with --bare: the image to run (ELF or raw binary)',
    )
    .option(
      '--bare',
      'run FILE as a bare-metal M-mode image with no firmware (QEMU -bios none -kernel FILE: an ELF, or a raw binary loaded at 0x80000000), with the virtio devices given; exit through HTIF tohost or the syscon',
    )
    .option('--max-instructions <n>', 'stop each guest after N instructions (exit status 124)', parseCount)
    .option(
      '--deterministic',
      'guest time advances with instructions (100 per 10 MHz tick), not the host clock; idle time is skipped, the RTC starts at 1970: the same guest and input give the same output',
    )
    .option('--stats', 'print statistics (instructions, exits, MMIO, time) on stderr when the guests end')
    .option('--stats-json <file>', 'write those statistics as JSON to FILE (several domains: keyed by name)')
    .option('--dry-run', 'build the domains, print what was built as JSON (devices, MACs, console input) and exit');
  addDomainFlags(cmd);
  return cmd.action(async (file: string | undefined, flags: RunFlags) => {
    ctx.status = await runCommand(file, flags, ctx);
  });
}

/** The flags of `pvm run` that only matter when guests run (refused with --dry-run). */
const RUN_ONLY = [
  'maxInstructions',
  'deterministic',
  'stats',
  'statsJson',
] as const satisfies readonly (keyof RunFlags)[];

const isConfigFile = (file: string) => /\.(ya?ml|json)$/i.test(file);

/** Runs `pvm run` with parsed flags; returns the process exit status. */
export async function runCommand(file: string | undefined, flags: RunFlags, ctx: CliContext): Promise<number> {
  const run: RunOptions = {
    ...(flags.deterministic ? { deterministic: true } : {}),
    ...(flags.maxInstructions !== undefined ? { maxInstructions: flags.maxInstructions } : {}),
    ...(flags.stats ? { stats: true } : {}),
    ...(flags.statsJson !== undefined ? { statsJson: flags.statsJson } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
  if (flags.dryRun) {
    // Nothing runs: the flags that say how to run would be ignored.
    const runOnly = RUN_ONLY.filter((k) => flags[k] !== undefined);
    if (runOnly.length > 0) {
      throw new PvmError('usage', `${flagName(runOnly[0]!)} cannot be used with --dry-run (nothing runs)`);
    }
  }
  if (flags.bare) {
    if (file === undefined) throw new PvmError('usage', 'run --bare needs an image file: pvm run --bare FILE');
    return runBareCommand(file, flags, run, ctx);
  }
  let config: PvmConfig;
  if (file !== undefined && isConfigFile(file)) {
    const set = domainFlagsSet(flags);
    if (set.length > 0) {
      throw new PvmError('usage', `${flagName(set[0]!)} cannot be used with a config file (set it in ${file})`);
    }
    // yaml loads only for a config file
    const { loadConfigFile } = await import('../../api/config-file.js');
    config = await loadConfigFile(file);
  } else {
    if (file !== undefined) {
      throw new PvmError(
        'usage',
        `unexpected argument '${file}': use --kernel FILE, --bare FILE or a config file (.yaml, .json)`,
      );
    }
    // No image: the spec boots the embedded default guest (pvos).
    const spec = specFromFlags(flags, { cwd: process.cwd() });
    const switches = Object.fromEntries(
      spec.devices.flatMap((d) =>
        d.kind === 'net' && d.switch !== USER_SWITCH ? [[d.switch, { enforceSourceMac: true }]] : [],
      ),
    );
    config = { version: CONFIG_VERSION, domains: [spec], switches };
  }
  return runDomains(config, run, ctx);
}

/**
 * The domain flags `--bare` honours: RAM, harts and the virtio devices, which an M-mode image
 * finds where `qemu-system-riscv64 -bios none -kernel FILE -device ...` puts them. The others
 * describe a kernel, its firmware or its command line, which a bare image does not have.
 */
const BARE_FLAGS: readonly (keyof DomainFlags)[] = [
  'memory',
  'smp',
  'disk',
  'net',
  'publish',
  'share',
  'rng',
  'balloon',
  'virtioConsole',
  'jit',
];

/** What --bare refuses, with why (docs/compatibility.md, "pvm run flags and modes"). */
const BARE_REFUSED: Partial<Record<keyof DomainFlags, string>> = {
  kernel: 'the bare image is the kernel: pvm run --bare FILE',
  initrd: 'a bare image has no initrd (it is not booted by firmware)',
  append: 'a bare image has no command line',
  mode: 'a bare image runs in M-mode itself, with no firmware (QEMU -bios none)',
  firmware: 'a bare image runs with no firmware (QEMU -bios none)',
  console: 'a bare image has no command line; its console is the UART',
};

/**
 * `pvm run --bare FILE`: an M-mode image (ELF or raw) on the virt board with no firmware, as
 * `qemu-system-riscv64 -bios none -kernel FILE`: the UART (console input included), the
 * syscon, HTIF, the CLINT and PLIC, and the virtio devices the flags name in their slots.
 * --memory, --smp and the device flags follow the same rules as a domain's.
 */
async function runBareCommand(file: string, flags: RunFlags, run: RunOptions, ctx: CliContext): Promise<number> {
  if (isConfigFile(file)) {
    throw new PvmError('usage', `--bare runs a bare-metal image, not a config file (${file}): pvm run ${file}`);
  }
  for (const k of domainFlagsSet(flags)) {
    if (!BARE_FLAGS.includes(k)) {
      throw new PvmError(
        'usage',
        `${flagName(k)} cannot be used with --bare: ${BARE_REFUSED[k] ?? 'not for a bare image'}`,
      );
    }
  }
  if (run.dryRun) throw new PvmError('usage', '--dry-run cannot be used with --bare (it describes domains)');
  const spec = specFromFlags(
    {
      memory: flags.memory ?? '128M',
      ...Object.fromEntries(
        BARE_FLAGS.filter((k) => k !== 'memory' && flags[k] !== undefined).map((k) => [k, flags[k]]),
      ),
    },
    { name: 'bare', cwd: process.cwd() },
  );
  const elf = readImage(resolve(file), 'image file', spec.memory);
  const host = nodeBareHost(ctx.io);
  const control = new BareControl();
  const switches = Object.fromEntries(
    spec.devices.flatMap((d) =>
      d.kind === 'net' && d.switch !== USER_SWITCH ? [[d.switch, { enforceSourceMac: true }]] : [],
    ),
  );
  const opened = await openDevices(spec, new HostResources(switches), { consoleOut: host.console }, () => control.ram);
  const detach = attachBareKeyboard(control, ctx);
  let result: Awaited<ReturnType<typeof runBare>>;
  try {
    result = await runBare(elf, host, {
      memory: spec.memory,
      time: run.deterministic ? 'instret' : 'host',
      harts: spec.smp,
      ...(spec.jit === false ? { jit: false } : {}),
      ...(run.maxInstructions !== undefined ? { maxInstructions: run.maxInstructions } : {}),
      devices: opened.devices.map((d) => ({ slot: d.spec.slot, device: d.model })),
      // --stats also reports, as they happen, what the virtio transports refuse (once per device and rule).
      ...(run.stats ? { onVirtioRefusal: (r: VirtioRefusal) => ctx.io.stderr(`pvm: ${r.message}`) } : {}),
      control,
    });
  } finally {
    detach();
    await opened.close();
  }
  writeStats([[file, result.stats]], run, ctx);
  const end = result.end;
  switch (end.kind) {
    case 'htif':
    case 'syscon':
      return guestStatus(end.code);
    case 'limit':
      ctx.io.stderr(`pvm: guest stopped after ${end.instructions} instructions (--max-instructions)`);
      return ExitStatus.LIMIT;
    case 'fault-loop':
      ctx.io.stderr(
        `pvm: guest stopped: it traps at its own trap vector 0x${end.pc.toString(16)} (mcause ${end.cause}) and can never leave it; is the image code for this machine?`,
      );
      return ExitStatus.GUEST_FAILED;
    case 'deadlock':
      ctx.io.stderr('pvm: guest stopped: every hart waits (WFI) for an interrupt that cannot come (no timer armed)');
      return ExitStatus.GUEST_FAILED;
    case 'stopped':
      return end.code;
  }
}

/**
 * Standard input to the bare run's UART: a terminal in raw mode with the Ctrl-A keys (x quits),
 * else every byte as it comes. Ctrl-C / SIGTERM stop the run (130). Returns the detach function.
 */
function attachBareKeyboard(control: BareControl, ctx: CliContext): () => void {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  const keys = new KeyReader({
    input: (bytes) => control.input(bytes),
    quit() {
      ctx.io.stderr('\r\npvm: terminated (Ctrl-A x)\r');
      control.stop(0);
    },
    next() {},
    help() {
      ctx.io.stderr(`\r\n${ESCAPE_HELP.replaceAll('\n', '\r\n')}\r`);
    },
  });
  const onData = (chunk: Buffer) => (raw ? keys.feed(chunk) : control.input(new Uint8Array(chunk)));
  const onEnd = () => {
    control.inputOpen = false;
  };
  const onSignal = () => control.stop(130);
  control.inputOpen = !stdin.readableEnded;
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.on('error', onEnd);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

import { type Command, InvalidArgumentError } from 'commander';
import { PvmError } from '../../core/errors.js';
import { runBare } from '../../hypervisor/bare.js';
import { type CliContext, ExitStatus, guestStatus } from '../context.js';
import { DEFAULT_GUEST, DEFAULT_GUEST_MEMORY } from '../default-guest.js';
import { nodeBareHost, readImage } from '../host.js';
import { parseCount, parseSize } from '../options.js';
import { runConfigCommand } from './run-config.js';
import { DEFAULT_APPEND, DEFAULT_FIRMWARE, runVmCommand, writeStats } from './run-vm.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --smp: an integer from 1 to 8. */
function parseSmp(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 8)
    throw new InvalidArgumentError(`'${text}' is not a hart count from 1 to 8`);
  return n;
}

/**
 * Flags of `pvm run`. Linux boot options (--kernel, --initrd, --append,
 * --smp, --mode, --firmware, --stats ...) are added here next to --bare:
 * declare them in `registerRun` and handle them in `runCommand`.
 */
export interface RunFlags {
  bare?: boolean;
  maxInstructions?: number;
  /** Guest RAM in bytes (default 128 MiB). */
  memory?: number;
  /** mtime follows instructions retired instead of the host clock. */
  deterministic?: boolean;
  /** Linux boot: kernel Image (or S-mode ELF), initrd, command line, harts, mode, firmware, statistics. */
  kernel?: string;
  initrd?: string;
  append?: string;
  smp?: number;
  mode?: string;
  firmware?: string;
  stats?: boolean;
  statsJson?: string;
  disk?: string[];
  net?: string[];
  rng?: boolean;
  balloon?: boolean;
  /** Default console for the command line: ttyS0 (the UART) or hvc0 (PV: the SBI console). */
  console?: string;
}

const DEFAULT_MEMORY = 128 * 1024 * 1024;

/** Declares `pvm run` on `program`; returns the command so more options can be chained on. */
export function registerRun(program: Command, ctx: CliContext): Command {
  return program
    .command('run')
    .description('boot a guest in the foreground, its console on this terminal (no image: the embedded pvos)')
    .argument('[file]', 'a config file (.yaml, .yml, .json: every domain in it); with --bare: the ELF to run')
    .option('--bare', 'run FILE as a bare-metal M-mode ELF: no firmware; exit through HTIF tohost or the syscon')
    .option('--max-instructions <n>', 'stop the guest after N instructions (exit status 124)', parseCount)
    .option('-m, --memory <size>', 'guest RAM, e.g. 512M or 1G; a bare number is MiB (default: 128M)', parseSize)
    .option(
      '--deterministic',
      'guest time advances with instructions (100 per 10 MHz tick), not the host clock; idle time is skipped, the RTC starts at 1970: the same guest and input give the same output',
    )
    .option('--kernel <file>', 'boot this RISC-V Linux Image, S-mode ELF or raw binary (run at 0x80200000)')
    .option('--initrd <file>', 'initial ramdisk, placed high in RAM and named in /chosen')
    .option('--append <cmdline>', `kernel command line (default: "${DEFAULT_APPEND}")`)
    .option('--smp <n>', 'number of harts, 1 to 8 (default: 1); with --bare all start at the entry', parseSmp)
    .option('--mode <mode>', 'pv: pvm answers SBI itself (default); full: firmware in emulated M-mode')
    .option('--firmware <file>', `full mode: M-mode firmware (default: ${DEFAULT_FIRMWARE})`)
    .option(
      '--stats',
      'print statistics (instructions, exits, MMIO, time) on stderr when the guest ends; also with --bare',
    )
    .option('--stats-json <file>', 'write those statistics as JSON to FILE when the guest ends; also with --bare')
    .option(
      '--disk <spec>',
      'virtio-blk disk: path[,ro][,cache=writeback|writethrough|unsafe] (repeatable: vda, vdb, ...)',
      collect,
    )
    .option('--net <spec>', 'virtio-net NIC on a virtual switch: switch[,mac=XX:XX:XX:XX:XX:XX] (repeatable)', collect)
    .option('--rng', 'virtio-rng: /dev/hwrng reads the host RNG')
    .option('--balloon', 'virtio-balloon')
    .option('--console <tty>', 'console for the default command line: ttyS0 (UART) or hvc0 (SBI console in PV mode)')
    .action(async (file: string | undefined, flags: RunFlags) => {
      ctx.status = await runCommand(file, flags, ctx);
    });
}

/** Runs `pvm run` with parsed flags; returns the process exit status. */
export async function runCommand(file: string | undefined, flags: RunFlags, ctx: CliContext): Promise<number> {
  if (flags.console !== undefined) {
    if (flags.console !== 'ttyS0' && flags.console !== 'hvc0')
      throw new PvmError('usage', `--console must be ttyS0 or hvc0, got '${flags.console}'`);
    if (flags.append !== undefined) throw new PvmError('usage', '--console and --append: put console= in --append');
    flags = { ...flags, append: `console=${flags.console}` };
  }
  if (!flags.bare && flags.kernel === undefined && file !== undefined && /\.(ya?ml|json)$/i.test(file)) {
    return runConfigCommand(file, flags, ctx);
  }
  if (flags.bare) {
    if (file === undefined) throw new PvmError('usage', 'run --bare needs an ELF file: pvm run --bare FILE');
    return runBareCommand(file, flags, ctx);
  }
  if (flags.kernel !== undefined) {
    if (file !== undefined) throw new PvmError('usage', `unexpected argument '${file}' with --kernel`);
    return runVmCommand({ ...flags, kernel: flags.kernel, memory: flags.memory ?? DEFAULT_MEMORY }, ctx);
  }
  if (file !== undefined)
    throw new PvmError('usage', `unexpected argument '${file}': use --kernel FILE or --bare FILE`);
  // No image: boot the embedded default guest (pvos), PV mode unless --mode full.
  return runVmCommand({ ...flags, kernel: DEFAULT_GUEST, memory: flags.memory ?? DEFAULT_GUEST_MEMORY }, ctx);
}

async function runBareCommand(file: string, flags: RunFlags, ctx: CliContext): Promise<number> {
  const elf = readImage(file, 'ELF file');
  const result = await runBare(elf, nodeBareHost(ctx.io), {
    memory: flags.memory ?? DEFAULT_MEMORY,
    time: flags.deterministic ? 'instret' : 'host',
    harts: flags.smp ?? 1,
    ...(flags.maxInstructions !== undefined ? { maxInstructions: flags.maxInstructions } : {}),
  });
  writeStats(result.stats, flags, ctx);
  const end = result.end;
  switch (end.kind) {
    case 'htif':
    case 'syscon':
      return guestStatus(end.code);
    case 'limit':
      ctx.io.stderr(`pvm: guest stopped after ${end.instructions} instructions (--max-instructions)`);
      return ExitStatus.LIMIT;
    case 'deadlock':
      ctx.io.stderr('pvm: guest stopped: every hart waits (WFI) for an interrupt that cannot come (no timer armed)');
      return ExitStatus.GUEST_FAILED;
  }
}

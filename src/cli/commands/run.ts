import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_VERSION, type PvmConfig } from '../../api/config.js';
import { loadConfigFile } from '../../api/config-file.js';
import { checkHarts, checkMemory, LIMITS, USER_SWITCH } from '../../api/spec.js';
import { PvmError } from '../../core/errors.js';
import { readImage } from '../../host/builder.js';
import { runBare } from '../../hypervisor/bare.js';
import { type CliContext, ExitStatus, guestStatus } from '../context.js';
import { addDomainFlags, type DomainFlags, domainFlagsSet, flagName, specFromFlags } from '../domain-flags.js';
import { nodeBareHost } from '../host.js';
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
    .argument('[file]', 'a config file (.yaml, .yml, .json: every domain in it); with --bare: the ELF to run')
    .option('--bare', 'run FILE as a bare-metal M-mode ELF: no firmware; exit through HTIF tohost or the syscon')
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
  if (flags.bare) {
    if (file === undefined) throw new PvmError('usage', 'run --bare needs an ELF file: pvm run --bare FILE');
    return runBareCommand(file, flags, run, ctx);
  }
  let config: PvmConfig;
  if (file !== undefined && isConfigFile(file)) {
    const set = domainFlagsSet(flags);
    if (set.length > 0) {
      throw new PvmError('usage', `${flagName(set[0]!)} cannot be used with a config file (set it in ${file})`);
    }
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

/** `pvm run --bare`: no domain, no devices; --memory and --smp follow the same rules as a domain's. */
async function runBareCommand(file: string, flags: RunFlags, run: RunOptions, ctx: CliContext): Promise<number> {
  const refused = domainFlagsSet(flags).filter((k) => k !== 'memory' && k !== 'smp');
  if (refused.length > 0) throw new PvmError('usage', `${flagName(refused[0]!)} cannot be used with --bare`);
  if (run.dryRun) throw new PvmError('usage', '--dry-run cannot be used with --bare');
  const memory = flags.memory === undefined ? 128 * 2 ** 20 : checkMemory(flags.memory);
  if (typeof memory === 'string') throw new PvmError('usage', `--memory: ${memory}`);
  const harts =
    flags.smp === undefined ? LIMITS.harts.min : checkHarts(/^\d+$/.test(flags.smp) ? Number(flags.smp) : flags.smp);
  if (typeof harts === 'string') throw new PvmError('usage', `--smp: ${harts}`);
  const elf = readImage(resolve(file), 'ELF file', memory);
  const result = await runBare(elf, nodeBareHost(ctx.io), {
    memory,
    time: run.deterministic ? 'instret' : 'host',
    harts,
    ...(run.maxInstructions !== undefined ? { maxInstructions: run.maxInstructions } : {}),
  });
  writeStats([[file, result.stats]], run, ctx);
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

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isPvmError } from '../core/errors.js';
import { registerControlCommands } from './commands/control.js';
import { registerRun } from './commands/run.js';
import { registerSwitchCommands } from './commands/switch.js';
import { registerWeb } from './commands/web.js';
import { type CliContext, type CliIo, ExitStatus, nodeIo } from './context.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Builds the `pvm` command tree. Each subcommand lives in src/cli/commands/ and registers itself here. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command();
  program
    .name('pvm')
    .description('pvm: a paravirtualizing RISC-V hypervisor')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(pvm --help lists the commands and options)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`pvm: ${s.replace(/^error: /, '')}`),
    });
  registerRun(program, ctx);
  registerControlCommands(program, ctx);
  registerSwitchCommands(program, ctx);
  registerWeb(program, ctx);
  return program;
}

/**
 * Entry point of the `pvm` command; returns the process exit status.
 * `argv` is process.argv (node, script, args...). Errors are one line on
 * stderr: usage and image/file problems exit 2, a pvm bug 70, never a stack
 * trace (set PVM_DEBUG=1 to get one).
 */
export async function main(argv: string[], io: CliIo = nodeIo): Promise<number> {
  const ctx: CliContext = { io, status: ExitStatus.OK };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
    if (argv.length <= 2) {
      program.outputHelp();
    }
    return ctx.status;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander already printed usage errors.
      return e.exitCode === 0 ? ExitStatus.OK : ExitStatus.USAGE;
    }
    if (isPvmError(e)) {
      io.stderr(`pvm: ${e.message}`);
      if (e.kind === 'guest') return ExitStatus.GUEST_FAILED;
      if (e.kind === 'internal') return ExitStatus.INTERNAL;
      return ExitStatus.USAGE;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr(`pvm: internal error: ${err.message}`);
    if (process.env.PVM_DEBUG) io.stderr(err.stack ?? '');
    return ExitStatus.INTERNAL;
  }
}

import type { Command } from 'commander';
import type { SwitchInfo } from '../../api/switches.js';
import { PvmError } from '../../core/errors.js';
import { type CliContext, nodeIo } from '../context.js';
import { type ClientFlags, type ControlEnv, client, clientOptions, nodeEnv, readToken } from './control.js';
import { table } from './format.js';

/** `pvm switch list` as a table: one row per link (a switch without links has one row of its own). */
export function switchTable(switches: readonly SwitchInfo[]): string {
  if (switches.length === 0) return 'no switches\n';
  const rows: (string | number)[][] = [];
  for (const s of switches) {
    if (s.links.length === 0) rows.push([s.name, s.ports, '-', '-', '', '', '', '', '']);
    for (const l of s.links) {
      rows.push([
        s.name,
        s.ports,
        `${l.direction === 'out' ? 'to' : 'from'} ${l.peer}`,
        l.state,
        `${l.txFrames}/${l.txBytes}`,
        `${l.rxFrames}/${l.rxBytes}`,
        l.dropped,
        l.malformed,
        l.error ?? '',
      ]);
    }
  }
  return table(
    ['SWITCH', 'PORTS', 'LINK', 'STATE', 'IN frames/bytes', 'OUT frames/bytes', 'DROPPED', 'MALFORMED', 'LAST ERROR'],
    rows,
  );
}

/**
 * `pvm switch list|join|leave`: the daemon's virtual switches and their links to the switches of
 * the same name on other daemons (docs/networking.md, "Switches across daemons").
 */
export function registerSwitchCommands(
  program: Command,
  ctx: CliContext = { io: nodeIo, status: 0 },
  env: ControlEnv = nodeEnv(),
): Command {
  const out = (s: string): void => ctx.io.stdout(s);
  const json = (v: unknown): void => out(`${JSON.stringify(v, null, 2)}\n`);
  const group = program.command('switch').description("the daemon's virtual switches and their links to other daemons");

  clientOptions(group.command('list').alias('ls').description('list the switches and their links')).action(
    async (flags: ClientFlags) => {
      const switches = await client(flags, env).switches();
      if (flags.json) json(switches);
      else out(switchTable(switches));
    },
  );

  /** join and leave: --token-file is the peer's token (as for `pvm migrate`); the local daemon's comes from $PVM_TOKEN. */
  const peerCommand = (name: string, description: string) =>
    group
      .command(name)
      .description(description)
      .argument('<switch>', "switch name, as in a NIC's switch")
      .requiredOption('--to <url>', "the peer daemon's TCP or HTTP listener, e.g. http://10.0.0.2:7070")
      .option('--socket <path>', 'the daemon socket (default: $PVM_SOCKET or $XDG_RUNTIME_DIR/pvm/pvmd.sock)')
      .option('--url <url>', 'this daemon on TCP instead (token from $PVM_TOKEN)')
      .option('--json', 'print JSON for scripts');

  peerCommand('join', 'join SWITCH to the switch of the same name on the daemon at --to (redialed until left)')
    .option('--token-file <file>', "file holding the peer daemon's token (default: $PVM_TOKEN)")
    .option('--no-wait', 'keep the link even if the peer cannot be reached yet; it is dialed until up')
    .action(
      async (
        name: string,
        flags: Omit<ClientFlags, 'tokenFile'> & { to: string; tokenFile?: string; wait: boolean },
      ) => {
        const token = readToken(flags.tokenFile, env.env);
        if (!token)
          throw new PvmError('usage', "switch join needs the peer's token: pass --token-file or set PVM_TOKEN");
        // A daemon's listeners refuse shorter tokens, so this one cannot be the peer's.
        if (token.length < 16)
          throw new PvmError('usage', "switch join: the peer's token is shorter than 16 characters");
        const local = client(
          { ...(flags.socket && { socket: flags.socket }), ...(flags.url && { url: flags.url }) },
          env,
        );
        const s = await local.joinSwitch(name, flags.to, token, { wait: flags.wait });
        const to = flags.to.replace(/\/+$/, '');
        if (flags.json) json(s);
        else if (flags.wait) out(`switch ${s.name}: joined to ${to} (link up)\n`);
        else {
          const l = s.links.find((x) => x.direction === 'out' && x.peer === to);
          out(`switch ${s.name}: joining ${to} (link ${l?.state ?? 'connecting'})\n`);
        }
      },
    );

  peerCommand('leave', 'end the link of SWITCH to the daemon at --to').action(
    async (name: string, flags: ClientFlags & { to: string }) => {
      const local = client(
        { ...(flags.socket && { socket: flags.socket }), ...(flags.url && { url: flags.url }) },
        env,
      );
      const s = await local.leaveSwitch(name, flags.to);
      if (flags.json) json(s);
      else out(`switch ${s.name}: left ${flags.to.replace(/\/+$/, '')}\n`);
    },
  );
  return program;
}

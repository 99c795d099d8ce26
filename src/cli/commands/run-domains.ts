import { writeFileSync } from 'node:fs';
import type { PvmConfig } from '../../api/config.js';
import type { NicStats } from '../../api/domain.js';
import { PvmError } from '../../core/errors.js';
import { type BuiltDomain, buildDomain, HostResources } from '../../host/builder.js';
import { type ConsoleSink, consoleSink, SharedTerminal } from '../../host/console-sink.js';
import { NodeDomainHost, nodeScheduler } from '../../host/domain-host.js';
import type { DomainEnd } from '../../hypervisor/domain.js';
import { type DomainStatsJson, formatStats } from '../../hypervisor/stats.js';
import { type CliContext, ExitStatus, endStatus } from '../context.js';
import { ESCAPE_HELP, KeyReader } from '../keyboard.js';
import { netStatsLines } from './format.js';

/** How `pvm run` runs its domains, whichever way they were described. */
export interface RunOptions {
  /** Guest time follows instructions retired (the RTC starts at 1970). */
  deterministic?: boolean;
  /** End each domain after this many instructions (exit status 124). */
  maxInstructions?: number;
  /** Statistics on stderr when the domains end. */
  stats?: boolean;
  /** Statistics as JSON into this file. */
  statsJson?: string;
  /** Build the domains, print what was built (JSON) and exit without running them. */
  dryRun?: boolean;
}

interface Running {
  readonly built: BuiltDomain;
  readonly host: NodeDomainHost;
  readonly sink: ConsoleSink;
}

/**
 * Builds every domain of `config` with the one builder (NICs on the config's switches, PV
 * domains on one PVX registry, so their guests can reach each other) and runs them together in
 * this process, each console where its spec says, until all have ended.
 *
 * Keyboard input (a terminal in raw mode: Ctrl-A x quits, Ctrl-A n moves the input to the next
 * domain whose console is on the terminal, Ctrl-A h lists the keys) goes to one domain at a
 * time, the first by default. Exit status: 0 when every domain powered off, else the status
 * of the first that did not (in the order they ended); Ctrl-C / SIGTERM stop them all (130).
 */
export async function runDomains(config: PvmConfig, opts: RunOptions, ctx: CliContext): Promise<number> {
  const resources = new HostResources(config.switches, undefined, {
    onExit: (sw, reason) => ctx.io.stderr(`pvm: switch ${sw}: ${reason}`),
  });
  const terminal = new SharedTerminal({ write: (c) => ctx.io.stdout(c) });
  const running: Running[] = [];
  const release = async () => {
    for (const r of running) {
      await r.built.close();
      await r.sink.close();
    }
  };
  const several = config.domains.length > 1;
  // The domains share this thread by weight and cap, as in the daemon (docs/scheduler.md).
  const scheduler = nodeScheduler();
  try {
    for (const [i, spec] of config.domains.entries()) {
      const sink = consoleSink(spec.console, spec.name, terminal);
      const sched = scheduler.add({
        ...(spec.weight !== undefined && { weight: spec.weight }),
        ...(spec.cap !== undefined && { cap: spec.cap }),
      });
      const host = new NodeDomainHost((b) => sink.write(b), { sched });
      try {
        const built = await buildDomain(spec, resources, {
          host,
          ordinal: i,
          ...(opts.deterministic ? { time: 'instret' as const } : {}),
          ...(opts.maxInstructions !== undefined ? { maxInstructions: opts.maxInstructions } : {}),
          // --stats also reports, as they happen, what the virtio transports refuse (once per device and rule).
          ...(opts.stats
            ? { onVirtioRefusal: (r) => ctx.io.stderr(`pvm: ${several ? `${spec.name}: ` : ''}${r.message}`) }
            : {}),
        });
        // A threaded domain's cap is its total: each hart gets a part (docs/scheduler.md).
        const threads = built.domain.threads;
        if (spec.cap !== undefined && threads !== null) sched.set({ cap: threads.setCap(spec.cap) });
        running.push({ built, host, sink });
      } catch (e) {
        await sink.close();
        throw e;
      }
    }
  } catch (e) {
    for (const r of running) r.built.domain.pvx?.destroy(); // never ran: leave the PVX registry now
    await release();
    throw e;
  }
  if (opts.dryRun) {
    for (const r of running) r.built.domain.pvx?.destroy();
    await release();
    const described = running.map((r) => ({ name: r.built.spec.name, ...r.built.machine() }));
    ctx.io.stdout(`${JSON.stringify(described.length === 1 ? described[0] : described, null, 2)}\n`);
    return ExitStatus.OK;
  }

  const stopAll = (code: number) => {
    for (const r of running) {
      r.built.domain.stop(code);
      r.host.wake();
    }
  };
  const detachKeyboard = attachKeyboard(running, stopAll, ctx);
  const onSignal = () => stopAll(130);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let status: number | null = null;
  const nets = new Map<Running, NicStats[]>();
  try {
    await Promise.all(
      running.map(async (r) => {
        let end: DomainEnd;
        try {
          end = await r.built.domain.run();
        } finally {
          r.host.flush();
          nets.set(r, r.built.netStats()); // before the NICs are unplugged
          await r.built.close();
          await r.sink.close();
        }
        const s = endStatus(end);
        const who = several ? `${r.built.spec.name}: ` : '';
        if (end.kind === 'limit') {
          ctx.io.stderr(`pvm: ${who}guest stopped after ${end.instructions} instructions (--max-instructions)`);
        } else if (end.kind === 'fail' && (several || end.why !== 'syscon')) {
          // A failure the guest did not report itself (a double fault, a PVX crash): say why.
          ctx.io.stderr(`pvm: ${who}guest failed: ${end.why}`);
        } else if (s !== 0 && several) {
          ctx.io.stderr(`pvm: ${who}stopped (${s})`);
        }
        if (s !== 0) status ??= s;
      }),
    );
  } finally {
    detachKeyboard();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  writeStats(
    running.map((r) => {
      const n = nets.get(r) ?? [];
      return [r.built.spec.name, { ...r.built.domain.statistics(), ...(n.length > 0 && { nets: n }) }];
    }),
    opts,
    ctx,
  );
  return status ?? ExitStatus.OK;
}

/**
 * Standard input to the domains: on a terminal in raw mode with the Ctrl-A keys, else every
 * byte to the domain that has the input. Returns the function that lets go of the terminal.
 */
function attachKeyboard(running: readonly Running[], stopAll: (code: number) => void, ctx: CliContext): () => void {
  // Only a domain whose console is on this terminal can be typed at.
  const targets = running.filter((r) => r.built.spec.console === 'stdio' || r.built.spec.console === 'prefix');
  if (targets.length === 0) return () => {};
  let current = 0;
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  const keys = new KeyReader({
    input(bytes) {
      const r = targets[current]!;
      r.built.domain.input(bytes);
      r.host.wake();
    },
    quit() {
      ctx.io.stderr('\r\npvm: terminated (Ctrl-A x)\r');
      stopAll(0);
    },
    next() {
      current = (current + 1) % targets.length;
      ctx.io.stderr(`\r\npvm: input goes to ${targets[current]!.built.spec.name} (Ctrl-A n for the next)\r`);
    },
    help() {
      ctx.io.stderr(`\r\n${ESCAPE_HELP.replaceAll('\n', '\r\n')}\r`);
    },
  });
  const onData = (chunk: Buffer) => {
    if (raw) keys.feed(chunk);
    else {
      const r = targets[current]!;
      r.built.domain.input(new Uint8Array(chunk));
      r.host.wake();
    }
  };
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.on('error', () => {});
  return () => {
    stdin.off('data', onData);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
}

/**
 * --stats (text on stderr) and --stats-json FILE, for domains and bare runs alike: one domain's
 * statistics as one object, several as an object keyed by domain name.
 */
export function writeStats(
  stats: readonly (readonly [name: string, stats: DomainStatsJson & { nets?: readonly NicStats[] }])[],
  flags: { stats?: boolean; statsJson?: string },
  ctx: CliContext,
): void {
  if (flags.stats) {
    for (const [name, s] of stats) {
      const nets =
        s.nets !== undefined && s.nets.length > 0
          ? `\nnetwork:\n${netStatsLines(s.nets)
              .map((l) => `  ${l}`)
              .join('\n')}`
          : '';
      ctx.io.stderr(`${stats.length > 1 ? `== ${name}\n` : ''}${formatStats(s).trimEnd()}${nets}`);
    }
  }
  if (flags.statsJson !== undefined) {
    const json = stats.length === 1 ? stats[0]![1] : Object.fromEntries(stats);
    try {
      writeFileSync(flags.statsJson, `${JSON.stringify(json, null, 2)}\n`);
    } catch (e) {
      throw new PvmError('io', `cannot write ${flags.statsJson}: ${(e as Error).message}`);
    }
  }
}

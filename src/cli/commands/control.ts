import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve as resolvePath } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { MigrateResult, Progress } from '../../api/commands.js';
import { type DomainSpecInput, toDocument } from '../../api/spec.js';
import { PvmError } from '../../core/errors.js';
import type { VirtioRefusal } from '../../devices/virtio/mmio.js';
import { defaultAllowDirs, HostFiles } from '../../host/host-files.js';
import { LOG_LEVELS, type LogLevel } from '../../host/log-level.js';
import { defaultSocketPath, PvmClient } from '../client.js';
import { type CliContext, nodeIo } from '../context.js';
import { addDomainFlags, type DomainFlags, domainFlagsSet, flagName, specFromFlags } from '../domain-flags.js';
import { runConsole } from './console.js';
import { domainTable, infoText, statsText } from './format.js';

/** What the control commands need from the process (replaced in tests). */
export interface ControlEnv {
  readonly stdin: NodeJS.ReadableStream;
  /** Whether standard error is a terminal (progress bars are drawn only then). */
  readonly stderrIsTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** A commander parser for a whole-number flag value (ranges are the API's to check). */
const wholeNumber =
  (flag: string) =>
  (v: string): number => {
    if (!/^\s*\d+\s*$/.test(v)) throw new InvalidArgumentError(`${flag}: expected a whole number, got "${v}"`);
    return Number(v);
  };

export const nodeEnv = (): ControlEnv => ({
  stdin: process.stdin,
  stderrIsTTY: process.stderr.isTTY === true,
  env: process.env,
  cwd: process.cwd(),
});

export interface ClientFlags {
  socket?: string;
  url?: string;
  tokenFile?: string;
  json?: boolean;
}

export function readToken(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file === undefined) return env.PVM_TOKEN || undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new PvmError('io', `cannot read token file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** Options every client command shares, added to `cmd`. */
export function clientOptions(cmd: Command, json = true): Command {
  cmd
    .option('--socket <path>', 'the daemon socket (default: $PVM_SOCKET or $XDG_RUNTIME_DIR/pvm/pvmd.sock)')
    .option('--url <url>', 'a daemon on TCP instead, e.g. http://127.0.0.1:7070 (token from $PVM_TOKEN)')
    .option('--token-file <file>', 'file holding the TCP token');
  if (json) cmd.option('--json', 'print JSON for scripts');
  return cmd;
}

export function client(flags: ClientFlags, env: ControlEnv): PvmClient {
  if (flags.url) {
    const token = readToken(flags.tokenFile, env.env);
    return new PvmClient({ url: flags.url, ...(token ? { token } : {}) });
  }
  return new PvmClient({ socketPath: flags.socket ?? defaultSocketPath(env.env) });
}

/**
 * Reads a config file (JSON or YAML: one domain, or `domains:` with a list) with the config
 * module, which checks it and makes its paths absolute; returns each domain in document form,
 * as the daemon takes it.
 */
export async function readConfigFile(path: string): Promise<DomainSpecInput[]> {
  const { loadConfigFile } = await import('../../api/config-file.js');
  const cfg = await loadConfigFile(path);
  return cfg.domains.map(toDocument);
}

/** A progress bar on a terminal's standard error; silent otherwise. */
async function progressBar(
  enabled: boolean,
  label: string,
): Promise<{ update: (p: Progress) => void; stop: () => void }> {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const { SingleBar } = await import('cli-progress');
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} MiB | {eta_formatted} left`,
    barCompleteChar: '#',
    barIncompleteChar: '-',
    hideCursor: true,
    clearOnComplete: true,
    stream: process.stderr,
  });
  let started = false;
  return {
    update: (p) => {
      const total = Math.max(1, Math.round(p.total / 2 ** 20));
      const value = Math.min(total, Math.round(p.done / 2 ** 20));
      if (!started) {
        bar.start(total, value);
        started = true;
      } else bar.update(value);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/** A bar per migration round (pages sent of the round's pages), drawn on standard error when asked for. */
async function migrationBar(
  enabled: boolean,
  name: string,
): Promise<{ update: (p: Progress) => void; stop: () => void }> {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const { SingleBar } = await import('cli-progress');
  const bar = new SingleBar({
    format: `migrating ${name} {phase} [{bar}] {percentage}% | {value}/{total} {unit}`,
    barCompleteChar: '#',
    barIncompleteChar: '-',
    hideCursor: true,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 1000,
  });
  let phase = '';
  return {
    update: (p) => {
      if (p.phase !== phase) {
        if (phase !== '') bar.stop();
        phase = p.phase;
        // sync and go are one step each; the other phases count pages
        bar.start(Math.max(1, p.total), p.done, { phase, unit: phase === 'sync' || phase === 'go' ? 'step' : 'pages' });
      } else bar.update(p.done);
    },
    stop: () => {
      if (phase !== '') bar.stop();
    },
  };
}

/** One line: where it went, the downtime, the rounds and what they sent. */
export function migrationSummary(r: MigrateResult): string {
  const pages = r.rounds.map((x) => x.pages);
  const last = pages.length > 0 ? pages[pages.length - 1] : 0;
  const pre = pages.slice(0, -1).join(', ');
  return (
    `migrated ${r.name} to ${r.to}: downtime ${r.downtimeMs} ms, total ${r.totalMs} ms, ` +
    `${r.rounds.length - 1} pre-copy round${r.rounds.length === 2 ? '' : 's'} (${pre} pages) + ${last} pages stopped, ` +
    `${r.bytes} bytes`
  );
}

const positive = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
  return n;
};

/**
 * Declares the control-plane commands on `program`: `pvm daemon` and its
 * clients create|list|info|console|pause|unpause|shutdown|reboot|destroy|
 * stats|save|restore|top. Call it from the CLI entry point (src/cli/main.ts).
 */
export function registerControlCommands(
  program: Command,
  ctx: CliContext = { io: nodeIo, status: 0 },
  env: ControlEnv = nodeEnv(),
): Command {
  const out = (s: string): void => ctx.io.stdout(s);
  const json = (v: unknown): void => out(`${JSON.stringify(v, null, 2)}\n`);

  program
    .command('daemon')
    .description('run the control-plane daemon in the foreground (JSON API on a Unix socket)')
    .option(
      '--socket <path>',
      'Unix socket to create, mode 0600 (default: $PVM_SOCKET or $XDG_RUNTIME_DIR/pvm/pvmd.sock)',
    )
    .option('--tcp <host:port>', 'also listen on TCP; requires a token ($PVM_TOKEN or --token-file)')
    .option(
      '--http <host:port>',
      'also serve the web dashboard, the API, consoles and /metrics over HTTP; requires a token',
    )
    .option('--token-file <file>', 'file holding the TCP and HTTP bearer token (at least 16 characters)')
    .option('--tls-cert <file>', 'serve the --tcp listener over HTTPS with this PEM certificate (chain)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS as string[]).default('info'))
    .option('--log-file <file>', 'append JSON-lines logs to FILE instead of standard error')
    .option('--fake', 'run fake domains (a deterministic program instead of a guest), to try the API')
    .option(
      '--allow-dir <dir>',
      'a host directory whose files domains, saves and restores may use (repeatable; default: the working directory and the temporary directory)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--workers <n>',
      'run domains on N worker threads so they use several host cores (docs/scheduler.md, "Worker pool"); 0: every domain on the main thread',
      'auto',
    )
    .option(
      '--state-dir <dir>',
      // the file is DOMAIN_LIST_FILE (src/server/domain-list.ts), whose module loads only for `pvm daemon`
      "where the daemon keeps its domain list (domains.yaml; default: the socket's directory)",
    )
    .option(
      '--join <switch=url>',
      "join SWITCH to the switch of that name on the daemon at URL, with this daemon's token; dialed until up (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(
      async (flags: {
        socket?: string;
        tcp?: string;
        http?: string;
        tokenFile?: string;
        tlsCert?: string;
        tlsKey?: string;
        logLevel: LogLevel;
        logFile?: string;
        fake?: boolean;
        allowDir?: string[];
        stateDir?: string;
        workers: string;
        join?: string[];
      }) => {
        const workers =
          flags.workers === 'auto'
            ? availableParallelism()
            : /^\d+$/.test(flags.workers) && Number(flags.workers) <= 256
              ? Number(flags.workers)
              : Number.NaN;
        if (Number.isNaN(workers)) {
          throw new PvmError('usage', `--workers: expected auto or a number from 0 to 256, got "${flags.workers}"`);
        }
        const socketPath = flags.socket ?? defaultSocketPath(env.env);
        // The daemon's modules load only for `pvm daemon`: a client command or `pvm run` does
        // not pay for the HTTP server, the managers and the worker pool at start-up.
        const [
          { checkPeerUrl, checkSwitchName },
          { startDaemon },
          local,
          hv,
          pool,
          fake,
          { createLogger },
          { persistDomainList },
        ] = await Promise.all([
          import('../../host/switch-links.js'),
          import('../../server/daemon.js'),
          import('../../server/local.js'),
          import('../../server/hypervisor-domains.js'),
          import('../../server/pool-domains.js'),
          import('../../api/fake-domain.js'),
          import('../../host/logger.js'),
          import('../../server/domain-list.js'),
        ]);
        // Switch links to peers (docs/networking.md), checked before anything starts.
        const joins = (flags.join ?? []).map((j) => {
          const m = /^([^=]+)=(.+)$/.exec(j);
          if (!m) throw new PvmError('usage', `--join wants SWITCH=URL, got ${j}`);
          try {
            checkSwitchName(m[1]!);
            return { sw: m[1]!, url: checkPeerUrl(m[2]!) };
          } catch (e) {
            throw new PvmError('usage', `--join ${j}: ${(e as Error).message}`);
          }
        });
        const joinToken = joins.length > 0 ? readToken(flags.tokenFile, env.env) : undefined;
        if (joins.length > 0 && !joinToken) {
          throw new PvmError('usage', "--join needs a token (the peers'): set PVM_TOKEN or pass --token-file");
        }
        let tcp: { host: string; port: number; token: string } | undefined;
        if (flags.tcp) {
          const m = /^(.+):(\d+)$/.exec(flags.tcp);
          if (!m) throw new PvmError('usage', `--tcp wants HOST:PORT, got ${flags.tcp}`);
          const token = readToken(flags.tokenFile, env.env);
          if (!token) throw new PvmError('usage', '--tcp needs a token: set PVM_TOKEN or pass --token-file');
          tcp = { host: m[1]!, port: Number(m[2]), token };
        }
        let tls: { cert: string; key: string } | undefined;
        if (flags.tlsCert !== undefined || flags.tlsKey !== undefined) {
          if (!flags.tcp || flags.tlsCert === undefined || flags.tlsKey === undefined) {
            throw new PvmError('usage', '--tls-cert and --tls-key go together, with --tcp');
          }
          const pem = (f: string, what: string) => {
            try {
              return readFileSync(resolvePath(env.cwd, f), 'utf8');
            } catch (e) {
              throw new PvmError('io', `cannot read ${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? e}`);
            }
          };
          tls = { cert: pem(flags.tlsCert, '--tls-cert'), key: pem(flags.tlsKey, '--tls-key') };
        }
        let http: { host: string; port: number; token: string } | undefined;
        if (flags.http) {
          const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(flags.http);
          if (!m) throw new PvmError('usage', `--http wants HOST:PORT, got ${flags.http}`);
          const token = readToken(flags.tokenFile, env.env);
          if (!token) throw new PvmError('usage', '--http needs a token: set PVM_TOKEN or pass --token-file');
          http = { host: m[1]!, port: Number(m[2]), token };
        }
        if (!flags.socket) {
          try {
            mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
          } catch (e) {
            throw new PvmError('io', `cannot create ${dirname(socketPath)}: ${(e as NodeJS.ErrnoException).code ?? e}`);
          }
        }
        const logger = createLogger({ level: flags.logLevel, ...(flags.logFile ? { file: flags.logFile } : {}) });
        const allowDirs = (flags.allowDir ?? defaultAllowDirs(env.cwd)).map((d) => resolvePath(env.cwd, d));
        const files = new HostFiles(allowDirs);
        const hvOptions = {
          // A driver turned away by a virtio transport: once per device and rule.
          onVirtioRefusal: (domain: string, r: VirtioRefusal) =>
            logger.warn({ domain, device: r.device, rule: r.rule }, r.message),
          files,
          onNetworkEvent: (message: string) => logger.warn(message),
        };
        const control = local.openControlPlane({
          manager: flags.fake
            ? new fake.FakeDomainManager()
            : workers > 0
              ? new pool.PoolDomainManager({ ...hvOptions, workers })
              : new hv.HypervisorDomainManager(hvOptions),
          store: local.createFileSnapshotStore(files),
          links: { onEvent: (message, fields) => logger.info(fields, message) },
        });
        // The last line of the blast radius: a failure no domain guard caught is logged, and the
        // daemon and its other domains go on (docs/security.md).
        const contained = (what: string) => (e: unknown) => logger.error({ err: e }, `${what} contained`);
        const onRejection = contained('unhandled rejection');
        const onException = contained('uncaught exception');
        process.on('unhandledRejection', onRejection);
        process.on('uncaughtException', onException);
        const daemon = await startDaemon({
          control,
          logger,
          socketPath,
          ...(tcp ? { tcp: { ...tcp, ...(tls ? { tls } : {}) } } : {}),
          ...(http ? { http } : {}),
        });
        // Peers of a cluster start in any order: each link is dialed until it is up.
        for (const j of joins) await control.joinSwitch(j.sw, j.url, joinToken!, { wait: false });
        if (daemon.http) {
          const h = daemon.http.host.includes(':') ? `[${daemon.http.host}]` : daemon.http.host;
          logger.info(`dashboard at http://${h}:${daemon.http.port}/ (sign in with the token)`);
        }
        logger.info({ allowDirs: files.allowDirs }, 'host directories domains may use');
        if (!flags.fake) {
          logger.info({ workers }, workers > 0 ? 'domains run on worker threads' : 'domains run on the main thread');
        }
        const stateDir = resolvePath(env.cwd, flags.stateDir ?? dirname(socketPath));
        const stopPersisting = persistDomainList(control, stateDir, logger);
        await new Promise<void>((resolve) => {
          const stop = (signal: string): void => {
            logger.info({ signal }, 'stopping');
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        // The list on disk keeps what ran, for `pvm create` after a restart.
        stopPersisting();
        const running = control.domains.list();
        for (const d of running) logger.info({ domain: d.name, id: d.id, state: d.state }, `stopping domain ${d.name}`);
        await daemon.close();
        await control.close();
        for (const d of running) logger.info({ domain: d.name, id: d.id }, `domain ${d.name} destroyed`);
        process.off('unhandledRejection', onRejection);
        process.off('uncaughtException', onException);
      },
    );

  clientOptions(
    addDomainFlags(
      program
        .command('create')
        .description(
          'create domains from a config file (JSON or YAML), or one domain from flags (as pvm run takes them)',
        )
        .argument('[config]', 'config file: one domain, or "domains:" with a list')
        .option('--name <name>', 'domain name (without a config file)')
        .option('--paused', 'leave the domain paused before its first instruction'),
    ),
  ).action(async (file: string | undefined, flags: ClientFlags & DomainFlags & { name?: string; paused?: boolean }) => {
    let configs: DomainSpecInput[];
    if (file !== undefined) {
      const set = [...domainFlagsSet(flags), ...(flags.name !== undefined ? ['name' as const] : [])];
      if (set.length > 0) {
        throw new PvmError('usage', `${flagName(set[0]!)} cannot be used with a config file (set it in ${file})`);
      }
      configs = await readConfigFile(resolvePath(env.cwd, file));
    } else {
      if (!flags.name) throw new PvmError('usage', 'create needs a config file or --name');
      // Checked here with the flags' names in the messages, then sent as a document (paths absolute).
      configs = [toDocument(specFromFlags(flags, { name: flags.name, cwd: env.cwd }))];
    }
    const api = client(flags, env);
    const created = [];
    for (const c of configs) created.push(await api.create(c, { paused: flags.paused === true }));
    if (flags.json) json(created.length === 1 ? created[0] : created);
    else for (const d of created) out(`created domain ${d.name} (id ${d.id}), ${d.state}\n`);
  });

  clientOptions(program.command('list').alias('ls').description('list the domains')).action(
    async (flags: ClientFlags) => {
      const domains = await client(flags, env).list();
      if (flags.json) json(domains);
      else out(domains.length ? domainTable(domains) : 'no domains\n');
    },
  );

  clientOptions(program.command('info').description("show a domain's state and config").argument('<domain>')).action(
    async (domain: string, flags: ClientFlags) => {
      const d = await client(flags, env).info(domain);
      if (flags.json) json(d);
      else out(infoText(d));
    },
  );

  clientOptions(program.command('stats').description("show a domain's counters").argument('<domain>')).action(
    async (domain: string, flags: ClientFlags) => {
      const s = await client(flags, env).stats(domain);
      if (flags.json) json(s);
      else out(statsText(s));
    },
  );

  clientOptions(
    program
      .command('hypercalls')
      .description(
        "tighten a domain's hypercall policy: only calls both it and LIST allow remain (others: SBI_ERR_DENIED)",
      )
      .argument('<domain>')
      .argument('<list>', 'comma-separated SBI extensions or EXT/function entries, e.g. BASE,TIME,HSM,DBCN'),
  ).action(async (domain: string, list: string, flags: ClientFlags) => {
    const allow = list
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
    const d = await client(flags, env).restrictHypercalls(domain, allow);
    if (flags.json) json(d);
    else out(`${d.name}: hypercalls ${(d.config.hypercalls ?? []).join(',') || '(none)'}\n`);
  });

  clientOptions(
    program
      .command('sched')
      .description(
        "show a domain's scheduler weight and cap, or set them (as xl sched-credit): busy domains share the host by weight; a cap holds a domain to that % of a core",
      )
      .argument('<domain>')
      .option(
        '-w, --weight <n>',
        'relative share among busy domains, 1 to 65535 (default 256)',
        wholeNumber('--weight'),
      )
      .option(
        '-c, --cap <percent>',
        'most host time the domain may use, in % of one core (up to 100 per vCPU); 0: no cap',
        wholeNumber('--cap'),
      ),
  ).action(async (domain: string, flags: ClientFlags & { weight?: number; cap?: number }) => {
    const params = {
      ...(flags.weight !== undefined && { weight: flags.weight }),
      ...(flags.cap !== undefined && { cap: flags.cap }),
    };
    const s = await client(flags, env).sched(domain, params);
    if (flags.json) json(s);
    else out(`${s.name}: weight ${s.weight}, cap ${s.cap === 0 ? 'none' : `${s.cap} %`}\n`);
  });

  const simple = [
    ['pause', 'stop a running domain at an instruction boundary'],
    ['unpause', 'continue a paused domain'],
    ['reboot', 'restart a domain from its configuration'],
  ] as const;
  for (const [name, description] of simple) {
    clientOptions(program.command(name).description(description).argument('<domain>')).action(
      async (domain: string, flags: ClientFlags) => {
        const d = await client(flags, env)[name](domain);
        if (flags.json) json(d);
        else out(`${d.name}: ${d.state}\n`);
      },
    );
  }

  clientOptions(
    program
      .command('shutdown')
      .description('ask the guest to power off')
      .argument('<domain>')
      .option('--wait', 'return once the domain is shutoff (or crashed)'),
  ).action(async (domain: string, flags: ClientFlags & { wait?: boolean }) => {
    const api = client(flags, env);
    let d = await api.shutdown(domain);
    if (flags.wait) d = await api.waitFor(String(d.id), ['shutoff', 'crashed']);
    if (flags.json) json(d);
    else out(`${d.name}: ${d.state}${d.exitReason ? ` (${d.exitReason})` : ''}\n`);
  });

  clientOptions(program.command('destroy').description('stop a domain and forget it').argument('<domain>')).action(
    async (domain: string, flags: ClientFlags) => {
      const r = await client(flags, env).destroy(domain);
      if (flags.json) json(r);
      else out(`${r.name}: destroyed\n`);
    },
  );

  clientOptions(
    program
      .command('console')
      .description("attach to a domain's console (Ctrl-] detaches)")
      .argument('<domain>')
      .option('--read-only', 'watch only; another client may hold the input'),
    false,
  ).action(async (domain: string, flags: ClientFlags & { readOnly?: boolean }) => {
    await runConsole(client(flags, env), domain, {
      readOnly: flags.readOnly === true,
      stdin: env.stdin,
      write: (d) => ctx.io.stdout(d),
      note: (t) => ctx.io.stderr(t),
    });
  });

  clientOptions(
    program
      .command('save')
      .description('save a domain to FILE (on the daemon host) and destroy it')
      .argument('<domain>')
      .argument('<file>')
      .option('--keep', 'leave the domain in its previous state instead of destroying it')
      .option('--force', 'replace FILE even when it is a regular file that is not a pvm save file'),
  ).action(async (domain: string, file: string, flags: ClientFlags & { keep?: boolean; force?: boolean }) => {
    const bar = await progressBar(env.stderrIsTTY && !flags.json, `saving ${domain}`);
    const r = await client(flags, env)
      .save(domain, resolvePath(env.cwd, file), {
        keep: flags.keep === true,
        force: flags.force === true,
        onProgress: bar.update,
      })
      .finally(bar.stop);
    if (flags.json) json(r);
    else out(`saved ${r.name} to ${r.path} (${r.bytes} bytes); domain ${r.state}\n`);
  });

  clientOptions(
    program
      .command('restore')
      .description('create a domain from a save file; it continues where it stopped')
      .argument('<file>')
      .option('--name <name>', 'name of the restored domain (default: the saved name)')
      .option('--paused', 'leave it paused')
      .option(
        '--threads',
        "run every hart but the first on a host thread of its own (PV, smp >= 2), whatever the save's config says",
      )
      .option('--no-threads', "run every hart on the domain's thread, whatever the save's config says"),
  ).action(async (file: string, flags: ClientFlags & { name?: string; paused?: boolean; threads?: boolean }) => {
    const bar = await progressBar(env.stderrIsTTY && !flags.json, 'restoring');
    const d = await client(flags, env)
      .restore(resolvePath(env.cwd, file), {
        ...(flags.name !== undefined ? { name: flags.name } : {}),
        paused: flags.paused === true,
        ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
        onProgress: bar.update,
      })
      .finally(bar.stop);
    if (flags.json) json(d);
    else out(`restored domain ${d.name} (id ${d.id}), ${d.state}\n`);
  });

  program
    .command('migrate')
    .description('live-migrate a domain (or, with --all, every domain) to another daemon')
    .argument('[domain]')
    .requiredOption('--to <url>', "the destination daemon's --tcp or --http listener, e.g. http://10.0.0.2:7070")
    .option('--token-file <file>', "file holding the destination's token (default: $PVM_DEST_TOKEN, else $PVM_TOKEN)")
    .option('--all', 'migrate every running or paused domain of the daemon, one after the other (draining a host)')
    .option('--progress', 'show a progress bar of each round on standard error')
    .option('--max-rounds <n>', 'pre-copy rounds at most before stop-and-copy (default 30)', positive('--max-rounds'))
    .option('--ca <file>', 'PEM certificates to trust for an https:// destination')
    .option('--socket <path>', 'the source daemon socket (default: $PVM_SOCKET or $XDG_RUNTIME_DIR/pvm/pvmd.sock)')
    .option('--url <url>', 'the source daemon on TCP instead (its token from $PVM_TOKEN)')
    .option('--json', 'print JSON for scripts')
    .action(
      async (
        domain: string | undefined,
        flags: {
          to: string;
          tokenFile?: string;
          all?: boolean;
          progress?: boolean;
          maxRounds?: number;
          ca?: string;
          socket?: string;
          url?: string;
          json?: boolean;
        },
      ) => {
        if ((domain === undefined) === (flags.all !== true)) {
          throw new PvmError('usage', 'pvm migrate: name one domain, or pass --all');
        }
        // The destination's token: its file, else $PVM_DEST_TOKEN, else $PVM_TOKEN (one token for the cluster).
        const token =
          flags.tokenFile !== undefined
            ? readToken(flags.tokenFile, env.env)
            : env.env.PVM_DEST_TOKEN || env.env.PVM_TOKEN || undefined;
        if (!token) {
          throw new PvmError(
            'usage',
            "pvm migrate needs the destination's token: --token-file FILE, $PVM_DEST_TOKEN or $PVM_TOKEN",
          );
        }
        // A daemon's listeners refuse shorter tokens, so this one cannot be the destination's.
        if (token.length < 16) {
          throw new PvmError('usage', "pvm migrate: the destination's token is shorter than 16 characters");
        }
        let ca: string | undefined;
        if (flags.ca !== undefined) {
          try {
            ca = readFileSync(resolvePath(env.cwd, flags.ca), 'utf8');
          } catch (e) {
            throw new PvmError('io', `cannot read --ca ${flags.ca}: ${(e as NodeJS.ErrnoException).code ?? e}`);
          }
        }
        const api = client(
          { ...(flags.socket ? { socket: flags.socket } : {}), ...(flags.url ? { url: flags.url } : {}) },
          env,
        );
        const names =
          domain !== undefined
            ? [domain]
            : (await api.list()).filter((d) => d.state === 'running' || d.state === 'paused').map((d) => d.name);
        const results: MigrateResult[] = [];
        const failed: { name: string; error: string }[] = [];
        for (const name of names) {
          const bar = await migrationBar(flags.progress === true, name);
          const move = api
            .migrate(name, flags.to, {
              token,
              ...(ca !== undefined ? { ca } : {}),
              ...(flags.maxRounds !== undefined ? { maxRounds: Math.floor(flags.maxRounds) } : {}),
              onProgress: bar.update,
            })
            .finally(bar.stop);
          if (domain !== undefined) {
            results.push(await move);
            if (!flags.json) out(`${migrationSummary(results[0]!)}\n`);
            continue;
          }
          // Draining: a domain that cannot move stays where it is; the others go on.
          try {
            const r = await move;
            results.push(r);
            if (!flags.json) out(`${migrationSummary(r)}\n`);
          } catch (e) {
            const error = e instanceof Error ? e.message : String(e);
            failed.push({ name, error });
            ctx.io.stderr(`pvm: cannot migrate ${name}: ${error}`);
          }
        }
        if (domain !== undefined) {
          if (flags.json) json(results[0]);
          return;
        }
        if (flags.json) json({ migrated: results, failed });
        else {
          const n = results.length;
          out(
            `drained: ${n} domain${n === 1 ? '' : 's'} migrated to ${flags.to}` +
              `${failed.length > 0 ? `, ${failed.length} left here (${failed.map((f) => f.name).join(', ')})` : ''}\n`,
          );
        }
        if (failed.length > 0) ctx.status = 1;
      },
    );

  clientOptions(
    program
      .command('top')
      .description('live table of the domains: CPU share, MIPS, exits/s, memory')
      .option('-d, --interval <seconds>', 'seconds between samples', positive('--interval'), 1)
      .option('--once', 'print one sample and exit'),
  ).action(async (flags: ClientFlags & { interval: number; once?: boolean }) => {
    const { runTop } = await import('./top.js');
    await runTop(client(flags, env), {
      intervalMs: flags.interval * 1000,
      once: flags.once === true || flags.json === true,
      json: flags.json === true,
      write: out,
    });
  });

  return program;
}

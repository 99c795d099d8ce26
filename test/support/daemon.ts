/**
 * What the control plane's end-to-end tests share: a daemon on a temporary
 * socket, the pvm CLI run in-process against it, a guest assembled with the
 * cross toolchain, and small waits and collectors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duplex, PassThrough } from 'node:stream';
import { Command } from 'commander';
import { assemblePvGuest } from '../../bench/pv-guest.js';
import { ControlPlane } from '../../src/api/control.js';
import type { DomainManager } from '../../src/api/domain.js';
import { type ApiError, isApiError } from '../../src/api/errors.js';
import { PvmClient } from '../../src/cli/client.js';
import { registerControlCommands } from '../../src/cli/commands/control.js';
import { registerSwitchCommands } from '../../src/cli/commands/switch.js';
import type { CliContext } from '../../src/cli/context.js';
import { createLogger, type LogLevel } from '../../src/host/logger.js';
import { SwitchLinks } from '../../src/host/switch-links.js';
import { type Daemon, startDaemon, type TcpLimits } from '../../src/server/daemon.js';
import { HypervisorDomainManager } from '../../src/server/hypervisor-domains.js';
import { createFileSnapshotStore, fileSnapshotStore } from '../../src/server/local.js';
import type { MigrationEndpointOptions } from '../../src/server/migration.js';

export interface TestDaemon<M extends DomainManager> {
  /** A fresh temporary directory; the socket is `pvmd.sock` in it. */
  readonly dir: string;
  readonly daemon: Daemon;
  readonly client: PvmClient;
  readonly manager: M;
  /** The daemon's log lines (JSON), when started with a `logLevel`. */
  readonly logs: string[];
  /** Stops the daemon, destroys its domains, removes the directory. */
  close(): Promise<void>;
}

/** A daemon over `manager` on a socket in a new temporary directory (logs kept at `logLevel`, default silent). */
export async function startTestDaemon<M extends DomainManager>(
  manager: M,
  options: {
    prefix?: string;
    logLevel?: LogLevel;
    tcpToken?: string;
    tcpLimits?: Partial<TcpLimits>;
    tcpTls?: { cert: string; key: string };
    /** The TCP listener's port (default: any free one). */
    tcpPort?: number;
    httpToken?: string;
    /** Ping interval of switch links (the hypervisor manager's switches can be joined). */
    linkPingMs?: number;
    migration?: MigrationEndpointOptions;
  } = {},
): Promise<TestDaemon<M>> {
  const dir = mkdtempSync(join(tmpdir(), options.prefix ?? 'pvm-daemon-'));
  const logs: string[] = [];
  const logger = createLogger({
    level: options.logLevel ?? 'silent',
    stream: { write: (s: string) => void logs.push(s) },
  });
  // Save and restore paths obey the manager's host files policy, as in `pvm daemon`.
  const control = new ControlPlane({
    manager,
    store: manager instanceof HypervisorDomainManager ? createFileSnapshotStore(manager.files) : fileSnapshotStore,
    ...(manager instanceof HypervisorDomainManager && {
      network: new SwitchLinks(manager.switches, {
        ...(options.linkPingMs !== undefined && { pingMs: options.linkPingMs }),
      }),
    }),
  });
  const daemon = await startDaemon({
    control,
    logger,
    socketPath: join(dir, 'pvmd.sock'),
    ...(options.tcpToken !== undefined
      ? {
          tcp: {
            host: '127.0.0.1',
            port: options.tcpPort ?? 0,
            token: options.tcpToken,
            ...(options.tcpLimits ? { limits: options.tcpLimits } : {}),
            ...(options.tcpTls ? { tls: options.tcpTls } : {}),
          },
        }
      : {}),
    ...(options.httpToken !== undefined ? { http: { host: '127.0.0.1', port: 0, token: options.httpToken } } : {}),
    ...(options.migration ? { migration: options.migration } : {}),
  });
  return {
    dir,
    daemon,
    client: new PvmClient({ socketPath: daemon.socketPath }),
    manager,
    logs,
    async close() {
      await daemon.close();
      await control.network?.close();
      await manager.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `pvm ARGS` in-process against the daemon on `socketPath`; returns what it printed. */
export async function runPvm(
  socketPath: string,
  cwd: string,
  args: readonly string[],
  stdin = new PassThrough(),
  extraEnv: Record<string, string> = {},
): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    io: {
      stdout: (d) => {
        out += typeof d === 'string' ? d : Buffer.from(d).toString('utf8');
      },
      stderr: (t) => {
        err += `${t}\n`;
      },
    },
    status: 0,
  };
  const program = new Command().name('pvm').exitOverride();
  const env = { stdin, stderrIsTTY: false, env: { PVM_SOCKET: socketPath, ...extraEnv }, cwd };
  registerControlCommands(program, ctx, env);
  registerSwitchCommands(program, ctx, env);
  await program.parseAsync([...args], { from: 'user' });
  return { out, err };
}

/** The ApiError a promise is refused with; fails when it resolves or throws anything else. */
export async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (isApiError(e)) return e;
    throw e;
  }
  assert.fail('expected the daemon to refuse');
}

/** Polls `f` every 5 ms until it gives a value other than undefined or false; fails after `tries`. */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false> | T | undefined | false,
  tries = 4000,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`gave up waiting for ${what}`);
}

/** Collects a console stream's bytes as text. */
export function collect(s: Duplex, encoding: BufferEncoding = 'utf8'): { text: () => string } {
  let text = '';
  s.on('data', (d: Buffer) => {
    text += d.toString(encoding);
  });
  return { text: () => text };
}

/** Assembles `source` into `dir/guest.elf` (linked at 0x80200000) with riscv64-unknown-elf-gcc; fails loudly without it. */
export function assembleGuest(dir: string, source: string, march: string): string {
  return assemblePvGuest(dir, 'guest', source, march);
}

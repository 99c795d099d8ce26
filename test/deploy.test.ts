/**
 * The deployment examples in deploy/ (docs/cluster.md): the systemd units, the Nomad job and the
 * Kubernetes DaemonSet parse, run `pvm` commands with options that exist, and point their
 * health checks and metrics at routes the daemon serves on the listeners they name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { buildProgram } from '../src/cli/main.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { ApiSpec } from '../src/server/openapi.js';
import { startTestDaemon } from './support/daemon.js';
import { root } from './support/linux-guest.js';

const file = (p: string) => readFileSync(join(root, 'deploy', p), 'utf8');
const program = buildProgram({ io: { stdout: () => {}, stderr: () => {} }, status: 0 });

/** The command `pvm ARGS` names (`daemon`, `switch join`), or fails. */
function commandOf(args: readonly string[]): { cmd: Command; rest: string[] } {
  let cmd: Command = program;
  let i = 0;
  for (; i < args.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === args[i]);
    if (sub === undefined) break;
    cmd = sub;
  }
  assert.notEqual(cmd, program, `pvm ${args.join(' ')} names a command`);
  return { cmd, rest: args.slice(i) };
}

/** Every --option in `args` is one of the command's; returns option -> value. */
function checkArgs(args: readonly string[]): Map<string, string> {
  const { cmd, rest } = commandOf(args);
  const known = new Set(cmd.options.map((o) => o.long));
  const values = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (!a.startsWith('--')) continue;
    assert.ok(known.has(a), `pvm ${cmd.name()} has no option ${a}`);
    values.set(a, rest[i + 1] ?? '');
  }
  return values;
}

/** ExecStart=... of a unit, continuation lines joined, split into words (no quoting in these units). */
function execLine(unit: string, key: string): string[] {
  const m = new RegExp(`^${key}=((?:.*\\\\\\n)*.*)$`, 'm').exec(unit);
  assert.ok(m, `${key} in the unit`);
  return m[1]!.replace(/\\\n/g, ' ').trim().split(/\s+/);
}

interface Probe {
  httpGet: { path: string; port: number };
}

const portOf = (hostPort: string | undefined) => Number(/:(\d+)$/.exec(hostPort ?? '')?.[1]);

test('systemd: the unit runs pvm daemon with real options, its peers as --join', () => {
  const unit = file('systemd/pvm.service');
  const start = execLine(unit, 'ExecStart');
  assert.equal(start[0], '/usr/bin/pvm');
  const daemon = checkArgs(start.slice(1));
  assert.deepEqual([...daemon.keys()].sort(), [
    '--allow-dir',
    '--http',
    '--log-level',
    '--socket',
    '--state-dir',
    '--tcp',
    '--token-file',
  ]);
  assert.equal(portOf(daemon.get('--tcp')), 7070);
  // The joins come from the environment file, in the form --join takes.
  assert.equal(start.at(-1), '$PVM_JOIN');
  assert.match(unit, /^EnvironmentFile=-\/etc\/pvm\/peers$/m);
  const example = /PVM_JOIN=(--join \S+(?: --join \S+)*)/.exec(unit)?.[1];
  assert.ok(example);
  const joins = checkArgs(['daemon', ...example.split(' ')]);
  assert.match(joins.get('--join') ?? '', /^lan=http:\/\/\w+:7070$/);
});

test('Nomad: the job runs pvm daemon with real options and checks /v1/health on its HTTP port', () => {
  const job = file('nomad/pvm.nomad.hcl');
  const args = /args = \[([^\]]*)\]/.exec(job)?.[1];
  assert.ok(args);
  const words = [...args.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  const daemon = checkArgs(words);
  assert.match(job, /command = "\/usr\/bin\/pvm"/);
  assert.match(job, /type {5}= "http"\n {8}path {5}= "\/v1\/health"/);
  const httpPort = Number(/port "http" \{\s*static = (\d+)/.exec(job)?.[1]);
  assert.equal(portOf(daemon.get('--http')), httpPort);
  assert.match(job, /service \{\s*name {5}= "pvm"\s*port {5}= "http"/);
});

test('Kubernetes: the DaemonSet runs pvm daemon with real options; probes and scrape hit real routes', () => {
  const ds = parseYaml(file('kubernetes/pvm-daemonset.yaml')) as {
    kind: string;
    spec: {
      template: {
        metadata: { annotations: Record<string, string> };
        spec: { containers: { command: string[]; args: string[]; livenessProbe: Probe; readinessProbe: Probe }[] };
      };
    };
  };
  assert.equal(ds.kind, 'DaemonSet');
  const c = ds.spec.template.spec.containers[0]!;
  const daemon = checkArgs([...c.command.slice(1), ...c.args]);
  for (const probe of [c.livenessProbe, c.readinessProbe]) {
    assert.equal(probe.httpGet.path, '/v1/health');
    assert.equal(probe.httpGet.port, portOf(daemon.get('--tcp')));
  }
  const a = ds.spec.template.metadata.annotations;
  assert.equal(a['prometheus.io/path'], '/metrics');
  assert.equal(Number(a['prometheus.io/port']), portOf(daemon.get('--http')));
});

test('the routes the examples use exist: /v1/health without a token, /metrics with it', async () => {
  assert.equal(ApiSpec.load().match('GET', '/v1/health').op.operationId, 'health');
  const token = 'deploy-test-token-0123456789';
  const d = await startTestDaemon(new HypervisorDomainManager(), { tcpToken: token, httpToken: token });
  try {
    const get = (port: number, path: string, auth?: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, auth ? { headers: { authorization: `Bearer ${auth}` } } : {});
    assert.equal((await get(d.daemon.tcp!.port, '/v1/health')).status, 200);
    assert.equal((await get(d.daemon.http!.port, '/v1/health')).status, 200);
    const m = await get(d.daemon.http!.port, '/metrics', token);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /^# HELP pvm_domains /m);
  } finally {
    await d.close();
  }
});

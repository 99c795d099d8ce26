/**
 * One spec, four front ends, one domain: the same domain described with `pvm run` flags, in a
 * file for `pvm run FILE`, in a file and in flags for `pvm create` (the daemon) and in a library call is
 * built the same (RAM, vCPUs, devices in their slots, MACs, where console input goes), because
 * all four parse the spec schema and end in the one builder. Each built domain is described
 * from what was built (the MAC read from the NIC, the harts on the board), not from the spec.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { DomainInfo, MachineInfo } from '../src/api/domain.js';
import { type DomainSpecInput, defaultMac, MiB } from '../src/api/spec.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { openControlPlane } from '../src/server/local.js';
import { runPvm, startTestDaemon, type TestDaemon } from './support/daemon.js';
import { initrd, kernel, pvm } from './support/linux-guest.js';

const MACHINE: readonly (keyof MachineInfo)[] = ['mode', 'vcpus', 'memoryBytes', 'devices', 'consoleInput', 'cmdline'];
const machine = (d: MachineInfo): MachineInfo =>
  Object.fromEntries(MACHINE.map((k) => [k, d[k]])) as unknown as MachineInfo;

interface Case {
  /** What it is. */
  readonly what: string;
  /** `pvm run` flags. */
  readonly flags: readonly string[];
  /** The same domain as a document (paths relative to the test directory). */
  readonly doc: Omit<DomainSpecInput, 'name'>;
  readonly want: MachineInfo;
}

const cases: Case[] = [
  {
    what: 'Linux in PV mode with every device kind, some in the slots they name, and console=hvc0',
    flags: [
      ...['--kernel', kernel, '--initrd', initrd, '--memory', '256M', '--smp', '2'],
      ...['--append', 'console=hvc0 quiet', '--disk', 'disk.img,ro,slot=4', '--net', 'lan,mac=52:54:00:12:34:56'],
      ...['--rng', 'slot=0', '--balloon', '--virtio-console'],
    ],
    doc: {
      kernel,
      initrd,
      memory: '256M',
      smp: 2,
      append: 'console=hvc0 quiet',
      disks: [{ path: 'disk.img', readonly: true, slot: 4 }],
      nets: [{ switch: 'lan', mac: '52:54:00:12:34:56' }],
      rng: 'slot=0',
      balloon: true,
      virtioConsole: true,
    },
    want: {
      mode: 'pv',
      vcpus: 2,
      memoryBytes: 256 * MiB,
      devices: [
        { slot: 0, kind: 'rng' },
        { slot: 1, kind: 'console' },
        { slot: 2, kind: 'net', mac: '52:54:00:12:34:56', switch: 'lan' },
        { slot: 3, kind: 'balloon' },
        { slot: 4, kind: 'blk', path: 'DIR/disk.img', readonly: true },
      ],
      consoleInput: 'sbi',
      cmdline: 'console=hvc0 quiet',
    },
  },
  {
    what: 'Linux in full mode (default firmware and memory) with its console on virtio (hvc1)',
    flags: ['--kernel', kernel, '--mode', 'full', '--append', 'console=hvc1', '--rng'],
    doc: { kernel, mode: 'full', append: 'console=hvc1', rng: true },
    want: {
      mode: 'full',
      vcpus: 1,
      memoryBytes: 128 * MiB,
      devices: [
        { slot: 0, kind: 'console' },
        { slot: 1, kind: 'rng' },
      ],
      consoleInput: 'virtio',
      cmdline: 'console=hvc1',
    },
  },
  {
    what: 'the embedded guest with a writable and a read-only host folder (9p)',
    flags: ['--share', 'shared:data', '--share', 'shared:cfg,ro'],
    doc: { shares: ['shared:data', { path: 'shared', tag: 'cfg', readonly: true }] },
    want: {
      mode: 'pv',
      vcpus: 1,
      memoryBytes: 64 * MiB,
      devices: [
        { slot: 0, kind: '9p', tag: 'data', path: 'DIR/shared', readonly: false },
        { slot: 1, kind: '9p', tag: 'cfg', path: 'DIR/shared', readonly: true },
      ],
      consoleInput: 'uart',
      cmdline: '',
    },
  },
  {
    what: 'nothing said: the embedded guest with its defaults',
    flags: [],
    doc: {},
    want: { mode: 'pv', vcpus: 1, memoryBytes: 64 * MiB, devices: [], consoleInput: 'uart', cmdline: '' },
  },
];

describe('the same spec through pvm run flags, pvm run FILE, the daemon and the library', () => {
  let dir: string;
  let daemon: TestDaemon<HypervisorDomainManager>;
  before(async () => {
    daemon = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-fronts-' });
    dir = daemon.dir;
    writeFileSync(join(dir, 'disk.img'), new Uint8Array(1 << 20));
    mkdirSync(join(dir, 'shared'));
  });
  after(() => daemon.close());

  /** `pvm run ARGS --dry-run` in a child process, in the test directory. */
  const dryRun = (args: readonly string[]): MachineInfo & { name: string } => {
    const r = spawnSync(process.execPath, [pvm, 'run', ...args, '--dry-run'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const expected = (c: Case): MachineInfo =>
    JSON.parse(JSON.stringify(c.want).replaceAll('DIR/', `${dir}/`)) as MachineInfo;

  for (const [i, c] of cases.entries()) {
    test(c.what, async () => {
      const want = expected(c);
      // 1. pvm run with flags
      const flags = dryRun(c.flags);
      assert.equal(flags.name, 'vm0');
      assert.deepEqual(machine(flags), want, 'pvm run flags');
      // 2. pvm run FILE
      const file = join(dir, `case${i}.yaml`);
      writeFileSync(file, stringify(c.doc));
      assert.deepEqual(machine(dryRun([file])), want, 'pvm run FILE');
      // 3. the daemon, given the same file by pvm create
      const name = `case${i}`;
      writeFileSync(file, stringify({ name, ...c.doc }));
      await runPvm(daemon.daemon.socketPath, dir, ['create', file, '--paused']);
      const viaDaemon = JSON.parse((await runPvm(daemon.daemon.socketPath, dir, ['info', name, '--json'])).out);
      assert.deepEqual(machine(viaDaemon), want, 'the daemon');
      await daemon.client.destroy(name);
      // 3b. the daemon, given the same flags by pvm create
      await runPvm(daemon.daemon.socketPath, dir, ['create', '--name', name, ...c.flags, '--paused']);
      const viaFlags = JSON.parse((await runPvm(daemon.daemon.socketPath, dir, ['info', name, '--json'])).out);
      assert.deepEqual(machine(viaFlags), want, 'the daemon, from pvm create flags');
      await daemon.client.destroy(name);
      // 4. the library, in this process (relative paths are the caller's: absolute here)
      const lib = openControlPlane();
      try {
        const doc = JSON.parse(
          JSON.stringify(c.doc).replaceAll('disk.img', `${dir}/disk.img`).replaceAll('"shared', `"${dir}/shared`),
        );
        const d: DomainInfo = await lib.create({ name, ...doc }, { paused: true });
        assert.deepEqual(machine(d), want, 'the library');
        // the document the daemon and the library keep is the same
        assert.deepEqual(d.config, viaDaemon.config);
      } finally {
        await lib.close();
      }
    });
  }

  test('a NIC without a MAC: by position in a run, by domain id in the daemon (so daemon domains never clash)', async () => {
    const file = join(dir, 'gen.yaml');
    writeFileSync(file, stringify({ domains: [{ nets: ['lan'] }, { nets: ['lan', 'wan'] }] }));
    const run = dryRun([file]) as unknown as (MachineInfo & { name: string })[];
    assert.deepEqual(
      run.map((d) => d.devices.filter((x) => x.kind === 'net').map((x) => x.mac)),
      [[defaultMac(0, 0)], [defaultMac(1, 0), defaultMac(1, 1)]],
    );
    assert.deepEqual(
      dryRun(['--net', 'lan']).devices.map((x) => x.mac ?? x.kind),
      [defaultMac(0, 0)],
      'flags: domain 0, as a one-domain file',
    );
    await runPvm(daemon.daemon.socketPath, dir, ['create', file, '--paused']);
    const listed = await daemon.client.list();
    for (const d of listed) {
      const macs = d.devices.filter((x) => x.kind === 'net').map((x) => x.mac);
      assert.deepEqual(
        macs,
        macs.map((_, k) => defaultMac(d.id, k)),
        `${d.name} (id ${d.id})`,
      );
      // and the daemon keeps them in the domain's document, for reboots and save files
      assert.deepEqual(
        (d.config.nets as { mac: string }[]).map((n) => n.mac),
        macs,
      );
      await daemon.client.destroy(d.name);
    }
  });
});

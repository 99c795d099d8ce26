/**
 * The daemon with two real guests side by side: Linux (busybox shell on the
 * SBI console) and pvos, the PV guest OS (PVX back ends). Every control
 * command is driven through the pvm CLI (in-process, against the daemon's
 * socket) or, for the console, through the client; states and outputs are
 * checked. Both guests are saved and restored mid-session and still answer
 * their shells afterwards; pvos is shut down gracefully (PVX
 * VIRQ_SHUTDOWN_REQUEST), Linux is told it cannot be.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PvmClient } from '../src/cli/client.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { Console, make, PROMPT, PVOS_ELF, vchanTransfer } from './pvos-console.js';
import { refusal, runPvm, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { initrd, kernel } from './support/linux-guest.js';

/** `pvm create` arguments of the Linux guest (busybox shell on hvc0), paused. */
const createLinux = (name: string): string[] => [
  'create',
  '--name',
  name,
  '--kernel',
  kernel,
  '--initrd',
  initrd,
  '--append',
  'console=hvc0',
  '--memory',
  '256M',
  '--paused',
];

describe('two real guests in one daemon, every command', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let dir: string;
  let client: PvmClient;

  before(async () => {
    make(); // builds guests/pvos/build/pvos.elf; fails loudly without the cross toolchain
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-two-' });
    dir = h.dir;
    client = h.client;
  });
  after(() => h.close());

  /** Runs `pvm ARGS` in-process against the daemon; returns what it printed. */
  async function pvm(...args: string[]): Promise<string> {
    const { out, err } = await runPvm(h.daemon.socketPath, dir, args);
    assert.equal(err, '', `pvm ${args.join(' ')} wrote to stderr`);
    return out;
  }
  const info = async (name: string) => JSON.parse(await pvm('info', name, '--json')) as Record<string, unknown>;

  /** A console session on a daemon domain, as the pvos tests' Console (\r\n folded). */
  async function attach(name: string): Promise<{ con: Console; close: () => void }> {
    const s = await client.attachConsole(name, { write: true });
    s.setEncoding('latin1');
    const con = new Console({
      write: (t) => s.write(t),
      onData: (cb) => s.on('data', cb),
      exited: new Promise((resolve) => s.on('close', () => resolve(0))),
      kill: () => s.destroy(),
    });
    return { con, close: () => s.destroy() };
  }

  test('Linux and pvos: create, list, info, console, pause, unpause, stats, top, save, restore, shutdown, reboot, destroy', async () => {
    // create (both, paused, so the consoles see everything from the first byte)
    assert.equal(await pvm(...createLinux('linux')), 'created domain linux (id 1), paused\n');
    assert.equal(
      await pvm('create', '--name', 'pvos', '--kernel', PVOS_ELF, '--memory', '128M', '--paused'),
      'created domain pvos (id 2), paused\n',
    );
    const pvosInfo = await info('pvos');
    assert.equal(pvosInfo.state, 'paused');
    assert.equal(pvosInfo.memoryBytes, 128 * 1024 * 1024);
    assert.equal(pvosInfo.vcpus, 1);
    assert.equal((pvosInfo.config as { memory: string }).memory, '128M');

    let linux = await attach('linux');
    let pvos = await attach('pvos');
    assert.equal(await pvm('unpause', 'pvos'), 'pvos: running\n');
    assert.equal(await pvm('unpause', 'linux'), 'linux: running\n');
    const list = JSON.parse(await pvm('list', '--json')) as { name: string; state: string }[];
    assert.deepEqual(
      list.map((d) => [d.name, d.state]),
      [
        ['linux', 'running'],
        ['pvos', 'running'],
      ],
    );

    // console: pvos boots with its PVX back ends (its own PVX domain id is its daemon id) and answers.
    const boot = await pvos.con.until(PROMPT);
    assert.match(boot, /pvos: PVX 1\.0 present \(domain 2, features 0x[0-9a-f]+\)/);
    assert.match(await pvos.con.run('info'), /backends: pvx 1\.0/);

    // pause / unpause: nothing runs while paused; the other domain goes on.
    assert.equal(await pvm('pause', 'pvos'), 'pvos: paused\n');
    const frozen = (JSON.parse(await pvm('stats', 'pvos', '--json')) as { instructions: number }).instructions;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((JSON.parse(await pvm('stats', 'pvos', '--json')) as { instructions: number }).instructions, frozen);
    assert.equal((await info('linux')).state, 'running');
    assert.equal(await pvm('unpause', 'pvos'), 'pvos: running\n');

    // stats and top --json. pvos idles at its prompt until its next 100 Hz tick, which may come
    // after the first stats request: wait for it rather than for a time.
    type Stats = { instructions: number; hypercalls: Record<string, number> };
    const stats = await until('pvos runs again after unpause', async () => {
      const s = JSON.parse(await pvm('stats', 'pvos', '--json')) as Stats;
      return s.instructions > frozen ? s : undefined;
    });
    assert.ok(stats.instructions > frozen);
    assert.ok(
      Object.keys(stats.hypercalls).some((k) => k.startsWith('PVX/')),
      'pvos makes PVX calls',
    );
    const top = JSON.parse(await pvm('top', '--json', '--once', '--interval', '0.2')) as { name: string }[];
    assert.deepEqual(top.map((r) => r.name).sort(), ['linux', 'pvos']);

    // save pvos mid-session (the domain goes away), restore it: the shell still answers, same PVX id.
    const pvosFile = join(dir, 'pvos.pvmsnap');
    assert.match(
      await pvm('save', 'pvos', pvosFile),
      /^saved pvos to .*pvos\.pvmsnap \(\d+ bytes\); domain destroyed\n$/,
    );
    pvos.close();
    assert.deepEqual(
      (JSON.parse(await pvm('list', '--json')) as { name: string }[]).map((d) => d.name),
      ['linux'],
    );
    assert.equal(await pvm('restore', pvosFile, '--paused'), 'restored domain pvos (id 3), paused\n');
    // The counters go on from the saved values (instructions from the harts, exits and hypercalls from the file).
    const restoredStats = JSON.parse(await pvm('stats', 'pvos', '--json')) as typeof stats;
    assert.ok(restoredStats.instructions > stats.instructions);
    for (const [k, n] of Object.entries(stats.hypercalls)) assert.ok(restoredStats.hypercalls[k]! >= n, k);
    pvos = await attach('pvos');
    await pvm('unpause', 'pvos');
    assert.match(await pvos.con.run('info'), /backends: pvx 1\.0/);
    assert.match(await pvos.con.run('ticks'), /\d+/);

    // Linux reaches its shell; save it, restore it, and it still runs a command.
    await linux.con.until('pvm-guest: init ready');
    linux.con.send('echo before-$((40+2))');
    await linux.con.until('before-42');
    const linuxFile = join(dir, 'linux.pvmsnap');
    assert.match(await pvm('save', 'linux', linuxFile), /domain destroyed\n$/);
    linux.close();
    assert.equal(await pvm('restore', linuxFile), 'restored domain linux (id 4), running\n');
    linux = await attach('linux');
    linux.con.send('echo after-$((50+5))');
    await linux.con.until('after-55');

    // shutdown: pvos listens (VIRQ_SHUTDOWN_REQUEST) and powers off; Linux cannot be asked.
    assert.equal(await pvm('shutdown', 'pvos', '--wait'), 'pvos: shutoff (poweroff)\n');
    const no = await refusal(client.shutdown('linux'));
    assert.equal(no.code, 'bad-state');
    assert.match(no.message, /has no way to be asked to shut down/);
    assert.equal((await info('linux')).gracefulShutdown, false);

    // reboot brings pvos back from its config.
    assert.equal(await pvm('reboot', 'pvos'), 'pvos: running\n');
    await pvos.con.until(PROMPT);

    // destroy both.
    assert.equal(await pvm('destroy', 'pvos'), 'pvos: destroyed\n');
    assert.equal(await pvm('destroy', 'linux'), 'linux: destroyed\n');
    assert.equal(await pvm('list'), await pvm('list'));
    assert.deepEqual(JSON.parse(await pvm('list', '--json')), []);
    linux.close();
    pvos.close();
  });

  test('two PV guests in one daemon share a PVX host: distinct domain ids, a vchan between them', async () => {
    await pvm('create', '--name', 'one', '--kernel', PVOS_ELF, '--memory', '64M', '--paused');
    await pvm('create', '--name', 'two', '--kernel', PVOS_ELF, '--memory', '64M', '--paused');
    const one = await attach('one');
    const two = await attach('two');
    await pvm('unpause', 'one');
    await pvm('unpause', 'two');
    const idOf = async (c: Console) => Number(/PVX 1\.0 present \(domain (\d+),/.exec(await c.until(PROMPT))?.[1]);
    const [id1, id2] = [await idOf(one.con), await idOf(two.con)];
    assert.notEqual(id1, id2);
    assert.ok(id1 > 0 && id2 > 0);
    await vchanTransfer(one.con, id1, two.con, id2, 1); // 1 MiB over an event channel and granted pages
    await pvm('destroy', 'one');
    await pvm('destroy', 'two');
    one.close();
    two.close();
  });

  test('Linux saved mid-boot (paging on, timers armed) and restored finishes booting and runs a command', async () => {
    await pvm(...createLinux('boot'));
    const first = await attach('boot');
    await pvm('unpause', 'boot');
    await first.con.until('Linux version');
    await first.con.until('\n'); // well into start_kernel: the MMU is on
    const file = join(dir, 'boot.pvmsnap');
    await pvm('save', 'boot', file);
    first.close();
    await pvm('restore', file, '--paused');
    const again = await attach('boot');
    await pvm('unpause', 'boot');
    await again.con.until('Run /init as init process'); // printed by the restored kernel: saved before it
    await again.con.until('pvm-guest: init ready');
    again.con.send('echo mid-boot-$((3*11))');
    await again.con.until('mid-boot-33');
    await pvm('destroy', 'boot');
    again.close();
  });
});

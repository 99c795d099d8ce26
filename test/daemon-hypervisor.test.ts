/**
 * The daemon over the real hypervisor: a tiny PV guest, assembled here with
 * riscv64-unknown-elf-gcc, prints a greeting through the SBI legacy console,
 * echoes console input through legacy getchar (sleeping 1 ms in WFI between
 * polls), and powers off through SBI SRST when it reads 'q'. Driven through the client like any domain.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PvmClient } from '../src/cli/client.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, collect, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { ECHO_GUEST } from './support/echo-guest.js';
import { initrd, kernel as linuxKernel } from './support/linux-guest.js';

describe('pvm daemon over the hypervisor', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let dir: string;
  let client: PvmClient;
  let kernel: string;

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-hv-' });
    dir = h.dir;
    client = h.client;
    kernel = assembleGuest(dir, ECHO_GUEST, 'rv64imac_zicsr');
  });
  after(() => h.close());

  test('create, console, pause, unpause, poweroff, reboot, destroy', async () => {
    const config = { name: 'pv1', kernel, memory: '16M', append: 'console=hvc0' };
    const created = await client.create(config, { paused: true });
    assert.equal(created.state, 'paused');
    assert.equal(created.memoryBytes, 16 * 1024 * 1024);
    const before = await client.stats('pv1');
    assert.equal(before.instructions, 0, 'paused before the first instruction');
    assert.equal(before.uptimeMs, 0);
    const con = await client.attachConsole('pv1', { write: true });
    const out = collect(con);
    await client.unpause('pv1');
    await until('greeting', () => out.text() === 'hello from a pv guest\n');

    await client.pause('pv1');
    const frozen = (await client.stats('pv1')).instructions;
    con.write('xyz');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal((await client.stats('pv1')).instructions, frozen, 'no instruction runs while paused');
    assert.equal(out.text(), 'hello from a pv guest\n', 'input waits while paused');
    await client.unpause('pv1');
    await until('echo', () => out.text() === 'hello from a pv guest\nxyz');

    const stats = await client.stats('pv1');
    assert.equal(stats.hypercalls['LEGACY/console_putchar'], 'hello from a pv guest\n'.length + 3);
    assert.ok(stats.exits.hypercall! >= stats.hypercalls['LEGACY/console_putchar']!);

    const shut = await refusal(client.shutdown('pv1'));
    assert.equal(shut.code, 'bad-state');
    assert.match(shut.message, /has no way to be asked to shut down/);
    const kept = await client.save('pv1', join(dir, 'pv1.snap'), { keep: true });
    assert.equal(kept.state, 'running', 'save --keep leaves the domain running');
    assert.ok(kept.bytes > 0);

    con.write('q');
    const off = await until('poweroff', async () => {
      const i = await client.info('pv1');
      return i.state === 'shutoff' ? i : undefined;
    });
    assert.equal(off.exitReason, 'poweroff');

    assert.equal((await client.reboot('pv1')).state, 'running');
    await until('greeting again', () => out.text() === 'hello from a pv guest\nxyzhello from a pv guest\n');
    const closed = new Promise((r) => con.on('close', r));
    await client.destroy('pv1');
    await closed;
    assert.deepEqual(await client.list(), []);
  });

  test('Linux and the assembled guest run side by side; Linux pauses mid-boot, runs a command, powers off', async () => {
    await client.create({
      name: 'linux',
      kernel: linuxKernel,
      initrd,
      append: 'console=hvc0 pvm.run=echo%20daemon-ok',
      memory: '256M',
    });
    await client.create({ name: 'tiny', kernel, memory: '16M', append: 'console=hvc0' });
    const con = await client.attachConsole('linux');
    const out = collect(con);
    // Bounds only against a hang: booting Linux on a loaded machine takes minutes.
    await until('the kernel banner', () => out.text().includes('Linux version'), 100_000);
    await client.pause('linux');
    const frozen = (await client.stats('linux')).instructions;
    assert.equal((await client.info('tiny')).state, 'running', 'pausing one domain leaves the other running');
    assert.equal((await client.stats('linux')).instructions, frozen);
    await client.unpause('linux');
    const off = await until(
      'Linux powers off',
      async () => {
        const i = await client.info('linux');
        return i.state === 'shutoff' ? i : undefined;
      },
      100_000,
    );
    assert.equal(off.exitReason, 'poweroff');
    assert.match(out.text(), /\ndaemon-ok\r?\n/);
    assert.match(out.text(), /pvm-guest: exit 0/);
    const stats = await client.stats('linux');
    assert.ok(stats.instructions > frozen);
    // PV domains have Sstc: Linux writes stimecmp itself instead of calling SBI set_timer
    assert.equal(stats.hypercalls['TIME/set_timer'], undefined, 'Linux programs its timer through stimecmp');
    assert.deepEqual(
      (await client.list()).map((d) => [d.name, d.state]),
      [
        ['linux', 'shutoff'],
        ['tiny', 'running'],
      ],
    );
    con.destroy();
    await client.destroy('linux');
    await client.destroy('tiny');
  });

  test('a reboot whose kernel has vanished leaves the domain crashed, with the reason', async () => {
    const copy = join(dir, 'vanishing.elf');
    writeFileSync(copy, readFileSync(kernel));
    await client.create({ name: 'gone', kernel: copy, memory: '16M', append: 'console=hvc0' }, { paused: true });
    rmSync(copy);
    const e = await refusal(client.reboot('gone'));
    assert.equal(e.code, 'io');
    const info = await client.info('gone');
    assert.equal(info.state, 'crashed');
    assert.equal(info.exitReason, `reboot failed: domain gone: cannot read kernel ${copy}: no such file`);
    await client.destroy('gone');
  });

  test('a missing kernel or disk is refused and nothing is created', async () => {
    const e = await refusal(client.create({ name: 'bad', kernel: join(dir, 'nope.elf') }));
    assert.equal(e.code, 'io');
    assert.equal(e.message, `domain bad: cannot read kernel ${join(dir, 'nope.elf')}: no such file`);
    const e3 = await refusal(client.create({ name: 'bad', kernel, disks: [join(dir, 'disk.img')] }));
    assert.equal(e3.message, `domain bad: cannot open disk ${join(dir, 'disk.img')}: no such file`);
    assert.deepEqual(await client.list(), []);
  });

  test('a domain without a kernel boots the embedded guest, as pvm run does; console { file } gets its output', async () => {
    const log = join(dir, 'pvos.log');
    const d = await client.create({ name: 'pvos', console: { file: log } }, { paused: true });
    assert.deepEqual([d.memoryBytes, d.config.kernel, d.cmdline], [64 << 20, undefined, '']);
    const con = await client.attachConsole('pvos');
    const out = collect(con);
    await client.unpause('pvos');
    await until('the pvos prompt', () => out.text().includes('pvos> '));
    assert.match(out.text(), /^pvos: PVX 1\.0 present \(domain \d+, features 0x1ff\)$/m);
    con.end();
    await client.destroy('pvos');
    // the file has what the console showed (the attached client saw the history, then live output)
    assert.equal(readFileSync(log, 'utf8'), out.text());
  });
});

/**
 * Harts on threads (docs/scheduler.md, "Harts on threads"): Linux in PV mode with 2 and 4 harts
 * and --threads, every hart but hart 0 on a worker thread: the selftest passes, four md5sum
 * processes over the same data, running on both harts at once, print the same sum,
 * processes pinned to each hart copy and read back a file on a virtio-blk ext4 disk at once,
 * with the checksums of the host's data in the guest and in the image afterwards; and in the
 * daemon, a threaded Linux created paused, then paused and resumed, still answers.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { collect, startTestDaemon, until } from './support/daemon.js';
import { initrd, kernel, runLinux, SELFTESTS } from './support/linux-guest.js';

const pvmRun = (args: string[]) => runLinux(args);

test('PV mode, 2 harts on threads: the second hart runs on its thread and the selftest passes', async () => {
  const json = join(mkdtempSync(join(tmpdir(), 'pvm-smp-')), 'stats.json');
  const r = await pvmRun(['--smp', '2', '--threads', '--append', 'console=ttyS0 pvm.selftest', '--stats-json', json]);
  assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
  assert.match(r.stdout, /smp: Brought up 1 node, 2 CPUs/);
  assert.match(r.stdout, /pvm-guest: init ready \([^,]+, 2 cpu\)/);
  const ok = [...r.stdout.matchAll(/^selftest ok: (\S+)\r?$/gm)].map((m) => m[1]);
  assert.deepEqual(ok, SELFTESTS, r.stdout.slice(-3000));
  assert.match(r.stdout, /pvm-guest: exit 0\r?\n/);
  const s = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(s.harts, 2);
  // hart 1 retired its instructions on its own thread, its hypercalls were served by the owner
  assert.ok(s.instructionsPerHart[1] > 1_000_000, JSON.stringify(s.instructionsPerHart));
  assert.equal(s.hypercalls.HSM.hart_start, 1);
  assert.ok(s.hypercalls.IPI.send_ipi > 0);
  // what hart 1's worker last published: where it was, and the count it retired
  assert.equal(s.threads.length, 1, JSON.stringify(s.threads));
  const t = s.threads[0];
  assert.equal(t.hart, 1);
  // (at poweroff hart 1 may be anywhere, a hypercall of its own included)
  assert.ok(['stopped', 'running', 'waiting', 'request'].includes(t.state), JSON.stringify(t));
  assert.match(t.pc, /^0xffffffff[0-9a-f]{8}$/);
  assert.equal(t.instret, s.instructionsPerHart[1]);
});

test('PV mode, 4 harts on threads: harts 1-3 each on a thread, the selftest passes', async () => {
  const json = join(mkdtempSync(join(tmpdir(), 'pvm-smp-')), 'stats.json');
  const r = await pvmRun(['--smp', '4', '--threads', '--append', 'console=ttyS0 pvm.selftest', '--stats-json', json]);
  assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
  assert.match(r.stdout, /smp: Brought up 1 node, 4 CPUs/);
  const ok = [...r.stdout.matchAll(/^selftest ok: (\S+)\r?$/gm)].map((m) => m[1]);
  assert.deepEqual(ok, SELFTESTS, r.stdout.slice(-3000));
  const s = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(s.hypercalls.HSM.hart_start, 3);
  for (const n of s.instructionsPerHart) assert.ok(n > 1_000_000, JSON.stringify(s.instructionsPerHart));
});

test('PV mode, 2 harts on threads: four parallel md5sum of the same data print the same sum', async () => {
  const cmd = 'seq 1 200000 >/tmp/d; for i in 1 2 3 4; do md5sum /tmp/d & done; wait; nproc';
  const r = await pvmRun([
    '--smp',
    '2',
    '--threads',
    '--append',
    `console=ttyS0 pvm.run=${cmd.replaceAll(' ', '%20')}`,
  ]);
  assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
  const sums = [...r.stdout.matchAll(/^([0-9a-f]{32}) {2}\/tmp\/d\r?$/gm)].map((m) => m[1]);
  // `seq 1 200000 | md5sum` on the host
  assert.deepEqual(sums, new Array(4).fill('0e10426a1d5bddffcef02f1345787128'), r.stdout.slice(-2000));
  assert.match(r.stdout, /^2\r?$/m);
  assert.match(r.stdout, /pvm-guest: exit 0\r?\n/);
});

test('PV mode, 2 harts on threads: both harts copy and read a virtio-blk ext4 file at once, exact sums', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-smp-blk-'));
  try {
    // 2 MiB of pseudo-random data (an LCG: the same bytes every run), in an ext4 image
    const data = new Uint8Array(2 << 20);
    let x = 12345;
    for (let i = 0; i < data.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      data[i] = x >>> 24;
    }
    const sum = createHash('md5').update(data).digest('hex');
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/data'), data);
    const img = join(dir, 'disk.img');
    execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', join(dir, 'tree'), '-F', img, '16M'], { stdio: 'ignore' });
    // taskset 1 / 2: one process on each hart; caches dropped so the sums read the disk again
    const cmd = [
      'mount /dev/vda /mnt',
      'taskset 1 dd if=/mnt/data of=/mnt/c0 bs=4096 2>/dev/null & taskset 2 dd if=/mnt/data of=/mnt/c1 bs=4096 2>/dev/null & wait',
      'sync',
      'echo 3 > /proc/sys/vm/drop_caches',
      'taskset 1 md5sum /mnt/data /mnt/c0 /mnt/c1 & taskset 2 md5sum /mnt/c1 /mnt/c0 /mnt/data & wait',
      'umount /mnt',
      'nproc',
    ].join(';');
    const r = await pvmRun([
      '--smp',
      '2',
      '--threads',
      '--disk',
      img,
      '--append',
      `console=ttyS0 pvm.run=${cmd.replaceAll(' ', '%20')}`,
    ]);
    assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
    const sums = [...r.stdout.matchAll(/^([0-9a-f]{32}) {2}\/mnt\/(data|c0|c1)\r?$/gm)].map((m) => `${m[2]} ${m[1]}`);
    assert.equal(sums.length, 6, r.stdout.slice(-3000));
    for (const s of sums) assert.match(s, new RegExp(` ${sum}$`), r.stdout.slice(-3000));
    assert.match(r.stdout, /^2\r?$/m);
    assert.match(r.stdout, /pvm-guest: exit 0\r?\n/);
    // the copies are in the image file
    for (const f of ['c0', 'c1']) {
      const bytes = execFileSync('debugfs', ['-R', `cat /${f}`, img], {
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 8 << 20,
      });
      assert.equal(createHash('md5').update(bytes).digest('hex'), sum, f);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('daemon: a threaded Linux created paused, then paused and resumed, still answers', async () => {
  const h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-smp-pause-' });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await h.client.create(
      { name: 'thr', kernel, initrd, memory: '128M', smp: 2, threads: true, append: 'console=hvc0 quiet' },
      { paused: true },
    );
    const con = await h.client.attachConsole('thr', { write: true });
    const out = collect(con);
    await sleep(2000); // built paused: the owner's clock has not started, absolute time has
    await h.client.unpause('thr');
    // (until counts tries of at least 5 ms: 60 000 is 5 minutes or more)
    await until('init ready', () => /pvm-guest: init ready \([^,]+, 2 cpu\)/.test(out.text()), 60_000);
    await h.client.pause('thr');
    await sleep(2000);
    await h.client.unpause('thr');
    con.write('echo b-$((2+2))\r');
    await until('the shell answers', () => out.text().includes('b-4'), 12_000);
    con.destroy();
    await h.client.destroy('thr');
  } finally {
    await h.close();
  }
});

/**
 * The virtio devices through the product path, `pvm run` (bin/pvm.js in a child process):
 * ext4 root on virtio-blk (`mke2fs -d` from the test guest's initramfs, `root=/dev/vda`)
 * written, synced and read back by a second boot, a read-only disk refusing writes; a
 * config file with two Linux domains on one switch pinging each other; bad config files.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initrd, kernel } from './support/linux-guest.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const pvm = join(root, 'bin/pvm.js');

/** Runs `pvm ARGS`; resolves with the exit status and both streams (never rejects on a status). */
function pvmRun(args: string[], timeoutMs: number): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [pvm, ...args],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 },
      (e, out, err) => {
        const status = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
        resolve({ status, out, err });
      },
    );
  });
}

/** The init hook's command, spaces as %20 (see the guest's README.md). */
const run = (cmds: string[]) => `pvm.run=${cmds.join(';').replaceAll(' ', '%20')}`;

test('pvm run --disk: ext4 root on virtio-blk written, synced, in the host file, read back; a ro disk refuses writes', {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-ext4root-'));
  try {
    // The root file system: the test guest's initramfs as an ext4 image (mke2fs -d).
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    execFileSync('sh', ['-c', `zcat '${initrd}' | cpio -i -d --quiet`], { cwd: tree });
    const img = join(dir, 'root.img');
    execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', tree, '-F', img, '16M'], { stdio: 'ignore' });
    const roImg = join(dir, 'ro.img');
    writeFileSync(roImg, new Uint8Array(1 << 20).fill(0x5a));
    const roBefore = readFileSync(roImg);
    const append = 'console=ttyS0 root=/dev/vda rw init=/init';

    const first = await pvmRun(
      [
        'run',
        '--kernel',
        kernel,
        '--disk',
        `${img},cache=writeback`,
        '--disk',
        `${roImg},ro`,
        '--append',
        `${append} ${run([
          'echo root $(grep " / " /proc/mounts)',
          'echo hello-from-ext4 > /greeting',
          'sync',
          'echo ro-write $(dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>&1 >/dev/null | head -c 60)',
          'echo ro-read $(head -c 4 /dev/vdb)',
        ])}`,
      ],
      240_000,
    );
    assert.equal(first.status, 0, first.out.slice(-2000) + first.err);
    assert.match(first.out, /virtio_blk virtio0: \[vda\] 32768 512-byte logical blocks/);
    assert.match(first.out, /VFS: Mounted root \(ext4 filesystem\)/);
    assert.match(first.out, /root \/dev\/root \/ ext4 rw/);
    assert.match(first.out, /ro-write .*(Operation not permitted|Read-only|I\/O error)/);
    assert.match(first.out, /ro-read ZZZZ/);
    assert.match(first.out, /pvm-guest: exit 0/);
    assert.deepEqual(readFileSync(roImg), roBefore, 'the read-only image is unchanged');
    // The host file holds the data (e2fsprogs reads it without the guest).
    const cat = execFileSync('debugfs', ['-R', 'cat /greeting', img], { stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(cat.toString(), 'hello-from-ext4\n');

    // A second boot reads it back (writable: the first boot powered off without unmounting,
    // so ext4 replays its journal at mount).
    const second = await pvmRun(
      ['run', '--kernel', kernel, '--disk', img, '--append', `${append} ${run(['echo got $(cat /greeting)'])}`],
      240_000,
    );
    assert.equal(second.status, 0, second.out.slice(-2000) + second.err);
    assert.match(second.out, /got hello-from-ext4/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvm run CONFIG.yaml: two Linux domains on one switch ping each other, consoles prefixed', {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-cfg-'));
  try {
    const domain = (name: string, me: string, peer: string) => `
  - name: ${name}
    kernel: ${kernel}
    initrd: ${initrd}
    memory: 128M
    append: console=ttyS0 ${run([`ip addr add ${me}/24 dev eth0`, 'ip link set eth0 up', `ping -c 2 ${peer}`, 'sleep 3'])}
    nets: [lan]
    rng: false
    balloon: false`;
    const cfg = join(dir, 'pair.yaml');
    writeFileSync(
      cfg,
      `domains:${domain('alpha', '10.0.0.1', '10.0.0.2')}${domain('beta', '10.0.0.2', '10.0.0.1')}\nswitches:\n  lan: { enforceSourceMac: true }\n`,
    );
    const r = await pvmRun(['run', cfg], 240_000);
    assert.equal(r.status, 0, r.out.slice(-3000) + r.err);
    for (const [name, peer] of [
      ['alpha', '10.0.0.2'],
      ['beta', '10.0.0.1'],
    ]) {
      assert.match(r.out, new RegExp(`^${name}\\| PING ${peer.replaceAll('.', '\\.')} \\(`, 'm'));
      assert.match(r.out, new RegExp(`^${name}\\| 64 bytes from ${peer.replaceAll('.', '\\.')}: seq=1 `, 'm'));
      assert.match(r.out, new RegExp(`^${name}\\| 2 packets transmitted, 2 packets received, 0% packet loss$`, 'm'));
      assert.match(r.out, new RegExp(`^${name}\\| pvm-guest: exit 0$`, 'm'));
    }
    assert.equal(r.err, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvm run CONFIG: a bad file is one line naming the field, exit 2', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-badcfg-'));
  try {
    const cases: [string, string, RegExp][] = [
      ['cache.yaml', `domains:\n  - kernel: ${kernel}\n    disks: ["x.img,cache=fast"]\n`, /domains\[0\]\.disks\[0\]/],
      ['mem.json', JSON.stringify({ kernel, memory: 'lots' }), /memory/],
      ['smp.yaml', `kernel: ${kernel}\nsmp: 0\n`, /smp/],
      ['dup.yaml', `domains:\n  - { name: a, kernel: ${kernel} }\n  - { name: a, kernel: ${kernel} }\n`, /name/],
      ['syntax.yaml', 'domains: [\n', /not valid YAML/],
    ];
    for (const [file, text, field] of cases) {
      writeFileSync(join(dir, file), text);
      const r = await pvmRun(['run', join(dir, file)], 30_000);
      assert.equal(r.status, 2, `${file}: ${r.err}`);
      assert.equal(r.out, '', file);
      const lines = r.err.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${file}: ${r.err}`);
      assert.match(lines[0]!, /^pvm: /, file);
      assert.ok(lines[0]!.includes(join(dir, file)), `${file}: names the file: ${lines[0]}`);
      assert.match(lines[0]!, field, file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

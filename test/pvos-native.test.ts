/**
 * The pvos guest (guests/pvos) on real firmware: built with Debian's
 * riscv64-unknown-elf-gcc, booted under qemu-system-riscv64 + OpenSBI
 * fw_jump, where PVX is absent so the guest must choose its native back
 * ends. The shell is driven through the serial console and every reply is
 * compared with the expected text. This is the reference transcript for
 * pvm: the same session must give the same answers in pvm's full mode.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootQemu, commonSession, fnv1a, make, OPENSBI_FW_JUMP, PROMPT } from './pvos-console.js';

test('pvos builds reproducibly with the Debian toolchain', () => {
  make();
  assert.match(make('check-repro'), /pvos: reproducible/);
});

test('pvos on QEMU + OpenSBI chooses native back ends and its shell answers', async () => {
  make();
  const con = bootQemu(OPENSBI_FW_JUMP);
  try {
    const boot = await con.until(PROMPT);
    const lines = boot.slice(boot.indexOf('pvos 0.1:')).split('\n');
    assert.equal(lines[0], 'pvos 0.1: boot hart 0, harts 1, ram 128 MiB at 0x80000000, timebase 10000000 Hz');
    assert.equal(lines[1], 'pvos: PVX absent (probe_extension 0x0a505658 -> 0)');
    assert.equal(lines[2], 'pvos: backends: native');
    assert.match(lines[3]!, /^pvos: Sv39 paging on, \d+ KiB kernel, \d+ pages free$/);
    assert.equal(lines[4], 'hello from user mode (pid 2)');
    assert.equal(lines[5], PROMPT);

    assert.equal(
      await con.run('info'),
      [
        'pvos 0.1 on hart 0, harts online 1 (mask 0x1)',
        'ram: 128 MiB at 0x80000000',
        'timebase: 10000000 Hz, tick 100 Hz',
        'sbi: spec 1.0, implementation 1 (OpenSBI)',
        'pvx: absent',
        'backends: native',
        '  console  uart16550',
        '  timer    sbi-time',
        '  irq      sstatus.SIE',
        '  idle     wfi',
        '  ipi      sbi-ipi',
        '  tlb      sbi-rfence',
        '  block    none',
        '',
      ].join('\n'),
    );
    await commonSession(con);
    assert.match(
      await con.run('mask-bench 1000'),
      /^mask-bench: 1000 mask\/unmask pairs via sstatus\.SIE: \d+ ticks, \d+ ns\/pair\n$/,
    );
    assert.equal(await con.run('evtchn'), 'evtchn: needs PVX (backends: native)\n');
    assert.equal(await con.run('grant'), 'grant: needs PVX (backends: native)\n');
    assert.equal(await con.run('vchan listen 2'), 'vchan: needs PVX (backends: native)\n');
    assert.equal(await con.run('pvxtest'), 'pvxtest: needs PVX (backends: native)\n');
    assert.equal(await con.run('blk read 0'), 'blk: no block device\n');

    con.send('poweroff');
    assert.equal(await con.until('pvos: poweroff\n'), 'poweroff\npvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvos on 4 harts: secondaries started with SBI HSM are targets of remote fences', async () => {
  make();
  const con = bootQemu(OPENSBI_FW_JUMP, '-smp', '4');
  try {
    const boot = await con.until(PROMPT);
    assert.match(boot, /\npvos 0\.1: boot hart [0-3], harts 4, ram 128 MiB/);
    assert.match(await con.run('info'), /^pvos 0\.1 on hart [0-3], harts online 4 \(mask 0xf\)\n/);
    assert.match(await con.run('bench tlb 10'), /^bench tlb: 10 ops via sbi-rfence, \d+ ticks, \d+ ns\/op\n$/);
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvos block back end: virtio-blk (virtio-mmio v2) reads and writes a host disk', async () => {
  make();
  const dir = mkdtempSync(join(tmpdir(), 'pvos-blk-'));
  const disk = join(dir, 'disk.img');
  const image = new Uint8Array(1 << 20).map((_, i) => (i * 13 + 7) & 0xff);
  image.fill(0xa5, 512 * 3, 512 * 4);
  writeFileSync(disk, image);
  const con = bootQemu(
    OPENSBI_FW_JUMP,
    '-global',
    'virtio-mmio.force-legacy=false',
    '-drive',
    `file=${disk},if=none,format=raw,id=d0`,
    '-device',
    'virtio-blk-device,drive=d0',
  );
  try {
    await con.until(PROMPT);
    assert.match(await con.run('blk'), /^blk: virtio-blk@0x100[0-9a-f]{2}000, 2048 sectors\n$/);
    assert.equal(
      await con.run('blk read 0'),
      `blk read 0: checksum ${fnv1a(image.subarray(0, 512))}, bytes 07 14 21 2e\n`,
    );
    assert.equal(
      await con.run('blk read 3'),
      `blk read 3: checksum ${fnv1a(image.subarray(1536, 2048))}, bytes a5 a5 a5 a5\n`,
    );
    const pattern = new Uint8Array(512).map((_, i) => (5 + i) & 0xff);
    assert.equal(await con.run('blk write 5'), `blk write 5: ok, checksum ${fnv1a(pattern)}\n`);
    assert.equal(await con.run('blk read 5'), `blk read 5: checksum ${fnv1a(pattern)}, bytes 05 06 07 08\n`);
    assert.equal(await con.run('blk read 2048'), 'blk: sector out of range (0..2047)\n');
    assert.match(await con.run('info'), /\n {2}block {4}virtio-blk@0x100[0-9a-f]{2}000\n$/);
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
    const after = readFileSync(disk);
    assert.deepEqual(new Uint8Array(after.subarray(2560, 3072)), pattern);
    assert.deepEqual(new Uint8Array(after.subarray(0, 2560)), image.subarray(0, 2560));
  } finally {
    con.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Debian's U-Boot (package u-boot-qemu, `qemu-riscv64_smode/u-boot.bin`, a raw binary built
 * for QEMU's virt board) on pvm, in PV mode (pvm answers its SBI calls) and in full mode (on
 * OpenSBI), driven at its prompt through `pvm run --kernel u-boot.bin --disk disk.img`:
 * `version`; `virtio scan; virtio info` lists the disk; `ext4ls` lists the files the test put
 * in an ext4 image (mke2fs -d); `ext4load` + `crc32` gives the host's CRC-32 of a file; and
 * `ext4load` of the shared Linux Image and initramfs + `booti` boots Linux from the disk to
 * its userland. The M-mode build (`qemu-riscv64/uboot.elf`) runs with no firmware, as QEMU's
 * `-bios none -kernel`, through `pvm run --bare uboot.elf --disk disk.img,slot=0 --smp 2`:
 * the same disk commands, console input on the UART, poweroff through the syscon. A missing
 * tool or image fails the test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ConsoleSession, startConsole } from './support/console.js';
import { initrd, kernel } from './support/linux-guest.js';

const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';
/** The M-mode build, as an ELF: what `qemu-system-riscv64 -bios none -kernel uboot.elf` runs. */
const UBOOT_M = '/usr/lib/u-boot/qemu-riscv64/uboot.elf';
/** U-Boot's prompt, at the start of a line (crc32 prints "==> " inside its line). */
const PROMPT = /\n=> /;

/** CRC-32 (IEEE 802.3, as U-Boot's crc32 command and zlib compute it). */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb8_8320 & -(c & 1));
  }
  return ~c >>> 0;
}

const dir = mkdtempSync(join(tmpdir(), 'pvm-uboot-'));
const disk = join(dir, 'disk.img');
/** Bytes whose CRC the guest computes: every value, in a pattern that differs per 256-byte block. */
const data = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

before(() => {
  for (const f of [UBOOT, UBOOT_M, kernel, initrd])
    assert.ok(existsSync(f), `missing ${f} (Debian: u-boot-qemu; Linux guest)`);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'boot'), { recursive: true });
  writeFileSync(join(root, 'hello.txt'), 'hello from the disk\n');
  writeFileSync(join(root, 'data.bin'), data);
  copyFileSync(kernel, join(root, 'boot/Image'));
  copyFileSync(initrd, join(root, 'boot/initramfs.cpio.gz'));
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, disk, '16M'], { stdio: 'pipe' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const mode of ['pv', 'full'] as const) {
  describe(`U-Boot in ${mode} mode`, { timeout: 600_000 }, () => {
    let uboot: ConsoleSession;
    before(async () => {
      // U-Boot loads Linux at 0x8400_0000 and the initrd at 0x8c30_0000 (its qemu-riscv defaults).
      uboot = startConsole(['--kernel', UBOOT, '--disk', disk, '--memory', '256M', '--mode', mode]);
      await uboot.expect('Hit any key to stop autoboot', 120_000);
      uboot.type(' ');
      await uboot.expect(PROMPT);
    });
    after(() => uboot.kill());

    test('the prompt answers version', async () => {
      assert.match(await uboot.command('version', PROMPT), /^U-Boot 2023\.01/m);
    });

    test('virtio scan; virtio info lists the disk', async () => {
      const out = await uboot.command('virtio scan; virtio info', PROMPT);
      assert.match(
        out,
        /Device 0: QEMU VirtIO Block Device\n\s+Type: Hard Disk\n\s+Capacity: 16\.0 MB = 0\.0 GB \(32768 x 512\)/,
      );
    });

    test('ext4ls lists the files put in the image', async () => {
      const out = await uboot.command('ext4ls virtio 0 /', PROMPT);
      assert.match(out, /^\s+20 hello\.txt$/m);
      assert.match(out, /^\s+100000 data\.bin$/m);
      assert.match(out, /^<DIR>\s+\d+ boot$/m);
    });

    test("ext4load + crc32 matches the host's CRC-32", async () => {
      const out = await uboot.command(
        `ext4load virtio 0 \${kernel_addr_r} /data.bin; crc32 \${kernel_addr_r} \${filesize}`,
        PROMPT,
      );
      assert.match(out, /^100000 bytes read in/m);
      const want = crc32(data).toString(16).padStart(8, '0');
      assert.match(out, new RegExp(`crc32 for 84000000 \\.\\.\\. 8401869f ==> ${want}$`, 'm'));
    });

    test('ext4load Image and initrd + booti boots Linux from the disk', async () => {
      const load = await uboot.command(
        `setenv bootargs console=ttyS0; ext4load virtio 0 \${ramdisk_addr_r} /boot/initramfs.cpio.gz; ` +
          `setenv rdsize \${filesize}; ext4load virtio 0 \${kernel_addr_r} /boot/Image`,
        PROMPT,
      );
      assert.match(load, new RegExp(`^${readFileSync(initrd).length} bytes read`, 'm'));
      assert.match(load, new RegExp(`^${readFileSync(kernel).length} bytes read`, 'm'));
      uboot.type(`booti \${kernel_addr_r} \${ramdisk_addr_r}:\${rdsize} \${fdtcontroladdr}\r`);
      await uboot.expect('Starting kernel ...');
      await uboot.expect(/virtio_blk virtio\d: \[vda\] 32768 512-byte logical blocks/, 300_000);
      await uboot.expect('pvm-guest: init ready', 300_000);
    });
  });
}

describe('U-Boot M-mode build with --bare (QEMU -bios none -kernel), its disk in slot 0', { timeout: 600_000 }, () => {
  let uboot: ConsoleSession;
  before(async () => {
    uboot = startConsole(['--bare', UBOOT_M, '--disk', `${disk},slot=0`, '--memory', '256M', '--smp', '2']);
    await uboot.expect('Hit any key to stop autoboot', 120_000);
    uboot.type(' ');
    await uboot.expect(PROMPT);
  });
  after(() => uboot.kill());

  test('version, then virtio info lists the disk', async () => {
    assert.match(await uboot.command('version', PROMPT), /^U-Boot 2023\.01/m);
    const out = await uboot.command('virtio scan; virtio info', PROMPT);
    assert.match(
      out,
      /Device 0: QEMU VirtIO Block Device\n\s+Type: Hard Disk\n\s+Capacity: 16\.0 MB = 0\.0 GB \(32768 x 512\)/,
    );
  });

  test("ext4ls lists the files; ext4load + crc32 matches the host's CRC-32", async () => {
    assert.match(await uboot.command('ext4ls virtio 0 /', PROMPT), /^\s+20 hello\.txt$/m);
    const out = await uboot.command(
      `ext4load virtio 0 \${kernel_addr_r} /data.bin; crc32 \${kernel_addr_r} \${filesize}`,
      PROMPT,
    );
    const want = crc32(data).toString(16).padStart(8, '0');
    assert.match(out, new RegExp(`crc32 for 84000000 \\.\\.\\. 8401869f ==> ${want}$`, 'm'));
  });

  test('poweroff ends the run through the syscon, status 0', async () => {
    uboot.type('poweroff\r');
    await uboot.expect('poweroff ...');
    assert.equal(await uboot.exited, 0);
  });
});

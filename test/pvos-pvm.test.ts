/**
 * pvos on pvm itself, in this process (the domain builder + NodeDomainHost).
 * PV mode (pvm as the firmware): pvm answers probe_extension(PVX), so the
 * guest must choose the PVX back ends; the transcript is asserted in full and
 * the 73 conformance cases of `pvxtest` (each PVX call with good and bad
 * arguments) must all pass.
 * Full mode (OpenSBI in emulated M-mode): the same session as under QEMU.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  bootPvmInProcess,
  type Console,
  commonSession,
  fnv1a,
  make,
  OPENSBI_FW_JUMP,
  PROMPT,
  PVOS_ELF,
} from './pvos-console.js';

async function bootPvm(mode: 'pv' | 'full'): Promise<Console> {
  make();
  const firmware = mode === 'full' ? { firmware: OPENSBI_FW_JUMP } : {};
  return (await bootPvmInProcess({ name: `pvos-${mode}`, mode, memory: '128M', kernel: PVOS_ELF, ...firmware })).con;
}

test('pvos on pvm (PV mode): back ends chosen from the PVX probe, shell transcript', async () => {
  const con = await bootPvm('pv');
  try {
    const boot = await con.until(PROMPT);
    const lines = boot.slice(boot.indexOf('pvos 0.1:')).split('\n');
    assert.equal(lines[0], 'pvos 0.1: boot hart 0, harts 1, ram 128 MiB at 0x80000000, timebase 10000000 Hz');
    // pvm answers probe_extension(PVX): the guest must choose the PVX back ends
    assert.match(lines[1]!, /^pvos: PVX 1\.0 present \(domain 1, features 0x1ff\)$/);
    assert.equal(lines[2], 'pvos: backends: pvx 1.0');
    assert.match(lines[3]!, /^pvos: Sv39 paging on, \d+ KiB kernel, \d+ pages free$/);
    assert.equal(lines[4], 'hello from user mode (pid 2)');

    const info = (await con.run('info')).split('\n');
    assert.equal(info[0], 'pvos 0.1 on hart 0, harts online 1 (mask 0x1)');
    assert.match(info[3]!, /^sbi: spec 2\.0, implementation \d+ \(other\)$/);
    assert.deepEqual(info.slice(5), [
      'backends: pvx 1.0',
      '  console  sbi-dbcn',
      '  timer    pvx-timer-virq',
      '  irq      shinfo.upcall_mask',
      '  idle     pvx-sched-block',
      '  ipi      pvx-evtchn-ipi',
      '  tlb      pvx-multicall-rfence',
      '  block    none',
      '',
    ]);
    await commonSession(con);
    // every PVX call with good and bad arguments (guests/pvos/src/pvxtest.c): all 73 cases pass
    assert.equal(await con.run('pvxtest'), 'pvxtest: 73 passed, 0 failed\n');
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvos on pvm (full mode, OpenSBI as firmware): native back ends, the QEMU transcript', async () => {
  const con = await bootPvm('full');
  try {
    const boot = await con.until(PROMPT);
    const lines = boot.slice(boot.indexOf('pvos 0.1:')).split('\n');
    assert.equal(lines[0], 'pvos 0.1: boot hart 0, harts 1, ram 128 MiB at 0x80000000, timebase 10000000 Hz');
    assert.equal(lines[1], 'pvos: PVX absent (probe_extension 0x0a505658 -> 0)');
    assert.equal(lines[2], 'pvos: backends: native');
    assert.equal(lines[4], 'hello from user mode (pid 2)');
    assert.match(
      await con.run('info'),
      /\nsbi: spec 1\.0, implementation 1 \(OpenSBI\)\npvx: absent\nbackends: native\n/,
    );
    await commonSession(con);
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvos finds its disk in the slot the spec names (slot 0, as QEMU bus=virtio-mmio-bus.0; slot 6)', async () => {
  make();
  const dir = mkdtempSync(join(tmpdir(), 'pvos-slot-'));
  try {
    const disk = join(dir, 'disk.img');
    const image = new Uint8Array(1 << 20).map((_, i) => (i * 13 + 7) & 0xff);
    writeFileSync(disk, image);
    for (const [slot, base] of [
      [0, '0x10001000'],
      [6, '0x10007000'],
    ] as const) {
      // Other devices around it: pvos scans the transports the device tree lists for a block device.
      const { con } = await bootPvmInProcess({
        name: `pvos-slot${slot}`,
        memory: '64M',
        kernel: PVOS_ELF,
        disks: [{ path: disk, slot }],
        rng: { slot: slot === 0 ? 1 : 0 },
        virtioConsole: true,
      });
      try {
        await con.until(PROMPT);
        assert.equal(await con.run('blk'), `blk: virtio-blk@${base}, 2048 sectors\n`);
        assert.equal(
          await con.run('blk read 0'),
          `blk read 0: checksum ${fnv1a(image.subarray(0, 512))}, bytes 07 14 21 2e\n`,
        );
        con.send('poweroff');
        await con.until('pvos: poweroff\n');
        assert.equal(await con.exited, 0);
      } finally {
        con.kill();
      }
    }
    assert.deepEqual(readFileSync(disk), Buffer.from(image), 'reads only');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

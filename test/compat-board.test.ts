/**
 * The board as software written for QEMU's virt sees it: all eight virtio-mmio transports
 * exist (empty ones read DeviceID 0) and the device tree lists the same eight nodes as QEMU
 * 7.2's `-M virt,dumpdtb=` (compared with dtc); `--kernel` takes a raw binary and runs it
 * from 0x8020_0000 in PV mode and in full mode on OpenSBI, as `qemu-system-riscv64 -kernel`
 * does. Needs qemu-system-riscv64, dtc, riscv64-unknown-elf-gcc and opensbi (a missing tool
 * fails the test).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { MemoryDisk } from '../src/devices/virtio/blk/backend.js';
import { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { MmioReg } from '../src/devices/virtio/constants.js';
import type { VirtioRefusal } from '../src/devices/virtio/mmio.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { createVm } from '../src/hypervisor/vm.js';
import type { VirtBoard } from '../src/machine/board.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { pvm } from './support/linux-guest.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-compat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A raw binary: `riscv64-unknown-elf-gcc` then `objcopy -O binary`, linked at 0x8020_0000. */
function rawBinary(name: string, asm: string): Uint8Array {
  const src = join(dir, `${name}.S`);
  const elf = join(dir, `${name}.elf`);
  const bin = join(dir, `${name}.bin`);
  writeFileSync(src, asm);
  execFileSync('riscv64-unknown-elf-gcc', [
    '-nostdlib',
    '-Wl,-Ttext=0x80200000',
    '-Wl,--build-id=none',
    '-o',
    elf,
    src,
  ]);
  execFileSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', elf, bin]);
  return readFileSync(bin);
}

/** Prints through the SBI legacy console whether it runs at 0x8020_0000 with a0 = 0 and a1 = an FDT, then shuts down. */
const RAW_KERNEL = `
  .globl _start
_start:
  auipc t0, 0
  mv s0, a0
  mv s1, a1
  li t1, 0x80200000
  la a0, wrong
  bne t0, t1, print
  bnez s0, print
  lwu t2, 0(s1)
  li t3, 0xedfe0dd0 # FDT magic, big-endian in memory
  bne t2, t3, print
  la a0, right
print:
  lbu t0, 0(a0)
  beqz t0, done
  mv s2, a0
  mv a0, t0
  li a7, 1 # legacy console_putchar
  ecall
  addi a0, s2, 1
  j print
done:
  li a7, 0x53525354 # SRST
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
1: j 1b
right: .asciz "raw image at 0x80200000, hart 0, FDT in a1\\n"
wrong: .asciz "raw image misplaced\\n"
`;

function dtcText(blob: Uint8Array, name: string): string {
  const f = join(dir, name);
  writeFileSync(f, blob);
  return execFileSync('dtc', ['-I', 'dtb', '-O', 'dts', '-o', '-', f], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** The virtio_mmio nodes of a decompiled tree: name, reg, interrupts, compatible, sorted by name. */
function virtioNodes(dts: string): string[] {
  const nodes = [...dts.matchAll(/(virtio_mmio@[0-9a-f]+) \{([^}]*)\}/g)].map(([, name, body]) => {
    const prop = (p: string) => new RegExp(`${p} = ([^;]*);`).exec(body!)?.[1];
    return `${name} reg=${prop('reg')} interrupts=${prop('interrupts')} compatible=${prop('compatible')}`;
  });
  return nodes.sort();
}

const MiB = 1024 * 1024;
const host = () => new NodeDomainHost(() => {});

test("the device tree lists the eight virtio-mmio transports QEMU 7.2's virt lists", () => {
  const qemu = join(dir, 'qemu.dtb');
  execFileSync('qemu-system-riscv64', ['-M', `virt,dumpdtb=${qemu}`, '-display', 'none'], { stdio: 'ignore' });
  const want = virtioNodes(dtcText(readFileSync(qemu), 'qemu-copy.dtb'));
  assert.equal(want.length, 8);
  for (const mode of ['pv', 'full'] as const) {
    const d = createVm(
      {
        mode,
        harts: 1,
        memory: 64 * MiB,
        kernel: Uint8Array.of(0x6f, 0, 0, 0), // j . (a raw image)
        cmdline: '',
        ...(mode === 'full' ? { firmware: Uint8Array.of(0x6f, 0, 0, 0) } : {}),
      },
      host(),
      { devices: [{ slot: 0, device: new VirtioBlk({ backend: new MemoryDisk(512) }) }] },
    );
    const fdt = d.ram.slice(d.plan.fdt as never, 64 * 1024);
    assert.deepEqual(virtioNodes(dtcText(fdt, `${mode}.dtb`)), want, mode);
  }
});

test('every virtio slot answers: the device where one is attached, an empty transport (DeviceID 0) elsewhere', () => {
  const d = createVm(
    {
      mode: 'pv',
      harts: 1,
      memory: 64 * MiB,
      kernel: Uint8Array.of(0x6f, 0, 0, 0),
      cmdline: '',
    },
    host(),
    { devices: [{ slot: 0, device: new VirtioBlk({ backend: new MemoryDisk(512) }) }] },
  );
  const bus = (d.machine as unknown as VirtBoard).bus;
  const regs = (slot: number) =>
    [MmioReg.MAGIC, MmioReg.VERSION, MmioReg.DEVICE_ID, MmioReg.VENDOR_ID].map(
      (r) => bus.read(0x1000_1000 + slot * 0x1000 + r, 4) >>> 0,
    );
  assert.deepEqual(regs(0), [0x74726976, 2, 2, 0x554d4551]);
  for (let slot = 1; slot < 8; slot++) assert.deepEqual(regs(slot), [0x74726976, 2, 0, 0x554d4551], `slot ${slot}`);
  bus.write(0x1000_2000 + MmioReg.STATUS, 4, 1);
  assert.equal(bus.read(0x1000_2000 + MmioReg.STATUS, 4), 0, 'writes to an empty transport are ignored');
});

test('--kernel takes a raw binary: it runs from 0x8020_0000 in PV mode and on OpenSBI in full mode', () => {
  const bin = join(dir, 'raw-kernel.bin');
  writeFileSync(bin, rawBinary('raw-kernel', RAW_KERNEL));
  for (const mode of ['pv', 'full']) {
    const r = spawnSync(process.execPath, [pvm, 'run', '--kernel', bin, '--mode', mode, '--memory', '64M'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${mode}: ${r.stderr}`);
    assert.match(r.stdout, /^raw image at 0x80200000, hart 0, FDT in a1$/m, mode);
  }
  // Any bytes run: a file that is not code ends in a double fault, reported.
  const text = spawnSync(process.execPath, [pvm, 'run', '--kernel', pvm], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(text.status, 1);
  assert.match(text.stderr, /^pvm: guest failed: double fault on hart 0: the S-mode trap vector 0x0 faults/m);
  const empty = join(dir, 'empty.bin');
  writeFileSync(empty, '');
  const r = spawnSync(process.execPath, [pvm, 'run', '--kernel', empty], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /kernel image is empty|empty/);
});

/** A driver that accepts features the disk (at `base`) did not offer, twice, then prints the status it reads back. */
const greedyDriver = (base: number) => `
  .globl _start
_start:
  li s0, 0x${base.toString(16)}
  li t1, 3
  sw t1, 0x70(s0) # ACKNOWLEDGE | DRIVER
  li t1, 1
  sw t1, 0x24(s0) # DriverFeaturesSel = 1
  li t1, 7
  sw t1, 0x20(s0) # VERSION_1, ACCESS_PLATFORM, RING_PACKED: the last two not offered
  li t1, 11
  sw t1, 0x70(s0) # FEATURES_OK: refused
  sw t1, 0x70(s0) # again: counted, not reported again
  lw a0, 0x70(s0)
  addi a0, a0, '0'
  li a7, 1
  ecall
  li a0, '\\n'
  ecall
  li a7, 0x53525354
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
1: j 1b
`;

test('a refused driver write is reported once per device and rule with --stats, and counted', () => {
  const bin = join(dir, 'greedy.bin');
  writeFileSync(bin, rawBinary('greedy', greedyDriver(0x1000_2000))); // the disk is put in slot 1
  const img = join(dir, 'disk.img');
  writeFileSync(img, new Uint8Array(64 * 1024));
  const json = join(dir, 'stats.json');
  const r = spawnSync(
    process.execPath,
    [pvm, 'run', '--kernel', bin, '--disk', `${img},slot=1`, '--memory', '64M', '--stats', '--stats-json', json],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '3\n', 'FEATURES_OK stayed clear');
  const reports = r.stderr.split('\n').filter((l) => l.includes('refus'));
  assert.deepEqual(reports, [
    'pvm: virtio1-blk: refused status 0xb: driver features 0x700000000 include 0x600000000: ' +
      '§2.2.1: the driver must not accept a feature the device did not offer',
    'virtio refusals: virtio1-blk (feature-not-offered 2)',
  ]);
  const stats = JSON.parse(readFileSync(json, 'utf8')) as { virtioRefused: unknown };
  assert.deepEqual(stats.virtioRefused, { 'virtio1-blk': { 'feature-not-offered': 2 } });
});

test("the daemon's domains report refusals with the domain's name (the daemon logs them)", async () => {
  const bin = join(dir, 'greedy-daemon.bin');
  writeFileSync(bin, rawBinary('greedy-daemon', greedyDriver(0x1000_2000)));
  const img = join(dir, 'daemon-disk.img');
  writeFileSync(img, new Uint8Array(64 * 1024));
  const seen: [string, VirtioRefusal][] = [];
  const m = new HypervisorDomainManager({ onVirtioRefusal: (domain, r) => seen.push([domain, r]) });
  const ended = new Promise<void>((resolve) => {
    m.subscribe((e) => {
      if (e.type === 'state' && (e.state === 'shutoff' || e.state === 'crashed')) resolve();
    });
  });
  try {
    await m.create(parseDomainSpec({ name: 'greedy', kernel: bin, disks: [{ path: img, slot: 1 }], memory: '64M' }), {
      paused: false,
    });
    await ended;
    assert.deepEqual(
      seen.map(([d, r]) => [d, r.device, r.rule]),
      [['greedy', 'virtio1-blk', 'feature-not-offered']],
    );
  } finally {
    await m.close();
  }
});

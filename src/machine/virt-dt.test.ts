import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildVirtDt } from './virt-dt.js';

/** Decodes a DTB with the real dtc (device-tree-compiler); a missing dtc fails the test. */
function dtc(blob: Uint8Array): { dts: string; warnings: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-dt-'));
  try {
    const f = join(dir, 'board.dtb');
    writeFileSync(f, blob);
    const dts = execFileSync('dtc', ['-I', 'dtb', '-O', 'dts', '-o', '-', f], { encoding: 'utf8' });
    // Recompiling the source runs dtc's semantic checks; collect what it warns about.
    let warnings = '';
    try {
      execFileSync('dtc', ['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], {
        input: dts,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      warnings = String((e as { stderr?: string }).stderr ?? e);
    }
    return { dts, warnings };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the virt tree decodes with dtc and describes the QEMU-virt board', () => {
  const { fdt } = buildVirtDt({
    harts: 2,
    ramSize: 128 * 1024 * 1024,
    bootargs: 'console=ttyS0 earlycon',
    initrd: { start: 0x8400_0000, end: 0x8410_0000 },
  });
  const { dts, warnings } = dtc(fdt.toBytes());
  // dtc's checks raise only what they raise for QEMU's own virt tree too: phandles
  // decompiled as numbers, and cpu-intc nodes without #address-cells.
  const unexpected = warnings
    .split('\n')
    .filter((l) => l.includes('Warning') || l.includes('ERROR'))
    .filter((l) => !/is not a phandle reference|interrupt-controller: Missing #address-cells/.test(l));
  assert.deepEqual(unexpected, []);
  const has = (s: string) => assert.ok(dts.includes(s), `missing: ${s}\n${dts}`);
  has('compatible = "riscv-virtio";');
  has('memory@80000000 {');
  has('reg = <0x00 0x80000000 0x00 0x8000000>;');
  has('timebase-frequency = <0x989680>;');
  has('cpu@1 {');
  has('riscv,isa = "rv64imafdc_zicond_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc";');
  has('riscv,isa-base = "rv64i";');
  has(
    'riscv,isa-extensions = "i\\0m\\0a\\0f\\0d\\0c\\0zicond\\0zicsr\\0zifencei\\0zihintpause\\0zba\\0zbb\\0zbc\\0zbs\\0sstc";',
  );
  has('mmu-type = "riscv,sv48";');
  has('compatible = "riscv,cpu-intc";');
  has('core1 {');
  has('compatible = "sifive,clint0\\0riscv,clint0";');
  has('compatible = "sifive,plic-1.0.0\\0riscv,plic0";');
  has('riscv,ndev = <0x5f>;');
  has('reg = <0x00 0xc000000 0x00 0x600000>;');
  has('serial@10000000 {');
  has('clock-frequency = "\\08@";'); // 0x00384000 = 3686400; dtc prints these bytes as a string
  has('interrupts = <0x0a>;');
  has('compatible = "sifive,test1\\0sifive,test0\\0syscon";');
  has('compatible = "syscon-poweroff";');
  has('value = <0x7777>;');
  has('compatible = "google,goldfish-rtc";');
  has('virtio_mmio@10008000 {');
  has('interrupts = <0x08>;');
  has('bootargs = "console=ttyS0 earlycon";');
  has('stdout-path = "/soc/serial@10000000";');
  has('linux,initrd-start = <0x00 0x84000000>;');
  has('linux,initrd-end = <0x00 0x84100000>;');
  // Each hart's intc phandle appears in the CLINT (3, 7) and PLIC (11, 9) wiring.
  const clint = /clint@2000000 \{[^}]*interrupts-extended = <([^>]*)>/.exec(dts)![1]!.split(' ');
  const plic = /plic@c000000 \{[^}]*interrupts-extended = <([^>]*)>/.exec(dts)![1]!.split(' ');
  assert.deepEqual(
    clint.filter((_, i) => i % 2 === 1),
    ['0x03', '0x07', '0x03', '0x07'],
  );
  assert.deepEqual(
    plic.filter((_, i) => i % 2 === 1),
    ['0x0b', '0x09', '0x0b', '0x09'],
  );
});

test('nodes can be left out and extra nodes added (PV mode shape)', () => {
  const { fdt, handles } = buildVirtDt({
    harts: 1,
    ramSize: 64 * 1024 * 1024,
    clint: false,
    virtio: 2,
    extend: (t) => {
      t.root.addNode('hypervisor').string('compatible', 'pvm,pvx').u32('version', 1);
    },
  });
  assert.equal(handles.intc.length, 1);
  assert.notEqual(handles.plic, undefined);
  const { dts } = dtc(fdt.toBytes());
  assert.ok(!dts.includes('clint'), 'no CLINT');
  assert.ok(dts.includes('virtio_mmio@10002000 {'));
  assert.ok(!dts.includes('virtio_mmio@10003000'));
  assert.match(dts, /hypervisor \{\s*compatible = "pvm,pvx";\s*version = <0x01>;/);
  assert.ok(!dts.includes('bootargs'));
});

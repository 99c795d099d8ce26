import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPvmError } from '../core/errors.js';
import { computeLayout, FW_JUMP_FDT_ADDR } from './layout.js';

const MiB = 1024 * 1024;
const kernel = { start: 0x8020_0000, end: 0x8020_0000 + 6 * MiB };

test('layout: FDT in the top 2 MiB slot, initrd page-aligned just below it', () => {
  const l = computeLayout({ ramSize: 256 * MiB, kernel, initrdSize: 1_148_966, fdtSize: 3000 });
  assert.equal(l.fdt, 0x8000_0000 + 254 * MiB);
  assert.equal(l.initrd!.end, l.initrd!.start + 1_148_966);
  assert.equal(l.initrd!.start % 4096, 0);
  assert.ok(l.initrd!.end <= l.fdt);
  assert.deepEqual(l.kernel, kernel);
  assert.equal(l.firmware, undefined);
});

test('layout: too little RAM is a usage error naming the size needed', () => {
  assert.throws(
    () => computeLayout({ ramSize: 8 * MiB, kernel, initrdSize: 2 * MiB, fdtSize: 3000 }),
    (e: unknown) => isPvmError(e) && e.kind === 'usage' && /memory 8 MiB is too small/.test(e.message),
  );
});

test('layout, full mode: the firmware fits below the kernel and OpenSBI’s FDT copy lands in free RAM', () => {
  const l = computeLayout({ ramSize: 128 * MiB, kernel, initrdSize: MiB, firmwareSize: 115_328, fdtSize: 3000 });
  assert.deepEqual(l.firmware, { start: 0x8000_0000, end: 0x8000_0000 + 115_328 });
  assert.ok(l.initrd!.start >= FW_JUMP_FDT_ADDR + 0x1_0000);
  // 40 MiB of RAM ends above 0x8220_0000, but the initrd would sit on the FDT copy.
  assert.throws(
    () => computeLayout({ ramSize: 36 * MiB, kernel, initrdSize: 2 * MiB, firmwareSize: 115_328, fdtSize: 3000 }),
    (e: unknown) => isPvmError(e) && e.kind === 'usage',
  );
  assert.throws(
    () => computeLayout({ ramSize: 128 * MiB, kernel, firmwareSize: 3 * MiB, fdtSize: 3000 }),
    (e: unknown) => isPvmError(e) && e.kind === 'image' && /below 0x80200000/.test(e.message),
  );
});

test('layout: RAM too small for a 2 MiB-aligned FDT slot puts the FDT in the top page instead', () => {
  const small = { start: 0x8020_0000, end: 0x8023_6000 }; // a 216 KiB guest kernel (pvos)
  // 3 MiB: the top 2 MiB slot (0x8020_0000) would overlap the kernel
  const l = computeLayout({ ramSize: 3 * MiB, kernel: small, fdtSize: 1500 });
  assert.equal(l.fdt, 0x8000_0000 + 3 * MiB - 4096);
  // with room for the 2 MiB slot the placement is unchanged (what Linux has always been given)
  assert.equal(computeLayout({ ramSize: 5 * MiB, kernel: small, fdtSize: 1500 }).fdt, 0x8040_0000);
  assert.throws(
    () => computeLayout({ ramSize: 2 * MiB, kernel: small, fdtSize: 1500 }),
    (e: unknown) =>
      isPvmError(e) && /memory 2 MiB is too small for this kernel and initrd \(need 3 MiB\)/.test(e.message),
  );
});

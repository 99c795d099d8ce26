import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gpa } from '../core/types.js';
import { GuestRam } from '../memory/ram.js';
import { translate } from './vmem.js';

const BASE = 0x8000_0000;
const V = 1n;
const R = 2n;
const W = 4n;
const pte = (pa: number, flags: bigint) => (BigInt(pa >>> 12) << 10n) | flags;

/** Sv39 tables at BASE: root -> level 1 -> level 0 mapping VA 0x4000_1000 to BASE + 0x5000, and a 1 GiB leaf for the kernel. */
function sv39() {
  const ram = new GuestRam(BASE, 0x10_0000);
  const root = BASE;
  const l1 = BASE + 0x1000;
  const l0 = BASE + 0x2000;
  ram.writeBigU64((root + 1 * 8) as Gpa, pte(l1, V)); // VA[38:30] = 1
  ram.writeBigU64((l1 + 0 * 8) as Gpa, pte(l0, V));
  ram.writeBigU64((l0 + 1 * 8) as Gpa, pte(BASE + 0x5000, V | R | W));
  // 0xffffffff80000000: VPN2 = 510, a 1 GiB superpage onto BASE (aligned).
  ram.writeBigU64((root + 510 * 8) as Gpa, pte(BASE, V | R | W | 8n));
  // VPN2 = 3: a misaligned 1 GiB superpage (PPN low bits set): invalid.
  ram.writeBigU64((root + 3 * 8) as Gpa, pte(BASE + 0x1000, V | R));
  // VPN2 = 4: W without R (reserved).
  ram.writeBigU64((root + 4 * 8) as Gpa, pte(BASE, V | W));
  const satp = (8n << 60n) | BigInt(root >>> 12);
  return { ram, satp };
}

test('translate: bare mode is the identity', () => {
  const ram = new GuestRam(BASE, 0x1000);
  assert.equal(translate(ram, 0n, 0x8000_0123n), 0x8000_0123);
});

test('translate: Sv39 4 KiB page, 1 GiB superpage, sign extension, invalid entries', () => {
  const { ram, satp } = sv39();
  assert.equal(translate(ram, satp, 0x4000_1234n), BASE + 0x5234);
  assert.equal(translate(ram, satp, 0xffff_ffff_8012_3456n), BASE + 0x12_3456);
  assert.equal(translate(ram, satp, 0x4000_2000n), null, 'unmapped');
  assert.equal(translate(ram, satp, 0x0000_0080_0000_0000n), null, 'not sign-extended');
  assert.equal(translate(ram, satp, 0xc000_0000n), null, 'misaligned superpage');
  assert.equal(translate(ram, satp, 0x1_0000_0000n), null, 'W without R');
  assert.equal(translate(ram, (8n << 60n) | 0x1234n, 0x1000n), null, 'page table outside RAM');
  assert.equal(translate(ram, 7n << 60n, 0x1000n), null, 'unknown satp mode');
});

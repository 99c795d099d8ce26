import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPvmError } from '../core/errors.js';
import { GuestRam } from '../memory/ram.js';
import { EM_RISCV, loadElf, parseElf } from './elf.js';
import { loadLinuxImage, loadRaw, parseLinuxImage } from './image.js';

const RAM = 0x8000_0000;

/**
 * A minimal ELF64 executable: one PT_LOAD of `data` at `paddr` with `bss`
 * extra zero bytes, and a .symtab with the given symbols.
 */
function makeElf(opts: { paddr?: number; data?: number[]; bss?: number; syms?: Record<string, number> } = {}) {
  const paddr = opts.paddr ?? RAM;
  const data = Uint8Array.from(opts.data ?? [0x13, 0, 0, 0, 0x6f, 0, 0, 0]);
  const syms = Object.entries(opts.syms ?? {});
  const strtab = [0];
  const nameOffs = syms.map(([n]) => {
    const o = strtab.length;
    for (const c of n) strtab.push(c.charCodeAt(0));
    strtab.push(0);
    return o;
  });
  const phoff = 64;
  const dataOff = phoff + 56;
  const symOff = dataOff + data.length;
  const symSize = 24 * (syms.length + 1);
  const strOff = symOff + symSize;
  const shoff = (strOff + strtab.length + 7) & ~7;
  const total = shoff + 3 * 64;
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, EM_RISCV, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(paddr), true);
  v.setBigUint64(32, BigInt(phoff), true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, 1, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, 3, true);
  // PT_LOAD
  v.setUint32(phoff, 1, true);
  v.setUint32(phoff + 4, 5, true);
  v.setBigUint64(phoff + 8, BigInt(dataOff), true);
  v.setBigUint64(phoff + 16, BigInt(paddr), true);
  v.setBigUint64(phoff + 24, BigInt(paddr), true);
  v.setBigUint64(phoff + 32, BigInt(data.length), true);
  v.setBigUint64(phoff + 40, BigInt(data.length + (opts.bss ?? 0)), true);
  b.set(data, dataOff);
  syms.forEach(([, value], i) => {
    const o = symOff + 24 * (i + 1);
    v.setUint32(o, nameOffs[i]!, true);
    b[o + 4] = 0x10; // STB_GLOBAL
    v.setBigUint64(o + 8, BigInt(value), true);
  });
  b.set(strtab, strOff);
  // Section headers: [0] null, [1] .symtab -> link 2, [2] .strtab
  const sh = (i: number, type: number, off: number, size: number, link: number, entsize: number) => {
    const o = shoff + 64 * i;
    v.setUint32(o + 4, type, true);
    v.setBigUint64(o + 24, BigInt(off), true);
    v.setBigUint64(o + 32, BigInt(size), true);
    v.setUint32(o + 40, link, true);
    v.setBigUint64(o + 56, BigInt(entsize), true);
  };
  sh(1, 2, symOff, symSize, 2, 24);
  sh(2, 3, strOff, strtab.length, 0, 0);
  return b;
}

function imageError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPvmError(e), `expected a PvmError, got ${String(e)}`);
    assert.equal(e.kind, 'image');
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('an ELF loads at p_paddr, zeroes .bss and exposes tohost/fromhost', () => {
  const bytes = makeElf({
    paddr: RAM + 0x1000,
    data: [1, 2, 3, 4],
    bss: 4,
    syms: { tohost: RAM + 0x2000, fromhost: RAM + 0x2008 },
  });
  const elf = parseElf(bytes);
  assert.equal(elf.entry, RAM + 0x1000);
  assert.equal(elf.low, RAM + 0x1000);
  assert.equal(elf.high, RAM + 0x1008);
  assert.equal(elf.symbol('tohost'), RAM + 0x2000);
  assert.equal(elf.symbol('fromhost'), RAM + 0x2008);
  assert.equal(elf.symbol('missing'), undefined);
  const ram = new GuestRam(RAM, 0x10000);
  ram.u8.fill(0xaa);
  loadElf(elf, bytes, ram);
  assert.deepEqual([...ram.u8.subarray(0x1000, 0x1009)], [1, 2, 3, 4, 0, 0, 0, 0, 0xaa]);
});

test('malformed ELF files are image errors with a clear message', () => {
  const good = makeElf();
  const mut = (f: (b: Uint8Array, v: DataView) => void) => {
    const b = good.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  imageError(() => parseElf(new Uint8Array(0)), /bad magic/);
  imageError(() => parseElf(new TextEncoder().encode('#!/bin/sh\necho hi\n')), /bad magic/);
  imageError(() => parseElf(good.subarray(0, 40)), /too short/);
  imageError(() => parseElf(mut((b) => (b[4] = 1))), /ELFCLASS64/);
  imageError(() => parseElf(mut((b) => (b[5] = 2))), /little-endian/);
  imageError(() => parseElf(mut((_, v) => v.setUint16(18, 62, true))), /not RISC-V/);
  imageError(() => parseElf(mut((_, v) => v.setUint16(16, 1, true))), /not an executable/);
  imageError(() => parseElf(mut((_, v) => v.setUint16(56, 0, true))), /no program headers/);
  imageError(() => parseElf(mut((_, v) => v.setBigUint64(32, 0xffff_ffffn, true))), /beyond the end/);
  imageError(() => parseElf(mut((_, v) => v.setBigUint64(32, 0xffff_ffff_ffff_fff0n, true))), /out of range/);
  imageError(() => parseElf(mut((_, v) => v.setBigUint64(64 + 40, 1n, true))), /filesz .* > memsz/);
  imageError(() => parseElf(mut((_, v) => v.setBigUint64(64 + 8, 0x10_0000n, true))), /beyond the end/);
  imageError(() => parseElf(mut((_, v) => v.setUint32(64, 6, true))), /no loadable segments/);
  imageError(() => parseElf(good.subarray(0, 100)), /beyond the end/);
  const badSyms = mut((b, v) => v.setBigUint64(new DataView(b.buffer).getUint32(40, true) + 64 + 24, 1n << 40n, true));
  imageError(() => parseElf(badSyms).symbol('tohost'), /symbol table lies beyond/);
  const outside = makeElf({ paddr: 0x1000 });
  imageError(() => loadElf(parseElf(outside), outside, new GuestRam(RAM, 0x10000)), /outside RAM/);
});

function linuxImage(textOffset: number, imageSize: number, len = 4096) {
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setBigUint64(8, BigInt(textOffset), true);
  v.setBigUint64(16, BigInt(imageSize), true);
  v.setUint32(32, 2, true);
  b.set([0x52, 0x53, 0x43, 0x05], 0x38);
  return b;
}

test('Linux Image header: parsed, placed on a 2 MiB boundary, checked against RAM', () => {
  const ram = new GuestRam(RAM, 0x40_0000);
  const img = linuxImage(0x20_0000, 0x10000);
  assert.deepEqual(parseLinuxImage(img), { textOffset: 0x20_0000, imageSize: 0x10000, flags: 0n, version: 2 });
  const r = loadLinuxImage(img, ram, RAM + 0x20_0000);
  assert.equal(r.end, RAM + 0x21_0000);
  assert.equal(ram.readU32((RAM + 0x20_0038) as never), 0x05435352);
  imageError(() => loadLinuxImage(img, ram, RAM + 0x1000), /2 MiB aligned/);
  imageError(() => loadLinuxImage(linuxImage(0x20_0000, 0x40_0000), ram, RAM + 0x20_0000), /beyond RAM/);
  imageError(() => parseLinuxImage(new Uint8Array(10)), /shorter than/);
  imageError(() => parseLinuxImage(new Uint8Array(64)), /magic/);
  imageError(() => parseLinuxImage(makeElf()), /ELF file/);
});

test('raw binaries load at an address inside RAM', () => {
  const ram = new GuestRam(RAM, 0x1000);
  assert.deepEqual(loadRaw(Uint8Array.of(9, 8, 7), ram, RAM + 4), { start: RAM + 4, end: RAM + 7 });
  assert.equal(ram.u8[5], 8);
  imageError(() => loadRaw(new Uint8Array(0x1000), ram, RAM + 4, 'firmware'), /firmware .* does not fit/);
  imageError(() => loadRaw(new Uint8Array(0), ram, RAM), /empty/);
});

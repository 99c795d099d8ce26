import { PvmError } from '../core/errors.js';
import type { Gpa } from '../core/types.js';
import type { GuestRam } from '../memory/ram.js';

/** ELF constants (System V gABI, "ELF Header"; RISC-V psABI for EM_RISCV). */
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
export const EM_RISCV = 243;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const PN_XNUM = 0xffff;

export interface ElfSegment {
  /** Guest-physical load address (p_paddr). */
  paddr: number;
  vaddr: number;
  offset: number;
  filesz: number;
  memsz: number;
  /** PF_X = 1, PF_W = 2, PF_R = 4. */
  flags: number;
}

/** A validated RISC-V ELF64 executable. */
export interface ElfImage {
  /** e_entry. */
  entry: number;
  /** PT_LOAD segments, in file order. */
  segments: ElfSegment[];
  /** Lowest and highest (exclusive) physical address covered by the segments. */
  low: number;
  high: number;
  /** Value of a symbol from .symtab (global preferred over local), or undefined. */
  symbol(name: string): number | undefined;
}

const fail = (what: string): never => {
  throw new PvmError('image', `not a usable RISC-V ELF64 executable: ${what}`);
};

/** Reads a u64 that must be below 2^53 (offsets, sizes and addresses we can handle). */
function u64(v: DataView, off: number, what: string): number {
  const n = v.getBigUint64(off, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} 0x${n.toString(16)} is out of range`);
  return Number(n);
}

const hx = (n: number) => `0x${n.toString(16)}`;

/**
 * Parses and validates an ELF64 little-endian RISC-V executable: magic,
 * class, data encoding, machine, program header table bounds and every
 * PT_LOAD segment (file range inside the file, filesz <= memsz). Section
 * headers are read only when a symbol is looked up. Every defect is a
 * PvmError of kind 'image' with a one-line message.
 */
export function parseElf(bytes: Uint8Array): ElfImage {
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    fail('bad magic (expected \\x7fELF)');
  }
  if (bytes.length < EHDR_SIZE) fail(`file too short for an ELF header (${bytes.length} bytes)`);
  if (bytes[4] !== ELFCLASS64) fail(`ELF class ${bytes[4]} is not ELFCLASS64`);
  if (bytes[5] !== ELFDATA2LSB) fail('not little-endian');
  if (bytes[6] !== EV_CURRENT) fail(`ELF version ${bytes[6]}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = v.getUint16(16, true);
  const machine = v.getUint16(18, true);
  if (machine !== EM_RISCV) fail(`machine ${machine} is not RISC-V (${EM_RISCV})`);
  if (type !== ET_EXEC && type !== ET_DYN) fail(`ELF type ${type} is not an executable`);
  const entry = u64(v, 24, 'entry point');
  const phoff = u64(v, 32, 'program header offset');
  const shoff = u64(v, 40, 'section header offset');
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  if (phnum === 0) fail('no program headers');
  if (phnum === PN_XNUM) fail('extended program header count is not supported');
  if (phentsize !== PHDR_SIZE) fail(`program header size ${phentsize} (expected ${PHDR_SIZE})`);
  if (phoff + phnum * PHDR_SIZE > bytes.length) fail('program header table lies beyond the end of the file');

  const segments: ElfSegment[] = [];
  let low = Number.POSITIVE_INFINITY;
  let high = 0;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * PHDR_SIZE;
    if (v.getUint32(p, true) !== PT_LOAD) continue;
    const seg: ElfSegment = {
      flags: v.getUint32(p + 4, true),
      offset: u64(v, p + 8, `segment ${i} offset`),
      vaddr: u64(v, p + 16, `segment ${i} vaddr`),
      paddr: u64(v, p + 24, `segment ${i} paddr`),
      filesz: u64(v, p + 32, `segment ${i} filesz`),
      memsz: u64(v, p + 40, `segment ${i} memsz`),
    };
    if (seg.filesz > seg.memsz) fail(`segment ${i} has filesz ${hx(seg.filesz)} > memsz ${hx(seg.memsz)}`);
    if (seg.offset + seg.filesz > bytes.length) fail(`segment ${i} data lies beyond the end of the file`);
    if (!Number.isSafeInteger(seg.paddr + seg.memsz)) fail(`segment ${i} address range overflows`);
    if (seg.memsz === 0) continue;
    segments.push(seg);
    low = Math.min(low, seg.paddr);
    high = Math.max(high, seg.paddr + seg.memsz);
  }
  if (segments.length === 0) fail('no loadable segments');

  let symbols: Map<string, number> | undefined;
  const symbol = (name: string): number | undefined => {
    symbols ??= readSymbols(bytes, v, shoff, shentsize, shnum);
    return symbols.get(name);
  };
  return { entry, segments, low, high, symbol };
}

function cstr(bytes: Uint8Array, start: number, end: number): string {
  let e = start;
  while (e < end && bytes[e] !== 0) e++;
  let s = '';
  for (let i = start; i < e; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** Symbols of the first SHT_SYMTAB section (with its linked string table). Globals win over locals. */
function readSymbols(bytes: Uint8Array, v: DataView, shoff: number, shentsize: number, shnum: number) {
  const out = new Map<string, number>();
  if (shoff === 0 || shnum === 0) return out;
  if (shentsize !== SHDR_SIZE) fail(`section header size ${shentsize} (expected ${SHDR_SIZE})`);
  if (shoff + shnum * SHDR_SIZE > bytes.length) fail('section header table lies beyond the end of the file');
  const sh = (i: number) => {
    const o = shoff + i * SHDR_SIZE;
    return {
      type: v.getUint32(o + 4, true),
      offset: u64(v, o + 24, `section ${i} offset`),
      size: u64(v, o + 32, `section ${i} size`),
      link: v.getUint32(o + 40, true),
      entsize: u64(v, o + 56, `section ${i} entsize`),
    };
  };
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    if (s.type !== SHT_SYMTAB) continue;
    if (s.entsize !== SYM_SIZE) fail(`symbol table entry size ${s.entsize}`);
    if (s.offset + s.size > bytes.length) fail('symbol table lies beyond the end of the file');
    if (s.link >= shnum) fail('symbol table links to a missing string table');
    const str = sh(s.link);
    if (str.offset + str.size > bytes.length) fail('string table lies beyond the end of the file');
    const strEnd = str.offset + str.size;
    const locals = new Map<string, number>();
    for (let o = s.offset; o + SYM_SIZE <= s.offset + s.size; o += SYM_SIZE) {
      const nameOff = v.getUint32(o, true);
      if (nameOff === 0 || nameOff >= str.size) continue;
      const bind = bytes[o + 4]! >> 4;
      const value = Number(v.getBigUint64(o + 8, true));
      const name = cstr(bytes, str.offset + nameOff, strEnd);
      if (bind === 0) locals.set(name, value);
      else if (!out.has(name)) out.set(name, value);
    }
    for (const [k, val] of locals) if (!out.has(k)) out.set(k, val);
    break;
  }
  return out;
}

/**
 * Copies every PT_LOAD segment to RAM at its physical address (p_paddr) and
 * zeroes the rest of the segment (.bss). A segment outside RAM is an 'image'
 * error raised before anything is written.
 */
export function loadElf(elf: ElfImage, bytes: Uint8Array, ram: GuestRam): void {
  for (const [i, s] of elf.segments.entries()) {
    if (!ram.contains(s.paddr, s.memsz)) {
      throw new PvmError(
        'image',
        `ELF segment ${i} at ${hx(s.paddr)}-${hx(s.paddr + s.memsz)} lies outside RAM ` +
          `${hx(ram.base)}-${hx(ram.base + ram.size)}`,
      );
    }
  }
  for (const s of elf.segments) {
    ram.write(s.paddr as Gpa, bytes.subarray(s.offset, s.offset + s.filesz));
    if (s.memsz > s.filesz) ram.fill((s.paddr + s.filesz) as Gpa, s.memsz - s.filesz, 0);
  }
}

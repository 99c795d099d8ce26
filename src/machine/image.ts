import { PvmError } from '../core/errors.js';
import type { Gpa } from '../core/types.js';
import type { GuestRam } from '../memory/ram.js';
import type { ElfImage } from './elf.js';

/** RISC-V Linux `Image` header (Documentation/arch/riscv/boot-image-header.rst). */
export interface LinuxImageHeader {
  /** Offset from the 2 MiB-aligned RAM start where the image expects to run. */
  textOffset: number;
  /** Bytes the kernel occupies once running (including .bss); 0 in old images means "unknown". */
  imageSize: number;
  flags: bigint;
  /** Header version (major << 16 | minor). */
  version: number;
}

const HEADER_SIZE = 64;
/** "RSC\x05" at 0x38, little-endian. */
const MAGIC2 = 0x05435352;
/** RV64 kernels must be placed on a 2 MiB (PMD) boundary. */
export const KERNEL_ALIGN = 0x20_0000;

const hx = (n: number) => `0x${n.toString(16)}`;

export const isElf = (b: Uint8Array): boolean =>
  b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

/**
 * What a kernel file is, tried in QEMU's order (hw/riscv/boot.c riscv_load_kernel): an ELF,
 * else a RISC-V Linux Image (its header tells how much room .bss needs), else a raw binary
 * that runs from its first byte (U-Boot's u-boot.bin, a teaching kernel's objcopy output).
 * QEMU also takes U-Boot legacy uImages; pvm does not (such a file would run as raw bytes).
 */
export function kernelKind(bytes: Uint8Array): 'elf' | 'linux-image' | 'raw' {
  if (bytes.length === 0) throw new PvmError('image', 'the kernel image is empty');
  if (isElf(bytes)) return 'elf';
  if (bytes.length >= HEADER_SIZE && new DataView(bytes.buffer, bytes.byteOffset).getUint32(0x38, true) === MAGIC2) {
    return 'linux-image';
  }
  return 'raw';
}

/** Validates a RISC-V Linux Image header; every defect is a PvmError('image'). */
export function parseLinuxImage(bytes: Uint8Array): LinuxImageHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new PvmError('image', `not a RISC-V Linux Image: ${bytes.length} bytes is shorter than its 64-byte header`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0x38, true) !== MAGIC2) {
    throw new PvmError(
      'image',
      isElf(bytes)
        ? 'not a RISC-V Linux Image: this is an ELF file (use arch/riscv/boot/Image, not vmlinux)'
        : 'not a RISC-V Linux Image: magic "RSC\\x05" missing at offset 0x38',
    );
  }
  const textOffset = v.getBigUint64(8, true);
  const imageSize = v.getBigUint64(16, true);
  const limit = 1n << 40n;
  if (textOffset >= limit || imageSize >= limit) {
    throw new PvmError('image', `Linux Image header has absurd text_offset ${textOffset} or image_size ${imageSize}`);
  }
  return {
    textOffset: Number(textOffset),
    imageSize: Number(imageSize),
    flags: v.getBigUint64(24, true),
    version: v.getUint32(32, true),
  };
}

/**
 * Loads a Linux Image at `addr` (2 MiB aligned) and checks that the whole
 * running image (image_size, or the file size when image_size is 0) fits in
 * RAM. Returns the header and the range [start, end) it occupies.
 */
export function loadLinuxImage(
  bytes: Uint8Array,
  ram: GuestRam,
  addr: number,
): { header: LinuxImageHeader; start: number; end: number } {
  const header = parseLinuxImage(bytes);
  if (addr % KERNEL_ALIGN !== 0) {
    throw new PvmError('image', `Linux Image load address ${hx(addr)} is not 2 MiB aligned`);
  }
  const span = Math.max(header.imageSize, bytes.length);
  if (!ram.contains(addr, span)) {
    throw new PvmError(
      'image',
      `Linux Image needs ${hx(span)} bytes at ${hx(addr)}, beyond RAM ${hx(ram.base)}-${hx(ram.base + ram.size)}`,
    );
  }
  ram.write(addr as Gpa, bytes);
  return { header, start: addr, end: addr + span };
}

/**
 * Copies a raw binary (firmware such as OpenSBI's fw_jump.bin, an initrd) to
 * RAM at `addr`. Returns [start, end). `what` names the file in errors.
 */
export function loadRaw(
  bytes: Uint8Array,
  ram: GuestRam,
  addr: number,
  what = 'image',
): { start: number; end: number } {
  if (bytes.length === 0) throw new PvmError('image', `${what} is empty`);
  if (!ram.contains(addr, bytes.length)) {
    throw new PvmError(
      'image',
      `${what} (${bytes.length} bytes) does not fit in RAM at ${hx(addr)} ` +
        `(RAM ${hx(ram.base)}-${hx(ram.base + ram.size)})`,
    );
  }
  ram.write(addr as Gpa, bytes);
  return { start: addr, end: addr + bytes.length };
}

/**
 * A raw binary as an image of one segment loaded at `base` and entered at its first byte, as
 * QEMU's `-bios none -kernel FILE` loads a file that is not an ELF: no symbols (so no HTIF).
 */
export function flatImage(bytes: Uint8Array, base: number): ElfImage {
  if (bytes.length === 0) throw new PvmError('image', 'the image is empty');
  const size = bytes.length;
  return {
    entry: base,
    segments: [{ paddr: base, vaddr: base, offset: 0, filesz: size, memsz: size, flags: 7 }],
    low: base,
    high: base + size,
    symbol: () => undefined,
  };
}

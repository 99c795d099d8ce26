import { PvmError } from '../core/errors.js';
import { LoadAddr, MemMap } from '../machine/memmap.js';

/**
 * Where the firmware of Debian's OpenSBI `fw_jump` build copies the device
 * tree before jumping to the kernel (FW_JUMP_FDT_ADDR = FW_TEXT_START +
 * 0x2200000 in platform/generic/objects.mk; read back from fw_jump.bin 1.1-2:
 * `addiw a0, zero, 1041; slli a0, a0, 21`). The region must be RAM and free.
 */
export const FW_JUMP_FDT_ADDR = 0x8220_0000;
/** Room kept for the device tree at the top of RAM. */
export const FDT_MAX_SIZE = 0x1_0000;

const MiB = 1024 * 1024;
const alignDown = (n: number, a: number) => Math.floor(n / a) * a;

/** Guest-physical placement of everything pvm loads before the first instruction. */
export interface BootLayout {
  firmware?: { start: number; end: number };
  kernel: { start: number; end: number };
  initrd?: { start: number; end: number };
  fdt: number;
}

/**
 * Compute the boot layout: firmware at 0x8000_0000 (full mode), the kernel at
 * 0x8020_0000 (its Image header's image_size counts .bss), the device tree in
 * the top 2 MiB-aligned slot of RAM (as QEMU does) and the initrd right below
 * it, page aligned. Everything must fit without overlapping, and in full mode
 * the FDT copy OpenSBI makes at FW_JUMP_FDT_ADDR must land in free RAM.
 */
export function computeLayout(opts: {
  ramSize: number;
  kernel: { start: number; end: number };
  initrdSize?: number;
  firmwareSize?: number;
  fdtSize: number;
}): BootLayout {
  const base = MemMap.RAM.base;
  const end = base + opts.ramSize;
  const mb = (n: number) => `${Math.ceil(n / MiB)} MiB`;
  if (opts.fdtSize > FDT_MAX_SIZE) throw new PvmError('internal', `device tree too large (${opts.fdtSize} bytes)`);
  const kernel = opts.kernel;
  let firmware: BootLayout['firmware'];
  if (opts.firmwareSize !== undefined) {
    firmware = { start: LoadAddr.FIRMWARE, end: LoadAddr.FIRMWARE + opts.firmwareSize };
    if (firmware.end > LoadAddr.KERNEL) {
      throw new PvmError(
        'image',
        `firmware is ${opts.firmwareSize} bytes: it must fit below 0x${LoadAddr.KERNEL.toString(16)}`,
      );
    }
  }
  let needEnd = kernel.end;
  if (firmware !== undefined) {
    // OpenSBI's FDT copy must sit between the kernel and the initrd.
    needEnd = Math.max(needEnd, FW_JUMP_FDT_ADDR + FDT_MAX_SIZE);
    if (kernel.end > FW_JUMP_FDT_ADDR) {
      throw new PvmError(
        'image',
        `kernel ends at 0x${kernel.end.toString(16)}, over the firmware's FDT copy at 0x${FW_JUMP_FDT_ADDR.toString(16)}`,
      );
    }
  }
  // The FDT goes in the top 2 MiB-aligned slot (QEMU's placement, what Linux has always been
  // given); when RAM is too small for that, in the top page instead: the devicetree spec asks
  // only for 8-byte alignment, and Linux maps the 2 MiB region around the FDT wherever it is
  // (arch/riscv/mm/init.c, create_fdt_early_page_table). So a tiny guest needs its kernel's
  // footprint plus a page or two, not a spare 2 MiB slot.
  for (const align of [2 * MiB, 4096]) {
    const fdt = alignDown(end - opts.fdtSize, align);
    let lowest = fdt;
    let initrd: BootLayout['initrd'];
    if (opts.initrdSize !== undefined) {
      const start = alignDown(fdt - opts.initrdSize, 4096);
      initrd = { start, end: start + opts.initrdSize };
      lowest = start;
    }
    if (lowest >= needEnd && fdt >= base) return { firmware, kernel, initrd, fdt };
  }
  const page = (n: number) => Math.ceil(n / 4096) * 4096;
  const need = page(needEnd) - base + page(opts.initrdSize ?? 0) + page(opts.fdtSize);
  throw new PvmError('usage', `memory ${mb(opts.ramSize)} is too small for this kernel and initrd (need ${mb(need)})`);
}

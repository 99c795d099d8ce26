/**
 * The physical address map of the board, compatible with QEMU's `virt`
 * machine so the same kernels, firmware and device trees work.
 */
export const MemMap = {
  TEST: { base: 0x0010_0000, size: 0x1000 }, // sifive,test0 syscon
  RTC: { base: 0x0010_1000, size: 0x1000 }, // google,goldfish-rtc
  CLINT: { base: 0x0200_0000, size: 0x1_0000 }, // riscv,clint0
  PLIC: { base: 0x0c00_0000, size: 0x60_0000 }, // sifive,plic-1.0.0
  UART0: { base: 0x1000_0000, size: 0x100 }, // ns16550a
  VIRTIO: { base: 0x1000_1000, size: 0x1000, count: 8 }, // virtio-mmio slot n at base + n*size
  RAM: { base: 0x8000_0000 },
} as const;

/** PLIC interrupt sources (wired as on QEMU virt). Not to be confused with a hart's mip bits (`IrqBit`). */
export const PlicSource = {
  UART0: 10,
  /** goldfish RTC (alarm interrupt; pvm's RTC has no alarm, but the tree names the line as QEMU does). */
  RTC: 11,
  /** virtio-mmio slot n raises PLIC source VIRTIO_BASE + n. */
  VIRTIO_BASE: 1,
  /** Number of PLIC sources (source 0 is reserved). */
  PLIC_SOURCES: 96,
} as const;

/** Where images go in RAM. */
export const LoadAddr = {
  FIRMWARE: 0x8000_0000,
  KERNEL: 0x8020_0000,
} as const;

/** The timebase: CLINT mtime (and the `time` CSR) frequency, as on QEMU virt. The one definition of 10 MHz. */
export const TIMEBASE_HZ = 10_000_000;

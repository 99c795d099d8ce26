/** The library API: `import { ... } from 'pvm'`. */
export { PvmError, type PvmErrorKind } from './core/errors.js';
// Bare-metal runner.
export { type BareEnd, type BareHost, type BareOptions, type BareResult, runBare } from './hypervisor/bare.js';
// The virt board: devices, device tree, loaders.
export {
  type BoardDevices,
  type BoardHart,
  type HartFactory,
  VirtBoard,
  type VirtBoardOptions,
} from './machine/board.js';
export { Bus, type MmioDevice } from './machine/bus.js';
export { Clint } from './machine/clint.js';
export { type ElfImage, type ElfSegment, loadElf, parseElf } from './machine/elf.js';
export { Fdt, FdtNode } from './machine/fdt.js';
export { type LinuxImageHeader, loadLinuxImage, loadRaw, parseLinuxImage } from './machine/image.js';
export { IrqBit, type IrqLine, type IrqTarget } from './machine/irq.js';
export { Irq, LoadAddr, MemMap, TIMEBASE_HZ } from './machine/memmap.js';
export { Plic } from './machine/plic.js';
export { GoldfishRtc } from './machine/rtc.js';
export { SifiveTest, type SysconEvent } from './machine/syscon.js';
export { hostTimeSource, InstretTimeSource, type TimeSource } from './machine/time.js';
export { Uart16550 } from './machine/uart.js';
export { buildVirtDt, type VirtDtHandles, type VirtDtOptions } from './machine/virt-dt.js';
export { GuestRam } from './memory/ram.js';

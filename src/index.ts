/** The library API: `import { ... } from 'pvm'`. */

// Control plane: commands, the domain manager seam, the daemon and its client, save files.
export {
  ALLOWED_STATES,
  type Command as ControlCommand,
  type CommandKind,
  type ConsoleSession,
  type Progress,
  type ResultOf,
  type SaveResult,
} from './api/commands.js';
export {
  ControlPlane,
  type ControlPlaneOptions,
  DOMAIN_NAME,
  normalizeDomainConfig,
  type SnapshotStore,
} from './api/control.js';
export type {
  DomainConfig as ControlDomainConfig,
  DomainConsole,
  DomainEvent,
  DomainHandle,
  DomainInfo,
  DomainManager,
  DomainState,
  DomainStats as ControlDomainStats,
} from './api/domain.js';
export { API_ERROR_STATUS, ApiError, type ApiErrorCode, isApiError } from './api/errors.js';
export { FakeDomainManager } from './api/fake-domain.js';
export { defaultSocketPath, PvmClient } from './cli/client.js';
export { PvmError, type PvmErrorKind } from './core/errors.js';
export { Cause, Csr, IrqBit, Priv } from './cpu/arch.js';
export { ALL_EXTENSIONS, type HartExtensions } from './cpu/isa.js';
export { createLogger, type Logger, type LogLevel } from './host/logger.js';
export { loadSnapshotFile, nodeSnapshotCodecs, saveSnapshotFile } from './host/snapshot-file.js';
export { type BareEnd, type BareHost, type BareOptions, type BareResult, runBare } from './hypervisor/bare.js';
export {
  type DomainSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  isSnapshotError,
  SnapshotError,
  type SnapshotErrorReason,
} from './hypervisor/snapshot/index.js';
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
export type { IrqLine, IrqTarget } from './machine/irq.js';
export { LoadAddr, MemMap, PlicSource, TIMEBASE_HZ } from './machine/memmap.js';
export { Plic, type PlicGateway } from './machine/plic.js';
export { GoldfishRtc } from './machine/rtc.js';
export { SifiveTest, type SysconEvent } from './machine/syscon.js';
export { hostTimeSource, InstretTimeSource, type TimeSource } from './machine/time.js';
export { Uart16550 } from './machine/uart.js';
export { buildVirtDt, type VirtDtHandles, type VirtDtOptions } from './machine/virt-dt.js';
export { GuestRam } from './memory/ram.js';
export { type Daemon, type DaemonOptions, startDaemon } from './server/daemon.js';
export { fileSnapshotStore, openControlPlane } from './server/local.js';
export { ApiSpec } from './server/openapi.js';

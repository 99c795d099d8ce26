/** The library API: `import { ... } from 'pvm'`. */

// Control plane: commands, the domain manager seam, the daemon and its client, save files.
export {
  ALLOWED_STATES,
  type Command as ControlCommand,
  type CommandKind,
  type ConsoleSession,
  type MigrateResult,
  type MigrateRound,
  type Progress,
  type ResultOf,
  type SaveResult,
  type SchedInfo,
} from './api/commands.js';
export { CONFIG_VERSION, configJsonSchema, type PvmConfig, type SwitchConfig, validateConfig } from './api/config.js';
export { loadConfigFile, parseConfigText } from './api/config-file.js';
export { ControlPlane, type ControlPlaneOptions, type SnapshotStore } from './api/control.js';
export type {
  DeviceInfo,
  DomainConsole,
  DomainEvent,
  DomainHandle,
  DomainInfo,
  DomainManager,
  DomainState,
  DomainStats as ControlDomainStats,
  MachineInfo,
  NicStats,
  PortTraffic,
} from './api/domain.js';
export { API_ERROR_STATUS, ApiError, type ApiErrorCode, isApiError } from './api/errors.js';
export { FakeDomainManager } from './api/fake-domain.js';
// The domain spec: the one description of a domain, its limits and defaults.
export {
  type ConsoleTarget,
  DEFAULTS,
  type DeviceKind,
  DOMAIN_NAME,
  type DomainDevice,
  type DomainSpec,
  type DomainSpecInput,
  defaultMac,
  domainSpecSchema,
  formatPublish,
  formatSize,
  LIMITS,
  type PublishEntry,
  parseDomainSpec,
  parsePublish,
  parseShareShorthand,
  parseSize,
  type ShareEntry,
  toDocument,
  USER_SWITCH,
} from './api/spec.js';
export type { SwitchInfo, SwitchLinkInfo, SwitchNetwork } from './api/switches.js';
export { defaultSocketPath, PvmClient } from './cli/client.js';
export { PvmError, type PvmErrorKind } from './core/errors.js';
export { Cause, Csr, IrqBit, Priv } from './cpu/arch.js';
export { ALL_EXTENSIONS, type HartExtensions } from './cpu/isa.js';
// The builder: spec -> domain with its devices, on the switches and PVX registry of a process.
export {
  type BuildOptions,
  type BuiltDevice,
  type BuiltDomain,
  buildDomain,
  type DeviceHost,
  HostResources,
  type OpenedDevices,
  openDevices,
  SwitchRegistry,
} from './host/builder.js';
export { type ConsoleSink, consoleSink, fileSink, SharedTerminal } from './host/console-sink.js';
export { NodeDomainHost, nodeScheduler } from './host/domain-host.js';
export { createLogger, type Logger, type LogLevel } from './host/logger.js';
// Host folders (virtio-9p) and user-mode networking (passt): the pieces under the spec's
// `shares` and `nets[].uplink: user`, for programs that assemble devices themselves.
export { NodeP9Fs, openShare, type ShareSpec } from './host/p9-fs.js';
export { PASST_DEFAULT_MAC, PasstUplink, type PortForward } from './host/passt.js';
export { loadSnapshotFile, nodeSnapshotCodecs, saveSnapshotFile } from './host/snapshot-file.js';
export { SwitchLinks, type SwitchLinksOptions } from './host/switch-links.js';
export { type UserNetworkOptions, UserNetworks } from './host/user-net.js';
export {
  BareControl,
  type BareEnd,
  type BareHost,
  type BareOptions,
  type BareResult,
  runBare,
} from './hypervisor/bare.js';
export {
  type ConsoleInput,
  Domain,
  type DomainEnd,
  type DomainHost,
  type DomainMode,
  MAX_HARTS,
} from './hypervisor/domain.js';
export {
  CreditScheduler,
  SCHED_DEFAULTS,
  type SchedEntity,
  type SchedParams,
  type SchedulerClock,
} from './hypervisor/scheduler.js';
export {
  type DomainSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  isSnapshotError,
  SnapshotError,
  type SnapshotErrorReason,
} from './hypervisor/snapshot/index.js';
export { type DomainStatsJson, formatStats } from './hypervisor/stats.js';
export { createVm, type LoadedSpec, type VmOptions, virtioTransports } from './hypervisor/vm.js';
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
export { HypervisorDomainManager } from './server/hypervisor-domains.js';
export { fileSnapshotStore, openControlPlane } from './server/local.js';
// Live migration (docs/migration.md): the destination's options, the NIC announce hook.
export {
  type AnnounceNics,
  announceDomainNics,
  type MigrationEndpointOptions,
  type MigrationHost,
  type MigrationTuning,
} from './server/migration.js';
export { ApiSpec, openApiDocument } from './server/openapi.js';
export { PoolDomainManager, type PoolDomainManagerOptions } from './server/pool-domains.js';

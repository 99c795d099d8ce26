/**
 * The virtio device side of pvm, for the hypervisor: build a device model with its
 * backend, then `attachVirtio(bus, plic, ram, slot, device)`.
 */

export {
  formatMac,
  type NetLink,
  type PortReport,
  type PortStats,
  parseMac,
  type SwitchEndpoint,
  SwitchPort,
  VirtualSwitch,
} from '../switch.js';
export type { P9Attr, P9Backend, P9DirEntry, P9File, P9Path, P9SetAttr, P9StatFs, P9Time } from './9p/backend.js';
export { checkTag, VirtioP9, type VirtioP9Options } from './9p/device.js';
export { Errno, P9Error } from './9p/protocol.js';
export { P9Limits, P9Server } from './9p/server.js';
export { type BalloonHooks, VirtioBalloon, type VirtioBalloonOptions } from './balloon/device.js';
export { type BlockBackend, MemoryDisk } from './blk/backend.js';
export { VirtioBlk, type VirtioBlkOptions } from './blk/device.js';
export { type Chain, ChainError, type ChainFault } from './chain.js';
export { VirtioConsole, type VirtioConsoleOptions } from './console/device.js';
export { DeviceId, MmioReg, PVM_VENDOR_ID, QEMU_VENDOR_ID, Status } from './constants.js';
export type { IrqPin, VirtioDevice, VirtioTransport } from './device.js';
export {
  EmptyVirtioMmio,
  VIRTIO_RULES,
  VirtioMmio,
  type VirtioMmioOptions,
  type VirtioRefusal,
  type VirtioRule,
} from './mmio.js';
export { VirtioNet, type VirtioNetOptions } from './net/device.js';
export { type EntropySource, VirtioRng } from './rng/device.js';
export {
  attachVirtio,
  type DtNodeDescription,
  fillEmptyVirtioSlots,
  plicPin,
  VIRTIO_SLOTS,
  type VirtioSlot,
  virtioMmioDtNode,
  virtioSlot,
} from './slots.js';

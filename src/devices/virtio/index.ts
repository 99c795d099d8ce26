/**
 * The virtio device side of pvm, for the hypervisor: build a device model with its
 * backend, then `attachVirtio(bus, plic, ram, slot, device)`.
 */

export {
  formatMac,
  type NetLink,
  parseMac,
  type SwitchEndpoint,
  SwitchPort,
  VirtualSwitch,
} from '../switch.js';
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

/**
 * Where virtio-mmio devices sit on the board (ARCHITECTURE.md, `MemMap.VIRTIO`): slot n
 * at 0x1000_1000 + n * 0x1000, PLIC source 1 + n. `virtioMmioDtNode` describes a slot as
 * plain data for the board's FDT writer (src/machine/fdt.ts), which owns the encoding.
 */
import type { Bus, MmioDevice } from '../../machine/bus.js';
import type { IrqLine } from '../../machine/irq.js';
import { MemMap, PlicSource } from '../../machine/memmap.js';
import type { GuestRam } from '../../memory/ram.js';
import type { IrqPin, VirtioDevice } from './device.js';
import { EmptyVirtioMmio, VirtioMmio, type VirtioMmioOptions } from './mmio.js';

export interface VirtioSlot {
  readonly slot: number;
  readonly base: number;
  readonly size: number;
  /** PLIC interrupt source. */
  readonly irq: number;
}

export const VIRTIO_SLOTS = MemMap.VIRTIO.count;

export function virtioSlot(slot: number): VirtioSlot {
  if (!Number.isInteger(slot) || slot < 0 || slot >= VIRTIO_SLOTS) {
    throw new RangeError(`virtio slot ${slot} is not in 0..${VIRTIO_SLOTS - 1}`);
  }
  return {
    slot,
    base: MemMap.VIRTIO.base + slot * MemMap.VIRTIO.size,
    size: MemMap.VIRTIO.size,
    irq: PlicSource.VIRTIO_BASE + slot,
  };
}

/** A device tree node as data: Linux's `virtio,mmio` binding (Documentation/devicetree/bindings/virtio/mmio.yaml). */
export interface DtNodeDescription {
  /** Node name with unit address, e.g. `virtio_mmio@10001000`. */
  readonly name: string;
  readonly compatible: readonly string[];
  /** `reg` as (address, size) pairs in 64-bit cells (#address-cells = #size-cells = 2). */
  readonly reg: readonly (readonly [address: number, size: number])[];
  /** `interrupts` cells; the parent is the PLIC (`interrupt-parent` = its phandle). */
  readonly interrupts: readonly number[];
  readonly interruptParent: 'plic';
}

export function virtioMmioDtNode(slot: number): DtNodeDescription {
  const s = virtioSlot(slot);
  return {
    name: `virtio_mmio@${s.base.toString(16)}`,
    compatible: ['virtio,mmio'],
    reg: [[s.base, s.size]],
    interrupts: [s.irq],
    interruptParent: 'plic',
  };
}

/** An IrqPin driving one PLIC source (`Plic` implements the machine's IrqLine). */
export function plicPin(plic: IrqLine, irq: number): IrqPin {
  return { set: (level) => plic.setLevel(irq, level) };
}

/**
 * Builds the transport for `device`, maps it on `bus` at virtio slot `slot` and wires its
 * interrupt to PLIC source 1 + slot. The one call a domain needs per device.
 */
export function attachVirtio(
  bus: Bus,
  plic: IrqLine,
  ram: GuestRam,
  slot: number,
  device: VirtioDevice,
  options: VirtioMmioOptions = {},
): VirtioMmio {
  const s = virtioSlot(slot);
  const t = new VirtioMmio(device, ram, plicPin(plic, s.irq), { name: `virtio${slot}-${device.kind}`, ...options });
  bus.map(s.base, s.size, t);
  return t;
}

/**
 * Maps an empty transport (DeviceID 0, `EmptyVirtioMmio`) into every virtio slot of `board`
 * that has no device, so all eight windows answer as on QEMU's virt board, and the device
 * tree lists all eight. Call after the devices are mapped.
 */
export function fillEmptyVirtioSlots(
  board: { freeVirtioSlots(): number[]; mapVirtio(n: number, dev: MmioDevice): unknown },
  vendorId?: number,
): void {
  for (const n of board.freeVirtioSlots()) board.mapVirtio(n, new EmptyVirtioMmio(vendorId));
}

/**
 * The virtio-mmio slots of the board (`MemMap.VIRTIO`): slot n at 0x1000_1000 + n * 0x1000,
 * PLIC source 1 + n. A domain's devices are mapped by createVm (src/hypervisor/vm.ts); the
 * slots left over answer as QEMU's empty transports.
 */
import { PvmError } from '../../core/errors.js';
import type { MmioDevice } from '../../machine/bus.js';
import { MemMap } from '../../machine/memmap.js';
import type { GuestRam } from '../../memory/ram.js';
import type { VirtioDevice } from './device.js';
import { EmptyVirtioMmio, VirtioMmio, type VirtioRefusal } from './mmio.js';

/** The board as mapVirtioDevices sees it (src/machine VirtBoard). */
export interface VirtioBoard {
  readonly ram: GuestRam;
  readonly plic: { setLevel(source: number, level: boolean): void } | undefined;
  freeVirtioSlots(): number[];
  mapVirtio(n: number, dev: MmioDevice & { reset?(): void }): unknown;
}

export interface VirtioSlotOptions {
  /** Called on each rising edge of a device's interrupt line (wakes a host idling with every hart in WFI). */
  wake?: () => void;
  /** VendorID of every transport, the empty ones too (default QEMU's). */
  vendorId?: number;
  /** Where the transports report what they refuse (once per device and rule). */
  onRefusal?: (refusal: VirtioRefusal) => void;
}

/**
 * Maps a virtio-mmio transport for each device into its slot of `board` (window
 * 0x1000_1000 + slot * 0x1000, PLIC source 1 + slot, level-triggered), then an empty transport
 * into every other slot. The board's reset (guest reboot) resets each transport. Returns the
 * transports by slot; a slot out of range or taken twice is a PvmError('usage').
 */
export function mapVirtioDevices(
  board: VirtioBoard,
  devices: readonly { readonly slot: number; readonly device: VirtioDevice }[],
  opts: VirtioSlotOptions = {},
): Map<number, VirtioMmio> {
  const transports = new Map<number, VirtioMmio>();
  for (const { slot, device } of devices) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MemMap.VIRTIO.count || transports.has(slot)) {
      throw new PvmError('usage', `virtio slot ${slot} is taken or not one of 0..${MemMap.VIRTIO.count - 1}`);
    }
    let high = false;
    const t = new VirtioMmio(
      device,
      board.ram,
      {
        set: (level) => {
          board.plic?.setLevel(1 + slot, level);
          if (level && !high) opts.wake?.();
          high = level;
        },
      },
      {
        name: `virtio${slot}-${device.kind}`,
        ...(opts.vendorId !== undefined ? { vendorId: opts.vendorId } : {}),
        ...(opts.onRefusal ? { onRefusal: opts.onRefusal } : {}),
      },
    );
    board.mapVirtio(slot, t);
    transports.set(slot, t);
  }
  fillEmptyVirtioSlots(board, opts.vendorId);
  return transports;
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

/**
 * The virtio-mmio slots of the board (`MemMap.VIRTIO`): slot n at 0x1000_1000 + n * 0x1000,
 * PLIC source 1 + n. A domain's devices are mapped by createVm (src/hypervisor/vm.ts); the
 * slots left over answer as QEMU's empty transports.
 */
import type { MmioDevice } from '../../machine/bus.js';
import { EmptyVirtioMmio } from './mmio.js';

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

/**
 * Numbers from the virtio 1.2 specification (OASIS, virtio-v1.2-cs01), in one place.
 * Section numbers below refer to that document.
 */

/** §4.2.2 MMIO Device Register Layout (version 2, "non-legacy"). Offsets in the 0x1000 window. */
export const MmioReg = {
  MAGIC: 0x000, // R: 0x74726976 ("virt")
  VERSION: 0x004, // R: 2
  DEVICE_ID: 0x008, // R
  VENDOR_ID: 0x00c, // R
  DEVICE_FEATURES: 0x010, // R: 32 bits selected by DEVICE_FEATURES_SEL
  DEVICE_FEATURES_SEL: 0x014, // W
  DRIVER_FEATURES: 0x020, // W: 32 bits selected by DRIVER_FEATURES_SEL
  DRIVER_FEATURES_SEL: 0x024, // W
  QUEUE_SEL: 0x030, // W
  QUEUE_NUM_MAX: 0x034, // R: 0 when the selected queue does not exist
  QUEUE_NUM: 0x038, // W
  QUEUE_READY: 0x044, // RW
  QUEUE_NOTIFY: 0x050, // W: queue index
  INTERRUPT_STATUS: 0x060, // R
  INTERRUPT_ACK: 0x064, // W
  STATUS: 0x070, // RW
  QUEUE_DESC_LOW: 0x080, // W
  QUEUE_DESC_HIGH: 0x084, // W
  QUEUE_DRIVER_LOW: 0x090, // W (available ring)
  QUEUE_DRIVER_HIGH: 0x094, // W
  QUEUE_DEVICE_LOW: 0x0a0, // W (used ring)
  QUEUE_DEVICE_HIGH: 0x0a4, // W
  SHM_SEL: 0x0ac, // W
  SHM_LEN_LOW: 0x0b0, // R: -1 = no such region
  SHM_LEN_HIGH: 0x0b4, // R
  SHM_BASE_LOW: 0x0b8, // R
  SHM_BASE_HIGH: 0x0bc, // R
  QUEUE_RESET: 0x0c0, // RW (only with VIRTIO_F_RING_RESET, not offered)
  CONFIG_GENERATION: 0x0fc, // R
  CONFIG: 0x100, // device-specific configuration space
} as const;

export const MMIO_MAGIC = 0x7472_6976;
export const MMIO_VERSION = 2;
/**
 * QEMU's vendor id, "QEMU" as a little-endian word (hw/virtio/virtio-mmio.c VIRT_VENDOR): the
 * default on the virt board, because software written for QEMU checks it (xv6-riscv's disk
 * driver refuses any other). Linux matches drivers on the device id only.
 */
export const QEMU_VENDOR_ID = 0x554d_4551;
/** pvm's own vendor id, the bytes "PVM\0" read as a little-endian word (the spec leaves it free). */
export const PVM_VENDOR_ID = 0x004d_5650; // "PVM"
export const MMIO_WINDOW = 0x1000;

/** §2.1 Device Status Field. */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** §4.2.2 InterruptStatus bits. */
export const Interrupt = {
  USED_BUFFER: 1,
  CONFIG_CHANGE: 2,
} as const;

/** §5 Device Types: device ids. */
export const DeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
  BALLOON: 5,
  P9: 9,
} as const;

/** §6 Reserved Feature Bits (bit numbers). */
export const Feature = {
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
} as const;

/** Feature bit n as a 64-bit mask. */
export const bit = (n: number): bigint => 1n << BigInt(n);

/** The transport features every pvm device offers. */
export const TRANSPORT_FEATURES = bit(Feature.VERSION_1) | bit(Feature.INDIRECT_DESC) | bit(Feature.EVENT_IDX);

/** §2.7.5 struct virtq_desc flags. */
export const DescFlag = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
} as const;

/** §2.7.6 / §2.7.8 ring flags. */
export const AVAIL_F_NO_INTERRUPT = 1;
export const USED_F_NO_NOTIFY = 1;

/** §2.7 "The maximum Queue Size value is 32768." */
export const MAX_QUEUE_SIZE = 32768;
export const DESC_SIZE = 16;

/**
 * Numbers of the RISC-V Supervisor Binary Interface (SBI spec v2.0): error
 * codes (chapter 3, "Binary Encoding"), extension ids and function ids.
 */

/** sbiret.error values (SBI v2.0 §3.2, table "Standard SBI Errors"). */
export const SbiErr = {
  SUCCESS: 0,
  FAILED: -1,
  NOT_SUPPORTED: -2,
  INVALID_PARAM: -3,
  DENIED: -4,
  INVALID_ADDRESS: -5,
  ALREADY_AVAILABLE: -6,
  ALREADY_STARTED: -7,
  ALREADY_STOPPED: -8,
  NO_SHMEM: -9,
  INVALID_STATE: -10,
  BAD_RANGE: -11,
  TIMEOUT: -12,
  IO: -13,
} as const;

/** Extension ids (a7). */
export const Eid = {
  LEGACY_SET_TIMER: 0x00,
  LEGACY_CONSOLE_PUTCHAR: 0x01,
  LEGACY_CONSOLE_GETCHAR: 0x02,
  LEGACY_CLEAR_IPI: 0x03,
  LEGACY_SEND_IPI: 0x04,
  LEGACY_REMOTE_FENCE_I: 0x05,
  LEGACY_REMOTE_SFENCE_VMA: 0x06,
  LEGACY_REMOTE_SFENCE_VMA_ASID: 0x07,
  LEGACY_SHUTDOWN: 0x08,
  BASE: 0x10,
  TIME: 0x5449_4d45, // "TIME"
  IPI: 0x0073_5049, // "sPI"
  RFENCE: 0x5246_4e43, // "RFNC"
  HSM: 0x0048_534d, // "HSM"
  SRST: 0x5352_5354, // "SRST"
  PMU: 0x0050_4d55, // "PMU"
  DBCN: 0x4442_434e, // "DBCN"
  SUSP: 0x5355_5350, // "SUSP"
  STA: 0x0053_5441, // "STA"
  /** Firmware-specific extension space (SBI v2.0 §3.1): pvm's PVX lives here. */
  FIRMWARE_FIRST: 0x0a00_0000,
  FIRMWARE_LAST: 0x0aff_ffff,
} as const;

/** SBI specification version reported by Base get_spec_version: 2.0 (major << 24 | minor). */
export const SPEC_VERSION = (2 << 24) | 0;

/**
 * Implementation id reported by Base get_sbi_impl_id. The public registry
 * (SBI v2.0 §4.9) assigns 0..12 or so; pvm takes ASCII "pvm", far outside it.
 */
export const PVM_IMPL_ID = 0x70_76_6d;
/** Implementation version: 0.1 encoded as major << 16 | minor. */
export const PVM_IMPL_VERSION = (0 << 16) | 1;

/** HSM hart states (SBI v2.0 §9, table "HSM Hart States"). */
export const HsmState = {
  STARTED: 0,
  STOPPED: 1,
  START_PENDING: 2,
  STOP_PENDING: 3,
  SUSPENDED: 4,
  SUSPEND_PENDING: 5,
  RESUME_PENDING: 6,
} as const;
export type HsmState = (typeof HsmState)[keyof typeof HsmState];

/** SRST reset types and reasons (SBI v2.0 §10.1). */
export const ResetType = { SHUTDOWN: 0, COLD_REBOOT: 1, WARM_REBOOT: 2 } as const;
export const ResetReason = { NONE: 0, SYSTEM_FAILURE: 1 } as const;

/** All-ones in 64 bits: hart_mask_base = -1 (all harts), shmem = -1 (disable), stime = -1 (no timer). */
export const ALL_ONES = 0xffff_ffff_ffff_ffffn;

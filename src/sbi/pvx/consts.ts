/**
 * Numbers of PVX 1.0, pvm's paravirtual SBI extension (docs/para-api-pvx.md).
 * guests/pvos/include/pvx.h is the C mirror; test/pvx-consts.test.ts checks
 * that both agree.
 */

/** Extension id (§1.1): firmware-specific range, low three bytes "PVX". */
export const PVX_EID = 0x0a50_5658;
/** major << 16 | minor (§3). */
export const PVX_VERSION = 0x0001_0000;

/** Function ids (§2). */
export const PvxFid = {
  GET_VERSION: 0x000,
  GET_FEATURES: 0x001,
  GET_DOMID: 0x002,
  GET_LIMIT: 0x003,
  SHINFO_SET: 0x100,
  TIMER_SET: 0x101,
  EVTCHN_ALLOC_UNBOUND: 0x200,
  EVTCHN_BIND_INTERDOMAIN: 0x201,
  EVTCHN_BIND_VIRQ: 0x202,
  EVTCHN_BIND_IPI: 0x203,
  EVTCHN_SEND: 0x204,
  EVTCHN_CLOSE: 0x205,
  EVTCHN_UNMASK: 0x206,
  EVTCHN_STATUS: 0x207,
  GNTTAB_SETUP: 0x300,
  GNTTAB_MAP: 0x301,
  GNTTAB_UNMAP: 0x302,
  GNTTAB_COPY: 0x303,
  GNTTAB_END_ACCESS: 0x304,
  MULTICALL: 0x400,
  SCHED_YIELD: 0x500,
  SCHED_BLOCK: 0x501,
  SCHED_POLL: 0x502,
  SCHED_SHUTDOWN: 0x503,
  MEMORY_DECREASE: 0x600,
  MEMORY_INCREASE: 0x601,
  MEMORY_RESERVATION: 0x602,
} as const;
export type PvxFid = (typeof PvxFid)[keyof typeof PvxFid];

/** Feature bits of word 0 (§3). */
export const PvxFeature = {
  SHINFO: 1 << 0,
  TIMER: 1 << 1,
  EVTCHN: 1 << 2,
  EVTCHN_IPI: 1 << 3,
  GNTTAB: 1 << 4,
  GNTTAB_MAP: 1 << 5,
  MULTICALL: 1 << 6,
  SCHED: 1 << 7,
  MEMORY: 1 << 8,
} as const;
/** Every feature of PVX 1.0: pvm implements all of them. */
export const PVX_FEATURES_ALL = 0x1ff;

/** Limit ids of PVX_GET_LIMIT (§3). */
export const PvxLimit = {
  EVTCHN_PORTS: 0,
  GNTTAB_FRAMES: 1,
  GNT_WINDOW_BASE: 2,
  GNT_WINDOW_SIZE: 3,
  MULTICALL_ENTRIES: 4,
  VCPUS: 5,
  POLL_PORTS: 6,
  MEMORY_BATCH: 7,
} as const;
export const PVX_LIMIT_COUNT = 8;

export const PAGE_SIZE = 4096;
export const PVX_DOMID_SELF = 0x7ff0;
export const PVX_DOMID_MAX = 0x7fef;
export const PVX_EVTCHN_NR_PORTS = 1024;
export const PVX_GNTTAB_MAX_FRAMES = 4;
export const PVX_GNTTAB_ENTRIES_PER_FRAME = 512;
export const PVX_GNT_WINDOW_BASE = 0x4000_0000;
export const PVX_GNT_WINDOW_SIZE = 0x0400_0000;
export const PVX_MULTICALL_MAX = 64;
export const PVX_MAX_VCPUS = 8;
export const PVX_POLL_MAX_PORTS = 128;
export const PVX_MEMORY_BATCH_MAX = 512;

/** Shared info page layout (§4.2), byte offsets. */
export const Shinfo = {
  VCPU_INFO: 0x000,
  VCPU_INFO_SIZE: 64,
  VI_UPCALL_PENDING: 0,
  VI_UPCALL_MASK: 1,
  VI_PENDING_SEL: 8,
  VI_TIME: 16,
  /** vcpu_time_info fields, relative to VI_TIME. */
  T_VERSION: 0,
  T_TICK_HZ: 4,
  T_TICK_STAMP: 8,
  T_SYSTEM_TIME: 16,
  EVTCHN_PENDING: 0x200,
  EVTCHN_MASK: 0x280,
  WC_VERSION: 0x300,
  WC_SEC: 0x308,
  WC_NSEC: 0x310,
  SHUTDOWN_REQUEST: 0x314,
  MEM_TARGET: 0x318,
} as const;

/** Event channel port states (§5.1). */
export const PortState = { FREE: 0, UNBOUND: 1, INTERDOMAIN: 2, VIRQ: 3, IPI: 4 } as const;
export type PortState = (typeof PortState)[keyof typeof PortState];

/** Virtual interrupts (§5.2). */
export const Virq = { TIMER: 0, CONSOLE: 1, SHUTDOWN_REQUEST: 2, MEM_TARGET: 3 } as const;
export const PVX_NR_VIRQS = 4;

/** Grant entry flags (§6.2). */
export const Gtf = {
  PERMIT_ACCESS: 0x1,
  TYPE_MASK: 0x3,
  READONLY: 0x4,
  READING: 0x8,
  WRITING: 0x10,
} as const;
export const GNTMAP_READONLY = 0x1;
export const GNTCOPY_TO_GRANT = 0x1;

/** Multicall entry layout (§7). */
export const Mc = { ENTRY_SIZE: 72, EID: 0, FID: 4, ARGS: 8, ERROR: 56, VALUE: 64 } as const;

/** SCHED_SHUTDOWN reasons (§8). */
export const ShutdownReason = { POWEROFF: 0, REBOOT: 1, CRASH: 2, WATCHDOG: 3 } as const;
export type ShutdownReason = (typeof ShutdownReason)[keyof typeof ShutdownReason];

/** PVX_MEMORY_RESERVATION `which` (§9). */
export const Reservation = { CURRENT: 0, MAXIMUM: 1, TARGET: 2 } as const;

/** All ones in 64 bits: "none" for SHINFO_SET, TIMER_SET, GNTTAB_SETUP and POLL deadlines. */
export const NONE = 0xffff_ffff_ffff_ffffn;

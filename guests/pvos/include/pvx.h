/*
 * PVX 1.0 — machine-readable mirror of docs/para-api-pvx.md (the document wins).
 * Freestanding C11; usable from assembly for the #define part (PVX_ASM).
 */
#ifndef PVX_H
#define PVX_H

/* §1.1 extension id: firmware-specific range, low bytes "PVX" */
#define PVX_EID 0x0A505658UL
#define PVX_VERSION_MAJOR 1
#define PVX_VERSION_MINOR 0
#define PVX_VERSION ((PVX_VERSION_MAJOR << 16) | PVX_VERSION_MINOR)

/* §1.2 SBI error codes */
#define SBI_SUCCESS 0
#define SBI_ERR_FAILED (-1)
#define SBI_ERR_NOT_SUPPORTED (-2)
#define SBI_ERR_INVALID_PARAM (-3)
#define SBI_ERR_DENIED (-4)
#define SBI_ERR_INVALID_ADDRESS (-5)
#define SBI_ERR_ALREADY_AVAILABLE (-6)
#define SBI_ERR_ALREADY_STARTED (-7)
#define SBI_ERR_ALREADY_STOPPED (-8)
#define SBI_ERR_NO_SHMEM (-9)
#define SBI_ERR_INVALID_STATE (-10)
#define SBI_ERR_BAD_RANGE (-11)
#define SBI_ERR_TIMEOUT (-12)
#define SBI_ERR_IO (-13)

/* §1.3 */
#define PVX_PAGE_SIZE 4096UL
#define PVX_DOMID_SELF 0x7FF0U
#define PVX_DOMID_MAX 0x7FEFU

/* §2 function ids */
#define PVX_GET_VERSION 0x000
#define PVX_GET_FEATURES 0x001
#define PVX_GET_DOMID 0x002
#define PVX_GET_LIMIT 0x003
#define PVX_SHINFO_SET 0x100
#define PVX_TIMER_SET 0x101
#define PVX_EVTCHN_ALLOC_UNBOUND 0x200
#define PVX_EVTCHN_BIND_INTERDOMAIN 0x201
#define PVX_EVTCHN_BIND_VIRQ 0x202
#define PVX_EVTCHN_BIND_IPI 0x203
#define PVX_EVTCHN_SEND 0x204
#define PVX_EVTCHN_CLOSE 0x205
#define PVX_EVTCHN_UNMASK 0x206
#define PVX_EVTCHN_STATUS 0x207
#define PVX_GNTTAB_SETUP 0x300
#define PVX_GNTTAB_MAP 0x301
#define PVX_GNTTAB_UNMAP 0x302
#define PVX_GNTTAB_COPY 0x303
#define PVX_GNTTAB_END_ACCESS 0x304
#define PVX_MULTICALL 0x400
#define PVX_SCHED_YIELD 0x500
#define PVX_SCHED_BLOCK 0x501
#define PVX_SCHED_POLL 0x502
#define PVX_SCHED_SHUTDOWN 0x503
#define PVX_MEMORY_DECREASE 0x600
#define PVX_MEMORY_INCREASE 0x601
#define PVX_MEMORY_RESERVATION 0x602

/* §3 feature bits of word 0 */
#define PVX_FEATURE_WORDS 1
#define PVX_F_SHINFO (1UL << 0)
#define PVX_F_TIMER (1UL << 1)
#define PVX_F_EVTCHN (1UL << 2)
#define PVX_F_EVTCHN_IPI (1UL << 3)
#define PVX_F_GNTTAB (1UL << 4)
#define PVX_F_GNTTAB_MAP (1UL << 5)
#define PVX_F_MULTICALL (1UL << 6)
#define PVX_F_SCHED (1UL << 7)
#define PVX_F_MEMORY (1UL << 8)
#define PVX_F_ALL_1_0 0x1FFUL

/* §3 limit ids and pvm 1.0 values */
#define PVX_LIMIT_EVTCHN_PORTS 0
#define PVX_LIMIT_GNTTAB_FRAMES 1
#define PVX_LIMIT_GNT_WINDOW_BASE 2
#define PVX_LIMIT_GNT_WINDOW_SIZE 3
#define PVX_LIMIT_MULTICALL_ENTRIES 4
#define PVX_LIMIT_VCPUS 5
#define PVX_LIMIT_POLL_PORTS 6
#define PVX_LIMIT_MEMORY_BATCH 7
#define PVX_LIMIT_COUNT 8

#define PVX_EVTCHN_NR_PORTS 1024
#define PVX_GNTTAB_MAX_FRAMES 4
#define PVX_GNTTAB_ENTRIES_PER_FRAME 512
#define PVX_GNT_WINDOW_BASE 0x40000000UL
#define PVX_GNT_WINDOW_SIZE 0x04000000UL
#define PVX_MULTICALL_MAX 64
#define PVX_MAX_VCPUS 8
#define PVX_POLL_MAX_PORTS 128
#define PVX_MEMORY_BATCH_MAX 512

/* §4.2 shared info layout (byte offsets) */
#define PVX_SHINFO_VCPU_INFO 0x000
#define PVX_VCPU_INFO_SIZE 64
#define PVX_VI_UPCALL_PENDING 0
#define PVX_VI_UPCALL_MASK 1
#define PVX_VI_PENDING_SEL 8
#define PVX_VI_TIME 16
#define PVX_SHINFO_EVTCHN_PENDING 0x200
#define PVX_SHINFO_EVTCHN_MASK 0x280
#define PVX_SHINFO_WC_VERSION 0x300
#define PVX_SHINFO_WC_SEC 0x308
#define PVX_SHINFO_WC_NSEC 0x310
#define PVX_SHINFO_SHUTDOWN_REQUEST 0x314
#define PVX_SHINFO_MEM_TARGET 0x318
#define PVX_EVTCHN_WORDS (PVX_EVTCHN_NR_PORTS / 64)

/* §5.1 port states and status word */
#define PVX_EVTCHN_STATE_FREE 0
#define PVX_EVTCHN_STATE_UNBOUND 1
#define PVX_EVTCHN_STATE_INTERDOMAIN 2
#define PVX_EVTCHN_STATE_VIRQ 3
#define PVX_EVTCHN_STATE_IPI 4
#define PVX_STATUS_STATE(s) ((unsigned)((s) & 0xF))
#define PVX_STATUS_VCPU(s) ((unsigned)(((s) >> 4) & 0xF))
#define PVX_STATUS_DOMID_OR_VIRQ(s) ((unsigned)(((s) >> 16) & 0xFFFF))
#define PVX_STATUS_REMOTE_PORT(s) ((unsigned)(((s) >> 32) & 0xFFFF))

/* §5.2 VIRQs */
#define PVX_VIRQ_TIMER 0
#define PVX_VIRQ_CONSOLE 1
#define PVX_VIRQ_SHUTDOWN_REQUEST 2
#define PVX_VIRQ_MEM_TARGET 3
#define PVX_NR_VIRQS 4

/* §6.2 grant entry flags */
#define GTF_invalid 0x0
#define GTF_permit_access 0x1
#define GTF_type_mask 0x3
#define GTF_readonly 0x4
#define GTF_reading 0x8
#define GTF_writing 0x10
#define PVX_GNTMAP_READONLY 0x1
#define PVX_GNTCOPY_TO_GRANT 0x1

/* §7 multicall entry */
#define PVX_MC_ENTRY_SIZE 72
#define PVX_MC_EID 0
#define PVX_MC_FID 4
#define PVX_MC_ARGS 8
#define PVX_MC_ERROR 56
#define PVX_MC_VALUE 64

/* §8 shutdown reasons */
#define PVX_SHUTDOWN_POWEROFF 0
#define PVX_SHUTDOWN_REBOOT 1
#define PVX_SHUTDOWN_CRASH 2
#define PVX_SHUTDOWN_WATCHDOG 3

/* §9 reservation selectors */
#define PVX_RESERVATION_CURRENT 0
#define PVX_RESERVATION_MAX 1
#define PVX_RESERVATION_TARGET 2

#ifndef PVX_ASM
#include <stdint.h>

typedef uint16_t domid_t;
typedef uint32_t evtchn_port_t;
typedef uint32_t grant_ref_t;

struct pvx_vcpu_time_info {
  uint32_t version;
  uint32_t tick_hz;
  uint64_t tick_stamp;
  uint64_t system_time;
  uint64_t reserved;
};

struct pvx_vcpu_info {
  uint8_t upcall_pending;
  uint8_t upcall_mask;
  uint16_t pad0;
  uint32_t pad1;
  uint64_t evtchn_pending_sel;
  struct pvx_vcpu_time_info time;
  uint8_t reserved[16];
};

struct pvx_shared_info {
  struct pvx_vcpu_info vcpu_info[PVX_MAX_VCPUS];
  uint64_t evtchn_pending[PVX_EVTCHN_WORDS];
  uint64_t evtchn_mask[PVX_EVTCHN_WORDS];
  uint32_t wc_version;
  uint32_t pad0;
  uint64_t wc_sec;
  uint32_t wc_nsec;
  uint32_t shutdown_request;
  uint64_t mem_target_frames;
  uint8_t reserved[4096 - 0x320];
};

struct pvx_grant_entry {
  uint16_t flags;
  domid_t domid;
  uint32_t frame;
};

struct pvx_multicall_entry {
  uint32_t eid;
  uint32_t fid;
  uint64_t args[6];
  int64_t error;
  uint64_t value;
};

_Static_assert(sizeof(struct pvx_vcpu_info) == PVX_VCPU_INFO_SIZE, "vcpu_info size");
_Static_assert(__builtin_offsetof(struct pvx_vcpu_info, evtchn_pending_sel) == PVX_VI_PENDING_SEL, "sel");
_Static_assert(__builtin_offsetof(struct pvx_vcpu_info, time) == PVX_VI_TIME, "time");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, evtchn_pending) == PVX_SHINFO_EVTCHN_PENDING, "pending");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, evtchn_mask) == PVX_SHINFO_EVTCHN_MASK, "mask");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, wc_version) == PVX_SHINFO_WC_VERSION, "wc_version");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, wc_sec) == PVX_SHINFO_WC_SEC, "wc_sec");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, wc_nsec) == PVX_SHINFO_WC_NSEC, "wc_nsec");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, shutdown_request) == PVX_SHINFO_SHUTDOWN_REQUEST, "sdr");
_Static_assert(__builtin_offsetof(struct pvx_shared_info, mem_target_frames) == PVX_SHINFO_MEM_TARGET, "target");
_Static_assert(sizeof(struct pvx_shared_info) == 4096, "shared info is one page");
_Static_assert(sizeof(struct pvx_grant_entry) == 8, "grant entry");
_Static_assert(sizeof(struct pvx_multicall_entry) == PVX_MC_ENTRY_SIZE, "multicall entry");
_Static_assert(__builtin_offsetof(struct pvx_multicall_entry, error) == PVX_MC_ERROR, "mc error");
#endif

#endif

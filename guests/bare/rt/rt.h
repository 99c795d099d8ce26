/*
 * pvm bare-metal test runtime: UART output, printf-lite, syscon/HTIF exit,
 * trap recording, privilege-mode switches. Everything runs on hart 0.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "rt_asm.h"

#define UART0_BASE 0x10000000UL
#define SYSCON_BASE 0x100000UL
#define CLINT_BASE 0x2000000UL
#define CLINT_MSIP (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)
/* PLIC (sifive,plic-1.0.0): context 2N = hart N M-mode, 2N+1 = S-mode. UART0 is source 10. */
#define PLIC 0x0c000000UL
#define PLIC_PRIO(src) (PLIC + 4 * (src))
#define PLIC_PENDING (PLIC + 0x1000)
#define PLIC_ENABLE(ctx) (PLIC + 0x2000 + 0x80 * (ctx))
#define PLIC_THRESHOLD(ctx) (PLIC + 0x200000 + 0x1000 * (ctx))
#define PLIC_CLAIM(ctx) (PLIC + 0x200004 + 0x1000 * (ctx))
#define UART_IRQ 10

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define MSTATUS_SIE (1UL << 1)
#define MSTATUS_MIE (1UL << 3)
#define MSTATUS_SPIE (1UL << 5)
#define MSTATUS_UBE (1UL << 6)
#define MSTATUS_MPIE (1UL << 7)
#define MSTATUS_SPP (1UL << 8)
#define MSTATUS_MPP (3UL << 11)
#define MSTATUS_FS (3UL << 13)
#define MSTATUS_MPRV (1UL << 17)
#define MSTATUS_SUM (1UL << 18)
#define MSTATUS_MXR (1UL << 19)
#define MSTATUS_TVM (1UL << 20)
#define MSTATUS_TW (1UL << 21)
#define MSTATUS_TSR (1UL << 22)

#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11
#define MIP_SSIP (1UL << IRQ_S_SOFT)
#define MIP_MSIP (1UL << IRQ_M_SOFT)
#define MIP_STIP (1UL << IRQ_S_TIMER)
#define MIP_MTIP (1UL << IRQ_M_TIMER)
#define MIP_SEIP (1UL << IRQ_S_EXT)
#define MIP_MEIP (1UL << IRQ_M_EXT)

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL_INSTRUCTION 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_USER_ECALL 8
#define CAUSE_SUPERVISOR_ECALL 9
#define CAUSE_MACHINE_ECALL 11
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT 13
#define CAUSE_STORE_PAGE_FAULT 15
#define CAUSE_INTERRUPT (1UL << 63)

#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr)                                    \
  ({                                                     \
    uint64_t v_;                                         \
    __asm__ volatile("csrr %0, " #csr : "=r"(v_)::"memory"); \
    v_;                                                  \
  })
#define csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_set(csr, val) __asm__ volatile("csrs " #csr ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_clear(csr, val) __asm__ volatile("csrc " #csr ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_swap(csr, val)                                                          \
  ({                                                                                \
    uint64_t v_;                                                                    \
    __asm__ volatile("csrrw %0, " #csr ", %1" : "=r"(v_) : "rK"((uint64_t)(val)) : "memory"); \
    v_;                                                                             \
  })

static inline void mmio_w8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline uint8_t mmio_r8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline void mmio_w32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t mmio_r32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_w64(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static inline uint64_t mmio_r64(uintptr_t a) { return *(volatile uint64_t *)a; }

/* Console and exit. */
void putchar_(int c);
void puts_(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_exit(int code) __attribute__((noreturn));

/* Checks: each prints one line "ok NAME" or "FAIL NAME: ..." and counts. */
void check(const char *name, int cond);
void check_eq(const char *name, uint64_t got, uint64_t want);
/* Prints the verdict line; returns the number of failed checks (main's result). */
int finish(void);

/* Traps. Every trap that is not a mode return is appended to trap_log. */
struct trap_rec {
  uint64_t cause, tval, epc;
  uint8_t handler; /* PRV_M or PRV_S: the mode whose handler took it */
  uint8_t from;    /* the privilege mode it was taken from */
};
#define TRAP_LOG_MAX 16
extern volatile struct trap_rec trap_log[TRAP_LOG_MAX];
extern volatile int trap_count;
/* Number of exceptions still expected; an unexpected one ends the run. */
extern volatile int trap_expected;
/* If nonzero, the next exception resumes there instead of after the insn. */
extern volatile uint64_t trap_resume;
/* Interrupt hook: called with (cause code, handler mode); must quiet the source. */
extern void (*volatile irq_hook)(uint64_t code, int handler);
/* Exception hook: returns 1 if it handled the exception (epc is then kept
   unless it changed trap_resume). */
extern int (*volatile exc_hook)(uint64_t cause, uint64_t tval, uint64_t epc, int handler);

void trap_reset(int expected);
/* Checks that exactly one exception with these values was taken. */
void check_trap(const char *name, uint64_t cause, uint64_t tval, int handler, int from);
/* Same, without checking tval. */
void check_trap_notval(const char *name, uint64_t cause, int handler, int from);

/* Entry of harts other than 0 (weak default: park in WFI); runs on its own stack
   with mtvec pointing at a WFI loop. Hart ids above RT_MAX_SEC_HARTS are not supported. */
void secondary_main(uint64_t hartid);
extern volatile uint32_t rt_ready;

/* Run fn(arg) in mode (PRV_U / PRV_S) and return its result (M-mode only). */
uint64_t run_in_mode(int mode, uint64_t (*fn)(uint64_t), uint64_t arg);
/* Install the S-mode trap vector (s_trap_entry) and its stack. */
void rt_enable_s_traps(void);
extern char s_trap_entry[], m_trap_entry[], lower_return[];

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* Execute `insn` (assembly text) with trap_resume set to the point just after
   it, so an exception resumes there. Clobbers t5 and t6: list them. */
#define TRY_ASM(insn, ...)                                                               \
  __asm__ volatile(".option push\n.option norvc\nla t6, 99f\nsd t6, trap_resume, t5\n" \
                   ".option pop\n" insn "\n99:\n" __VA_ARGS__)

/* pvm bare-metal test runtime (see rt.h). */
#include "rt.h"

#include <stdarg.h>

/* ---- console: ns16550a THR/LSR polling, or the HTIF console with RT_EXIT_HTIF ---- */
#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20

extern volatile uint64_t tohost, fromhost;

void putchar_(int c) {
#ifdef RT_EXIT_HTIF
  /* HTIF console: device 1, command 1 (putchar); the host clears tohost when done. */
  while (tohost) {
  }
  tohost = (1UL << 56) | (1UL << 48) | (uint8_t)c;
  while (tohost) {
  }
  fromhost = 0;
#else
  while (!(mmio_r8(UART0_BASE + UART_LSR) & UART_LSR_THRE)) {
  }
  mmio_w8(UART0_BASE + UART_THR, (uint8_t)c);
#endif
}

void puts_(const char *s) {
  while (*s) putchar_(*s++);
}

static void put_num(uint64_t v, unsigned base, int width, char pad, int neg) {
  char buf[24];
  int n = 0;
  do {
    unsigned d = (unsigned)(v % base);
    buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  if (neg) buf[n++] = '-';
  while (n < width) {
    putchar_(pad);
    width--;
  }
  while (n) putchar_(buf[--n]);
}

/* printf-lite: %d %i %u %x %p %s %c %%, flags '0', width, length l/ll/z. */
int printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      putchar_(*fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0, lng = 0;
    if (*fmt == '0') {
      pad = '0';
      fmt++;
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l' || *fmt == 'z') {
      lng = 1;
      fmt++;
    }
    switch (*fmt) {
      case 'd':
      case 'i': {
        int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
        put_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
        break;
      }
      case 'u':
        put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width, pad, 0);
        break;
      case 'x':
        put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width, pad, 0);
        break;
      case 'p':
        puts_("0x");
        put_num((uint64_t)va_arg(ap, void *), 16, width, pad, 0);
        break;
      case 's': {
        const char *s = va_arg(ap, const char *);
        puts_(s ? s : "(null)");
        break;
      }
      case 'c':
        putchar_(va_arg(ap, int));
        break;
      case '%':
        putchar_('%');
        break;
      default:
        putchar_('%');
        putchar_(*fmt);
        break;
    }
  }
  va_end(ap);
  return 0;
}

/* ---- exit: sifive,test0 syscon, or HTIF tohost when built with RT_EXIT_HTIF ---- */

void rt_exit(int code) {
#ifdef RT_EXIT_HTIF
  while (tohost) {
  }
  tohost = ((uint64_t)code << 1) | 1;
#else
  mmio_w32(SYSCON_BASE, code == 0 ? 0x5555 : (((uint32_t)code & 0xffff) << 16) | 0x3333);
#endif
  for (;;) __asm__ volatile("wfi");
}

/* ---- checks ---- */
static int n_checks, n_failed;

void check(const char *name, int cond) {
  n_checks++;
  if (cond) {
    printf("ok %s\n", name);
  } else {
    n_failed++;
    printf("FAIL %s\n", name);
  }
}

void check_eq(const char *name, uint64_t got, uint64_t want) {
  n_checks++;
  if (got == want) {
    printf("ok %s\n", name);
  } else {
    n_failed++;
    printf("FAIL %s: got 0x%lx want 0x%lx\n", name, got, want);
  }
}

int finish(void) {
  if (n_failed)
    printf("FAILED %d of %d checks\n", n_failed, n_checks);
  else
    printf("PASSED %d checks\n", n_checks);
  return n_failed;
}

/* ---- traps ---- */
volatile struct trap_rec trap_log[TRAP_LOG_MAX];
volatile int trap_count;
volatile int trap_expected;
volatile uint64_t trap_resume;
void (*volatile irq_hook)(uint64_t code, int handler);
int (*volatile exc_hook)(uint64_t cause, uint64_t tval, uint64_t epc, int handler);
uint64_t m_ctx_sp;

void return_to_m(uint64_t value) __attribute__((noreturn));

void trap_reset(int expected) {
  trap_count = 0;
  trap_expected = expected;
  trap_resume = 0;
}

static void record(uint64_t cause, uint64_t tval, uint64_t epc, int handler, int from) {
  int i = trap_count;
  if (i < TRAP_LOG_MAX) {
    trap_log[i].cause = cause;
    trap_log[i].tval = tval;
    trap_log[i].epc = epc;
    trap_log[i].handler = (uint8_t)handler;
    trap_log[i].from = (uint8_t)from;
  }
  trap_count = i + 1;
}

static const char *mode_name(int m) { return m == PRV_M ? "M" : m == PRV_S ? "S" : m == PRV_U ? "U" : "?"; }

static uint64_t insn_len(uint64_t epc) { return (*(volatile uint16_t *)epc & 3) == 3 ? 4 : 2; }

/* Common exception/interrupt policy; returns the new epc. */
static uint64_t handle(uint64_t *f, uint64_t cause, uint64_t tval, uint64_t epc, int handler, int from) {
  if ((int64_t)cause < 0) {
    record(cause, tval, epc, handler, from);
    if (!irq_hook) {
      printf("unexpected interrupt %lu in %s-mode handler (from %s, epc 0x%lx)\n", cause & 63, mode_name(handler),
             mode_name(from), epc);
      rt_exit(100);
    }
    irq_hook(cause & 63, handler);
    return epc;
  }
  record(cause, tval, epc, handler, from);
  if (exc_hook && exc_hook(cause, tval, epc, handler)) {
    uint64_t r = trap_resume;
    trap_resume = 0;
    return r ? r : epc;
  }
  if (trap_expected <= 0) {
    printf("unexpected trap: cause %lu tval 0x%lx epc 0x%lx in %s-mode handler (from %s)\n", cause, tval, epc,
           mode_name(handler), mode_name(from));
    rt_exit(101);
  }
  trap_expected--;
  (void)f;
  if (trap_resume) {
    uint64_t r = trap_resume;
    trap_resume = 0;
    return r;
  }
  return epc + insn_len(epc);
}

void m_trap_c(uint64_t *f) {
  uint64_t cause = csr_read(mcause), tval = csr_read(mtval), epc = csr_read(mepc);
  int from = (int)((csr_read(mstatus) >> 11) & 3);
  if ((cause == CAUSE_USER_ECALL || cause == CAUSE_SUPERVISOR_ECALL) && f[17] == RT_MAGIC) return_to_m(f[10]);
  csr_write(mepc, handle(f, cause, tval, epc, PRV_M, from));
}

void s_trap_c(uint64_t *f) {
  uint64_t cause = csr_read(scause), tval = csr_read(stval), epc = csr_read(sepc);
  int from = (csr_read(sstatus) & MSTATUS_SPP) ? PRV_S : PRV_U;
  if (cause == CAUSE_USER_ECALL && f[17] == RT_MAGIC) {
    /* A U-mode function returned while ecalls are delegated: pass it on to M. */
    register uint64_t a0 __asm__("a0") = f[10];
    register uint64_t a7 __asm__("a7") = RT_MAGIC;
    __asm__ volatile("ecall" ::"r"(a0), "r"(a7));
  }
  /* SUM lets the handler read a U-mode instruction (to step over it) under paging. */
  uint64_t sum = csr_read(sstatus) & MSTATUS_SUM;
  csr_set(sstatus, MSTATUS_SUM);
  uint64_t next = handle(f, cause, tval, epc, PRV_S, from);
  if (!sum) csr_clear(sstatus, MSTATUS_SUM);
  csr_write(sepc, next);
}

void rt_enable_s_traps(void) {
  extern char _s_trap_stack_top[];
  csr_write(stvec, (uint64_t)s_trap_entry);
  csr_write(sscratch, (uint64_t)_s_trap_stack_top);
}

static void check_trap_common(const char *name, uint64_t cause, uint64_t tval, int with_tval, int handler, int from) {
  int ok = trap_count == 1 && trap_log[0].cause == cause && (!with_tval || trap_log[0].tval == tval) &&
           trap_log[0].handler == handler && trap_log[0].from == from;
  n_checks++;
  if (ok) {
    /* tval is checked but not printed: addresses and instruction bits depend on the build. */
    printf("ok %s: cause %lu to %s from %s\n", name, cause, mode_name(handler), mode_name(from));
  } else {
    n_failed++;
    printf("FAIL %s: want cause %lu tval 0x%lx to %s from %s; got %d traps", name, cause, tval, mode_name(handler),
           mode_name(from), trap_count);
    if (trap_count > 0)
      printf(", first cause %lu tval 0x%lx to %s from %s", trap_log[0].cause, trap_log[0].tval,
             mode_name(trap_log[0].handler), mode_name(trap_log[0].from));
    printf("\n");
  }
  trap_reset(0);
}

void check_trap(const char *name, uint64_t cause, uint64_t tval, int handler, int from) {
  check_trap_common(name, cause, tval, 1, handler, from);
}

void check_trap_notval(const char *name, uint64_t cause, int handler, int from) {
  check_trap_common(name, cause, 0, 0, handler, from);
}

void rt_init(void) { trap_reset(0); }

/* Set by hart 0 once .bss is clear; in .data so that clearing cannot race it. */
volatile uint32_t rt_ready __attribute__((section(".data"))) = 0;
uint8_t rt_sec_stacks[RT_MAX_SEC_HARTS][RT_SEC_STACK] __attribute__((aligned(16)));

__attribute__((weak)) void secondary_main(uint64_t hartid) {
  (void)hartid;
  for (;;) __asm__ volatile("wfi");
}

/* ---- freestanding libc bits the compiler may call ---- */
void *memset(void *d, int c, size_t n) {
  uint8_t *p = d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  uint8_t *p = d;
  const uint8_t *q = s;
  while (n--) *p++ = *q++;
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p - *q;
  return 0;
}

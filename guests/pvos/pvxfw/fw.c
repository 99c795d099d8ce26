/*
 * pvxfw — a small M-mode firmware for QEMU's virt board that answers standard
 * SBI (Base, TIME, IPI, RFENCE, HSM status, SRST, DBCN) and the single-domain
 * subset of PVX 1.0 (docs/para-api-pvx.md): version/features/limits, shared
 * info with upcalls as SSIP, the timer VIRQ, event channels (loopback, VIRQ,
 * IPI), grant table setup/end, multicall, sched block/poll/shutdown.
 * It exists to run pvos's PVX back ends on real (emulated) hardware and to
 * check the specification with a second implementation; pvm is the real one.
 * One hart, one domain (id 1); foreign domains do not exist here.
 */
#include "kernel.h"
#include "pvx.h"

#define UART0 0x10000000UL
#define SYSCON 0x00100000UL
#define CLINT_MTIMECMP 0x02004000UL
#define CLINT_MTIME 0x0200bff8UL
#define MIP_SSIP (1UL << 1)
#define MIP_STIP (1UL << 5)
#define MIP_MTIP (1UL << 7)
#define MIE_MTIE (1UL << 7)
#define MSTATUS_MPP_S (1UL << 11)
#define DOMID 1
#define NVCPU 1
#define NO_DEADLINE (~0UL)
#define POLL_TICKS 100000 /* look at the UART every 10 ms */

void fw_trap_return(struct trapframe *tf) __attribute__((noreturn));

static inline uint64_t mtime(void) { return *(volatile uint64_t *)CLINT_MTIME; }
static uint8_t uart_lsr(void) { return *(volatile uint8_t *)(UART0 + 5); }

/* ---- console for the firmware's own messages and DBCN ---- */
static void uart_putc(char c) {
  while (!(uart_lsr() & 0x20)) {
  }
  *(volatile uint8_t *)UART0 = (uint8_t)c;
}
void console_write(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n') uart_putc('\r');
    uart_putc(s[i]);
  }
}
void sbi_shutdown(void) {
  *(volatile uint32_t *)SYSCON = 0x5555;
  for (;;) __asm__ volatile("wfi");
}
static void fw_fail(void) __attribute__((noreturn));
void sbi_crash(void) { fw_fail(); } /* panic() in the shared lib.c: the firmware failed */
static void fw_fail(void) {
  *(volatile uint32_t *)SYSCON = (1u << 16) | 0x3333;
  for (;;) __asm__ volatile("wfi");
}

/* ---- guest memory checks ---- */
static int in_ram(uint64_t gpa, uint64_t len) {
  uint64_t end = boot.ram_base + boot.ram_size;
  return gpa >= boot.ram_base && gpa < end && len <= end - gpa;
}

/* ---- PVX state ---- */
struct port {
  uint8_t state, vcpu, virq;
  uint16_t remote_dom;
  uint32_t remote_port;
};
static struct pvx_shared_info *shinfo;
static struct port ports[PVX_EVTCHN_NR_PORTS];
static uint32_t virq_port[NVCPU][PVX_NR_VIRQS];
static uint64_t pvx_deadline = NO_DEADLINE, sbi_deadline = NO_DEADLINE, poll_deadline;
static uint64_t gnt_gpa;
static unsigned gnt_entries;

static void evtchn_set_pending(uint32_t p) { /* §4.3 */
  uint64_t bit = 1UL << (p % 64);
  unsigned w = p / 64;
  if (__atomic_fetch_or(&shinfo->evtchn_pending[w], bit, __ATOMIC_SEQ_CST) & bit) return;
  if (shinfo->evtchn_mask[w] & bit) return;
  struct pvx_vcpu_info *v = &shinfo->vcpu_info[ports[p].vcpu];
  if (__atomic_fetch_or(&v->evtchn_pending_sel, 1UL << w, __ATOMIC_SEQ_CST) & (1UL << w)) return;
  v->upcall_pending = 1;
  if (!v->upcall_mask) csr_set(mip, MIP_SSIP);
}

static void raise_virq(unsigned virq) {
  uint32_t p = virq_port[0][virq];
  if (p && shinfo) evtchn_set_pending(p);
}

static void program_timer(void) {
  uint64_t d = poll_deadline;
  if (pvx_deadline < d) d = pvx_deadline;
  if (sbi_deadline < d) d = sbi_deadline;
  *(volatile uint64_t *)CLINT_MTIMECMP = d;
}

/* Deadlines and console input: called on the M timer and while a vCPU is blocked. */
static void fw_poll(void) {
  uint64_t now = mtime();
  if (pvx_deadline <= now) {
    pvx_deadline = NO_DEADLINE;
    raise_virq(PVX_VIRQ_TIMER);
  }
  if (sbi_deadline <= now) {
    sbi_deadline = NO_DEADLINE;
    csr_set(mip, MIP_STIP);
  }
  if (uart_lsr() & 0x01) raise_virq(PVX_VIRQ_CONSOLE);
  if (poll_deadline <= now) poll_deadline = now + POLL_TICKS;
  program_timer();
}

static int wake_pending(void) {
  unsigned long s_irqs = csr_read(mip) & csr_read(mie) & (MIP_SSIP | MIP_STIP | (1UL << 9));
  return s_irqs || (shinfo && shinfo->vcpu_info[0].upcall_pending);
}

static uint32_t alloc_port(void) {
  for (uint32_t p = 1; p < PVX_EVTCHN_NR_PORTS; p++)
    if (ports[p].state == PVX_EVTCHN_STATE_FREE) return p;
  return 0;
}

static void free_port(uint32_t p) {
  if (ports[p].state == PVX_EVTCHN_STATE_VIRQ) {
    virq_port[ports[p].vcpu][ports[p].virq] = 0;
    if (ports[p].virq == PVX_VIRQ_TIMER) pvx_deadline = NO_DEADLINE;
  }
  memset(&ports[p], 0, sizeof ports[p]);
  __atomic_fetch_and(&shinfo->evtchn_pending[p / 64], ~(1UL << (p % 64)), __ATOMIC_SEQ_CST);
}

#define RET(e, v) return (struct sbiret){(e), (v)}
#define OK(v) RET(0, (v))
#define ERR(e) RET((e), 0)

static int domid_ok(uint64_t d) { return d == DOMID || d == PVX_DOMID_SELF; }
static int port_arg(uint64_t p) { return p >= 1 && p < PVX_EVTCHN_NR_PORTS; }

static struct sbiret dispatch(uint64_t eid, uint64_t fid, const uint64_t *a, int in_multicall);

static struct sbiret pvx_call(uint64_t fid, const uint64_t *a, int in_mc) {
  switch (fid) {
    case PVX_GET_VERSION:
      OK(PVX_VERSION);
    case PVX_GET_FEATURES:
      if (a[0] != 0) ERR(SBI_ERR_INVALID_PARAM);
      OK(PVX_F_SHINFO | PVX_F_TIMER | PVX_F_EVTCHN | PVX_F_EVTCHN_IPI | PVX_F_GNTTAB | PVX_F_MULTICALL | PVX_F_SCHED);
    case PVX_GET_DOMID:
      OK(DOMID);
    case PVX_GET_LIMIT: {
      static const uint64_t lim[PVX_LIMIT_COUNT] = {PVX_EVTCHN_NR_PORTS, PVX_GNTTAB_MAX_FRAMES, PVX_GNT_WINDOW_BASE,
                                                    PVX_GNT_WINDOW_SIZE, PVX_MULTICALL_MAX,  NVCPU,
                                                    PVX_POLL_MAX_PORTS,  PVX_MEMORY_BATCH_MAX};
      if (a[0] >= PVX_LIMIT_COUNT) ERR(SBI_ERR_INVALID_PARAM);
      OK(lim[a[0]]);
    }
    case PVX_SHINFO_SET:
      if (a[0] == ~0UL) {
        if (!shinfo) ERR(SBI_ERR_INVALID_STATE);
        for (uint32_t p = 1; p < PVX_EVTCHN_NR_PORTS; p++)
          if (ports[p].state) ERR(SBI_ERR_INVALID_STATE);
        shinfo = 0;
        OK(0);
      }
      if ((a[0] & 4095) || !in_ram(a[0], 4096)) ERR(SBI_ERR_INVALID_ADDRESS);
      if (shinfo) ERR(SBI_ERR_ALREADY_AVAILABLE);
      shinfo = (struct pvx_shared_info *)a[0];
      for (int i = 0; i < NVCPU; i++) {
        struct pvx_vcpu_time_info *t = &shinfo->vcpu_info[i].time;
        t->version++;
        __asm__ volatile("fence w,w");
        t->tick_hz = boot.timebase;
        t->tick_stamp = 0;
        t->system_time = 0;
        __asm__ volatile("fence w,w");
        t->version++;
      }
      OK(0);
    case PVX_TIMER_SET:
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      if (!virq_port[0][PVX_VIRQ_TIMER]) ERR(SBI_ERR_INVALID_STATE);
      pvx_deadline = a[0];
      if (pvx_deadline <= mtime()) fw_poll();
      program_timer();
      OK(0);

    case PVX_EVTCHN_ALLOC_UNBOUND: {
      if (!domid_ok(a[0])) ERR(SBI_ERR_INVALID_PARAM);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      uint32_t p = alloc_port();
      if (!p) ERR(SBI_ERR_FAILED);
      ports[p] = (struct port){PVX_EVTCHN_STATE_UNBOUND, 0, 0, DOMID, 0};
      OK(p);
    }
    case PVX_EVTCHN_BIND_INTERDOMAIN: {
      if (!domid_ok(a[0]) || !port_arg(a[1])) ERR(SBI_ERR_INVALID_PARAM);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      struct port *r = &ports[a[1]];
      if (r->state != PVX_EVTCHN_STATE_UNBOUND) ERR(SBI_ERR_INVALID_STATE);
      if (r->remote_dom != DOMID) ERR(SBI_ERR_DENIED);
      uint32_t p = alloc_port();
      if (!p) ERR(SBI_ERR_FAILED);
      ports[p] = (struct port){PVX_EVTCHN_STATE_INTERDOMAIN, 0, 0, DOMID, (uint32_t)a[1]};
      r->state = PVX_EVTCHN_STATE_INTERDOMAIN;
      r->remote_port = p;
      evtchn_set_pending(p);
      OK(p);
    }
    case PVX_EVTCHN_BIND_VIRQ: {
      if (a[0] >= PVX_NR_VIRQS || a[1] >= NVCPU || (a[0] != PVX_VIRQ_TIMER && a[1] != 0))
        ERR(SBI_ERR_INVALID_PARAM);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      if (virq_port[a[1]][a[0]]) ERR(SBI_ERR_ALREADY_AVAILABLE);
      uint32_t p = alloc_port();
      if (!p) ERR(SBI_ERR_FAILED);
      ports[p] = (struct port){PVX_EVTCHN_STATE_VIRQ, (uint8_t)a[1], (uint8_t)a[0], 0, 0};
      virq_port[a[1]][a[0]] = p;
      OK(p);
    }
    case PVX_EVTCHN_BIND_IPI: {
      if (a[0] >= NVCPU) ERR(SBI_ERR_INVALID_PARAM);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      uint32_t p = alloc_port();
      if (!p) ERR(SBI_ERR_FAILED);
      ports[p] = (struct port){PVX_EVTCHN_STATE_IPI, (uint8_t)a[0], 0, 0, 0};
      OK(p);
    }
    case PVX_EVTCHN_SEND:
    case PVX_EVTCHN_CLOSE:
    case PVX_EVTCHN_UNMASK: {
      if (!port_arg(a[0]) || ports[a[0]].state == PVX_EVTCHN_STATE_FREE) ERR(SBI_ERR_INVALID_PARAM);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      struct port *pt = &ports[a[0]];
      if (fid == PVX_EVTCHN_SEND) {
        if (pt->state == PVX_EVTCHN_STATE_VIRQ) ERR(SBI_ERR_INVALID_STATE);
        if (pt->state == PVX_EVTCHN_STATE_INTERDOMAIN) evtchn_set_pending(pt->remote_port);
        if (pt->state == PVX_EVTCHN_STATE_IPI) evtchn_set_pending((uint32_t)a[0]);
      } else if (fid == PVX_EVTCHN_CLOSE) {
        if (pt->state == PVX_EVTCHN_STATE_INTERDOMAIN) {
          struct port *r = &ports[pt->remote_port];
          r->state = PVX_EVTCHN_STATE_UNBOUND;
          r->remote_port = 0;
        }
        free_port((uint32_t)a[0]);
      } else {
        uint64_t bit = 1UL << (a[0] % 64);
        __atomic_fetch_and(&shinfo->evtchn_mask[a[0] / 64], ~bit, __ATOMIC_SEQ_CST);
        if (shinfo->evtchn_pending[a[0] / 64] & bit) {
          __atomic_fetch_and(&shinfo->evtchn_pending[a[0] / 64], ~bit, __ATOMIC_SEQ_CST);
          evtchn_set_pending((uint32_t)a[0]);
        }
      }
      OK(0);
    }
    case PVX_EVTCHN_STATUS: {
      if (!port_arg(a[0])) ERR(SBI_ERR_INVALID_PARAM);
      struct port *pt = &ports[a[0]];
      uint64_t s = pt->state | (uint64_t)pt->vcpu << 4;
      if (pt->state == PVX_EVTCHN_STATE_UNBOUND || pt->state == PVX_EVTCHN_STATE_INTERDOMAIN)
        s |= (uint64_t)pt->remote_dom << 16;
      if (pt->state == PVX_EVTCHN_STATE_VIRQ) s |= (uint64_t)pt->virq << 16;
      if (pt->state == PVX_EVTCHN_STATE_INTERDOMAIN) s |= (uint64_t)pt->remote_port << 32;
      OK(s);
    }

    case PVX_GNTTAB_SETUP:
      if (a[0] == ~0UL) {
        if (a[1] != 0) ERR(SBI_ERR_INVALID_PARAM);
        if (!gnt_entries) ERR(SBI_ERR_INVALID_STATE);
        gnt_entries = 0;
        OK(0);
      }
      if (a[1] == 0 || a[1] > PVX_GNTTAB_MAX_FRAMES) ERR(SBI_ERR_INVALID_PARAM);
      if ((a[0] & 4095) || !in_ram(a[0], a[1] * 4096)) ERR(SBI_ERR_INVALID_ADDRESS);
      if (gnt_entries) ERR(SBI_ERR_ALREADY_AVAILABLE);
      gnt_gpa = a[0];
      gnt_entries = (unsigned)a[1] * PVX_GNTTAB_ENTRIES_PER_FRAME;
      OK(gnt_entries);
    case PVX_GNTTAB_MAP:
    case PVX_GNTTAB_COPY:
      if (fid == PVX_GNTTAB_MAP) ERR(SBI_ERR_NOT_SUPPORTED); /* feature bit 5 clear */
      ERR(SBI_ERR_INVALID_PARAM); /* no other domain exists, and never the caller itself (§6.5) */
    case PVX_GNTTAB_END_ACCESS:
      if (a[0] > 0xffffffffUL || (gnt_entries && a[0] >= gnt_entries)) ERR(SBI_ERR_INVALID_PARAM);
      if (!gnt_entries) ERR(SBI_ERR_NO_SHMEM);
      ((struct pvx_grant_entry *)gnt_gpa)[a[0]].flags = 0; /* nothing can be mapped: no peers here */
      OK(0);

    case PVX_MULTICALL: {
      if (in_mc) ERR(SBI_ERR_NOT_SUPPORTED); /* no nesting (§7) */
      if (a[1] == 0 || a[1] > PVX_MULTICALL_MAX) ERR(SBI_ERR_INVALID_PARAM);
      if ((a[0] & 7) || !in_ram(a[0], a[1] * PVX_MC_ENTRY_SIZE)) ERR(SBI_ERR_INVALID_ADDRESS);
      struct pvx_multicall_entry *e = (struct pvx_multicall_entry *)a[0];
      for (uint64_t i = 0; i < a[1]; i++) {
        struct sbiret r = dispatch(e[i].eid, e[i].fid, e[i].args, 1);
        e[i].error = r.error;
        e[i].value = r.value;
      }
      OK(a[1]);
    }

    case PVX_SCHED_YIELD:
      if (in_mc) ERR(SBI_ERR_NOT_SUPPORTED);
      OK(0);
    case PVX_SCHED_BLOCK:
      if (in_mc) ERR(SBI_ERR_NOT_SUPPORTED);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      shinfo->vcpu_info[0].upcall_mask = 0;
      for (;;) {
        fw_poll();
        if (wake_pending()) break;
        __asm__ volatile("wfi");
      }
      if (shinfo->vcpu_info[0].upcall_pending) csr_set(mip, MIP_SSIP);
      OK(0);
    case PVX_SCHED_POLL: {
      if (in_mc) ERR(SBI_ERR_NOT_SUPPORTED);
      if (a[1] == 0 || a[1] > PVX_POLL_MAX_PORTS) ERR(SBI_ERR_INVALID_PARAM);
      if ((a[0] & 3) || !in_ram(a[0], a[1] * 4)) ERR(SBI_ERR_INVALID_ADDRESS);
      if (!shinfo) ERR(SBI_ERR_NO_SHMEM);
      const uint32_t *list = (const uint32_t *)a[0];
      for (uint64_t i = 0; i < a[1]; i++)
        if (!port_arg(list[i]) || ports[list[i]].state == PVX_EVTCHN_STATE_FREE) ERR(SBI_ERR_INVALID_PARAM);
      for (;;) {
        fw_poll();
        for (uint64_t i = 0; i < a[1]; i++)
          if (shinfo->evtchn_pending[list[i] / 64] & (1UL << (list[i] % 64))) OK(list[i]);
        if (mtime() >= a[2]) ERR(SBI_ERR_TIMEOUT);
        if (a[2] < *(volatile uint64_t *)CLINT_MTIMECMP) *(volatile uint64_t *)CLINT_MTIMECMP = a[2];
        __asm__ volatile("wfi");
      }
    }
    case PVX_SCHED_SHUTDOWN:
      if (a[0] > PVX_SHUTDOWN_WATCHDOG) ERR(SBI_ERR_INVALID_PARAM);
      if (a[0] == PVX_SHUTDOWN_POWEROFF) sbi_shutdown();
      fw_fail();
  }
  ERR(SBI_ERR_NOT_SUPPORTED);
}

static struct sbiret dispatch(uint64_t eid, uint64_t fid, const uint64_t *a, int in_mc) {
  switch (eid) {
    case PVX_EID:
      return pvx_call(fid, a, in_mc);
    case SBI_EXT_BASE:
      switch (fid) {
        case 0:
          OK(2UL << 24); /* SBI 2.0 */
        case 1:
          OK(0x7078); /* implementation id outside the public registry ("px") */
        case 2:
          OK(PVX_VERSION);
        case 3:
          OK(a[0] == PVX_EID || a[0] == SBI_EXT_BASE || a[0] == SBI_EXT_TIME || a[0] == SBI_EXT_IPI ||
             a[0] == SBI_EXT_RFENCE || a[0] == SBI_EXT_SRST || a[0] == SBI_EXT_DBCN);
        case 4:
        case 5:
        case 6:
          OK(0);
      }
      break;
    case SBI_EXT_TIME:
      if (fid != 0) break;
      sbi_deadline = a[0];
      csr_clear(mip, MIP_STIP);
      fw_poll();
      OK(0);
    case SBI_EXT_IPI:
      if (fid != 0) break;
      if (a[1] == ~0UL || (a[1] == 0 && (a[0] & 1))) csr_set(mip, MIP_SSIP); /* hart 0 is the only hart */
      OK(0);
    case SBI_EXT_RFENCE:
      if (fid > 6) break;
      __asm__ volatile("sfence.vma" ::: "memory");
      OK(0);
    case SBI_EXT_SRST:
      if (fid != 0) break;
      if (a[0] == 0) sbi_shutdown();
      fw_fail();
    case SBI_EXT_DBCN:
      if (fid == 0 || fid == 1) {
        if (a[2] != 0 || !in_ram(a[1], a[0])) ERR(SBI_ERR_INVALID_PARAM);
        char *p = (char *)a[1];
        uint64_t n = 0;
        if (fid == 0)
          for (; n < a[0]; n++) uart_putc(p[n]);
        else
          while (n < a[0] && (uart_lsr() & 0x01)) p[n++] = (char)*(volatile uint8_t *)UART0;
        OK(n);
      }
      if (fid == 2) {
        uart_putc((char)a[0]);
        OK(0);
      }
      break;
  }
  ERR(SBI_ERR_NOT_SUPPORTED);
}

void fw_trap(struct trapframe *tf) {
  unsigned long cause = tf->scause;
  if (cause == ((1UL << 63) | 7)) {
    fw_poll();
    return;
  }
  if (cause == 9) { /* ecall from S */
    uint64_t *r = tf->regs;
    tf->sepc += 4;
    struct sbiret ret = dispatch(r[17], r[16], &r[10], 0);
    r[10] = (uint64_t)ret.error;
    r[11] = ret.value;
    return;
  }
  kprintf("pvxfw: unexpected trap mcause 0x%lx mepc 0x%lx mtval 0x%lx\n", cause, tf->sepc, tf->stval);
  fw_fail();
}

void fw_main(unsigned long hartid, unsigned long fdt) {
  fdt_scan(fdt);
  kprintf("pvxfw: PVX %d.%d firmware, domain %d, ram %lu MiB\n", PVX_VERSION_MAJOR, PVX_VERSION_MINOR, DOMID,
          (unsigned long)(boot.ram_size >> 20));
  /* as OpenSBI: delegate S interrupts and the usual exceptions, open memory, counters */
  csr_write(mideleg, MIP_SSIP | MIP_STIP | (1UL << 9));
  csr_write(medeleg, (1UL << 0) | (1UL << 3) | (1UL << 8) | (1UL << 12) | (1UL << 13) | (1UL << 15));
  csr_write(mcounteren, 7);
  csr_write(pmpaddr0, (1UL << 54) - 1);
  csr_write(pmpcfg0, 0x1f);
  poll_deadline = mtime() + POLL_TICKS;
  program_timer();
  csr_write(mie, MIE_MTIE);
  uintptr_t top;
  __asm__("la %0, fw_stack_top" : "=r"(top));
  struct trapframe *tf = (struct trapframe *)(top - sizeof(struct trapframe));
  memset(tf, 0, sizeof *tf);
  tf->regs[10] = hartid;
  tf->regs[11] = fdt;
  tf->sepc = 0x80200000UL;
  tf->sstatus = MSTATUS_MPP_S;
  fw_trap_return(tf);
}

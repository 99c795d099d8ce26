/*
 * PVX back ends (docs/para-api-pvx.md): shared-info interrupt masking, the
 * PVX timer VIRQ, SCHED_BLOCK idle, event-channel IPIs, multicall-batched
 * remote fences and the DBCN console; plus the shell's evtchn/grant commands.
 */
#include "kernel.h"
#include "pvx.h"

#define SIP_SSIP (1UL << 1)

unsigned long pvx_version, pvx_features, pvx_domid;
static int present;
static unsigned vcpu;
static struct pvx_shared_info shinfo __attribute__((aligned(4096)));
static struct pvx_grant_entry gnttab[PVX_GNTTAB_ENTRIES_PER_FRAME] __attribute__((aligned(4096)));
static uint8_t grant_pages[4][PAGE_SIZE] __attribute__((aligned(4096)));
static struct pvx_multicall_entry mc[PVX_MULTICALL_MAX];
static evtchn_port_t timer_port, console_port, shutdown_port, ipi_port;
static uint32_t port_hits[64];

int pvx_present(void) { return present; }
struct pvx_shared_info *pvx_shinfo(void) { return &shinfo; }
struct pvx_grant_entry *pvx_gnttab(void) { return gnttab; }

static struct sbiret pvx(unsigned long fid, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3,
                         unsigned long a4, unsigned long a5) {
  return sbi_call(PVX_EID, fid, a0, a1, a2, a3, a4, a5);
}
#define PVX0(f) pvx(f, 0, 0, 0, 0, 0, 0)
#define PVX1(f, a) pvx(f, a, 0, 0, 0, 0, 0)
#define PVX2(f, a, b) pvx(f, a, b, 0, 0, 0, 0)

static unsigned ctz64(uint64_t x) { /* no libgcc: it is built for another ABI */
  unsigned n = 0;
  while (!(x & 1)) x >>= 1, n++;
  return n;
}

static struct pvx_vcpu_info *vi(void) { return &shinfo.vcpu_info[vcpu]; }

static void port_fresh(evtchn_port_t p) { /* a newly allocated port starts its event count at 0 */
  if (p < 64) port_hits[p] = 0;
}

static struct sbiret port_close(evtchn_port_t p) { /* closed ports stay masked until reused */
  struct sbiret r = PVX1(PVX_EVTCHN_CLOSE, p);
  if (!r.error) __atomic_fetch_or(&shinfo.evtchn_mask[p / 64], 1UL << (p % 64), __ATOMIC_SEQ_CST);
  return r;
}

static void port_unmask_local(evtchn_port_t p) {
  __atomic_fetch_and(&shinfo.evtchn_mask[p / 64], ~(1UL << (p % 64)), __ATOMIC_SEQ_CST);
  if (shinfo.evtchn_pending[p / 64] & (1UL << (p % 64))) PVX1(PVX_EVTCHN_UNMASK, p); /* §4.4 */
}

/* ---- console: SBI DBCN, one exit per buffer ---- */
static void pvx_console_write(const char *s, size_t n) {
  char buf[256];
  while (n) {
    size_t k = 0;
    while (n && k < sizeof buf - 1) {
      if (*s == '\n') buf[k++] = '\r';
      buf[k++] = *s++;
      n--;
    }
    for (size_t off = 0; off < k;) {
      struct sbiret r = sbi_call(SBI_EXT_DBCN, 0, k - off, (unsigned long)(buf + off), 0, 0, 0, 0);
      if (r.error) return;
      off += r.value;
    }
  }
}

static void console_drain(void) {
  char buf[64];
  for (;;) {
    struct sbiret r = sbi_call(SBI_EXT_DBCN, 1, sizeof buf, (unsigned long)buf, 0, 0, 0, 0);
    if (r.error || r.value == 0) return;
    for (unsigned long i = 0; i < r.value && i < sizeof buf; i++) console_input(buf[i]);
  }
}

/* ---- timer: PVX_TIMER_SET -> VIRQ_TIMER ---- */
static void pvx_timer_set(uint64_t deadline) { PVX1(PVX_TIMER_SET, deadline); }

/* ---- interrupt masking: vcpu_info.upcall_mask, never an exit (§4.4) ---- */
static unsigned long pvx_irq_save(void) {
  uint8_t old = vi()->upcall_mask;
  vi()->upcall_mask = 1;
  barrier();
  return !old;
}

static void pvx_irq_enable(void) {
  barrier();
  vi()->upcall_mask = 0;
  mb();
  if (vi()->upcall_pending) csr_set(sip, SIP_SSIP);
}

static void pvx_irq_restore(unsigned long was) {
  if (was) pvx_irq_enable();
}

/* ---- idle: block until an event (clears upcall_mask atomically, §8) ---- */
static void pvx_idle(void) {
  if (PVX0(PVX_SCHED_BLOCK).error) __asm__ volatile("wfi" ::: "memory");
}

/* ---- IPI: an event channel bound to a vCPU ---- */
static void pvx_send_ipi(unsigned long mask) {
  if (mask & (1UL << vcpu)) PVX1(PVX_EVTCHN_SEND, ipi_port);
  mask &= ~(1UL << vcpu);
  if (mask) sbi_call(SBI_EXT_IPI, 0, mask, 0, 0, 0, 0, 0);
}

/* ---- TLB shootdown: all ranges in one multicall exit ---- */
static void pvx_tlb_flush(unsigned long mask, const struct tlb_range *r, int n) {
  while (n > 0) {
    int k = n < PVX_MULTICALL_MAX ? n : PVX_MULTICALL_MAX;
    for (int i = 0; i < k; i++) {
      memset(&mc[i], 0, sizeof mc[i]);
      mc[i].eid = SBI_EXT_RFENCE;
      mc[i].fid = 1; /* remote_sfence_vma */
      mc[i].args[0] = mask;
      mc[i].args[2] = r[i].start;
      mc[i].args[3] = r[i].size;
    }
    PVX2(PVX_MULTICALL, (unsigned long)mc, (unsigned long)k);
    r += k;
    n -= k;
  }
}

/* ---- upcall (§4.3) ---- */
static void handle_port(evtchn_port_t p) {
  if (p < 64) port_hits[p]++;
  if (p == timer_port) {
    timer_interrupt();
  } else if (p == console_port) {
    console_drain();
  } else if (p == ipi_port) {
    ipis_received++;
  } else if (p == shutdown_port) {
    uint32_t why = shinfo.shutdown_request;
    kprintf("pvos: shutdown requested by the host (%s)\n", why == 2 ? "reboot" : "poweroff");
    PVX1(PVX_SCHED_SHUTDOWN, why == 2 ? PVX_SHUTDOWN_REBOOT : PVX_SHUTDOWN_POWEROFF);
  }
}

static void upcall(void) {
  csr_clear(sip, SIP_SSIP);
  vi()->upcall_pending = 0;
  mb();
  uint64_t sel = __atomic_exchange_n(&vi()->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
  while (sel) {
    unsigned w = ctz64(sel);
    sel &= sel - 1;
    uint64_t bits = shinfo.evtchn_pending[w] & ~shinfo.evtchn_mask[w];
    while (bits) {
      unsigned b = ctz64(bits);
      bits &= bits - 1;
      __atomic_fetch_and(&shinfo.evtchn_pending[w], ~(1UL << b), __ATOMIC_SEQ_CST);
      handle_port(w * 64 + b);
    }
  }
}

static void pvx_interrupt(unsigned long cause) {
  if (cause != IRQ_S_SOFT) return;
  if (vi()->upcall_mask) { /* spurious while masked: the unmask path re-raises it */
    csr_clear(sip, SIP_SSIP);
    return;
  }
  upcall();
}

static int pvx_soft_unmasked(void) { return !vi()->upcall_mask; }

const struct pv_ops pvx_ops = {
    .name = "pvx 1.0",
    .console_name = "sbi-dbcn",
    .timer_name = "pvx-timer-virq",
    .irq_name = "shinfo.upcall_mask",
    .idle_name = "pvx-sched-block",
    .ipi_name = "pvx-evtchn-ipi",
    .tlb_name = "pvx-multicall-rfence",
    .console_write = pvx_console_write,
    .timer_set = pvx_timer_set,
    .irq_save = pvx_irq_save,
    .irq_restore = pvx_irq_restore,
    .irq_enable = pvx_irq_enable,
    .idle = pvx_idle,
    .send_ipi = pvx_send_ipi,
    .tlb_flush = pvx_tlb_flush,
    .blk_rw = virtio_blk_rw,
    .interrupt = pvx_interrupt,
    .soft_unmasked = pvx_soft_unmasked,
};

/* Boot sequence of §10. Returns 0 when the PVX back ends are ready. */
int pvx_init(void) {
  struct sbiret r = PVX0(PVX_GET_VERSION);
  if (r.error || (r.value >> 16) != PVX_VERSION_MAJOR) return -1;
  pvx_version = r.value;
  r = PVX1(PVX_GET_FEATURES, 0);
  const unsigned long need = PVX_F_SHINFO | PVX_F_TIMER | PVX_F_EVTCHN | PVX_F_SCHED | PVX_F_MULTICALL;
  if (r.error || (r.value & need) != need) return -1;
  pvx_features = r.value;
  pvx_domid = PVX0(PVX_GET_DOMID).value;
  vcpu = (unsigned)boot.hartid;
  if (vcpu >= PVX_MAX_VCPUS) return -1;

  memset(&shinfo, 0, sizeof shinfo);
  for (int i = 0; i < PVX_MAX_VCPUS; i++) shinfo.vcpu_info[i].upcall_mask = 1;
  for (int i = 0; i < PVX_EVTCHN_WORDS; i++) shinfo.evtchn_mask[i] = ~0UL;
  if (PVX1(PVX_SHINFO_SET, (unsigned long)&shinfo).error) return -1;

  r = PVX2(PVX_EVTCHN_BIND_VIRQ, PVX_VIRQ_TIMER, vcpu);
  if (r.error) return -1;
  timer_port = (evtchn_port_t)r.value;
  r = PVX2(PVX_EVTCHN_BIND_VIRQ, PVX_VIRQ_CONSOLE, 0);
  console_port = r.error ? 0 : (evtchn_port_t)r.value;
  r = PVX2(PVX_EVTCHN_BIND_VIRQ, PVX_VIRQ_SHUTDOWN_REQUEST, 0);
  shutdown_port = r.error ? 0 : (evtchn_port_t)r.value;
  if (pvx_features & PVX_F_EVTCHN_IPI) {
    r = PVX1(PVX_EVTCHN_BIND_IPI, vcpu);
    ipi_port = r.error ? 0 : (evtchn_port_t)r.value;
  }
  evtchn_port_t ports[] = {timer_port, console_port, shutdown_port, ipi_port};
  for (unsigned i = 0; i < sizeof ports / sizeof ports[0]; i++)
    if (ports[i]) port_unmask_local(ports[i]);
  if (pvx_features & PVX_F_GNTTAB) PVX2(PVX_GNTTAB_SETUP, (unsigned long)gnttab, 1);

  csr_clear(sie, SIE_SEIE | SIE_STIE);
  csr_set(sie, SIE_SSIE);
  present = 1;
  return 0; /* upcall_mask stays 1 until sched_start() enables interrupts */
}

void pvx_shutdown(void) { PVX1(PVX_SCHED_SHUTDOWN, PVX_SHUTDOWN_POWEROFF); }
void pvx_crash(void) { PVX1(PVX_SCHED_SHUTDOWN, PVX_SHUTDOWN_CRASH); }

/* ---- shell commands ---- */
static int num(const char *s, unsigned long *out) {
  if (!s || !*s) return 0;
  unsigned long v = 0;
  int base = 10;
  if (s[0] == '0' && s[1] == 'x') base = 16, s += 2;
  for (; *s; s++) {
    int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : 99;
    if (d >= base) return 0;
    v = v * (unsigned long)base + (unsigned long)d;
  }
  *out = v;
  return 1;
}

static void report(const char *what, struct sbiret r) {
  if (r.error)
    kprintf("%s: %s (%ld)\n", what, sbi_strerror(r.error), r.error);
  else
    kprintf("%s: ok, %lu\n", what, r.value);
}

static const char *const state_names[] = {"free", "unbound", "interdomain", "virq", "ipi"};
static const char *const virq_names[] = {"timer", "console", "shutdown-request", "mem-target"};

void pvx_shell_evtchn(int argc, char **argv) {
  unsigned long a = 0, b = 0;
  const char *sub = argc > 1 ? argv[1] : "list";
  if (!strcmp(sub, "list")) {
    for (evtchn_port_t p = 1; p < 64; p++) {
      struct sbiret r = PVX1(PVX_EVTCHN_STATUS, p);
      if (r.error || PVX_STATUS_STATE(r.value) == PVX_EVTCHN_STATE_FREE) continue;
      unsigned st = PVX_STATUS_STATE(r.value);
      kprintf("port %u: %s", p, st < 5 ? state_names[st] : "?");
      if (st == PVX_EVTCHN_STATE_VIRQ) {
        unsigned v = PVX_STATUS_DOMID_OR_VIRQ(r.value);
        kprintf(" %s", v < PVX_NR_VIRQS ? virq_names[v] : "?");
      } else if (st == PVX_EVTCHN_STATE_UNBOUND) {
        kprintf(" for domain %u", PVX_STATUS_DOMID_OR_VIRQ(r.value));
      } else if (st == PVX_EVTCHN_STATE_INTERDOMAIN) {
        kprintf(" to domain %u port %u", PVX_STATUS_DOMID_OR_VIRQ(r.value), PVX_STATUS_REMOTE_PORT(r.value));
      }
      kprintf(", vcpu %u, %lu events\n", PVX_STATUS_VCPU(r.value), (unsigned long)port_hits[p]);
    }
  } else if (!strcmp(sub, "alloc") && argc > 2 && num(argv[2], &a)) {
    struct sbiret r = PVX1(PVX_EVTCHN_ALLOC_UNBOUND, a);
    if (!r.error) port_fresh((evtchn_port_t)r.value), port_unmask_local((evtchn_port_t)r.value);
    report("evtchn alloc", r);
  } else if (!strcmp(sub, "bind") && argc > 3 && num(argv[2], &a) && num(argv[3], &b)) {
    struct sbiret r = PVX2(PVX_EVTCHN_BIND_INTERDOMAIN, a, b);
    if (!r.error) port_fresh((evtchn_port_t)r.value), port_unmask_local((evtchn_port_t)r.value);
    report("evtchn bind", r);
  } else if (!strcmp(sub, "send") && argc > 2 && num(argv[2], &a)) {
    report("evtchn send", PVX1(PVX_EVTCHN_SEND, a));
  } else if (!strcmp(sub, "close") && argc > 2 && num(argv[2], &a)) {
    report("evtchn close", a < PVX_EVTCHN_NR_PORTS ? port_close((evtchn_port_t)a) : PVX1(PVX_EVTCHN_CLOSE, a));
  } else if (!strcmp(sub, "loop")) {
    /* a loopback pair inside this domain: send on one end, the upcall sees the other */
    struct sbiret r1 = PVX1(PVX_EVTCHN_ALLOC_UNBOUND, PVX_DOMID_SELF);
    if (r1.error) return report("evtchn alloc", r1);
    struct sbiret r2 = PVX2(PVX_EVTCHN_BIND_INTERDOMAIN, PVX_DOMID_SELF, r1.value);
    if (r2.error) return report("evtchn bind", r2);
    evtchn_port_t p1 = (evtchn_port_t)r1.value, p2 = (evtchn_port_t)r2.value;
    port_fresh(p1);
    port_fresh(p2);
    port_unmask_local(p1);
    port_unmask_local(p2);
    uint32_t before = p2 < 64 ? port_hits[p2] : 0;
    PVX1(PVX_EVTCHN_SEND, p1);
    uint32_t after = p2 < 64 ? port_hits[p2] : 0;
    kprintf("evtchn loop: ports %u <-> %u, sent 1, received %u\n", p1, p2, after - before);
    port_close(p1);
    port_close(p2);
  } else if (!strcmp(sub, "poll")) {
    /* SCHED_POLL on a masked loopback port: pending after a send, then a timeout */
    struct sbiret r1 = PVX1(PVX_EVTCHN_ALLOC_UNBOUND, PVX_DOMID_SELF);
    if (r1.error) return report("evtchn alloc", r1);
    struct sbiret r2 = PVX2(PVX_EVTCHN_BIND_INTERDOMAIN, PVX_DOMID_SELF, r1.value);
    if (r2.error) return report("evtchn bind", r2);
    static evtchn_port_t list[1];
    list[0] = (evtchn_port_t)r2.value;
    __atomic_fetch_and(&shinfo.evtchn_pending[list[0] / 64], ~(1UL << (list[0] % 64)), __ATOMIC_SEQ_CST);
    PVX1(PVX_EVTCHN_SEND, r1.value);
    struct sbiret p1 = pvx(PVX_SCHED_POLL, (unsigned long)list, 1, rdtime() + boot.timebase / 100, 0, 0, 0);
    __atomic_fetch_and(&shinfo.evtchn_pending[list[0] / 64], ~(1UL << (list[0] % 64)), __ATOMIC_SEQ_CST);
    struct sbiret p2 = pvx(PVX_SCHED_POLL, (unsigned long)list, 1, rdtime() + boot.timebase / 100, 0, 0, 0);
    kprintf("evtchn poll: after send: %s %lu; after clearing: %s (%ld)\n", p1.error ? sbi_strerror(p1.error) : "port",
            p1.value, p2.error ? sbi_strerror(p2.error) : "port", p2.error);
    port_close((evtchn_port_t)r1.value);
    port_close(list[0]);
  } else {
    kputs("usage: evtchn [list | alloc DOMID | bind DOMID PORT | send PORT | close PORT | loop | poll]\n");
  }
}

void pvx_shell_grant(int argc, char **argv) {
  unsigned long a = 0, b = 0;
  const char *sub = argc > 1 ? argv[1] : "list";
  if (!strcmp(sub, "list")) {
    for (unsigned i = 0; i < 4; i++) {
      struct pvx_grant_entry *e = &gnttab[i];
      if (!(e->flags & GTF_type_mask)) continue;
      kprintf("ref %u: domain %u frame 0x%x %s%s%s\n", i, e->domid, e->frame, e->flags & GTF_readonly ? "ro" : "rw",
              e->flags & GTF_reading ? " reading" : "", e->flags & GTF_writing ? " writing" : "");
    }
  } else if (!strcmp(sub, "give") && argc > 2 && num(argv[2], &a)) {
    int ro = argc > 3 && !strcmp(argv[3], "ro");
    for (unsigned ref = 0; ref < 4; ref++) {
      if (gnttab[ref].flags & GTF_type_mask) continue;
      uint8_t *page = grant_pages[ref];
      for (unsigned i = 0; i < PAGE_SIZE; i++) page[i] = (uint8_t)(i * 7 + ref);
      gnttab[ref].domid = (domid_t)a;
      gnttab[ref].frame = (uint32_t)((uint64_t)page >> 12);
      wmb();
      gnttab[ref].flags = GTF_permit_access | (ro ? GTF_readonly : 0);
      kprintf("grant: ref %u to domain %lu (%s), checksum 0x%08x\n", ref, a, ro ? "ro" : "rw",
              fnv1a(page, PAGE_SIZE));
      return;
    }
    kputs("grant: no free entry\n");
  } else if (!strcmp(sub, "end") && argc > 2 && num(argv[2], &a)) {
    report("grant end", PVX1(PVX_GNTTAB_END_ACCESS, a));
  } else if (!strcmp(sub, "copy") && argc > 3 && num(argv[2], &a) && num(argv[3], &b)) {
    static uint8_t buf[PAGE_SIZE] __attribute__((aligned(4096)));
    struct sbiret r = pvx(PVX_GNTTAB_COPY, a, b, 0, (unsigned long)buf, PAGE_SIZE, 0);
    if (r.error) return report("grant copy", r);
    kprintf("grant copy: %lu bytes, checksum 0x%08x\n", r.value, fnv1a(buf, PAGE_SIZE));
  } else if (!strcmp(sub, "map") && argc > 3 && num(argv[2], &a) && num(argv[3], &b)) {
    unsigned long gpa = PVX_GNT_WINDOW_BASE;
    struct sbiret r = pvx(PVX_GNTTAB_MAP, a, b, gpa, PVX_GNTMAP_READONLY, 0, 0);
    if (r.error) return report("grant map", r);
    __asm__ volatile("sfence.vma" ::: "memory");
    kprintf("grant map: at 0x%lx, checksum 0x%08x\n", gpa, fnv1a((const uint8_t *)gpa, PAGE_SIZE));
    report("grant unmap", PVX1(PVX_GNTTAB_UNMAP, gpa));
  } else {
    kputs("usage: grant [list | give DOMID [ro] | end REF | copy DOMID REF | map DOMID REF]\n");
  }
}

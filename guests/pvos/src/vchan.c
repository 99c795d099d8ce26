/*
 * vchan: a byte channel between two domains over one granted page and one
 * event channel (docs/para-api-pvx.md, appendix A). The server grants the
 * ring page and allocates an unbound port; the client maps the page into
 * its grant window and binds to the port.
 */
#include "kernel.h"
#include "pvx.h"

#define VCHAN_MAGIC 0x31484356u /* "VCH1" */
#define VCHAN_RING 1024u
#define VCHAN_S2C 0x800
#define VCHAN_C2S 0xC00
#define VCHAN_REF 8
#define VCHAN_SLOT (PVX_GNT_WINDOW_BASE + PAGE_SIZE)

struct vchan_hdr {
  uint32_t magic;
  uint32_t connected;
  uint32_t s2c_prod, s2c_cons;
  uint32_t c2s_prod, c2s_cons;
  uint32_t closed;
};

static uint8_t *page;        /* the ring page (own RAM or grant window) */
static int is_server, up;
static unsigned long peer;
static evtchn_port_t port;
extern struct pvx_grant_entry *pvx_gnttab(void);

static struct sbiret call(unsigned long fid, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3) {
  return sbi_call(PVX_EID, fid, a0, a1, a2, a3, 0, 0);
}

static struct vchan_hdr *hdr(void) { return (struct vchan_hdr *)page; }
static volatile uint32_t *tx_prod(void) { return is_server ? &hdr()->s2c_prod : &hdr()->c2s_prod; }
static volatile uint32_t *tx_cons(void) { return is_server ? &hdr()->s2c_cons : &hdr()->c2s_cons; }
static volatile uint32_t *rx_prod(void) { return is_server ? &hdr()->c2s_prod : &hdr()->s2c_prod; }
static volatile uint32_t *rx_cons(void) { return is_server ? &hdr()->c2s_cons : &hdr()->s2c_cons; }
static uint8_t *tx_ring(void) { return page + (is_server ? VCHAN_S2C : VCHAN_C2S); }
static uint8_t *rx_ring(void) { return page + (is_server ? VCHAN_C2S : VCHAN_S2C); }

static size_t vchan_write(const uint8_t *p, size_t n) {
  uint32_t prod = *tx_prod(), cons = *tx_cons();
  mb();
  size_t space = VCHAN_RING - (prod - cons), k = n < space ? n : space;
  for (size_t i = 0; i < k; i++) tx_ring()[(prod + i) % VCHAN_RING] = p[i];
  wmb();
  *tx_prod() = prod + (uint32_t)k;
  if (k) call(PVX_EVTCHN_SEND, port, 0, 0, 0);
  return k;
}

static size_t vchan_read(uint8_t *p, size_t n) {
  uint32_t prod = *rx_prod(), cons = *rx_cons();
  rmb();
  size_t avail = prod - cons, k = n < avail ? n : avail;
  for (size_t i = 0; i < k; i++) p[i] = rx_ring()[(cons + i) % VCHAN_RING];
  mb();
  *rx_cons() = cons + (uint32_t)k;
  if (k) call(PVX_EVTCHN_SEND, port, 0, 0, 0);
  return k;
}

/* Wait for the peer with the port masked: SCHED_POLL, then consume the pending bit. */
static int vchan_wait(void) {
  evtchn_port_t ports[1] = {port};
  struct sbiret r = call(PVX_SCHED_POLL, (unsigned long)ports, 1, rdtime() + boot.timebase / 10, 0);
  struct pvx_shared_info *si = pvx_shinfo();
  __atomic_fetch_and(&si->evtchn_pending[port / 64], ~(1UL << (port % 64)), __ATOMIC_SEQ_CST);
  return r.error == SBI_ERR_TIMEOUT ? 0 : (int)r.error;
}

static void set_masked(int masked) {
  struct pvx_shared_info *si = pvx_shinfo();
  if (masked)
    __atomic_fetch_or(&si->evtchn_mask[port / 64], 1UL << (port % 64), __ATOMIC_SEQ_CST);
  else
    __atomic_fetch_and(&si->evtchn_mask[port / 64], ~(1UL << (port % 64)), __ATOMIC_SEQ_CST);
}

static int num(const char *s, unsigned long *out) {
  if (!s || !*s) return 0;
  unsigned long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    v = v * 10 + (unsigned long)(*s - '0');
  }
  *out = v;
  return 1;
}

static void report(const char *what, struct sbiret r) {
  kprintf("vchan: %s: %s (%ld)\n", what, sbi_strerror(r.error), r.error);
}

static void listen(unsigned long domid) {
  if (!(pvx_features & PVX_F_GNTTAB)) {
    kputs("vchan: the host has no grant tables\n");
    return;
  }
  struct sbiret r = call(PVX_EVTCHN_ALLOC_UNBOUND, domid, 0, 0, 0);
  if (r.error) return report("alloc_unbound", r);
  port = (evtchn_port_t)r.value;
  page = page_alloc();
  hdr()->magic = VCHAN_MAGIC;
  struct pvx_grant_entry *e = &pvx_gnttab()[VCHAN_REF];
  e->domid = (domid_t)domid;
  e->frame = (uint32_t)((uint64_t)page >> 12);
  wmb();
  e->flags = GTF_permit_access;
  is_server = 1, up = 1, peer = domid;
  set_masked(1);
  kprintf("vchan: listening for domain %lu: ref %u port %u\n", domid, VCHAN_REF, port);
}

static void connect(unsigned long domid, unsigned long ref, unsigned long rport) {
  struct sbiret r = call(PVX_GNTTAB_MAP, domid, ref, VCHAN_SLOT, 0);
  if (r.error) return report("map", r);
  __asm__ volatile("sfence.vma" ::: "memory");
  page = (uint8_t *)VCHAN_SLOT;
  if (hdr()->magic != VCHAN_MAGIC) {
    call(PVX_GNTTAB_UNMAP, VCHAN_SLOT, 0, 0, 0);
    kputs("vchan: no vchan ring in that grant\n");
    return;
  }
  r = call(PVX_EVTCHN_BIND_INTERDOMAIN, domid, rport, 0, 0);
  if (r.error) {
    call(PVX_GNTTAB_UNMAP, VCHAN_SLOT, 0, 0, 0);
    return report("bind_interdomain", r);
  }
  port = (evtchn_port_t)r.value;
  is_server = 0, up = 1, peer = domid;
  set_masked(1);
  hdr()->connected = 1;
  call(PVX_EVTCHN_SEND, port, 0, 0, 0);
  kprintf("vchan: connected to domain %lu, port %u\n", domid, port);
}

static void vclose(void) {
  hdr()->closed = 1;
  call(PVX_EVTCHN_SEND, port, 0, 0, 0);
  call(PVX_EVTCHN_CLOSE, port, 0, 0, 0);
  up = 0;
  if (is_server) {
    struct sbiret r = call(PVX_GNTTAB_END_ACCESS, VCHAN_REF, 0, 0, 0);
    if (r.error) { /* the peer still maps the ring: the page stays granted, never reused */
      report("end_access (peer still maps the ring, page kept)", r);
      return;
    }
    page_free(page);
  } else {
    call(PVX_GNTTAB_UNMAP, VCHAN_SLOT, 0, 0, 0);
  }
  kputs("vchan: closed\n");
}

/* pump/sink: move `mib` MiB of a fixed pattern; both ends print the FNV-1a of the stream. */
static void pump(unsigned long mib, int sending) {
  static uint8_t buf[VCHAN_RING];
  uint64_t total = (uint64_t)mib << 20, done = 0;
  uint32_t h = 2166136261u;
  while (done < total) {
    size_t want = total - done < sizeof buf ? (size_t)(total - done) : sizeof buf, k;
    if (sending) {
      for (size_t i = 0; i < want; i++) buf[i] = (uint8_t)((done + i) * 31 >> 3);
      k = vchan_write(buf, want);
    } else {
      k = vchan_read(buf, want);
    }
    for (size_t i = 0; i < k; i++) h = (h ^ buf[i]) * 16777619u;
    done += k;
    if (!k) {
      if (hdr()->closed) break;
      if (vchan_wait() < 0) break;
    }
  }
  kprintf("vchan: %s %lu bytes, checksum 0x%08x\n", sending ? "sent" : "received", (unsigned long)done, h);
}

void pvx_shell_vchan(int argc, char **argv) {
  unsigned long a = 0, b = 0, c = 0;
  const char *sub = argc > 1 ? argv[1] : "";
  if (!strcmp(sub, "listen") && argc > 2 && num(argv[2], &a) && !up) {
    listen(a);
  } else if (!strcmp(sub, "connect") && argc > 4 && num(argv[2], &a) && num(argv[3], &b) && num(argv[4], &c) &&
             !up) {
    connect(a, b, c);
  } else if (!up && sub[0]) {
    kputs("vchan: not connected\n");
  } else if (!strcmp(sub, "send") && argc > 2) {
    size_t sent = 0;
    for (int i = 2; i < argc; i++) {
      if (i > 2) sent += vchan_write((const uint8_t *)" ", 1);
      sent += vchan_write((const uint8_t *)argv[i], strlen(argv[i]));
    }
    sent += vchan_write((const uint8_t *)"\n", 1);
    kprintf("vchan: sent %lu bytes\n", (unsigned long)sent);
  } else if (!strcmp(sub, "recv")) {
    char buf[200];
    size_t k = vchan_read((uint8_t *)buf, sizeof buf - 1);
    buf[k] = 0;
    kprintf("vchan: received %lu bytes: %s%s", (unsigned long)k, buf, k && buf[k - 1] == '\n' ? "" : "\n");
  } else if ((!strcmp(sub, "pump") || !strcmp(sub, "sink")) && argc > 2 && num(argv[2], &a)) {
    pump(a, sub[0] == 'p');
  } else if (!strcmp(sub, "close")) {
    vclose();
  } else if (!strcmp(sub, "status")) {
    kprintf("vchan: %s of domain %lu, port %u, peer %s\n", is_server ? "server" : "client", peer, port,
            hdr()->connected ? "connected" : "not connected");
  } else {
    kputs("usage: vchan listen DOMID | connect DOMID REF PORT | send TEXT | recv | pump MIB | sink MIB | status | "
          "close\n");
  }
}

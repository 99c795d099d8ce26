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

/* One end of a channel. */
struct vchan {
  uint8_t *page; /* the ring page (own RAM or grant window) */
  int is_server, up;
  unsigned long peer;
  evtchn_port_t port;
};
static struct vchan chan; /* the shell's channel */
extern struct pvx_grant_entry *pvx_gnttab(void);

static struct sbiret call(unsigned long fid, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3) {
  return sbi_call(PVX_EID, fid, a0, a1, a2, a3, 0, 0);
}

static struct vchan_hdr *hdr(struct vchan *v) { return (struct vchan_hdr *)v->page; }
static volatile uint32_t *tx_prod(struct vchan *v) { return v->is_server ? &hdr(v)->s2c_prod : &hdr(v)->c2s_prod; }
static volatile uint32_t *tx_cons(struct vchan *v) { return v->is_server ? &hdr(v)->s2c_cons : &hdr(v)->c2s_cons; }
static volatile uint32_t *rx_prod(struct vchan *v) { return v->is_server ? &hdr(v)->c2s_prod : &hdr(v)->s2c_prod; }
static volatile uint32_t *rx_cons(struct vchan *v) { return v->is_server ? &hdr(v)->c2s_cons : &hdr(v)->s2c_cons; }
static uint8_t *tx_ring(struct vchan *v) { return v->page + (v->is_server ? VCHAN_S2C : VCHAN_C2S); }
static uint8_t *rx_ring(struct vchan *v) { return v->page + (v->is_server ? VCHAN_C2S : VCHAN_S2C); }

/*
 * Ring copies move 64-bit words where the ring position and the buffer are both
 * 8-byte aligned (a word never straddles the end of the ring: its size is a multiple
 * of 8), bytes elsewhere. On the client the ring is in the grant window, where every
 * access is a trip through the host (the bus splits a word in two halves), so words
 * make the copy ~4x cheaper there.
 */
static void ring_put(uint8_t *ring, uint32_t pos, const uint8_t *p, size_t k) {
  size_t i = 0;
  for (; i < k && ((pos + i) & 7); i++) ring[(pos + i) % VCHAN_RING] = p[i];
  if (!((uintptr_t)(p + i) & 7))
    for (; i + 8 <= k; i += 8)
      *(volatile uint64_t *)(ring + (pos + i) % VCHAN_RING) = *(const uint64_t *)(const void *)(p + i);
  for (; i < k; i++) ring[(pos + i) % VCHAN_RING] = p[i];
}

static void ring_get(const uint8_t *ring, uint32_t pos, uint8_t *p, size_t k) {
  size_t i = 0;
  for (; i < k && ((pos + i) & 7); i++) p[i] = ring[(pos + i) % VCHAN_RING];
  if (!((uintptr_t)(p + i) & 7))
    for (; i + 8 <= k; i += 8)
      *(uint64_t *)(void *)(p + i) = *(const volatile uint64_t *)(ring + (pos + i) % VCHAN_RING);
  for (; i < k; i++) p[i] = ring[(pos + i) % VCHAN_RING];
}

static size_t vchan_write(struct vchan *v, const uint8_t *p, size_t n) {
  uint32_t prod = *tx_prod(v), cons = *tx_cons(v);
  mb();
  size_t space = VCHAN_RING - (prod - cons), k = n < space ? n : space;
  ring_put(tx_ring(v), prod, p, k);
  wmb();
  *tx_prod(v) = prod + (uint32_t)k;
  if (k) call(PVX_EVTCHN_SEND, v->port, 0, 0, 0);
  return k;
}

static size_t vchan_read(struct vchan *v, uint8_t *p, size_t n) {
  uint32_t prod = *rx_prod(v), cons = *rx_cons(v);
  rmb();
  size_t avail = prod - cons, k = n < avail ? n : avail;
  ring_get(rx_ring(v), cons, p, k);
  mb();
  *rx_cons(v) = cons + (uint32_t)k;
  if (k) call(PVX_EVTCHN_SEND, v->port, 0, 0, 0);
  return k;
}

static void clear_pending(struct vchan *v) {
  struct pvx_shared_info *si = pvx_shinfo();
  __atomic_fetch_and(&si->evtchn_pending[v->port / 64], ~(1UL << (v->port % 64)), __ATOMIC_SEQ_CST);
}

/* Wait for the peer with the port masked: SCHED_POLL returns at once if an event came
   after the caller's clear_pending(); the deadline is only a safety net. */
static int vchan_wait(struct vchan *v) {
  static evtchn_port_t ports[1];
  ports[0] = v->port;
  struct sbiret r = call(PVX_SCHED_POLL, (unsigned long)ports, 1, rdtime() + boot.timebase / 10, 0);
  return r.error == SBI_ERR_TIMEOUT ? 0 : (int)r.error;
}

static void set_masked(struct vchan *v, int masked) {
  struct pvx_shared_info *si = pvx_shinfo();
  if (masked)
    __atomic_fetch_or(&si->evtchn_mask[v->port / 64], 1UL << (v->port % 64), __ATOMIC_SEQ_CST);
  else
    __atomic_fetch_and(&si->evtchn_mask[v->port / 64], ~(1UL << (v->port % 64)), __ATOMIC_SEQ_CST);
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

static void listen(struct vchan *v, unsigned long domid) {
  if (!(pvx_features & PVX_F_GNTTAB)) {
    kputs("vchan: the host has no grant tables\n");
    return;
  }
  struct sbiret r = call(PVX_EVTCHN_ALLOC_UNBOUND, domid, 0, 0, 0);
  if (r.error) return report("alloc_unbound", r);
  v->port = (evtchn_port_t)r.value;
  v->page = page_alloc();
  hdr(v)->magic = VCHAN_MAGIC;
  struct pvx_grant_entry *e = &pvx_gnttab()[VCHAN_REF];
  e->domid = (domid_t)domid;
  e->frame = (uint32_t)((uint64_t)v->page >> 12);
  wmb();
  e->flags = GTF_permit_access;
  v->is_server = 1, v->up = 1, v->peer = domid;
  set_masked(v, 1);
  kprintf("vchan: listening for domain %lu: ref %u port %u\n", domid, VCHAN_REF, v->port);
}

static void connect(struct vchan *v, unsigned long domid, unsigned long ref, unsigned long rport) {
  struct sbiret r = call(PVX_GNTTAB_MAP, domid, ref, VCHAN_SLOT, 0);
  if (r.error) return report("map", r);
  __asm__ volatile("sfence.vma" ::: "memory");
  v->page = (uint8_t *)VCHAN_SLOT;
  if (hdr(v)->magic != VCHAN_MAGIC) {
    call(PVX_GNTTAB_UNMAP, VCHAN_SLOT, 0, 0, 0);
    kputs("vchan: no vchan ring in that grant\n");
    return;
  }
  r = call(PVX_EVTCHN_BIND_INTERDOMAIN, domid, rport, 0, 0);
  if (r.error) {
    call(PVX_GNTTAB_UNMAP, VCHAN_SLOT, 0, 0, 0);
    return report("bind_interdomain", r);
  }
  v->port = (evtchn_port_t)r.value;
  v->is_server = 0, v->up = 1, v->peer = domid;
  set_masked(v, 1);
  hdr(v)->connected = 1;
  call(PVX_EVTCHN_SEND, v->port, 0, 0, 0);
  kprintf("vchan: connected to domain %lu, port %u\n", domid, v->port);
}

static void vclose(struct vchan *v) {
  hdr(v)->closed = 1;
  call(PVX_EVTCHN_SEND, v->port, 0, 0, 0);
  call(PVX_EVTCHN_CLOSE, v->port, 0, 0, 0); /* the port stays masked for its next user */
  v->up = 0;
  if (v->is_server) {
    struct sbiret r = call(PVX_GNTTAB_END_ACCESS, VCHAN_REF, 0, 0, 0);
    if (r.error) { /* the peer still maps the ring: the page stays granted, never reused */
      report("end_access (peer still maps the ring, page kept)", r);
      return;
    }
    page_free(v->page);
  } else {
    call(PVX_GNTTAB_UNMAP, VCHAN_SLOT, 0, 0, 0);
  }
  kputs("vchan: closed\n");
}

/* The appendix A test stream: byte i of the stream. */
/* The test stream of appendix A: byte i is (uint8_t)((i * 31) >> 3). */
struct pump {
  uint64_t total, done;
  uint32_t hash;
};

/* One step of a sender (or receiver): moves what the ring allows, returns bytes moved. */
static size_t pump_step(struct vchan *v, struct pump *p, int sending) {
  static uint8_t buf[VCHAN_RING] __attribute__((aligned(8)));
  size_t want = p->total - p->done < sizeof buf ? (size_t)(p->total - p->done) : sizeof buf, k;
  if (sending) {
    uint64_t x = p->done * 31; /* stream_byte(i) = (i * 31) >> 3, stepped */
    for (size_t i = 0; i < want; i++, x += 31) buf[i] = (uint8_t)(x >> 3);
    k = vchan_write(v, buf, want);
  } else {
    k = vchan_read(v, buf, want);
  }
  uint32_t h = p->hash;
  for (size_t i = 0; i < k; i++) h = (h ^ buf[i]) * 16777619u;
  p->hash = h;
  p->done += k;
  return k;
}

/* pump/sink: move `mib` MiB of the test stream; both ends print its FNV-1a. */
static void pump(struct vchan *v, unsigned long mib, int sending) {
  struct pump p = {(uint64_t)mib << 20, 0, 2166136261u};
  while (p.done < p.total) {
    if (pump_step(v, &p, sending)) continue;
    clear_pending(v); /* then look again, so an event after this point ends the poll */
    if (pump_step(v, &p, sending)) continue;
    if (hdr(v)->closed || vchan_wait(v) < 0) break;
  }
  kprintf("vchan: %s %lu bytes, checksum 0x%08x\n", sending ? "sent" : "received", (unsigned long)p.done, p.hash);
}

/*
 * Both ends in this domain (no grant map needed): a loopback port pair and one
 * ring page, the sender and the receiver interleaved. Checks the ring protocol
 * and the events on any PVX host, pvxfw included.
 */
static void selftest(unsigned long mib) {
  struct vchan s = {0}, c = {0};
  struct sbiret r1 = call(PVX_EVTCHN_ALLOC_UNBOUND, PVX_DOMID_SELF, 0, 0, 0);
  if (r1.error) return report("alloc_unbound", r1);
  s.port = (evtchn_port_t)r1.value;
  set_masked(&s, 1);
  struct sbiret r2 = call(PVX_EVTCHN_BIND_INTERDOMAIN, PVX_DOMID_SELF, s.port, 0, 0);
  if (r2.error) return report("bind_interdomain", r2);
  c.port = (evtchn_port_t)r2.value;
  set_masked(&c, 1);
  s.page = c.page = page_alloc();
  s.is_server = 1;
  struct pump tx = {(uint64_t)mib << 20, 0, 2166136261u}, rx = tx;
  unsigned long events = 0, stalls = 0;
  struct pvx_shared_info *si = pvx_shinfo();
  while (rx.done < rx.total) {
    size_t a = pump_step(&s, &tx, 1);
    /* the sender's send made the receiver's port pending */
    if (a && (si->evtchn_pending[c.port / 64] & (1UL << (c.port % 64)))) events++;
    clear_pending(&c);
    size_t b = pump_step(&c, &rx, 0);
    clear_pending(&s);
    if (!a && !b) stalls++;
    if (stalls > 2) break;
  }
  call(PVX_EVTCHN_CLOSE, c.port, 0, 0, 0);
  call(PVX_EVTCHN_CLOSE, s.port, 0, 0, 0);
  page_free(s.page);
  kprintf("vchan selftest: sent %lu received %lu bytes, checksums 0x%08x 0x%08x, %s\n", (unsigned long)tx.done,
          (unsigned long)rx.done, tx.hash, rx.hash,
          tx.hash == rx.hash && rx.done == rx.total && events ? "ok" : "MISMATCH");
}

void pvx_shell_vchan(int argc, char **argv) {
  struct vchan *v = &chan;
  unsigned long a = 0, b = 0, c = 0;
  const char *sub = argc > 1 ? argv[1] : "";
  if (!strcmp(sub, "selftest")) {
    selftest(argc > 2 && num(argv[2], &a) && a ? a : 1);
  } else if (!strcmp(sub, "listen") && argc > 2 && num(argv[2], &a) && !v->up) {
    listen(v, a);
  } else if (!strcmp(sub, "connect") && argc > 4 && num(argv[2], &a) && num(argv[3], &b) && num(argv[4], &c) &&
             !v->up) {
    connect(v, a, b, c);
  } else if (!v->up && sub[0]) {
    kputs("vchan: not connected\n");
  } else if (!strcmp(sub, "send") && argc > 2) {
    size_t sent = 0;
    for (int i = 2; i < argc; i++) {
      if (i > 2) sent += vchan_write(v, (const uint8_t *)" ", 1);
      sent += vchan_write(v, (const uint8_t *)argv[i], strlen(argv[i]));
    }
    sent += vchan_write(v, (const uint8_t *)"\n", 1);
    kprintf("vchan: sent %lu bytes\n", (unsigned long)sent);
  } else if (!strcmp(sub, "recv")) {
    char buf[200];
    size_t k = vchan_read(v, (uint8_t *)buf, sizeof buf - 1);
    buf[k] = 0;
    kprintf("vchan: received %lu bytes: %s%s", (unsigned long)k, buf, k && buf[k - 1] == '\n' ? "" : "\n");
  } else if ((!strcmp(sub, "pump") || !strcmp(sub, "sink")) && argc > 2 && num(argv[2], &a)) {
    pump(v, a, sub[0] == 'p');
  } else if (!strcmp(sub, "close")) {
    vclose(v);
  } else if (!strcmp(sub, "status")) {
    kprintf("vchan: %s of domain %lu, port %u, peer %s\n", v->is_server ? "server" : "client", v->peer, v->port,
            hdr(v)->connected ? "connected" : "not connected");
  } else {
    kputs("usage: vchan listen DOMID | connect DOMID REF PORT | send TEXT | recv | pump MIB | sink MIB | status | "
          "close | selftest [MIB]\n");
  }
}

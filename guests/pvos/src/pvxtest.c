/*
 * pvxtest: the PVX 1.0 conformance cases a guest can check by itself — every
 * call with good and bad arguments, compared with the errors the document
 * (docs/para-api-pvx.md) prescribes. Functions whose feature bit is clear
 * must answer NOT_SUPPORTED. Run it on any PVX host; it leaves the domain's
 * state as it found it.
 */
#include "kernel.h"
#include "pvx.h"

struct pvx_shared_info *pvx_shinfo(void);
struct pvx_grant_entry *pvx_gnttab(void);

static unsigned passed, failed;
static struct pvx_multicall_entry mc[3] __attribute__((aligned(8)));
static uint64_t list64[2] __attribute__((aligned(8)));
static uint32_t list32[2] __attribute__((aligned(8)));
static uint8_t spare_page[4096] __attribute__((aligned(4096)));

static struct sbiret call(unsigned long fid, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3,
                          unsigned long a4, unsigned long a5) {
  return sbi_call(PVX_EID, fid, a0, a1, a2, a3, a4, a5);
}

static int needs(unsigned long fid) {
  switch (fid >> 8) {
    case 1:
      return fid == PVX_TIMER_SET ? (int)PVX_F_TIMER : (int)PVX_F_SHINFO;
    case 2:
      return fid == PVX_EVTCHN_BIND_IPI ? (int)PVX_F_EVTCHN_IPI : (int)PVX_F_EVTCHN;
    case 3:
      return fid == PVX_GNTTAB_MAP || fid == PVX_GNTTAB_UNMAP ? (int)PVX_F_GNTTAB_MAP : (int)PVX_F_GNTTAB;
    case 4:
      return PVX_F_MULTICALL;
    case 5:
      return PVX_F_SCHED;
    case 6:
      return PVX_F_MEMORY;
  }
  return 0;
}

/* One case: the call's error must be `want` (NOT_SUPPORTED when its feature is absent). */
static struct sbiret check(const char *name, long want, unsigned long fid, unsigned long a0, unsigned long a1,
                           unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
  unsigned long need = (unsigned long)needs(fid);
  if (need && !(pvx_features & need)) want = SBI_ERR_NOT_SUPPORTED;
  struct sbiret r = call(fid, a0, a1, a2, a3, a4, a5);
  if (r.error == want) {
    passed++;
  } else {
    failed++;
    kprintf("pvxtest: FAIL %s: got %ld (%s), want %ld (%s)\n", name, r.error, sbi_strerror(r.error), want,
            sbi_strerror(want));
  }
  return r;
}
#define C(name, want, fid, ...) check(name, want, fid, __VA_ARGS__)

static void expect_value(const char *name, struct sbiret r, unsigned long v) {
  if (r.error) return; /* already counted */
  if (r.value == v) return;
  failed++;
  passed--;
  kprintf("pvxtest: FAIL %s: value 0x%lx, want 0x%lx\n", name, r.value, v);
}

void pvx_shell_pvxtest(void) {
  const unsigned long NONE = ~0UL, SELF = PVX_DOMID_SELF, NODOM = PVX_DOMID_MAX, WIN = PVX_GNT_WINDOW_BASE;
  passed = failed = 0;
  unsigned long shinfo = (unsigned long)pvx_shinfo(), gnt = (unsigned long)pvx_gnttab();
  unsigned long ram_end = boot.ram_base + boot.ram_size;

  /* §3 */
  expect_value("version", C("version", 0, PVX_GET_VERSION, 0, 0, 0, 0, 0, 0), PVX_VERSION);
  C("features word 1", SBI_ERR_INVALID_PARAM, PVX_GET_FEATURES, 1, 0, 0, 0, 0, 0);
  expect_value("limit ports", C("limit ports", 0, PVX_GET_LIMIT, PVX_LIMIT_EVTCHN_PORTS, 0, 0, 0, 0, 0),
               PVX_EVTCHN_NR_PORTS);
  expect_value("limit window", C("limit window", 0, PVX_GET_LIMIT, PVX_LIMIT_GNT_WINDOW_BASE, 0, 0, 0, 0, 0), WIN);
  C("limit 8", SBI_ERR_INVALID_PARAM, PVX_GET_LIMIT, PVX_LIMIT_COUNT, 0, 0, 0, 0, 0);
  C("unknown fid 0x0ff", SBI_ERR_NOT_SUPPORTED, 0x0ff, 0, 0, 0, 0, 0, 0);
  C("unknown fid 0x700", SBI_ERR_NOT_SUPPORTED, 0x700, 0, 0, 0, 0, 0, 0);

  /* §4 */
  C("shinfo unaligned", SBI_ERR_INVALID_ADDRESS, PVX_SHINFO_SET, shinfo + 8, 0, 0, 0, 0, 0);
  C("shinfo below RAM", SBI_ERR_INVALID_ADDRESS, PVX_SHINFO_SET, 0x1000, 0, 0, 0, 0, 0);
  C("shinfo in window", SBI_ERR_INVALID_ADDRESS, PVX_SHINFO_SET, WIN, 0, 0, 0, 0, 0);
  C("shinfo past RAM", SBI_ERR_INVALID_ADDRESS, PVX_SHINFO_SET, ram_end, 0, 0, 0, 0, 0);
  C("shinfo twice", SBI_ERR_ALREADY_AVAILABLE, PVX_SHINFO_SET, (unsigned long)spare_page, 0, 0, 0, 0, 0);
  C("shinfo off, ports open", SBI_ERR_INVALID_STATE, PVX_SHINFO_SET, NONE, 0, 0, 0, 0, 0);

  /* §5 */
  C("alloc domid > u16", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_ALLOC_UNBOUND, 0x10000 | pvx_domid, 0, 0, 0, 0, 0);
  C("alloc no such domain", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_ALLOC_UNBOUND, NODOM, 0, 0, 0, 0, 0);
  struct sbiret a = C("alloc self", 0, PVX_EVTCHN_ALLOC_UNBOUND, SELF, 0, 0, 0, 0, 0);
  unsigned long p = a.error ? 0 : a.value;
  if (p) {
    expect_value("status unbound", C("status unbound", 0, PVX_EVTCHN_STATUS, p, 0, 0, 0, 0, 0),
                 PVX_EVTCHN_STATE_UNBOUND | pvx_domid << 16);
    C("send unbound", 0, PVX_EVTCHN_SEND, p, 0, 0, 0, 0, 0);
    C("send high bits", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_SEND, p | 1UL << 32, 0, 0, 0, 0, 0);
    list32[0] = (uint32_t)p;
    C("poll timeout", SBI_ERR_TIMEOUT, PVX_SCHED_POLL, (unsigned long)list32, 1, 0, 0, 0, 0);
    C("close", 0, PVX_EVTCHN_CLOSE, p, 0, 0, 0, 0, 0);
    __atomic_fetch_or(&pvx_shinfo()->evtchn_mask[p / 64], 1UL << (p % 64), __ATOMIC_SEQ_CST);
    expect_value("status free", C("status free", 0, PVX_EVTCHN_STATUS, p, 0, 0, 0, 0, 0), 0);
    C("close twice", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_CLOSE, p, 0, 0, 0, 0, 0);
  }
  C("bind port 0", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_INTERDOMAIN, SELF, 0, 0, 0, 0, 0);
  C("bind port 1024", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_INTERDOMAIN, SELF, 1024, 0, 0, 0, 0);
  C("bind no such domain", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_INTERDOMAIN, NODOM, 1, 0, 0, 0, 0);
  C("bind to a virq port", SBI_ERR_INVALID_STATE, PVX_EVTCHN_BIND_INTERDOMAIN, SELF, 1, 0, 0, 0, 0);
  C("virq 4", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_VIRQ, PVX_NR_VIRQS, 0, 0, 0, 0, 0);
  C("virq vcpu 8", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_VIRQ, PVX_VIRQ_TIMER, PVX_MAX_VCPUS, 0, 0, 0, 0);
  C("global virq on vcpu 1", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_VIRQ, PVX_VIRQ_CONSOLE, 1, 0, 0, 0, 0);
  C("timer virq twice", SBI_ERR_ALREADY_AVAILABLE, PVX_EVTCHN_BIND_VIRQ, PVX_VIRQ_TIMER, boot.hartid, 0, 0, 0, 0);
  C("ipi vcpu 8", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_BIND_IPI, PVX_MAX_VCPUS, 0, 0, 0, 0, 0);
  C("send port 0", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_SEND, 0, 0, 0, 0, 0, 0);
  C("send port 1024", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_SEND, 1024, 0, 0, 0, 0, 0);
  C("send free port", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_SEND, 1023, 0, 0, 0, 0, 0);
  C("send virq port", SBI_ERR_INVALID_STATE, PVX_EVTCHN_SEND, 1, 0, 0, 0, 0, 0);
  C("close port 0", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_CLOSE, 0, 0, 0, 0, 0, 0);
  C("unmask free port", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_UNMASK, 1023, 0, 0, 0, 0, 0);
  C("status port 1024", SBI_ERR_INVALID_PARAM, PVX_EVTCHN_STATUS, 1024, 0, 0, 0, 0, 0);
  struct sbiret st = C("status virq port", 0, PVX_EVTCHN_STATUS, 1, 0, 0, 0, 0, 0);
  expect_value("status virq port", st, PVX_EVTCHN_STATE_VIRQ | (unsigned long)boot.hartid << 4);

  /* §6 */
  C("gnttab 0 frames", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_SETUP, (unsigned long)spare_page, 0, 0, 0, 0, 0);
  C("gnttab 5 frames", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_SETUP, (unsigned long)spare_page, 5, 0, 0, 0, 0);
  C("gnttab twice", SBI_ERR_ALREADY_AVAILABLE, PVX_GNTTAB_SETUP, (unsigned long)spare_page, 1, 0, 0, 0, 0);
  C("gnttab remove with frames", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_SETUP, NONE, 1, 0, 0, 0, 0);
  C("end ref > u32", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_END_ACCESS, 1UL << 32, 0, 0, 0, 0, 0);
  C("end ref 512", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_END_ACCESS, 512, 0, 0, 0, 0, 0);
  C("end invalid entry", 0, PVX_GNTTAB_END_ACCESS, 511, 0, 0, 0, 0, 0);
  C("map self", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_MAP, pvx_domid, 0, WIN, 0, 0, 0);
  C("map no such domain", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_MAP, NODOM, 0, WIN, 0, 0, 0);
  C("unmap empty slot", SBI_ERR_INVALID_STATE, PVX_GNTTAB_UNMAP, WIN, 0, 0, 0, 0, 0);
  C("unmap unaligned", SBI_ERR_INVALID_ADDRESS, PVX_GNTTAB_UNMAP, WIN + 8, 0, 0, 0, 0, 0);
  C("unmap outside window", SBI_ERR_INVALID_ADDRESS, PVX_GNTTAB_UNMAP, WIN + PVX_GNT_WINDOW_SIZE, 0, 0, 0, 0, 0);
  C("copy self", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_COPY, pvx_domid, 0, 0, (unsigned long)spare_page, 16, 0);
  C("copy no such domain", SBI_ERR_INVALID_PARAM, PVX_GNTTAB_COPY, NODOM, 0, 0, (unsigned long)spare_page, 16, 0);
  (void)gnt;

  /* §7 */
  C("multicall 0", SBI_ERR_INVALID_PARAM, PVX_MULTICALL, (unsigned long)mc, 0, 0, 0, 0, 0);
  C("multicall 65", SBI_ERR_INVALID_PARAM, PVX_MULTICALL, (unsigned long)mc, PVX_MULTICALL_MAX + 1, 0, 0, 0, 0);
  C("multicall unaligned", SBI_ERR_INVALID_ADDRESS, PVX_MULTICALL, (unsigned long)mc + 4, 1, 0, 0, 0, 0);
  C("multicall below RAM", SBI_ERR_INVALID_ADDRESS, PVX_MULTICALL, 0x1000, 1, 0, 0, 0, 0);
  memset(mc, 0, sizeof mc);
  mc[0].eid = (uint32_t)PVX_EID, mc[0].fid = PVX_GET_VERSION;
  mc[1].eid = (uint32_t)PVX_EID, mc[1].fid = 0x0ff;
  mc[2].eid = (uint32_t)PVX_EID, mc[2].fid = PVX_MULTICALL, mc[2].args[0] = (unsigned long)mc, mc[2].args[1] = 1;
  struct sbiret m = C("multicall batch", 0, PVX_MULTICALL, (unsigned long)mc, 3, 0, 0, 0, 0);
  expect_value("multicall count", m, 3);
  if ((pvx_features & PVX_F_MULTICALL) && !m.error) {
    int ok = mc[0].error == 0 && mc[0].value == PVX_VERSION && mc[1].error == SBI_ERR_NOT_SUPPORTED &&
             mc[2].error == SBI_ERR_NOT_SUPPORTED;
    if (ok) {
      passed++;
    } else {
      failed++;
      kprintf("pvxtest: FAIL multicall results: %ld/0x%lx %ld %ld\n", (long)mc[0].error, (unsigned long)mc[0].value,
              (long)mc[1].error, (long)mc[2].error);
    }
  }

  /* §8 */
  C("yield", 0, PVX_SCHED_YIELD, 0, 0, 0, 0, 0, 0);
  C("poll 0 ports", SBI_ERR_INVALID_PARAM, PVX_SCHED_POLL, (unsigned long)list32, 0, 0, 0, 0, 0);
  C("poll 129 ports", SBI_ERR_INVALID_PARAM, PVX_SCHED_POLL, (unsigned long)list32, PVX_POLL_MAX_PORTS + 1, 0, 0, 0,
    0);
  C("poll unaligned", SBI_ERR_INVALID_ADDRESS, PVX_SCHED_POLL, (unsigned long)list32 + 1, 1, 0, 0, 0, 0);
  list32[0] = 0;
  C("poll port 0", SBI_ERR_INVALID_PARAM, PVX_SCHED_POLL, (unsigned long)list32, 1, 0, 0, 0, 0);
  C("shutdown reason 4", SBI_ERR_INVALID_PARAM, PVX_SCHED_SHUTDOWN, 4, 0, 0, 0, 0, 0);

  /* §9 */
  C("reservation 3", SBI_ERR_INVALID_PARAM, PVX_MEMORY_RESERVATION, 3, 0, 0, 0, 0, 0);
  C("decrease 0", SBI_ERR_INVALID_PARAM, PVX_MEMORY_DECREASE, (unsigned long)list64, 0, 0, 0, 0, 0);
  C("decrease 513", SBI_ERR_INVALID_PARAM, PVX_MEMORY_DECREASE, (unsigned long)list64, PVX_MEMORY_BATCH_MAX + 1, 0,
    0, 0, 0);
  C("decrease unaligned", SBI_ERR_INVALID_ADDRESS, PVX_MEMORY_DECREASE, (unsigned long)list64 + 4, 1, 0, 0, 0, 0);
  list64[0] = shinfo >> 12;
  struct sbiret d = C("decrease shinfo frame", SBI_ERR_DENIED, PVX_MEMORY_DECREASE, (unsigned long)list64, 1, 0, 0,
                      0, 0);
  if (d.error == SBI_ERR_DENIED && d.value != 0) {
    failed++, passed--;
    kprintf("pvxtest: FAIL decrease shinfo frame: progress %lu, want 0\n", d.value);
  }
  list64[0] = 0x10;
  C("decrease frame outside RAM", SBI_ERR_INVALID_ADDRESS, PVX_MEMORY_DECREASE, (unsigned long)list64, 1, 0, 0, 0,
    0);
  list64[0] = (unsigned long)spare_page >> 12;
  C("increase populated frame", SBI_ERR_INVALID_STATE, PVX_MEMORY_INCREASE, (unsigned long)list64, 1, 0, 0, 0, 0);

  kprintf("pvxtest: %u passed, %u failed\n", passed, failed);
}

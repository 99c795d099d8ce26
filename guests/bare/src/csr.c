/*
 * Zicsr and the machine/supervisor CSRs: read/write/set/clear semantics,
 * read-only and unknown CSRs, and the WARL fields the privileged spec fixes
 * (only spec-mandated bits are checked, so any conforming hart passes).
 */
#include "rt.h"

static uint32_t insn_at(uint64_t epc) {
  const volatile uint16_t *p = (const volatile uint16_t *)epc;
  return (p[0] & 3) == 3 ? (uint32_t)p[0] | (uint32_t)p[1] << 16 : p[0];
}

static void check_illegal(const char *name) {
  uint64_t bits = trap_count == 1 ? insn_at(trap_log[0].epc) : 0;
  check_trap(name, CAUSE_ILLEGAL_INSTRUCTION, bits, PRV_M, PRV_M);
}

static void zicsr(void) {
  uint64_t old, v;
  /* mscratch and sscratch hold the trap stacks: no trap may happen until restored. */
  uint64_t saved_m = csr_read(mscratch), saved_s = csr_read(sscratch);
  csr_write(mscratch, 0x1234);
  __asm__ volatile("csrrw %0, mscratch, %1" : "=r"(old) : "r"(0xf0f0UL));
  check_eq("csrrw returns old", old, 0x1234);
  check_eq("csrrw writes", csr_read(mscratch), 0xf0f0);
  __asm__ volatile("csrrs %0, mscratch, %1" : "=r"(old) : "r"(0x000fUL));
  check_eq("csrrs returns old", old, 0xf0f0);
  check_eq("csrrs sets", csr_read(mscratch), 0xf0ff);
  __asm__ volatile("csrrc %0, mscratch, %1" : "=r"(old) : "r"(0x00f0UL));
  check_eq("csrrc returns old", old, 0xf0ff);
  check_eq("csrrc clears", csr_read(mscratch), 0xf00f);
  __asm__ volatile("csrrwi %0, mscratch, 31" : "=r"(old));
  check_eq("csrrwi", csr_read(mscratch), 31);
  __asm__ volatile("csrrsi %0, mscratch, 0x10\ncsrrci x0, mscratch, 1" : "=r"(old));
  check_eq("csrrsi/csrrci", csr_read(mscratch), 30);
  csr_write(mscratch, 0xdeadbeefcafef00dUL);
  check_eq("mscratch holds 64 bits", csr_read(mscratch), 0xdeadbeefcafef00dUL);
  csr_write(sscratch, 0x0123456789abcdefUL);
  check_eq("sscratch holds 64 bits", csr_read(sscratch), 0x0123456789abcdefUL);
  /* rd == rs1 */
  v = 5;
  __asm__ volatile("csrrw %0, mscratch, %0" : "+r"(v));
  check_eq("csrrw rd == rs1 old", v, 0xdeadbeefcafef00dUL);
  check_eq("csrrw rd == rs1 new", csr_read(mscratch), 5);
  csr_write(mscratch, saved_m);
  csr_write(sscratch, saved_s);
}

static void read_only_and_unknown(void) {
  uint64_t v;
  trap_reset(1);
  __asm__ volatile("csrr %0, mhartid" : "=r"(v));
  check_eq("csrr mhartid (read-only) ok", trap_count, 0);
  check_eq("mhartid", v, 0);
  __asm__ volatile("csrrs %0, mhartid, x0\ncsrrsi %0, mhartid, 0\ncsrrc %0, mvendorid, x0" : "=r"(v));
  check_eq("csrrs/csrrsi/csrrc x0 on read-only: no trap", trap_count, 0);
  __asm__ volatile("csrw mhartid, zero");
  check_illegal("csrw mhartid (read-only)");
  trap_reset(1);
  __asm__ volatile("csrrs %0, mimpid, %1" : "=r"(v) : "r"(1UL));
  check_illegal("csrrs mimpid nonzero (read-only)");
  trap_reset(1);
  __asm__ volatile("csrrwi zero, cycle, 0");
  check_illegal("csrrwi cycle (read-only)");
  trap_reset(1);
  __asm__ volatile("csrr %0, 0x8ff" : "=r"(v));
  check_illegal("csrr 0x8ff (no such CSR)");
  trap_reset(1);
  __asm__ volatile("csrr %0, 0x5ff" : "=r"(v));
  check_illegal("csrr 0x5ff (no such CSR)");
  trap_reset(1);
  trap_reset(0);
  (void)csr_read(mvendorid);
  (void)csr_read(marchid);
  (void)csr_read(mimpid);
  (void)csr_read(0x30a); /* menvcfg */
  (void)csr_read(0x10a); /* senvcfg */
  (void)csr_read(mcounteren);
  (void)csr_read(scounteren);
  (void)csr_read(pmpcfg0);
  (void)csr_read(pmpaddr0);
  check("machine info, envcfg, counteren and PMP CSRs readable", 1);
}

static void misa_mstatus(void) {
  uint64_t misa = csr_read(misa);
  check_eq("misa.MXL = 2 (64-bit)", misa >> 62, 2);
#define EXT(c) (1UL << ((c) - 'A'))
  uint64_t need = EXT('I') | EXT('M') | EXT('A') | EXT('C') | EXT('S') | EXT('U');
  check_eq("misa has I M A C S U", misa & need, need);
  uint64_t ms = csr_read(mstatus);
  check_eq("mstatus.SXL = 2", (ms >> 34) & 3, 2);
  check_eq("mstatus.UXL = 2", (ms >> 32) & 3, 2);
  static const struct {
    const char *name;
    uint64_t bit;
  } bits[] = {
      {"mstatus.SIE", MSTATUS_SIE},   {"mstatus.MIE", MSTATUS_MIE}, {"mstatus.SPIE", MSTATUS_SPIE},
      {"mstatus.MPIE", MSTATUS_MPIE}, {"mstatus.SPP", MSTATUS_SPP}, {"mstatus.MPRV", MSTATUS_MPRV},
      {"mstatus.SUM", MSTATUS_SUM},   {"mstatus.MXR", MSTATUS_MXR}, {"mstatus.TVM", MSTATUS_TVM},
      {"mstatus.TW", MSTATUS_TW},     {"mstatus.TSR", MSTATUS_TSR},
  };
  csr_write(mie, 0);
  for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
    csr_set(mstatus, bits[i].bit);
    int set = (csr_read(mstatus) & bits[i].bit) != 0;
    csr_clear(mstatus, bits[i].bit);
    int clear = (csr_read(mstatus) & bits[i].bit) == 0;
    check(bits[i].name, set && clear);
  }
  uint64_t mpp_ok = 1;
  static const uint64_t mpps[] = {PRV_U, PRV_S, PRV_M};
  for (int i = 0; i < 3; i++) {
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, mpps[i] << 11);
    if (((csr_read(mstatus) >> 11) & 3) != mpps[i]) mpp_ok = 0;
  }
  check("mstatus.MPP holds U, S, M", mpp_ok);
  csr_clear(mstatus, MSTATUS_MPP);

  /* sstatus is a restricted view of mstatus (priv spec 4.1.1). */
  csr_write(mstatus, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM);
  uint64_t ss = csr_read(sstatus);
  check_eq("sstatus hides MIE MPIE MPP MPRV TVM TW TSR",
           ss & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR), 0);
  csr_write(sstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
  ms = csr_read(mstatus);
  check_eq("sstatus write keeps M fields", ms & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM),
           MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM);
  check_eq("sstatus write sets S fields", ms & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR),
           MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
  check_eq("sstatus.UXL = 2", (csr_read(sstatus) >> 32) & 3, 2);
  /* FS is present (F/D): Off/Initial/Clean/Dirty, and SD summarizes Dirty (priv spec 3.1.6.6). */
  int fs_ok = 1;
  for (uint64_t fs = 0; fs < 4; fs++) {
    csr_clear(mstatus, MSTATUS_FS);
    csr_set(mstatus, fs << 13);
    if (((csr_read(mstatus) >> 13) & 3) != fs) fs_ok = 0;
  }
  check("mstatus.FS holds Off, Initial, Clean, Dirty", fs_ok);
  check_eq("mstatus.SD set when FS is Dirty", csr_read(mstatus) >> 63, 1);
  check_eq("sstatus.SD mirrors it", csr_read(sstatus) >> 63, 1);
  csr_clear(mstatus, MSTATUS_FS);
  check_eq("mstatus.SD clear when FS is Off", csr_read(mstatus) >> 63, 0);
  csr_write(mstatus, 0);
}

static void interrupt_csrs(void) {
  mmio_w64(CLINT_MTIMECMP, -1UL);
  mmio_w32(CLINT_MSIP, 0);
  csr_write(mstatus, 0);
  csr_write(mie, -1UL);
  check_eq("mie: SSIE MSIE STIE MTIE SEIE MEIE writable", csr_read(mie) & 0xaaa, 0xaaa);
  csr_write(mie, 0);
  check_eq("mie clears", csr_read(mie) & 0xfff, 0);
  csr_write(mip, -1UL);
  uint64_t mip = csr_read(mip);
  check_eq("mip: SSIP STIP SEIP writable from M", mip & 0x222, 0x222);
  check_eq("mip: MSIP MTIP read-only (CLINT idle)", mip & 0x88, 0);
  csr_write(mip, 0);
  check_eq("mip clears", csr_read(mip) & 0x222, 0);
  csr_write(mideleg, -1UL);
  check_eq("mideleg: S interrupts delegable", csr_read(mideleg) & 0x222, 0x222);
  check_eq("mideleg: M interrupts not delegable", csr_read(mideleg) & 0x888, 0);
  csr_write(medeleg, -1UL);
  uint64_t want = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 12) |
                  (1 << 13) | (1 << 15);
  check_eq("medeleg: exceptions delegable", csr_read(medeleg) & want, want);
  /* sie/sip show only delegated bits (priv spec 4.1.3). */
  csr_write(mideleg, 0);
  csr_write(sie, -1UL);
  check_eq("sie with mideleg 0 stays 0", csr_read(sie) & 0x222, 0);
  csr_write(mideleg, 0x222);
  csr_write(sie, -1UL);
  check_eq("sie with mideleg 0x222", csr_read(sie) & 0xfff, 0x222);
  check_eq("sie write reaches mie", csr_read(mie) & 0xfff, 0x222);
  csr_write(sie, 0);
  csr_write(mip, MIP_STIP);
  check_eq("sip.STIP mirrors mip.STIP", csr_read(sip) & MIP_STIP, MIP_STIP);
  csr_write(mip, 0);
  csr_write(sip, MIP_SSIP);
  check_eq("sip.SSIP writable", csr_read(mip) & MIP_SSIP, MIP_SSIP);
  csr_write(sip, 0);
  csr_write(mideleg, 0);
  csr_write(medeleg, 0);
}

static void trap_setup_csrs(void) {
  uint64_t old = csr_read(mtvec);
  csr_write(mtvec, 0x80001000UL);
  check_eq("mtvec direct", csr_read(mtvec), 0x80001000UL);
  csr_write(mtvec, 0x80001001UL);
  check_eq("mtvec vectored", csr_read(mtvec), 0x80001001UL);
  csr_write(mtvec, old);
  csr_write(stvec, 0x80002000UL);
  check_eq("stvec direct", csr_read(stvec), 0x80002000UL);
  csr_write(stvec, 0x80002001UL);
  check_eq("stvec vectored", csr_read(stvec), 0x80002001UL);
  csr_write(mepc, 0x80001235UL);
  check_eq("mepc bit 0 is zero", csr_read(mepc), 0x80001234UL);
  csr_write(sepc, 0x80001237UL);
  check_eq("sepc bit 0 is zero", csr_read(sepc), 0x80001236UL);
  csr_write(mtval, 0x1234);
  check_eq("mtval writable", csr_read(mtval), 0x1234);
  csr_write(stval, 0x4321);
  check_eq("stval writable", csr_read(stval), 0x4321);
  csr_write(mcause, 2);
  check_eq("mcause holds exception code", csr_read(mcause), 2);
  csr_write(scause, 0x8000000000000005UL);
  check_eq("scause holds interrupt bit", csr_read(scause), 0x8000000000000005UL);
  csr_write(mcounteren, 7);
  check_eq("mcounteren CY TM IR", csr_read(mcounteren) & 7, 7);
  csr_write(scounteren, 7);
  check_eq("scounteren CY TM IR", csr_read(scounteren) & 7, 7);
  csr_write(mcounteren, 0);
  csr_write(scounteren, 0);
}

static void satp_csr(void) {
  csr_write(satp, (8UL << 60) | 0x80123UL);
  check_eq("satp Sv39", csr_read(satp), (8UL << 60) | 0x80123UL);
  csr_write(satp, (9UL << 60) | 0x80456UL);
  check_eq("satp Sv48", csr_read(satp), (9UL << 60) | 0x80456UL);
  csr_write(satp, (1UL << 60) | 0x80789UL);
  check_eq("satp reserved mode 1: write ignored", csr_read(satp), (9UL << 60) | 0x80456UL);
  csr_write(satp, 0);
  check_eq("satp Bare", csr_read(satp), 0);
}

static void pmp_csrs(void) {
  /* Entry 1 stays OFF (pmpcfg0 byte 1 = 0), so its address register only has to hold the value. */
  csr_write(pmpaddr1, 0x12345);
  check_eq("pmpaddr1 keeps its value", csr_read(pmpaddr1), 0x12345);
  check_eq("pmpcfg0 entry 0 keeps NAPOT RWX", csr_read(pmpcfg0) & 0xffff, 0x1f);
  csr_write(pmpaddr1, 0);
}

static void counters(void) {
  uint64_t c0 = csr_read(cycle), i0 = csr_read(instret);
  for (volatile int k = 0; k < 100; k++) {
  }
  uint64_t c1 = csr_read(cycle), i1 = csr_read(instret);
  check("cycle advances", c1 > c0);
  check("instret advances", i1 > i0);
  check("mcycle = cycle view", csr_read(mcycle) >= c1);
  check("minstret = instret view", csr_read(minstret) >= i1);
  uint64_t m0 = mmio_r64(CLINT_MTIME);
  uint64_t t = csr_read(time);
  uint64_t m1 = mmio_r64(CLINT_MTIME);
  check("time CSR between two CLINT mtime reads", m0 <= t && t <= m1);
  csr_write(mcycle, 1UL << 40);
  uint64_t c2 = csr_read(mcycle);
  check("mcycle writable", c2 >= (1UL << 40) && c2 < (1UL << 40) + (1UL << 32));
  csr_write(minstret, 1UL << 41);
  uint64_t i2 = csr_read(minstret);
  check("minstret writable", i2 >= (1UL << 41) && i2 < (1UL << 41) + (1UL << 32));
}

int main(void) {
  zicsr();
  read_only_and_unknown();
  misa_mstatus();
  interrupt_csrs();
  trap_setup_csrs();
  satp_csr();
  pmp_csrs();
  counters();
  return finish();
}

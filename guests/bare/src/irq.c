/*
 * Interrupts: CLINT timer (mtimecmp) and software (msip) interrupts, WFI
 * wake-up, priorities, vectored mtvec, delegation of S-level interrupts
 * (mideleg) and the global-enable rules per mode (privileged spec 3.1.9,
 * 3.1.6.1, 3.3.3).
 */
#include "rt.h"

static volatile int irq_seen;

static void quiet(uint64_t code, int handler) {
  switch (code) {
    case IRQ_M_TIMER:
      mmio_w64(CLINT_MTIMECMP, -1UL);
      break;
    case IRQ_M_SOFT:
      mmio_w32(CLINT_MSIP, 0);
      break;
    case IRQ_S_SOFT:
      if (handler == PRV_M)
        csr_clear(mip, MIP_SSIP);
      else
        csr_clear(sip, MIP_SSIP);
      break;
    case IRQ_S_TIMER:
      if (handler == PRV_M)
        csr_clear(mip, MIP_STIP);
      else
        csr_clear(sie, MIP_STIP); /* STIP is read-only in S: mask it */
      break;
    default:
      printf("no way to quiet interrupt %lu\n", code);
      rt_exit(102);
  }
  irq_seen++;
}

/* Waits (bounded) until an interrupt handler ran. */
static int wait_irq(int want) {
  for (long i = 0; i < 20000000 && irq_seen < want; i++) __asm__ volatile("nop");
  return irq_seen >= want;
}

static void reset_irqs(void) {
  csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE);
  csr_write(mie, 0);
  csr_write(mip, 0);
  csr_write(mideleg, 0);
  mmio_w64(CLINT_MTIMECMP, -1UL);
  mmio_w32(CLINT_MSIP, 0);
  irq_seen = 0;
  trap_reset(0);
}

static void check_irq(const char *name, int index, uint64_t code, int handler, int from) {
  int ok = trap_count > index && trap_log[index].cause == (CAUSE_INTERRUPT | code) &&
           trap_log[index].handler == handler && trap_log[index].from == from;
  if (ok) {
    check(name, 1);
  } else {
    char buf[160];
    (void)buf;
    check(name, 0);
    printf("  want interrupt %lu to %d from %d; %d traps", code, handler, from, trap_count);
    if (trap_count > index)
      printf(", #%d cause 0x%lx to %d from %d", index, trap_log[index].cause, trap_log[index].handler,
             trap_log[index].from);
    printf("\n");
  }
}

static void machine_timer(void) {
  reset_irqs();
  mmio_w64(CLINT_MTIMECMP, 0);
  check_eq("mip.MTIP set when mtime >= mtimecmp", csr_read(mip) & MIP_MTIP, MIP_MTIP);
  mmio_w64(CLINT_MTIMECMP, -1UL);
  check_eq("mip.MTIP clear when mtimecmp is in the future", csr_read(mip) & MIP_MTIP, 0);

  /* WFI returns on a pending enabled interrupt even with MIE = 0. */
  csr_write(mie, MIP_MTIP);
  mmio_w64(CLINT_MTIMECMP, mmio_r64(CLINT_MTIME) + 1000);
  for (long i = 0; i < 1000000 && !(csr_read(mip) & MIP_MTIP); i++) __asm__ volatile("wfi");
  check("wfi wakes on MTIP with MIE = 0", (csr_read(mip) & MIP_MTIP) != 0);
  check_eq("no trap while MIE = 0", trap_count, 0);
  csr_set(mstatus, MSTATUS_MIE);
  wait_irq(1);
  csr_clear(mstatus, MSTATUS_MIE);
  check_irq("MTI taken once MIE = 1", 0, IRQ_M_TIMER, PRV_M, PRV_M);
  check_eq("handler quieted MTIP", csr_read(mip) & MIP_MTIP, 0);

  /* Timer interrupt while waiting in wfi with MIE = 1. */
  reset_irqs();
  irq_hook = quiet;
  csr_write(mie, MIP_MTIP);
  csr_set(mstatus, MSTATUS_MIE);
  mmio_w64(CLINT_MTIMECMP, mmio_r64(CLINT_MTIME) + 1000);
  for (long i = 0; i < 1000000 && !irq_seen; i++) __asm__ volatile("wfi");
  csr_clear(mstatus, MSTATUS_MIE);
  check_irq("MTI wakes wfi and is taken", 0, IRQ_M_TIMER, PRV_M, PRV_M);
  check_eq("exactly one timer interrupt", trap_count, 1);
}

static void machine_soft(void) {
  reset_irqs();
  mmio_w32(CLINT_MSIP, 1);
  check_eq("msip = 1 sets mip.MSIP", csr_read(mip) & MIP_MSIP, MIP_MSIP);
  check_eq("msip reads back 1", mmio_r32(CLINT_MSIP) & 1, 1);
  csr_write(mie, MIP_MSIP);
  csr_set(mstatus, MSTATUS_MIE);
  wait_irq(1);
  csr_clear(mstatus, MSTATUS_MIE);
  check_irq("MSI taken", 0, IRQ_M_SOFT, PRV_M, PRV_M);
  check_eq("msip = 0 clears mip.MSIP", csr_read(mip) & MIP_MSIP, 0);

  /* Priority: MSI before MTI before SSI (not delegated: both in M). */
  reset_irqs();
  mmio_w32(CLINT_MSIP, 1);
  mmio_w64(CLINT_MTIMECMP, 0);
  csr_set(mip, MIP_SSIP);
  csr_write(mie, MIP_MSIP | MIP_MTIP | MIP_SSIP);
  csr_set(mstatus, MSTATUS_MIE);
  wait_irq(3);
  csr_clear(mstatus, MSTATUS_MIE);
  check_irq("priority: MSI first", 0, IRQ_M_SOFT, PRV_M, PRV_M);
  check_irq("priority: MTI second", 1, IRQ_M_TIMER, PRV_M, PRV_M);
  check_irq("priority: SSI (not delegated) third, in M", 2, IRQ_S_SOFT, PRV_M, PRV_M);
}

/* Vectored mtvec: interrupt code N enters at base + 4 * N (priv spec 3.1.7). */
extern char vec_table[];
volatile uint64_t vec_hits;
__asm__(
    ".text\n"
    ".balign 256\n"
    ".globl vec_table\n"
    "vec_table:\n"
    ".option push\n.option norvc\n"
    "  j m_trap_entry\n" /* 0: exceptions */
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j vec_mti\n" /* 7 */
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    "  j m_trap_entry\n"
    ".option pop\n"
    "vec_mti:\n"
    "  csrrw sp, mscratch, sp\n"
    "  addi sp, sp, -16\n"
    "  sd t0, 0(sp)\n"
    "  sd t1, 8(sp)\n"
    "  li t0, 0x2004000\n"
    "  li t1, -1\n"
    "  sd t1, 0(t0)\n"
    "  la t0, vec_hits\n"
    "  ld t1, 0(t0)\n"
    "  addi t1, t1, 1\n"
    "  sd t1, 0(t0)\n"
    "  ld t0, 0(sp)\n"
    "  ld t1, 8(sp)\n"
    "  addi sp, sp, 16\n"
    "  csrrw sp, mscratch, sp\n"
    "  mret\n");

static void vectored(void) {
  reset_irqs();
  uint64_t old = csr_read(mtvec);
  csr_write(mtvec, (uint64_t)vec_table | 1);
  mmio_w64(CLINT_MTIMECMP, 0);
  csr_write(mie, MIP_MTIP);
  csr_set(mstatus, MSTATUS_MIE);
  for (long i = 0; i < 1000000 && !vec_hits; i++) __asm__ volatile("nop");
  csr_clear(mstatus, MSTATUS_MIE);
  check_eq("vectored mtvec: MTI entered at base + 28", vec_hits, 1);
  check_eq("vectored mtvec: common handler not used", trap_count, 0);
  trap_reset(1);
  __asm__ volatile("li a7, 0\necall" ::: "a7");
  check_trap("vectored mtvec: exception enters at base", CAUSE_MACHINE_ECALL, 0, PRV_M, PRV_M);
  csr_write(mtvec, old);
}

/* Vectored stvec: SSI (code 1) enters at base + 4. */
extern char s_vec_table[];
volatile uint64_t s_vec_hits;
__asm__(
    ".text\n"
    ".balign 256\n"
    ".globl s_vec_table\n"
    "s_vec_table:\n"
    ".option push\n.option norvc\n"
    "  j s_trap_entry\n" /* 0: exceptions */
    "  j s_vec_ssi\n"    /* 1 */
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    "  j s_trap_entry\n"
    ".option pop\n"
    "s_vec_ssi:\n"
    "  csrrw sp, sscratch, sp\n"
    "  addi sp, sp, -16\n"
    "  sd t0, 0(sp)\n"
    "  sd t1, 8(sp)\n"
    "  li t0, 2\n"
    "  csrc sip, t0\n"
    "  la t0, s_vec_hits\n"
    "  ld t1, 0(t0)\n"
    "  addi t1, t1, 1\n"
    "  sd t1, 0(t0)\n"
    "  ld t0, 0(sp)\n"
    "  ld t1, 8(sp)\n"
    "  addi sp, sp, 16\n"
    "  csrrw sp, sscratch, sp\n"
    "  sret\n");

static uint64_t s_vectored_ssi(uint64_t a) {
  uint64_t old = csr_read(stvec);
  csr_write(stvec, (uint64_t)s_vec_table | 1);
  csr_set(sie, MIP_SSIP);
  csr_set(sstatus, MSTATUS_SIE);
  csr_set(sip, MIP_SSIP);
  for (long i = 0; i < 1000000 && !s_vec_hits; i++) __asm__ volatile("nop");
  csr_clear(sstatus, MSTATUS_SIE);
  csr_write(stvec, old);
  return s_vec_hits;
}

static uint64_t s_wait(uint64_t want) { return wait_irq((int)want); }

/* In S with SIE = 0 a pending, enabled, delegated interrupt waits; SIE = 1 takes it. */
static volatile int seen_before_sie;
static uint64_t s_sie_gate(uint64_t a) {
  csr_clear(sstatus, MSTATUS_SIE);
  csr_set(sie, MIP_SSIP);
  csr_set(sip, MIP_SSIP);
  for (volatile int i = 0; i < 1000; i++) {
  }
  seen_before_sie = irq_seen;
  csr_set(sstatus, MSTATUS_SIE);
  int ok = wait_irq(1);
  csr_clear(sstatus, MSTATUS_SIE);
  return ok;
}
static uint64_t s_enable_and_wait(uint64_t bits) {
  csr_set(sie, bits);
  csr_set(sstatus, MSTATUS_SIE);
  int ok = wait_irq(1);
  csr_clear(sstatus, MSTATUS_SIE);
  return ok;
}
static uint64_t s_raise_ssip(uint64_t a) {
  csr_set(sie, MIP_SSIP);
  csr_set(sstatus, MSTATUS_SIE);
  csr_set(sip, MIP_SSIP);
  int ok = wait_irq(1);
  csr_clear(sstatus, MSTATUS_SIE);
  return ok;
}
static uint64_t s_raise_msip(uint64_t a) {
  mmio_w32(CLINT_MSIP, 1);
  return wait_irq(1);
}

static void supervisor(void) {
  rt_enable_s_traps();
  /* STIP set by M, delegated: taken in S when SIE = 1. */
  reset_irqs();
  irq_hook = quiet;
  csr_write(mideleg, MIP_STIP | MIP_SSIP);
  csr_set(mip, MIP_STIP);
  check_eq("S timer (delegated) taken in S", run_in_mode(PRV_S, s_enable_and_wait, MIP_STIP), 1);
  check_irq("S timer: scause = interrupt 5, handler S", 0, IRQ_S_TIMER, PRV_S, PRV_S);
  csr_clear(mip, MIP_STIP);

  /* SSIP raised by S itself through sip. */
  reset_irqs();
  csr_write(mideleg, MIP_SSIP);
  check_eq("S software interrupt via sip", run_in_mode(PRV_S, s_raise_ssip, 0), 1);
  check_irq("S software: interrupt 1, handler S", 0, IRQ_S_SOFT, PRV_S, PRV_S);

  /* SIE gates S-level interrupts while in S. */
  reset_irqs();
  csr_write(mideleg, MIP_SSIP);
  check_eq("S with SIE = 0: delegated SSI waits, SIE = 1 takes it", run_in_mode(PRV_S, s_sie_gate, 0), 1);
  check_eq("... not taken before SIE = 1", seen_before_sie, 0);
  check_irq("... then taken in S", 0, IRQ_S_SOFT, PRV_S, PRV_S);

  /* Vectored stvec. */
  reset_irqs();
  csr_write(mideleg, MIP_SSIP);
  check_eq("vectored stvec: SSI entered at base + 4", run_in_mode(PRV_S, s_vectored_ssi, 0), 1);
  check_eq("vectored stvec: common S handler not used", trap_count, 0);

  /* A delegated S interrupt is not taken while in M, even with SIE = 1. */
  reset_irqs();
  csr_write(mideleg, MIP_SSIP);
  csr_write(mie, MIP_SSIP);
  csr_set(mstatus, MSTATUS_SIE | MSTATUS_MIE);
  csr_set(mip, MIP_SSIP);
  for (volatile int i = 0; i < 1000; i++) {
  }
  check_eq("delegated SSI not taken in M", trap_count, 0);
  csr_clear(mstatus, MSTATUS_MIE);
  check_eq("... taken on entering S", run_in_mode(PRV_S, s_wait, 1), 1);
  check_irq("... with handler S", 0, IRQ_S_SOFT, PRV_S, PRV_S);

  /* In U, delegated S interrupts are enabled regardless of SIE. */
  reset_irqs();
  csr_write(mideleg, MIP_SSIP);
  csr_write(mie, MIP_SSIP);
  csr_set(mip, MIP_SSIP);
  check_eq("delegated SSI taken in U with SIE = 0", run_in_mode(PRV_U, s_wait, 1), 1);
  check_irq("... to S from U", 0, IRQ_S_SOFT, PRV_S, PRV_U);

  /* M interrupts are enabled in S regardless of MIE. */
  reset_irqs();
  csr_write(mie, MIP_MSIP);
  check_eq("MSI raised from S, taken with MIE = 0", run_in_mode(PRV_S, s_raise_msip, 0), 1);
  check_irq("... to M from S", 0, IRQ_M_SOFT, PRV_M, PRV_S);

  /* Timer interrupt in U goes to M. */
  reset_irqs();
  csr_write(mie, MIP_MTIP);
  mmio_w64(CLINT_MTIMECMP, 0);
  check_eq("MTI in U with MIE = 0", run_in_mode(PRV_U, s_wait, 1), 1);
  check_irq("... to M from U", 0, IRQ_M_TIMER, PRV_M, PRV_U);

  /* An S interrupt not delegated is an M-level trap even from S. */
  reset_irqs();
  csr_write(mie, MIP_SSIP);
  csr_set(mip, MIP_SSIP);
  check_eq("SSI not delegated, in S, MIE = 0", run_in_mode(PRV_S, s_wait, 1), 1);
  check_irq("... to M from S", 0, IRQ_S_SOFT, PRV_M, PRV_S);
  reset_irqs();
}

int main(void) {
  irq_hook = quiet;
  machine_timer();
  irq_hook = quiet;
  machine_soft();
  vectored();
  irq_hook = quiet;
  supervisor();
  return finish();
}

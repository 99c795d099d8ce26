/*
 * Sstc (privileged spec ch. "Sstc"): menvcfg.STCE, the stimecmp CSR and who may reach it
 * (M always; S with STCE and mcounteren.TM; U never), STIP as time >= stimecmp while STCE is
 * set (read-only in mip), and S-mode timer interrupts programmed through stimecmp alone: taken
 * in S when delegated, in M when not, and waking WFI. Every wait is on the `time` CSR.
 *
 * Not checked: STIP with STCE clear after a stimecmp write. The spec makes STIP the plain
 * writable bit then; QEMU 7.2 still drives it from stimecmp (pvm follows the spec).
 */
#include "rt.h"

#define MENVCFG_STCE (1UL << 63)
#define COUNTEREN_TM (1UL << 1)
#define TICKS 10000 /* 1 ms at 10 MHz */

static volatile int irq_seen;

/* Quiet the S timer the Sstc way: stimecmp far in the future. */
static void quiet(uint64_t code, int handler) {
  if (code == IRQ_S_TIMER) {
    csr_write(stimecmp, -1UL);
  } else {
    printf("unexpected interrupt %lu\n", code);
    rt_exit(102);
  }
  irq_seen++;
}

static uint64_t now(void) { return csr_read(time); }

/* Waits up to 100 ms of `time` for `want` interrupts; 1 if they came. */
static int wait_irq(int want) {
  uint64_t end = now() + 100 * TICKS;
  while (irq_seen < want && now() < end) __asm__ volatile("wfi");
  return irq_seen >= want;
}

static void reset(void) {
  csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE);
  csr_write(mie, 0);
  csr_write(mideleg, 0);
  csr_write(stimecmp, -1UL);
  irq_seen = 0;
  irq_hook = quiet;
  trap_reset(0);
}

static uint64_t s_read(uint64_t a) {
  uint64_t v = 0;
  TRY_ASM("csrr %0, stimecmp", : "=r"(v)::"t5", "t6");
  return v;
}

/* Accesses from S and U: illegal unless STCE and TM are both set (S only). */
static void access(void) {
  reset();
  csr_write(menvcfg, MENVCFG_STCE);
  check_eq("menvcfg.STCE is writable", csr_read(menvcfg) & MENVCFG_STCE, MENVCFG_STCE);
  csr_write(stimecmp, 0x123456789UL);
  check_eq("stimecmp holds 64 bits", csr_read(stimecmp), 0x123456789UL);
  csr_write(stimecmp, -1UL);

  csr_write(mcounteren, COUNTEREN_TM);
  trap_reset(0);
  check_eq("S reads stimecmp with STCE and TM", run_in_mode(PRV_S, s_read, 0), -1UL);
  check_eq("... without a trap", trap_count, 0);
  csr_write(mcounteren, 0);
  trap_reset(1);
  run_in_mode(PRV_S, s_read, 0);
  check_trap_notval("S without mcounteren.TM: illegal", CAUSE_ILLEGAL_INSTRUCTION, PRV_M, PRV_S);
  csr_write(mcounteren, COUNTEREN_TM);
  csr_write(menvcfg, 0);
  trap_reset(1);
  run_in_mode(PRV_S, s_read, 0);
  check_trap_notval("S without menvcfg.STCE: illegal", CAUSE_ILLEGAL_INSTRUCTION, PRV_M, PRV_S);
  csr_write(menvcfg, MENVCFG_STCE);
  trap_reset(1);
  run_in_mode(PRV_U, s_read, 0);
  check_trap_notval("U: illegal", CAUSE_ILLEGAL_INSTRUCTION, PRV_M, PRV_U);
}

/* STIP follows the comparison while STCE is set. */
static void comparison(void) {
  reset();
  csr_write(menvcfg, MENVCFG_STCE);
  csr_write(stimecmp, now() + 100 * TICKS);
  check_eq("stimecmp in the future: STIP clear", csr_read(mip) & MIP_STIP, 0);
  csr_write(stimecmp, 0);
  check_eq("stimecmp in the past: STIP set", csr_read(mip) & MIP_STIP, MIP_STIP);
  csr_clear(mip, MIP_STIP);
  check_eq("mip.STIP is read-only with STCE", csr_read(mip) & MIP_STIP, MIP_STIP);
  csr_write(stimecmp, 1UL << 63);
  check_eq("the comparison is unsigned (2^63 is the future)", csr_read(mip) & MIP_STIP, 0);
  csr_set(mip, MIP_STIP);
  check_eq("... and M cannot set STIP either", csr_read(mip) & MIP_STIP, 0);
  uint64_t at = now() + TICKS;
  csr_write(stimecmp, at);
  while (!(csr_read(mip) & MIP_STIP) && now() < at + 100 * TICKS) {
  }
  check("STIP rises once time reaches stimecmp", (csr_read(mip) & MIP_STIP) != 0 && now() >= at);
  csr_write(stimecmp, -1UL);
  check_eq("writing stimecmp ahead clears STIP", csr_read(mip) & MIP_STIP, 0);
}

static uint64_t s_timer(uint64_t delay) {
  csr_write(stimecmp, now() + delay);
  csr_set(sie, MIP_STIP);
  csr_set(sstatus, MSTATUS_SIE);
  int ok = wait_irq(1);
  csr_clear(sstatus, MSTATUS_SIE);
  return ok;
}

static void interrupts(void) {
  rt_enable_s_traps();
  /* delegated: S programs its own timer and takes it */
  reset();
  csr_write(menvcfg, MENVCFG_STCE);
  csr_write(mcounteren, COUNTEREN_TM);
  csr_write(mideleg, MIP_STIP);
  check_eq("S arms stimecmp, waits in wfi, takes the interrupt", run_in_mode(PRV_S, s_timer, TICKS), 1);
  check_eq("... once", trap_count, 1);
  check("... in S, scause = interrupt 5",
        trap_count == 1 && trap_log[0].cause == (CAUSE_INTERRUPT | IRQ_S_TIMER) && trap_log[0].handler == PRV_S &&
            trap_log[0].from == PRV_S);
  check_eq("the handler's stimecmp write cleared STIP", csr_read(mip) & MIP_STIP, 0);

  /* not delegated: taken in M, even from S with MIE = 0 */
  reset();
  csr_write(menvcfg, MENVCFG_STCE);
  csr_write(mie, MIP_STIP);
  check_eq("not delegated: taken in M from S", run_in_mode(PRV_S, s_timer, TICKS), 1);
  check("... mcause = interrupt 5, handler M",
        trap_count == 1 && trap_log[0].cause == (CAUSE_INTERRUPT | IRQ_S_TIMER) && trap_log[0].handler == PRV_M &&
            trap_log[0].from == PRV_S);

  /* M-mode WFI with MIE = 0 wakes when stimecmp comes due */
  reset();
  csr_write(menvcfg, MENVCFG_STCE);
  csr_write(mie, MIP_STIP);
  uint64_t at = now() + TICKS;
  csr_write(stimecmp, at);
  while (!(csr_read(mip) & MIP_STIP) && now() < at + 100 * TICKS) __asm__ volatile("wfi");
  check("wfi with MIE = 0 wakes on STIP from stimecmp", (csr_read(mip) & MIP_STIP) != 0);
  check_eq("no trap while MIE = 0", trap_count, 0);
  csr_set(mstatus, MSTATUS_MIE);
  wait_irq(1);
  csr_clear(mstatus, MSTATUS_MIE);
  check_eq("taken in M once MIE = 1", irq_seen, 1);
  reset();
}

int main(void) {
  access();
  comparison();
  interrupts();
  csr_write(menvcfg, 0);
  return finish();
}

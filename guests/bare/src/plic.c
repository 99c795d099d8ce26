/*
 * PLIC + UART interrupts: the ns16550a THR-empty interrupt (IER.ETBEI) is
 * UART0's source 10 on the PLIC; checks priority/threshold gating, claim and
 * complete, the M-mode context (hart 0: 0) and the S-mode context (1) with
 * SEIP delegated through mideleg. PLIC layout: sifive,plic-1.0.0.
 */
#include "rt.h"

#define UART_IER (UART0_BASE + 1)
#define UART_IIR (UART0_BASE + 2)
#define IER_ETBEI 0x02

static volatile uint32_t claimed, claims;

static void uart_irq(uint64_t code, int handler) {
  int ctx = handler == PRV_M ? 0 : 1;
  uint32_t id = mmio_r32(PLIC_CLAIM(ctx));
  claimed = id;
  claims++;
  if (id == UART_IRQ) {
    mmio_w8(UART_IER, 0);  /* quiet the source */
    (void)mmio_r8(UART_IIR);
  }
  mmio_w32(PLIC_CLAIM(ctx), id); /* complete */
}

static void reset(void) {
  csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE);
  csr_write(mie, 0);
  csr_write(mideleg, 0);
  mmio_w8(UART_IER, 0);
  (void)mmio_r8(UART_IIR);
  mmio_w32(PLIC_ENABLE(0), 0);
  mmio_w32(PLIC_ENABLE(1), 0);
  mmio_w32(PLIC_THRESHOLD(0), 0);
  mmio_w32(PLIC_THRESHOLD(1), 0);
  claimed = 0;
  claims = 0;
  trap_reset(0);
}

static int wait_claim(void) {
  for (long i = 0; i < 10000000 && !claims; i++) __asm__ volatile("nop");
  return claims;
}

static uint64_t s_wait_claim(uint64_t a) {
  csr_set(sie, MIP_SEIP);
  csr_set(sstatus, MSTATUS_SIE);
  int n = wait_claim();
  csr_clear(sstatus, MSTATUS_SIE);
  return n;
}

int main(void) {
  irq_hook = uart_irq;
  rt_enable_s_traps();
  reset();

  mmio_w32(PLIC_PRIO(UART_IRQ), 1);
  check_eq("priority register holds 1", mmio_r32(PLIC_PRIO(UART_IRQ)), 1);
  check_eq("claim with nothing enabled returns 0", mmio_r32(PLIC_CLAIM(0)), 0);

  /* Source pending, not enabled: no MEIP. */
  mmio_w8(UART_IER, IER_ETBEI);
  for (volatile int i = 0; i < 1000; i++) {
  }
  check_eq("UART THRE interrupt pending in the PLIC", (mmio_r32(PLIC_PENDING) >> UART_IRQ) & 1, 1);
  check_eq("not enabled for context 0: MEIP clear", csr_read(mip) & MIP_MEIP, 0);
  /* Enabled, but priority not above threshold. */
  mmio_w32(PLIC_THRESHOLD(0), 1);
  mmio_w32(PLIC_ENABLE(0), 1u << UART_IRQ);
  check_eq("priority <= threshold: MEIP clear", csr_read(mip) & MIP_MEIP, 0);
  mmio_w32(PLIC_THRESHOLD(0), 0);
  check_eq("threshold 0: MEIP set", csr_read(mip) & MIP_MEIP, MIP_MEIP);
  check_eq("MEIP not on the S context", csr_read(mip) & MIP_SEIP, 0);

  /* Taken in M: claim returns the source, complete re-arms it. */
  csr_write(mie, MIP_MEIP);
  csr_set(mstatus, MSTATUS_MIE);
  wait_claim();
  csr_clear(mstatus, MSTATUS_MIE);
  check("machine external interrupt taken", trap_count == 1 && trap_log[0].cause == (CAUSE_INTERRUPT | IRQ_M_EXT) &&
                                                trap_log[0].handler == PRV_M);
  check_eq("claim returned UART0's source 10", claimed, UART_IRQ);
  check_eq("MEIP clear after claim/complete with the source quiet", csr_read(mip) & MIP_MEIP, 0);

  /* S context (1), delegated: taken in S. */
  reset();
  mmio_w32(PLIC_ENABLE(1), 1u << UART_IRQ);
  csr_write(mideleg, MIP_SEIP);
  mmio_w8(UART_IER, IER_ETBEI);
  for (volatile int i = 0; i < 1000; i++) {
  }
  check_eq("S context enabled: SEIP set", csr_read(mip) & MIP_SEIP, MIP_SEIP);
  check_eq("S context enabled: MEIP clear", csr_read(mip) & MIP_MEIP, 0);
  check_eq("supervisor external interrupt claimed in S", run_in_mode(PRV_S, s_wait_claim, 0), 1);
  check("trap was interrupt 9 in the S handler",
        trap_count == 1 && trap_log[0].cause == (CAUSE_INTERRUPT | IRQ_S_EXT) && trap_log[0].handler == PRV_S);
  check_eq("S claim returned source 10", claimed, UART_IRQ);
  check_eq("SEIP clear after completion", csr_read(mip) & MIP_SEIP, 0);

  reset();
  mmio_w32(PLIC_PRIO(UART_IRQ), 0);
  return finish();
}

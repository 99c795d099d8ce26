/*
 * A UART interrupt handler that never reads IIR, as guests written on QEMU
 * have (xv6's uartintr): it claims, sends the next byte or nothing, and
 * completes. The THR-empty interrupt stays asserted in the 16550 (only an
 * IIR read or a THR write clears it), so on a PLIC whose gateway re-pends a
 * high line at completion (the PLIC specification's) this storms and the
 * program never gets past the first check; on QEMU 7.2's virt, and on pvm's
 * board, a source is pending only when the device drives its line again
 * (docs/compatibility.md). One hart, M-mode, PLIC context 0.
 */
#include "rt.h"

#define UART_THR (UART0_BASE + 0)
#define UART_IER (UART0_BASE + 1)
#define IER_ETBEI 0x02

static volatile uint32_t interrupts, other_sources;
static const char *volatile tx;

/* The whole handler: no IIR read, the source is left asserted when there is nothing to send. */
static void uart_irq(uint64_t code, int handler) {
  uint32_t id = mmio_r32(PLIC_CLAIM(0));
  if (id == UART_IRQ) {
    interrupts++;
    if (tx && *tx) mmio_w8(UART_THR, (uint8_t)*tx++);
  } else {
    other_sources++;
  }
  mmio_w32(PLIC_CLAIM(0), id);
}

/* Interrupts on for a while (long enough for a storm to show), then off again. */
static void run_with_interrupts(void) {
  csr_set(mstatus, MSTATUS_MIE);
  for (volatile long i = 0; i < 200000; i++) {
  }
  csr_clear(mstatus, MSTATUS_MIE);
}

int main(void) {
  irq_hook = uart_irq;
  trap_reset(0);
  mmio_w32(PLIC_PRIO(UART_IRQ), 1);
  mmio_w32(PLIC_THRESHOLD(0), 0);
  mmio_w32(PLIC_ENABLE(0), 1u << UART_IRQ);
  csr_write(mie, MIP_MEIP);

  /* THR empty and its interrupt enabled: one request, taken once, never asked again. */
  mmio_w8(UART_IER, IER_ETBEI);
  check_eq("the THR-empty interrupt is pending", (mmio_r32(PLIC_PENDING) >> UART_IRQ) & 1, 1);
  run_with_interrupts();
  uint32_t pending = (mmio_r32(PLIC_PENDING) >> UART_IRQ) & 1; /* before printing writes THR */
  check_eq("a line left high interrupts once", interrupts, 1);
  check_eq("then nothing is pending while the line stays high", pending, 0);

  /* Each THR write drives the line again: one interrupt per byte, plus one with nothing left.
     Printing the line above wrote THR, so one request is pending already. */
  static const char line[] = "sent by the interrupt handler\n";
  interrupts = 0;
  tx = line;
  run_with_interrupts();
  tx = 0;
  check_eq("one interrupt per byte sent, and one more", interrupts, sizeof line);
  check_eq("no other source", other_sources, 0);

  mmio_w8(UART_IER, 0);
  csr_write(mie, 0);
  return finish();
}

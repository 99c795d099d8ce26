/*
 * Native back ends, for real firmware (OpenSBI) and real devices: ns16550a UART
 * registers, PLIC, SBI TIME/IPI/RFENCE through the firmware, sstatus.SIE, WFI.
 */
#include "kernel.h"

#define UART0 0x10000000UL
#define UART_IRQ 10
#define UART_RBR 0
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LSR 5
#define LSR_DR 0x01
#define LSR_THRE 0x20

#define PLIC 0x0c000000UL
#define PLIC_PRIORITY(irq) (PLIC + 4 * (irq))
#define PLIC_ENABLE(ctx) (PLIC + 0x2000 + 0x80 * (ctx))
#define PLIC_THRESHOLD(ctx) (PLIC + 0x200000 + 0x1000 * (ctx))
#define PLIC_CLAIM(ctx) (PLIC + 0x200004 + 0x1000 * (ctx))

static inline uint8_t mmio_r8(unsigned long a) { return *(volatile uint8_t *)a; }
static inline void mmio_w8(unsigned long a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline uint32_t mmio_r32(unsigned long a) { return *(volatile uint32_t *)a; }
static inline void mmio_w32(unsigned long a, uint32_t v) { *(volatile uint32_t *)a = v; }

static unsigned plic_ctx(void) { return 2 * (unsigned)boot.hartid + 1; } /* S-mode context of our hart */

static void uart_putc(char c) {
  while (!(mmio_r8(UART0 + UART_LSR) & LSR_THRE)) {
  }
  mmio_w8(UART0 + UART_THR, (uint8_t)c);
}

static void native_console_write(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n') uart_putc('\r');
    uart_putc(s[i]);
  }
}

static void native_timer_set(uint64_t deadline) { sbi_call(SBI_EXT_TIME, 0, deadline, 0, 0, 0, 0, 0); }

static unsigned long native_irq_save(void) {
  unsigned long old;
  __asm__ volatile("csrrci %0, sstatus, %1" : "=r"(old) : "i"(SSTATUS_SIE) : "memory");
  return old & SSTATUS_SIE;
}

static void native_irq_restore(unsigned long was) {
  if (was) csr_set(sstatus, SSTATUS_SIE);
}

static void native_irq_enable(void) { csr_set(sstatus, SSTATUS_SIE); }

static void native_idle(void) { __asm__ volatile("wfi" ::: "memory"); }

static void native_send_ipi(unsigned long mask) { sbi_call(SBI_EXT_IPI, 0, mask, 0, 0, 0, 0, 0); }

static void native_tlb_flush(unsigned long mask, const struct tlb_range *r, int n) {
  for (int i = 0; i < n; i++) sbi_call(SBI_EXT_RFENCE, 1, mask, 0, r[i].start, r[i].size, 0, 0);
}

static void native_interrupt(unsigned long cause) {
  switch (cause) {
    case IRQ_S_TIMER:
      timer_interrupt();
      break;
    case IRQ_S_EXT: {
      uint32_t irq;
      while ((irq = mmio_r32(PLIC_CLAIM(plic_ctx()))) != 0) {
        if (irq == UART_IRQ)
          while (mmio_r8(UART0 + UART_LSR) & LSR_DR) console_input((char)mmio_r8(UART0 + UART_RBR));
        mmio_w32(PLIC_CLAIM(plic_ctx()), irq);
      }
      break;
    }
    case IRQ_S_SOFT:
      csr_clear(sip, SIE_SSIE);
      ipis_received++;
      break;
  }
}

static int native_soft_unmasked(void) { return 1; }

const struct pv_ops native_ops = {
    .name = "native",
    .console_name = "uart16550",
    .timer_name = "sbi-time",
    .irq_name = "sstatus.SIE",
    .idle_name = "wfi",
    .ipi_name = "sbi-ipi",
    .tlb_name = "sbi-rfence",
    .console_write = native_console_write,
    .timer_set = native_timer_set,
    .irq_save = native_irq_save,
    .irq_restore = native_irq_restore,
    .irq_enable = native_irq_enable,
    .idle = native_idle,
    .send_ipi = native_send_ipi,
    .tlb_flush = native_tlb_flush,
    .blk_rw = virtio_blk_rw,
    .interrupt = native_interrupt,
    .soft_unmasked = native_soft_unmasked,
};

void native_init(void) {
  mmio_w8(UART0 + UART_FCR, 0x01); /* FIFO on, keep what was typed early */
  mmio_w8(UART0 + UART_IER, 0x01); /* receive interrupt */
  mmio_w32(PLIC_PRIORITY(UART_IRQ), 1);
  unsigned ctx = plic_ctx();
  mmio_w32(PLIC_ENABLE(ctx) + 4 * (UART_IRQ / 32), 1u << (UART_IRQ % 32));
  mmio_w32(PLIC_THRESHOLD(ctx), 0);
  csr_set(sie, SIE_SEIE | SIE_STIE | SIE_SSIE);
}

/*
 * Secondary harts: started with SBI HSM, they switch to the kernel page table
 * and wait for interrupts, so remote fences and IPIs have real targets. They
 * run no tasks (the scheduler is single-hart) and take no traps: the software
 * interrupt is enabled in sie only to wake WFI, with sstatus.SIE off.
 */
#include "kernel.h"

static uint8_t stacks[MAX_HARTS][4096] __attribute__((aligned(16)));
static volatile unsigned long wakeups[MAX_HARTS];
void secondary_entry(void); /* start.S: sp = a1, then secondary_main(a0) */

void secondary_main(unsigned long hartid) {
  satp_switch(kernel_pt);
  csr_write(sie, SIE_SSIE);
  __atomic_fetch_or(&boot.online_mask, 1UL << hartid, __ATOMIC_SEQ_CST);
  for (;;) {
    __asm__ volatile("wfi");
    if (csr_read(sip) & SIE_SSIE) {
      csr_clear(sip, SIE_SSIE);
      wakeups[hartid % MAX_HARTS]++;
    }
  }
}

unsigned harts_online(void) {
  unsigned n = 0;
  for (unsigned long m = boot.online_mask; m; m &= m - 1) n++;
  return n;
}

void smp_start_secondaries(void) {
  boot.online_mask = 1UL << boot.hartid;
  for (unsigned i = 0; i < boot.nharts; i++) {
    unsigned long h = boot.harts[i];
    if (h == boot.hartid || h >= MAX_HARTS) continue;
    struct sbiret r = sbi_call(SBI_EXT_HSM, 0, h, (unsigned long)secondary_entry,
                               (unsigned long)(stacks[h] + sizeof stacks[h]), 0, 0, 0);
    if (r.error) continue;
    for (int spin = 0; spin < 10000000 && !(boot.online_mask & (1UL << h)); spin++) mb();
  }
}

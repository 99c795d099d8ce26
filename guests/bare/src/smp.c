/*
 * Two harts (run with --smp 2 / -smp 2): atomics and LR/SC from both harts on
 * shared words, per-hart msip (IPIs both ways) and per-hart mtimecmp.
 * Only hart 0 prints.
 */
#include "rt.h"

#define ITER 20000

static volatile uint32_t go, done, counter, counter2, ack, ipi_seen1, mtip_seen1;
static volatile uint64_t hart1_id = 99;

static void work(void) {
  for (int i = 0; i < ITER; i++) {
    __asm__ volatile("amoadd.w zero, %1, (%0)" ::"r"(&counter), "r"(1) : "memory");
    uint32_t v, fail;
    do {
      __asm__ volatile("lr.w %0, (%2)\naddi %0, %0, 1\nsc.w %1, %0, (%2)"
                       : "=&r"(v), "=&r"(fail)
                       : "r"(&counter2)
                       : "memory");
    } while (fail);
  }
}

void secondary_main(uint64_t id) {
  if (id != 1)
    for (;;) __asm__ volatile("wfi");
  hart1_id = csr_read(mhartid);
  while (!go) {
  }
  work();
  __asm__ volatile("amoadd.w zero, %1, (%0)" ::"r"(&done), "r"(1) : "memory");
  /* Wait in WFI (MIE = 0, MSIE = 1) for hart 0's IPI. */
  csr_write(mie, MIP_MSIP);
  for (long i = 0; i < 10000000 && !(csr_read(mip) & MIP_MSIP); i++) __asm__ volatile("wfi");
  if (csr_read(mip) & MIP_MSIP) {
    ipi_seen1 = 1;
    mmio_w32(CLINT_MSIP + 4, 0);
  }
  /* This hart's own timer comparator. */
  mmio_w64(CLINT_MTIMECMP + 8, 0);
  mtip_seen1 = (csr_read(mip) & MIP_MTIP) != 0;
  mmio_w64(CLINT_MTIMECMP + 8, -1UL);
  /* IPI back to hart 0, then report. */
  mmio_w32(CLINT_MSIP, 1);
  __asm__ volatile("fence" ::: "memory");
  ack = 1;
  for (;;) __asm__ volatile("wfi");
}

int main(void) {
  mmio_w64(CLINT_MTIMECMP, -1UL);
  printf("smp: hart 0 and hart 1\n");
  go = 1;
  work();
  for (long i = 0; i < 50000000 && done != 1; i++) {
  }
  check_eq("hart 1 reads mhartid 1", hart1_id, 1);
  check("hart 1 finished its share", done == 1);
  check_eq("amoadd.w from both harts", counter, 2 * ITER);
  check_eq("lr.w/sc.w increments from both harts", counter2, 2 * ITER);
  check_eq("hart 0 mip.MSIP clear before the IPI", csr_read(mip) & MIP_MSIP, 0);
  mmio_w32(CLINT_MSIP + 4, 1);
  for (long i = 0; i < 50000000 && !ack; i++) {
  }
  check("msip[1] wakes hart 1 from WFI", ipi_seen1);
  check("mtimecmp[1] raises MTIP on hart 1", mtip_seen1);
  check_eq("mtimecmp[1] leaves hart 0 MTIP clear", csr_read(mip) & MIP_MTIP, 0);
  check_eq("msip[0] written by hart 1 sets hart 0 MSIP", csr_read(mip) & MIP_MSIP, MIP_MSIP);
  mmio_w32(CLINT_MSIP, 0);
  check_eq("msip[0] = 0 clears it", csr_read(mip) & MIP_MSIP, 0);
  return finish();
}

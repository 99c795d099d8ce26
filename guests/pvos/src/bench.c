/*
 * Micro-benchmarks of the pv-ops back ends, for bench/pv-vs-native: the same
 * binary measures native and PVX back ends; exits are counted by the host.
 */
#include "kernel.h"

volatile int bench_timer_mode;
volatile unsigned long bench_wakeups;
volatile unsigned long ipis_received;

static void result(const char *name, unsigned long n, uint64_t dt) {
  uint64_t ns = dt * 1000000000UL / boot.timebase;
  kprintf("bench %s: %lu ops via %s, %lu ticks, %lu ns/op\n", name, n,
          !strcmp(name, "mask")      ? pv->irq_name
          : !strcmp(name, "timer")   ? pv->timer_name
          : !strcmp(name, "console") ? pv->console_name
          : !strcmp(name, "tlb")     ? pv->tlb_name
          : !strcmp(name, "ipi")     ? pv->ipi_name
                                     : pv->idle_name,
          (unsigned long)dt, (unsigned long)(ns / (n ? n : 1)));
}

static unsigned long arg(int argc, char **argv, unsigned long dflt) {
  if (argc < 3) return dflt;
  unsigned long v = 0;
  for (const char *s = argv[2]; *s; s++) {
    if (*s < '0' || *s > '9') return dflt;
    v = v * 10 + (unsigned long)(*s - '0');
  }
  return v ? v : dflt;
}

void cmd_bench(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "";
  if (!strcmp(what, "mask")) {
    unsigned long n = arg(argc, argv, 100000);
    uint64_t t0 = rdtime();
    for (unsigned long i = 0; i < n; i++) {
      unsigned long f = pv->irq_save();
      barrier();
      pv->irq_restore(f);
    }
    result("mask", n, rdtime() - t0);
  } else if (!strcmp(what, "timer")) {
    /* program the one-shot timer n times (far in the future), then restart the tick */
    unsigned long n = arg(argc, argv, 10000);
    unsigned long f = pv->irq_save();
    uint64_t t0 = rdtime();
    for (unsigned long i = 0; i < n; i++) pv->timer_set(t0 + 1000000000UL + i);
    uint64_t dt = rdtime() - t0;
    timer_start();
    pv->irq_restore(f);
    result("timer", n, dt);
  } else if (!strcmp(what, "console")) {
    /* n bytes of console output in 64-byte lines */
    unsigned long n = arg(argc, argv, 1UL << 20);
    char line[64];
    for (int i = 0; i < 63; i++) line[i] = (char)('!' + i);
    line[63] = '\n';
    uint64_t t0 = rdtime();
    for (unsigned long done = 0; done < n; done += 64)
      console_write(line, n - done < 64 ? (size_t)(n - done) : 64);
    uint64_t dt = rdtime() - t0;
    if (n % 64) console_write("\n", 1);
    result("console", n, dt);
  } else if (!strcmp(what, "tlb")) {
    /* n shootdowns of 4 separate pages each (remote fences to our hart set) */
    unsigned long n = arg(argc, argv, 10000);
    struct tlb_range r[4] = {{USER_BASE, PAGE_SIZE},
                             {USER_BASE + 16 * PAGE_SIZE, PAGE_SIZE},
                             {USER_BASE + 32 * PAGE_SIZE, PAGE_SIZE},
                             {USER_STACK_TOP - PAGE_SIZE, PAGE_SIZE}};
    uint64_t t0 = rdtime();
    for (unsigned long i = 0; i < n; i++) pv->tlb_flush(boot.online_mask, r, 4);
    result("tlb", n, rdtime() - t0);
  } else if (!strcmp(what, "ipi")) {
    /* n IPIs to this hart, each taken before the next is sent */
    unsigned long n = arg(argc, argv, 1000), lost = 0;
    uint64_t t0 = rdtime();
    for (unsigned long i = 0; i < n; i++) {
      unsigned long before = ipis_received;
      pv->send_ipi(1UL << boot.hartid);
      for (int spin = 0; ipis_received == before; spin++)
        if (spin > 1000000) {
          lost++;
          break;
        }
    }
    uint64_t dt = rdtime() - t0;
    if (lost) kprintf("bench ipi: %lu IPIs never arrived\n", lost);
    result("ipi", n, dt);
  } else if (!strcmp(what, "idle")) {
    /* n idle wake-ups: arm the timer 100 us ahead, idle, take the interrupt */
    unsigned long n = arg(argc, argv, 1000);
    uint64_t step = boot.timebase / 10000;
    bench_wakeups = 0;
    bench_timer_mode = 1;
    uint64_t t0 = rdtime();
    for (unsigned long i = 0; i < n; i++) {
      unsigned long f = pv->irq_save();
      unsigned long before = bench_wakeups;
      pv->timer_set(rdtime() + step);
      while (bench_wakeups == before) {
        pv->idle();
        pv->irq_restore(f); /* the timer interrupt runs here */
        f = pv->irq_save();
      }
      pv->irq_restore(f);
    }
    uint64_t dt = rdtime() - t0;
    unsigned long f = pv->irq_save();
    bench_timer_mode = 0;
    timer_start();
    pv->irq_restore(f);
    result("idle", n, dt);
  } else {
    kputs("usage: bench mask|timer|console|tlb|ipi|idle [n]\n");
  }
}

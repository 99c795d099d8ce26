/* The console shell (a kernel task). */
#include "kernel.h"
#include "pvx.h"

static const char *state_name(enum task_state s) {
  switch (s) {
    case T_READY:
      return "ready";
    case T_RUNNING:
      return "run";
    case T_SLEEPING:
      return "sleep";
    case T_BLOCKED:
      return "block";
    case T_EXITED:
      return "exit";
    default:
      return "?";
  }
}

static const char *sbi_impl_name(unsigned long id) {
  static const char *const names[] = {"BBL", "OpenSBI", "Xvisor", "KVM", "RustSBI", "Diosix", "Coffer", "Xen",
                                      "PolarFire HSS"};
  return id < sizeof names / sizeof names[0] ? names[id] : "other";
}

static void cmd_help(void) {
  kputs("commands:\n"
        "  help        this list\n"
        "  info        machine, firmware and the back ends chosen at boot\n"
        "  ps          tasks\n"
        "  ticks       timer ticks since boot\n"
        "  mask-bench  [n] cost of n interrupt mask/unmask pairs through pv-ops\n"
        "  evtchn      event channels (PVX)\n"
        "  grant       grant tables (PVX)\n"
        "  vchan       inter-domain channel over a grant and an event channel (PVX)\n"
        "  pvxtest     PVX conformance: every call with good and bad arguments (PVX)\n"
        "  blk         [read N | write N] virtio block device\n"
        "  bench       mask|timer|console|tlb|ipi|idle [n] pv-ops micro-benchmarks\n"
        "  sleep       [n] sleep n timer ticks\n"
        "  spin        [stop] start/stop a CPU-bound user task (preemption)\n"
        "  crash       run a user task that faults (only it dies)\n"
        "  wreck       jump|stvec|satp: break the kernel (ends this domain only)\n"
        "  poweroff    shut down\n");
}

static void cmd_info(void) {
  struct sbiret spec = sbi_call(SBI_EXT_BASE, 0, 0, 0, 0, 0, 0, 0);
  struct sbiret impl = sbi_call(SBI_EXT_BASE, 1, 0, 0, 0, 0, 0, 0);
  kprintf("pvos %s on hart %lu, harts online %u (mask 0x%lx)\n", PVOS_VERSION, boot.hartid, harts_online(),
          boot.online_mask);
  kprintf("ram: %lu MiB at 0x%lx\n", (unsigned long)(boot.ram_size >> 20), (unsigned long)boot.ram_base);
  kprintf("timebase: %u Hz, tick %d Hz\n", boot.timebase, HZ);
  kprintf("sbi: spec %lu.%lu, implementation %lu (%s)\n", (spec.value >> 24) & 0x7f, spec.value & 0xffffff,
          impl.value, sbi_impl_name(impl.value));
  if (pvx_present())
    kprintf("pvx: %lu.%lu, domain %lu, features 0x%lx\n", pvx_version >> 16, pvx_version & 0xffff, pvx_domid,
            pvx_features);
  else
    kputs("pvx: absent\n");
  kprintf("backends: %s\n", pv->name);
  kprintf("  console  %s\n  timer    %s\n  irq      %s\n  idle     %s\n", pv->console_name, pv->timer_name,
          pv->irq_name, pv->idle_name);
  kprintf("  ipi      %s\n  tlb      %s\n  block    %s\n", pv->ipi_name, pv->tlb_name, virtio_blk_name());
}

static void cmd_ps(void) {
  kputs("  PID MODE STATE  TICKS NAME\n");
  for (int i = 0; i < NTASKS; i++) {
    struct task *t = &tasks[i];
    if (t->state == T_UNUSED) continue;
    kprintf("%5d %-4s %-5s %6lu %s\n", t->pid, t->user ? "U" : "S", state_name(t->state),
            (unsigned long)t->run_ticks, t->name);
  }
}

static void cmd_ticks(void) {
  uint64_t t = ticks;
  kprintf("ticks: %lu (%d Hz, uptime %lu.%02lu s)\n", (unsigned long)t, HZ, (unsigned long)(t / HZ),
          (unsigned long)(t % HZ));
}

static unsigned long parse_num(const char *s, unsigned long dflt) {
  if (!s) return dflt;
  unsigned long v = 0;
  for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (unsigned long)(*s - '0');
  return *s || !v ? dflt : v;
}

static void cmd_mask_bench(int argc, char **argv) {
  unsigned long n = parse_num(argc > 1 ? argv[1] : 0, 100000);
  uint64_t t0 = rdtime();
  for (unsigned long i = 0; i < n; i++) {
    unsigned long f = pv->irq_save();
    barrier();
    pv->irq_restore(f);
  }
  uint64_t dt = rdtime() - t0;
  uint64_t ns = dt * 1000000000UL / boot.timebase;
  kprintf("mask-bench: %lu mask/unmask pairs via %s: %lu ticks, %lu ns/pair\n", n, pv->irq_name, (unsigned long)dt,
          (unsigned long)(ns / n));
}

static void cmd_blk(int argc, char **argv) {
  static uint8_t sector[512] __attribute__((aligned(16)));
  uint64_t n = virtio_blk_sectors();
  if (!n) {
    kputs("blk: no block device\n");
    return;
  }
  if (argc == 1) {
    kprintf("blk: %s, %lu sectors\n", virtio_blk_name(), (unsigned long)n);
    return;
  }
  unsigned long s = parse_num(argc > 2 ? argv[2] : 0, ~0UL);
  if (argc > 2 && argv[2][0] == '0' && !argv[2][1]) s = 0;
  if (s >= n) {
    kprintf("blk: sector out of range (0..%lu)\n", (unsigned long)n - 1);
  } else if (!strcmp(argv[1], "read")) {
    if (pv->blk_rw(0, s, sector, 1)) {
      kprintf("blk read %lu: error\n", s);
      return;
    }
    kprintf("blk read %lu: checksum 0x%08x, bytes %02x %02x %02x %02x\n", s, fnv1a(sector, 512), sector[0], sector[1],
            sector[2], sector[3]);
  } else if (!strcmp(argv[1], "write")) {
    for (unsigned i = 0; i < 512; i++) sector[i] = (uint8_t)(s + i);
    kprintf("blk write %lu: %s, checksum 0x%08x\n", s, pv->blk_rw(1, s, sector, 1) ? "error" : "ok",
            fnv1a(sector, 512));
  } else {
    kputs("usage: blk [read N | write N]\n");
  }
}

static int split(char *line, char **argv, int max) {
  int argc = 0;
  while (*line && argc < max) {
    while (*line == ' ') *line++ = 0;
    if (!*line) break;
    argv[argc++] = line;
    while (*line && *line != ' ') line++;
  }
  return argc;
}

/*
 * Deliberate kernel failures, for the isolation tests: on pvm each ends this
 * domain only. jump: S-mode runs a page of zeros (illegal instruction, the
 * kernel trap handler panics). stvec: the trap vector points at zeros, then a
 * breakpoint (the handler itself faults: a double fault). satp: a page table
 * root of gigapages over nothing (every fetch is an access fault, the handler too).
 */
static void wreck(const char *how) {
  uint64_t *page = page_alloc(); /* zero-filled: 0x0000 is an illegal instruction */
  if (!strcmp(how, "jump")) {
    kputs("wreck: jumping to a page of zeros in S-mode\n");
    ((void (*)(void))(uintptr_t)page)();
  } else if (!strcmp(how, "stvec")) {
    kputs("wreck: trap vector -> a page of zeros, then ebreak\n");
    csr_write(stvec, (uint64_t)page);
    __asm__ volatile("ebreak" ::: "memory");
  } else if (!strcmp(how, "satp")) {
    kputs("wreck: page table root -> gigapages of nothing\n");
    for (int i = 0; i < 512; i++) page[i] = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G;
    satp_switch(page);
  } else {
    page_free(page);
    kputs("usage: wreck jump|stvec|satp\n");
    return;
  }
  panic("wreck %s: still running", how);
}

static void run(char *line) {
  char *argv[8];
  int argc = split(line, argv, 8);
  if (!argc) return;
  const char *c = argv[0];
  if (!strcmp(c, "help"))
    cmd_help();
  else if (!strcmp(c, "info"))
    cmd_info();
  else if (!strcmp(c, "ps"))
    cmd_ps();
  else if (!strcmp(c, "ticks"))
    cmd_ticks();
  else if (!strcmp(c, "mask-bench"))
    cmd_mask_bench(argc, argv);
  else if (!strcmp(c, "evtchn") || !strcmp(c, "grant") || !strcmp(c, "vchan") || !strcmp(c, "pvxtest")) {
    if (!pvx_present())
      kprintf("%s: needs PVX (backends: %s)\n", c, pv->name);
    else if (c[0] == 'e')
      pvx_shell_evtchn(argc, argv);
    else if (c[0] == 'v')
      pvx_shell_vchan(argc, argv);
    else if (c[0] == 'p')
      pvx_shell_pvxtest();
    else
      pvx_shell_grant(argc, argv);
  } else if (!strcmp(c, "blk")) {
    cmd_blk(argc, argv);
  } else if (!strcmp(c, "bench")) {
    cmd_bench(argc, argv);
  } else if (!strcmp(c, "sleep")) {
    unsigned long n = parse_num(argc > 1 ? argv[1] : 0, 10);
    sleep_ticks(n);
    kprintf("sleep: %lu ticks\n", n);
  } else if (!strcmp(c, "spin")) {
    struct task *s = 0;
    for (int i = 0; i < NTASKS; i++)
      if (tasks[i].state != T_UNUSED && tasks[i].state != T_EXITED && !strcmp(tasks[i].name, "spin")) s = &tasks[i];
    if (argc > 1 && !strcmp(argv[1], "stop")) {
      if (!s) {
        kputs("spin: not running\n");
        return;
      }
      task_kill(s);
      kprintf("spin: pid %d stopped after %lu ticks\n", s->pid, (unsigned long)s->run_ticks);
      task_reap(s);
    } else if (s) {
      kprintf("spin: already running as pid %d\n", s->pid);
    } else if (!(s = task_create_user("spin", user_va(user_spin)))) {
      kputs("spin: no free task slot\n");
    } else {
      kprintf("spin: pid %d started (a user task that never makes a system call)\n", s->pid);
    }
  } else if (!strcmp(c, "crash")) {
    struct task *t = task_create_user("crash", user_va(user_crash));
    if (!t) {
      kputs("crash: no free task slot\n");
      return;
    }
    while (t->state != T_EXITED) sleep_ticks(1);
    kprintf("crash: pid %d exited with %d; kernel still running\n", t->pid, t->exit_code);
    task_reap(t);
  } else if (!strcmp(c, "wreck")) {
    wreck(argc > 1 ? argv[1] : "");
  } else if (!strcmp(c, "poweroff")) {
    kputs("pvos: poweroff\n");
    if (pvx_present()) pvx_shutdown();
    sbi_shutdown();
  } else
    kprintf("%s: unknown command (try help)\n", c);
}

void shell_main(void) {
  /* let the boot-time user program finish its greeting first */
  for (int i = 0; i < NTASKS; i++)
    while (tasks[i].state != T_UNUSED && !strcmp(tasks[i].name, "hello") && tasks[i].state != T_EXITED)
      sleep_ticks(1);
  char line[128];
  int len = 0, last = 0;
  kputs("pvos> ");
  for (;;) {
    int c = console_getc();
    if (c == '\n' && last == '\r') {
      last = c;
      continue;
    }
    last = c;
    if (c == '\r' || c == '\n') {
      kputs("\n");
      line[len] = 0;
      run(line);
      len = 0;
      kputs("pvos> ");
    } else if (c == 0x7f || c == 0x08) {
      if (len) {
        len--;
        kputs("\b \b");
      }
    } else if (c >= 0x20 && c < 0x7f && len < (int)sizeof line - 1) {
      line[len++] = (char)c;
      char e = (char)c;
      console_write(&e, 1);
    }
  }
}

/* System calls: a7 = number, a0.. = arguments, a0 = result. */
#include "kernel.h"

static int user_range_ok(uint64_t va, uint64_t len, uint64_t need) {
  if (va < USER_BASE || va >= USER_LIMIT || len > USER_LIMIT - va) return 0;
  for (uint64_t p = va & ~(PAGE_SIZE - 1UL); p < va + len; p += PAGE_SIZE) {
    uint64_t pte = pt_walk(current->pt, p);
    if ((pte & (PTE_V | PTE_U | need)) != (PTE_V | PTE_U | need)) return 0;
  }
  return 1;
}

void syscall(struct trapframe *tf) {
  unsigned long *a = &tf->regs[10];
  long ret = -1;
  switch (tf->regs[17]) {
    case SYS_WRITE: {
      char buf[256];
      uint64_t va = a[0], len = a[1];
      if (len > sizeof buf || !user_range_ok(va, len, PTE_R)) break;
      csr_set(sstatus, SSTATUS_SUM);
      memcpy(buf, (const void *)va, len);
      csr_clear(sstatus, SSTATUS_SUM);
      console_write(buf, len);
      ret = (long)len;
      break;
    }
    case SYS_EXIT:
      task_exit((int)a[0]);
    case SYS_SLEEP:
      sleep_ticks(a[0]);
      ret = 0;
      break;
    case SYS_GETPID:
      ret = current->pid;
      break;
    case SYS_TICKS:
      ret = (long)ticks;
      break;
    case SYS_YIELD:
      need_resched = 1;
      ret = 0;
      break;
  }
  a[0] = (unsigned long)ret;
}

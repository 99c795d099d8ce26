/* Trap dispatch: interrupts go to the back end, ecalls from U-mode are system calls. */
#include "kernel.h"

void trap_handler(struct trapframe *tf) {
  unsigned long cause = tf->scause;
  int preemptible = (tf->sstatus & SSTATUS_SPIE) && pv->soft_unmasked();
  if (cause >> 63) {
    pv->interrupt(cause & 0xff);
  } else if (cause == EXC_ECALL_U) {
    tf->sepc += 4;
    syscall(tf);
  } else if (!(tf->sstatus & SSTATUS_SPP)) {
    kprintf("pvos: pid %d (%s) killed: scause %lu stval 0x%lx sepc 0x%lx\n", current->pid, current->name, cause,
            tf->stval, tf->sepc);
    task_exit(-1);
  } else {
    panic("kernel trap: scause %lu stval 0x%lx sepc 0x%lx", cause, tf->stval, tf->sepc);
  }
  if (need_resched && preemptible) schedule();
}

/* Entry, trap vector, trap return and context switch. */
#include "asm.h"

  .section .text.boot, "ax"
  .globl _start
_start:
  /* a0 = hart id, a1 = FDT. One hart boots; any other parks. */
  csrw sie, zero
  csrw sscratch, zero
  la t0, boot_lottery
  li t1, 1
  amoswap.w t1, t1, (t0)
  bnez t1, park
  la sp, boot_stack_top
  la t0, trap_entry
  csrw stvec, t0
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  call kmain
park:
  wfi
  j park

/* HSM hart_start target: a0 = hart id, a1 = stack top (opaque). */
  .globl secondary_entry
secondary_entry:
  csrw sie, zero
  csrw sscratch, zero
  mv sp, a1
  la t0, trap_entry
  csrw stvec, t0
  call secondary_main
1:
  wfi
  j 1b

  .text
/*
 * Trap entry. sscratch holds the kernel stack top of the current task while
 * it runs in U-mode and 0 while the hart runs in S-mode.
 */
  .align 4
  .globl trap_entry
trap_entry:
  csrrw sp, sscratch, sp
  bnez sp, 1f
  csrrw sp, sscratch, sp        /* from S-mode: sp back, sscratch = 0 */
1:
  addi sp, sp, -TF_SIZE
  sd ra, 8(sp)
  sd gp, 24(sp)
  sd tp, 32(sp)
  sd t0, 40(sp)
  sd t1, 48(sp)
  sd t2, 56(sp)
  sd s0, 64(sp)
  sd s1, 72(sp)
  sd a0, 80(sp)
  sd a1, 88(sp)
  sd a2, 96(sp)
  sd a3, 104(sp)
  sd a4, 112(sp)
  sd a5, 120(sp)
  sd a6, 128(sp)
  sd a7, 136(sp)
  sd s2, 144(sp)
  sd s3, 152(sp)
  sd s4, 160(sp)
  sd s5, 168(sp)
  sd s6, 176(sp)
  sd s7, 184(sp)
  sd s8, 192(sp)
  sd s9, 200(sp)
  sd s10, 208(sp)
  sd s11, 216(sp)
  sd t3, 224(sp)
  sd t4, 232(sp)
  sd t5, 240(sp)
  sd t6, 248(sp)
  csrr t0, sscratch
  bnez t0, 2f
  addi t0, sp, TF_SIZE          /* from S-mode: the interrupted sp */
2:
  sd t0, 16(sp)
  csrw sscratch, zero
  csrr t0, sepc
  sd t0, TF_SEPC(sp)
  csrr t0, sstatus
  sd t0, TF_SSTATUS(sp)
  csrr t0, scause
  sd t0, TF_SCAUSE(sp)
  csrr t0, stval
  sd t0, TF_STVAL(sp)
  mv a0, sp
  call trap_handler
  mv a0, sp
  /* fall through */

/* trap_return(struct trapframe *tf): restore tf and sret. */
  .globl trap_return
trap_return:
  csrci sstatus, SSTATUS_SIE
  ld t0, TF_SSTATUS(a0)
  csrw sstatus, t0
  ld t1, TF_SEPC(a0)
  csrw sepc, t1
  andi t0, t0, SSTATUS_SPP
  bnez t0, 3f
  addi t1, a0, TF_SIZE          /* back to U-mode: sscratch = kernel stack top */
  csrw sscratch, t1
3:
  ld ra, 8(a0)
  ld gp, 24(a0)
  ld tp, 32(a0)
  ld t0, 40(a0)
  ld t1, 48(a0)
  ld t2, 56(a0)
  ld s0, 64(a0)
  ld s1, 72(a0)
  ld a1, 88(a0)
  ld a2, 96(a0)
  ld a3, 104(a0)
  ld a4, 112(a0)
  ld a5, 120(a0)
  ld a6, 128(a0)
  ld a7, 136(a0)
  ld s2, 144(a0)
  ld s3, 152(a0)
  ld s4, 160(a0)
  ld s5, 168(a0)
  ld s6, 176(a0)
  ld s7, 184(a0)
  ld s8, 192(a0)
  ld s9, 200(a0)
  ld s10, 208(a0)
  ld s11, 216(a0)
  ld t3, 224(a0)
  ld t4, 232(a0)
  ld t5, 240(a0)
  ld t6, 248(a0)
  ld sp, 16(a0)
  ld a0, 80(a0)
  sret

/* swtch(struct context *old, struct context *new): callee-saved registers. */
  .globl swtch
swtch:
  sd ra, 0(a0)
  sd sp, 8(a0)
  sd s0, 16(a0)
  sd s1, 24(a0)
  sd s2, 32(a0)
  sd s3, 40(a0)
  sd s4, 48(a0)
  sd s5, 56(a0)
  sd s6, 64(a0)
  sd s7, 72(a0)
  sd s8, 80(a0)
  sd s9, 88(a0)
  sd s10, 96(a0)
  sd s11, 104(a0)
  ld ra, 0(a1)
  ld sp, 8(a1)
  ld s0, 16(a1)
  ld s1, 24(a1)
  ld s2, 32(a1)
  ld s3, 40(a1)
  ld s4, 48(a1)
  ld s5, 56(a1)
  ld s6, 64(a1)
  ld s7, 72(a1)
  ld s8, 80(a1)
  ld s9, 88(a1)
  ld s10, 96(a1)
  ld s11, 104(a1)
  ret

  .data
  .align 3
boot_lottery:
  .word 0

  .bss
  .align 4
  .space 16384
  .globl boot_stack_top
boot_stack_top:

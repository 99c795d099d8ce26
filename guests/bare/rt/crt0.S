/*
 * Start-up and trap entry points of the bare-metal test runtime.
 * Hart 0 starts in M-mode at _start (QEMU virt with -bios none, pvm run --bare).
 */
#include "rt_asm.h"

  .section .text.init, "ax"
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, secondary
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, _stack_top
  /* PMP entry 0: NAPOT over the whole address space, RWX, so S and U may
     touch memory (privileged spec 3.7). Skipped if the PMP CSRs trap. */
  la t0, 1f
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  .align 2
1:
  la t0, m_trap_entry
  csrw mtvec, t0
  la t0, _m_trap_stack_top
  csrw mscratch, t0
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  csrw satp, zero
  la t0, _bss_start
  la t1, _bss_end
2:
  bgeu t0, t1, 3f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 2b
3:
  fence
  la t0, rt_ready
  li t1, 1
  sw t1, 0(t0)
  call rt_init
  call main
  call rt_exit

/*
 * Harts other than 0 (with --smp / -smp): PMP like hart 0, then wait until
 * hart 0 has cleared .bss, take a stack from rt_sec_stacks and call
 * secondary_main(hartid) (rt.c has a weak one that parks in WFI).
 */
secondary:
  la t1, 1f
  csrw mtvec, t1
  li t1, -1
  csrw pmpaddr0, t1
  li t1, 0x1f
  csrw pmpcfg0, t1
  .align 2
1:
  la t1, park
  csrw mtvec, t1
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
2:
  la t1, rt_ready
  lw t2, 0(t1)
  beqz t2, 2b
  fence
  la sp, rt_sec_stacks
  li t1, RT_SEC_STACK
  addi t2, t0, 1
  mul t2, t2, t1
  add sp, sp, t2
  mv a0, t0
  call secondary_main
  .align 2
park:
  wfi
  j park

/*
 * uint64_t run_in_mode(int mode, uint64_t (*fn)(uint64_t), uint64_t arg)
 * Runs fn(arg) in `mode` (0 = U, 1 = S) with an mret; fn returns into
 * lower_return, which ecalls back with a7 = RT_MAGIC; the trap handler then
 * calls return_to_m(a0) which resumes here as if run_in_mode returned a0.
 */
  .text
  .globl run_in_mode
run_in_mode:
  addi sp, sp, -112
  sd ra, 0(sp)
  sd s0, 8(sp)
  sd s1, 16(sp)
  sd s2, 24(sp)
  sd s3, 32(sp)
  sd s4, 40(sp)
  sd s5, 48(sp)
  sd s6, 56(sp)
  sd s7, 64(sp)
  sd s8, 72(sp)
  sd s9, 80(sp)
  sd s10, 88(sp)
  sd s11, 96(sp)
  la t0, m_ctx_sp
  sd sp, 0(t0)
  li t0, 3 << 11
  csrc mstatus, t0
  andi a0, a0, 3
  slli t1, a0, 11
  csrs mstatus, t1
  csrw mepc, a1
  la ra, lower_return
  bnez a0, 1f
  la ra, lower_return_u
1:
  mv a0, a2
  mret

  .globl lower_return
lower_return:
  li a7, RT_MAGIC
  ecall
1:
  j 1b

/* The same for U-mode, in a page mapped with PTE.U when paging is on. */
  .section .utext, "ax"
  .globl lower_return_u
lower_return_u:
  li a7, RT_MAGIC
  ecall
1:
  j 1b

  .text
  .globl return_to_m
return_to_m:
  la t0, _m_trap_stack_top
  csrw mscratch, t0
  la t0, _s_trap_stack_top
  csrw sscratch, t0
  la t0, m_ctx_sp
  ld sp, 0(t0)
  ld ra, 0(sp)
  ld s0, 8(sp)
  ld s1, 16(sp)
  ld s2, 24(sp)
  ld s3, 32(sp)
  ld s4, 40(sp)
  ld s5, 48(sp)
  ld s6, 56(sp)
  ld s7, 64(sp)
  ld s8, 72(sp)
  ld s9, 80(sp)
  ld s10, 88(sp)
  ld s11, 96(sp)
  addi sp, sp, 112
  ret

/* Save x1..x31 (x2 = the interrupted sp) in a 256-byte frame at sp. */
.macro SAVE_REGS scratch
  csrrw sp, \scratch, sp
  addi sp, sp, -256
  sd x1, 8(sp)
  sd x3, 24(sp)
  sd x4, 32(sp)
  sd x5, 40(sp)
  sd x6, 48(sp)
  sd x7, 56(sp)
  sd x8, 64(sp)
  sd x9, 72(sp)
  sd x10, 80(sp)
  sd x11, 88(sp)
  sd x12, 96(sp)
  sd x13, 104(sp)
  sd x14, 112(sp)
  sd x15, 120(sp)
  sd x16, 128(sp)
  sd x17, 136(sp)
  sd x18, 144(sp)
  sd x19, 152(sp)
  sd x20, 160(sp)
  sd x21, 168(sp)
  sd x22, 176(sp)
  sd x23, 184(sp)
  sd x24, 192(sp)
  sd x25, 200(sp)
  sd x26, 208(sp)
  sd x27, 216(sp)
  sd x28, 224(sp)
  sd x29, 232(sp)
  sd x30, 240(sp)
  sd x31, 248(sp)
  csrr t0, \scratch
  sd t0, 16(sp)
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  mv a0, sp
.endm

.macro RESTORE_REGS scratch, ret
  ld x1, 8(sp)
  ld x3, 24(sp)
  ld x4, 32(sp)
  ld x5, 40(sp)
  ld x6, 48(sp)
  ld x7, 56(sp)
  ld x8, 64(sp)
  ld x9, 72(sp)
  ld x10, 80(sp)
  ld x11, 88(sp)
  ld x12, 96(sp)
  ld x13, 104(sp)
  ld x14, 112(sp)
  ld x15, 120(sp)
  ld x16, 128(sp)
  ld x17, 136(sp)
  ld x18, 144(sp)
  ld x19, 152(sp)
  ld x20, 160(sp)
  ld x21, 168(sp)
  ld x22, 176(sp)
  ld x23, 184(sp)
  ld x24, 192(sp)
  ld x25, 200(sp)
  ld x26, 208(sp)
  ld x27, 216(sp)
  ld x28, 224(sp)
  ld x29, 232(sp)
  ld x30, 240(sp)
  ld x31, 248(sp)
  addi sp, sp, 256
  csrrw sp, \scratch, sp
  \ret
.endm

  .align 2
  .globl m_trap_entry
m_trap_entry:
  SAVE_REGS mscratch
  call m_trap_c
  RESTORE_REGS mscratch, mret

  .align 2
  .globl s_trap_entry
s_trap_entry:
  SAVE_REGS sscratch
  call s_trap_c
  RESTORE_REGS sscratch, sret

  .section .tohost, "aw", @progbits
  .align 6
  .globl tohost
  .type tohost, @object
  .size tohost, 8
tohost: .dword 0
  .align 6
  .globl fromhost
  .type fromhost, @object
  .size fromhost, 8
fromhost: .dword 0

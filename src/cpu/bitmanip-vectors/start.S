/* Start-up for the bit-manipulation vector generator: M-mode, hart 0, QEMU virt with -bios none. */
  .section .text.init, "ax"
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, park
  la sp, _stack_top
  la t0, trap
  csrw mtvec, t0
  call main
  li t0, 0x100000         /* sifive,test0 syscon: 0x5555 = pass/poweroff */
  li t1, 0x5555
  sw t1, 0(t0)
park:
  wfi
  j park

/* The only traps expected are illegal instructions: note them, skip the 4-byte instruction. */
  .align 4
trap:
  csrr t6, mepc
  addi t6, t6, 4
  csrw mepc, t6
  la t6, illegal
  li t5, 1
  sw t5, 0(t6)
  la t6, trap_cause
  csrr t5, mcause
  sd t5, 0(t6)
  la t6, trap_tval
  csrr t5, mtval
  sd t5, 0(t6)
  mret

/*
 * u64 exec_insn(u64 a, u64 b, u32 *code): runs `code` (the instruction under test, then `ret`)
 * with x10 = a, x11 = b and returns x10.
 */
  .text
  .globl exec_insn
exec_insn:
  mv t3, ra
  fence.i
  jalr ra, 0(a2)
  mv ra, t3
  ret

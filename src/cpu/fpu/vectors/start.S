/* Start-up for the FPU vector generator: M-mode, hart 0, QEMU virt with -bios none. */
  .section .text.init, "ax"
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, park
  la sp, _stack_top
  la t0, trap
  csrw mtvec, t0
  li t0, 1 << 13          /* mstatus.FS = Initial */
  csrs mstatus, t0
  call main
  li t0, 0x100000         /* sifive,test0 syscon: 0x5555 = pass/poweroff */
  li t1, 0x5555
  sw t1, 0(t0)
park:
  wfi
  j park

/* The only traps expected are illegal instructions: note cause and tval, skip the instruction (2 or 4 bytes). */
  .align 4
trap:
  csrr t6, mepc
  lhu t5, 0(t6)
  andi t5, t5, 3
  addi t6, t6, 2
  xori t5, t5, 3
  bnez t5, 1f
  addi t6, t6, 2
1:
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
 * void exec_insn(u64 io[8], u32 *code)
 * io: [0] f10 in, [1] f11 in, [2] f12 in, [3] x10 in, [4] frm,
 *     [5] f10 out, [6] x10 out, [7] fflags out.
 * code: the instruction under test followed by `ret`.
 */
  .text
  .globl exec_insn
exec_insn:
  mv t3, ra
  mv t1, a0
  fld fa0, 0(t1)
  fld fa1, 8(t1)
  fld fa2, 16(t1)
  ld t0, 32(t1)
  csrw frm, t0
  csrw fflags, zero
  ld a0, 24(t1)
  fence.i
  jalr ra, 0(a1)
  csrr t0, fflags
  fsd fa0, 40(t1)
  sd a0, 48(t1)
  sd t0, 56(t1)
  mv ra, t3
  ret

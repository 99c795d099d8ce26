/* Start-up of the FP benchmark: hart 0 in M-mode, FPU on, then main, then syscon power-off (0x5555). */
  .section .text.init, "ax"
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, 2f
  la sp, _stack_top
  li t0, 1 << 13          /* mstatus.FS = Initial */
  csrs mstatus, t0
  csrw fcsr, zero
  la t0, _bss_start
  la t1, _bss_end
1:
  bgeu t0, t1, 3f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
3:
  call main
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
2:
  wfi
  j 2b

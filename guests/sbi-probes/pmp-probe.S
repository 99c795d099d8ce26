/*
 * An S-mode payload for OpenSBI (loaded at 0x8020_0000, as fw_jump expects): it stores into and
 * loads from the firmware's own memory at 0x8000_0000, which OpenSBI protects with PMP, and
 * prints what happened through the legacy SBI console; then it powers off through SBI SRST.
 * OpenSBI does not delegate access faults, so it redirects them to this payload's stvec.
 *
 * Output, on a machine that enforces PMP:
 *   store: scause 7 stval 80000000
 *   load: scause 5 stval 80000008
 */
  .option norvc
  .section .text
  .globl _start
_start:
  la sp, stack_top
  la t0, trap
  csrw stvec, t0
  la a0, s_store
  call puts
  li t1, 0x80000000
  li t2, 0x1234
  la s2, 1f
  sd t2, 0(t1)
  la a0, s_through
  call puts
1:
  la a0, s_load
  call puts
  li t1, 0x80000008
  la s2, 2f
  ld t2, 0(t1)
  la a0, s_through
  call puts
2:
  /* SBI SRST: shutdown, no reason */
  li a7, 0x53525354
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
3:
  j 3b

/* A fault: print scause and stval, continue at s2. */
  .align 4
trap:
  la a0, s_scause
  call puts
  csrr a0, scause
  call puthex
  la a0, s_stval
  call puts
  csrr a0, stval
  call puthex
  li a0, '\n'
  call putc
  csrw sepc, s2
  sret

putc:
  li a7, 1 /* legacy console_putchar */
  ecall
  ret

puts:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  mv s0, a0
4:
  lbu a0, 0(s0)
  beqz a0, 5f
  call putc
  addi s0, s0, 1
  j 4b
5:
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  ret

/* a0 in hex, no leading zeros */
puthex:
  addi sp, sp, -32
  sd ra, 0(sp)
  sd s0, 8(sp)
  sd s1, 16(sp)
  mv s0, a0
  li s1, 60
6:
  srl t0, s0, s1
  bnez t0, 7f
  beqz s1, 7f
  addi s1, s1, -4
  j 6b
7:
  srl a0, s0, s1
  andi a0, a0, 15
  li t0, 10
  blt a0, t0, 8f
  addi a0, a0, 'a' - '0' - 10
8:
  addi a0, a0, '0'
  call putc
  addi s1, s1, -4
  bgez s1, 7b
  ld ra, 0(sp)
  ld s0, 8(sp)
  ld s1, 16(sp)
  addi sp, sp, 32
  ret

  .section .rodata
s_store: .asciz "store: "
s_load: .asciz "load: "
s_through: .asciz "went through\n"
s_scause: .asciz "scause "
s_stval: .asciz " stval "

  .bss
  .align 4
  .space 4096
stack_top:

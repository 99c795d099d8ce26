/*
 * A PV guest whose S-mode trap handler faults on its second instruction: every trap is an
 * access fault (not delegated), so pvm redirects it to the handler, which faults again. An
 * endless chain of redirected traps, each an exit answered in TypeScript.
 */
.section .text
.globl _start
_start:
  la t0, handler
  csrw stvec, t0
  ld t1, 0(zero)          # address 0 is not RAM: load access fault
1: j 1b
.balign 4
handler:
  nop
  ld t1, 0(zero)          # the handler faults too (not at its first instruction: no double fault)
  j handler

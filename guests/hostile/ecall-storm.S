/*
 * A PV guest that makes hypercalls as fast as it can, each to a different unknown extension:
 * an exit storm, and a test that pvm's hypercall statistics stay bounded.
 */
.section .text
.globl _start
_start:
  li s0, 0x0b000000
1: mv a7, s0
  li a6, 0
  ecall
  addi s0, s0, 1
  j 1b

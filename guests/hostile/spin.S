/* The bystander: a PV guest that only computes (a counting loop), for fairness measurements. */
.section .text
.globl _start
_start:
1: addi t0, t0, 1
  addi t1, t1, 3
  xor t2, t0, t1
  j 1b

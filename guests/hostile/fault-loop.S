/*
 * A PV guest that turns on Sv39 paging with an empty root page table and a trap vector in the
 * same (unmapped) address space: every fetch is an instruction page fault, delegated to
 * S-mode, whose vector faults again. The loop never leaves the hart: no exit, no instruction
 * retired.
 */
.section .text
.globl _start
_start:
  la t0, _start
  csrw stvec, t0
  la t1, root
  srli t1, t1, 12
  li t2, 8
  slli t2, t2, 60         # satp.MODE = Sv39
  or t1, t1, t2
  csrw satp, t1
  sfence.vma
1: j 1b                   # never fetched: the first fetch after the satp write faults
.balign 4096
root: .zero 4096

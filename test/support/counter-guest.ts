/**
 * The migration tests' guest: a small PV kernel (assembled with riscv64-unknown-elf-gcc) that
 * counts, prints each count as 8 hex digits on the SBI console every millisecond and dirties 16
 * pages each time; and the checks on its output.
 */
import assert from 'node:assert/strict';

/** Counts in s2, stores it and dirties 16 pages, prints it as 8 hex digits and a newline, sleeps 1 ms. */
export const COUNTER = `
.section .text
.globl _start
_start:
  la s1, buf
  li s2, 0
loop:
  addi s2, s2, 1
  la t0, cnt
  sd s2, 0(t0)
  mv t1, s1
  li t2, 16
1: sd s2, 0(t1)
  li t3, 4096
  add t1, t1, t3
  addi t2, t2, -1
  bnez t2, 1b
  li s3, 28
2: srl a0, s2, s3
  andi a0, a0, 15
  li t5, 10
  blt a0, t5, 3f
  addi a0, a0, 39
3: addi a0, a0, 48
  li a7, 1
  ecall
  addi s3, s3, -4
  bgez s3, 2b
  li a0, 10
  li a7, 1
  ecall
  rdtime t0
  li t1, 10000
  add a0, t0, t1
  li a7, 0
  ecall
  li t0, 32
  csrs sie, t0
  wfi
  j loop
.section .data
.balign 4096
buf: .space 65536
cnt: .dword 0
`;

/** The counter lines of `text` as numbers (a partial last line is left out). */
export function counts(text: string): number[] {
  const lines = text.split('\n');
  lines.pop();
  return lines.map((l) => {
    assert.match(l, /^[0-9a-f]{8}$/, `counter line ${JSON.stringify(l)}`);
    return Number.parseInt(l, 16);
  });
}

/** Every count from the first to the last, once, in order. */
export function assertContinuous(all: number[]): void {
  assert.ok(all.length > 10, `only ${all.length} lines`);
  all.forEach((n, i) => {
    if (i > 0 && n !== all[i - 1]! + 1) assert.fail(`line ${i}: ${all[i - 1]} then ${n} (a gap or a repetition)`);
  });
}

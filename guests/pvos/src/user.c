/*
 * User-mode programs. This file is linked into its own pages (.user_text /
 * .user_data) that are mapped at USER_BASE with the U bit in each task's page
 * table; code reaches only its own text, data and stack, and the kernel
 * through ecall.
 */
#include "kernel.h"

static long sys(long n, long a0, long a1) {
  register long r0 __asm__("a0") = a0;
  register long r1 __asm__("a1") = a1;
  register long r7 __asm__("a7") = n;
  __asm__ volatile("ecall" : "+r"(r0) : "r"(r1), "r"(r7) : "memory");
  return r0;
}

static unsigned long ustrlen(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}

static void uputs(const char *s) { sys(SYS_WRITE, (long)s, (long)ustrlen(s)); }

static char *utoa(unsigned long v, char *end) {
  *--end = 0;
  do *--end = (char)('0' + v % 10);
  while (v /= 10);
  return end;
}

void user_hello(void) {
  char num[24];
  uputs("hello from user mode (pid ");
  uputs(utoa((unsigned long)sys(SYS_GETPID, 0, 0), num + sizeof num));
  uputs(")\n");
  sys(SYS_EXIT, 0, 0);
}

static unsigned long ticker_count;

void user_ticker(void) {
  for (;;) {
    sys(SYS_SLEEP, 10, 0);
    ticker_count++;
  }
}

void user_spin(void) {
  /* never makes a system call: only the timer interrupt takes the CPU away */
  volatile unsigned long x = 1;
  for (;;) x = x * 6364136223846793005UL + 1442695040888963407UL;
}

void user_crash(void) {
  /* kernel memory has no U bit: a store page fault ends this task, not the kernel */
  *(volatile unsigned long *)0x80200000UL = 0;
  sys(SYS_EXIT, 0, 0);
}

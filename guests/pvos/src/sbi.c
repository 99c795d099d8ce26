/* SBI calls (SBI v2.0 calling convention). */
#include "kernel.h"

struct sbiret sbi_call(unsigned long eid, unsigned long fid, unsigned long a0, unsigned long a1,
                       unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
  register unsigned long r0 __asm__("a0") = a0;
  register unsigned long r1 __asm__("a1") = a1;
  register unsigned long r2 __asm__("a2") = a2;
  register unsigned long r3 __asm__("a3") = a3;
  register unsigned long r4 __asm__("a4") = a4;
  register unsigned long r5 __asm__("a5") = a5;
  register unsigned long r6 __asm__("a6") = fid;
  register unsigned long r7 __asm__("a7") = eid;
  __asm__ volatile("ecall"
                   : "+r"(r0), "+r"(r1)
                   : "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6), "r"(r7)
                   : "memory");
  return (struct sbiret){(long)r0, r1};
}

long sbi_probe(unsigned long eid) {
  struct sbiret r = sbi_call(SBI_EXT_BASE, 3, eid, 0, 0, 0, 0, 0);
  return r.error ? 0 : (long)r.value;
}

void sbi_shutdown(void) {
  sbi_call(SBI_EXT_SRST, 0, 0, 0, 0, 0, 0, 0); /* shutdown, no reason */
  sbi_call(0x08, 0, 0, 0, 0, 0, 0, 0);         /* legacy shutdown */
  for (;;) __asm__ volatile("wfi");
}

/* The kernel cannot go on: end this machine (domain) reporting a failure, not a clean poweroff. */
void sbi_crash(void) {
  if (pvx_present()) pvx_crash();                          /* PVX SCHED_SHUTDOWN, reason crash */
  sbi_call(SBI_EXT_SRST, 0, 0, 1, 0, 0, 0, 0);             /* shutdown, reason system failure */
  sbi_call(0x08, 0, 0, 0, 0, 0, 0, 0);                     /* legacy shutdown */
  for (;;) __asm__ volatile("wfi");
}

const char *sbi_strerror(long err) {
  static const char *const names[] = {
      "success",       "failed",        "not supported",   "invalid param", "denied",
      "invalid address", "already available", "already started", "already stopped", "no shmem",
      "invalid state", "bad range",     "timeout",         "io",
  };
  long i = -err;
  return i >= 0 && i < (long)(sizeof names / sizeof names[0]) ? names[i] : "unknown error";
}

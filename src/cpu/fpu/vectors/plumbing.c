/*
 * F/D plumbing checks that live in the hart rather than the FPU module: fcsr/frm/fflags CSRs,
 * FLW/FSW/FLD/FSD and the compressed FP loads/stores with NaN boxing, misa.F/D, and mstatus.FS
 * (Off traps every FP instruction and FP CSR access; FP register writes make it Dirty and set SD).
 * Prints "name value" lines; the reference output comes from qemu-system-riscv64 (plumbing.expected).
 */
typedef unsigned long u64;
typedef unsigned int u32;

volatile int illegal;
volatile u64 trap_cause, trap_tval;

#include "uart.h"
static void puts_(const char *s) {
  while (*s) putc_(*s++);
}
static void show(const char *name, u64 v) {
  puts_(name);
  putc_(' ');
  puthex(v);
  putc_('\n');
}
/* After an instruction that may trap: whether it did, and mcause/mtval if so. */
static void trapped(const char *name) {
  puts_(name);
  if (illegal) {
    puts_(" trap cause ");
    puthex(trap_cause);
    puts_(" tval ");
    puthex(trap_tval);
  } else {
    puts_(" no trap");
  }
  putc_('\n');
  illegal = 0;
}

#define CSRR(csr) ({ u64 v_; __asm__ volatile("csrr %0, " #csr : "=r"(v_)); v_; })
#define CSRW(csr, v) __asm__ volatile("csrw " #csr ", %0" ::"r"((u64)(v)))
#define FS_MASK (3ul << 13)
static void set_fs(u64 fs) {
  __asm__ volatile("csrc mstatus, %0" ::"r"(FS_MASK));
  __asm__ volatile("csrs mstatus, %0" ::"r"(fs << 13));
}
static void show_fs(const char *name) {
  u64 m = CSRR(mstatus);
  puts_(name);
  puts_(" fs ");
  puthex((m >> 13) & 3);
  puts_(" sd ");
  puthex(m >> 63);
  putc_('\n');
}

static volatile u64 mem[4] __attribute__((aligned(16)));

int main(void) {
  illegal = 0;
  u64 misa = CSRR(misa);
  show("misa.D", (misa >> 3) & 1);
  show("misa.F", (misa >> 5) & 1);

  /* fcsr, frm, fflags */
  CSRW(fcsr, 0xff);
  show("fcsr", CSRR(fcsr));
  show("frm", CSRR(frm));
  show("fflags", CSRR(fflags));
  CSRW(fcsr, ~0ul);
  show("fcsr all-ones", CSRR(fcsr));
  CSRW(fflags, 0x3f);
  show("fflags 0x3f", CSRR(fflags));
  CSRW(frm, 0xfe);
  show("frm 0xfe", CSRR(frm));
  show("fcsr now", CSRR(fcsr));
  {
    u64 old;
    __asm__ volatile("fsflags %0, %1" : "=r"(old) : "r"(0x15ul));
    show("fsflags old", old);
    __asm__ volatile("fsrm %0, %1" : "=r"(old) : "r"(2ul));
    show("fsrm old", old);
    show("fcsr after swaps", CSRR(fcsr));
    __asm__ volatile("csrsi fflags, 0x8");
    __asm__ volatile("csrci fflags, 0x1");
    show("fflags set/clear", CSRR(fflags));
    __asm__ volatile("csrwi frm, 7");
    show("frm 7", CSRR(frm));
  }
  CSRW(fcsr, 0);
  /* Dynamic rounding with frm = 7 in fcsr is illegal; frm = 1 rounds toward zero. */
  {
    u64 r;
    CSRW(frm, 1);
    __asm__ volatile("fcvt.w.d %0, %1, dyn" : "=r"(r) : "f"(-2.7));
    show("fcvt.w.d dyn rtz", r);
    CSRW(frm, 6);
    __asm__ volatile("fcvt.w.d %0, %1, dyn" : "=r"(r) : "f"(-2.7));
    trapped("fcvt.w.d dyn frm=6");
    CSRW(frm, 0);
  }

  /* Loads, stores and NaN boxing */
  {
    u64 r;
    mem[0] = 0x123456789abcdef0ul;
    mem[1] = 0x7ff0000000000001ul; /* signalling NaN: moves keep it bit for bit */
    __asm__ volatile("flw ft0, 0(%1)\n fmv.x.d %0, ft0" : "=r"(r) : "r"(mem) : "ft0");
    show("flw boxes", r);
    __asm__ volatile("flw ft0, 0(%1)\n fmv.x.w %0, ft0" : "=r"(r) : "r"(mem) : "ft0");
    show("fmv.x.w sign-extends", r);
    __asm__ volatile("fld ft1, 8(%1)\n fsd ft1, 16(%1)\n fmv.x.d %0, ft1" : "=r"(r) : "r"(mem) : "ft1", "memory");
    show("fld/fsd snan", r);
    show("fsd mem", mem[2]);
    __asm__ volatile("fld ft1, 0(%0)\n fsw ft1, 24(%0)" ::"r"(mem) : "ft1", "memory");
    show("fsw low word", mem[3]);
    __asm__ volatile("fmv.w.x ft2, %1\n fmv.x.d %0, ft2" : "=r"(r) : "r"(0xfffffffff00dcafeul) : "ft2");
    show("fmv.w.x boxes", r);
    __asm__ volatile("fmv.d.x ft2, %1\n fmv.x.d %0, ft2" : "=r"(r) : "r"(0x0123456789abcdeful) : "ft2");
    show("fmv.d.x", r);
    /* compressed: c.fld/c.fsd (x8-x15, f8-f15), c.fldsp/c.fsdsp */
    register volatile u64 *base __asm__("s0") = mem;
    __asm__ volatile(".option push\n .option rvc\n c.fld fs1, 0(%1)\n c.fsd fs1, 16(%1)\n .option pop\n fmv.x.d %0, fs1"
                     : "=r"(r)
                     : "r"(base)
                     : "fs1", "memory");
    show("c.fld", r);
    show("c.fsd mem", mem[2]);
    mem[1] = 0x4008000000000000ul;
    __asm__ volatile(
        "addi sp, sp, -16\n ld t0, 8(%1)\n sd t0, 8(sp)\n .option push\n .option rvc\n c.fldsp ft3, 8(sp)\n"
        " c.fsdsp ft3, 0(sp)\n .option pop\n ld %0, 0(sp)\n addi sp, sp, 16"
        : "=r"(r)
        : "r"(mem)
        : "t0", "ft3", "memory");
    show("c.fldsp/c.fsdsp", r);
  }

  /* mstatus.FS */
  set_fs(0);
  show_fs("off");
  __asm__ volatile("fadd.d ft0, ft1, ft2" ::: "ft0");
  trapped("fadd.d with FS off");
  __asm__ volatile("fmadd.s ft0, ft1, ft2, ft3" ::: "ft0");
  trapped("fmadd.s with FS off");
  __asm__ volatile("flw ft0, 0(%0)" ::"r"(mem) : "ft0");
  trapped("flw with FS off");
  __asm__ volatile("fsd ft0, 0(%0)" ::"r"(mem) : "memory");
  trapped("fsd with FS off");
  {
    register volatile u64 *base __asm__("s0") = mem;
    __asm__ volatile(".option push\n .option rvc\n c.fld fs1, 0(%0)\n .option pop" ::"r"(base) : "fs1");
    trapped("c.fld with FS off");
  }
  {
    u64 r = 0;
    __asm__ volatile("fmv.x.d %0, ft0" : "+r"(r));
    trapped("fmv.x.d with FS off");
    __asm__ volatile("csrr %0, fflags" : "+r"(r));
    trapped("csrr fflags with FS off");
    __asm__ volatile("csrr %0, frm" : "+r"(r));
    trapped("csrr frm with FS off");
    __asm__ volatile("csrw fcsr, zero");
    trapped("csrw fcsr with FS off");
  }
  show_fs("still off");
  set_fs(1);
  show_fs("initial");
  __asm__ volatile("fadd.d ft0, ft1, ft2" ::: "ft0");
  trapped("fadd.d with FS initial");
  show_fs("after fadd.d");
  set_fs(2);
  show_fs("clean");
  CSRW(fflags, 1);
  show_fs("after csrw fflags");
  set_fs(1);
  __asm__ volatile("fld ft0, 0(%0)" ::"r"(mem) : "ft0");
  show_fs("after fld");
  set_fs(2);
  __asm__ volatile("fmv.d.x ft0, zero" ::: "ft0");
  show_fs("after fmv.d.x");
  puts_("done\n");
  return 0;
}

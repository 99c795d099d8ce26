/*
 * FPU reference vector generator. Runs bare-metal under qemu-system-riscv64 (-machine virt -bios none)
 * and prints one line per executed instruction on the UART:
 *   insn frm f10 f11 f12 x10 -> f10' x10' fflags      (all hex; fflags "x" = illegal instruction)
 * Each instruction is written into a code buffer and executed with f10..f12 / x10 as its operands, so the
 * vectors exercise the exact encodings pvm decodes. Inputs come from a fixed-seed PRNG biased to edge cases.
 */
typedef unsigned long u64;
typedef unsigned int u32;
typedef long i64;

volatile int illegal;
volatile u64 trap_cause, trap_tval;
static volatile u64 io[8];
static u32 code[4] __attribute__((aligned(64)));
extern void exec_insn(volatile u64 *io, u32 *code);

#include "uart.h"

#ifndef SEED
#define SEED 0x9e3779b97f4a7c15ul
#endif
#ifndef SCALE
#define SCALE 1
#endif
static u64 seed = SEED;
static u64 rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return seed * 0x2545f4914f6cdd1dul;
}
static u32 rn(u32 n) { return (u32)((rnd() >> 11) % n); }

static u64 bitsd(double d) {
  union { double d; u64 u; } x = {.d = d};
  return x.u;
}
static double dbl(u64 u) {
  union { double d; u64 u; } x = {.u = u};
  return x.d;
}
static u32 bitsf(float f) {
  union { float f; u32 u; } x = {.f = f};
  return x.u;
}
static float flt(u32 u) {
  union { float f; u32 u; } x = {.u = u};
  return x.f;
}

static const u64 dspecial[] = {
  0, 0x8000000000000000ul, 1, 0x8000000000000001ul, 0x000ffffffffffffful, 0x800ffffffffffffful,
  0x0010000000000000ul, 0x8010000000000000ul, 0x0010000000000001ul, 0x3ff0000000000000ul, 0xbff0000000000000ul,
  0x7feffffffffffffful, 0xffeffffffffffffful, 0x7ff0000000000000ul, 0xfff0000000000000ul, 0x7ff8000000000000ul,
  0xfff8000000000000ul, 0x7ff0000000000001ul, 0x7ff4000000000000ul, 0xfff0000000000123ul, 0x7ff8000000000abcul,
  0x3fe0000000000000ul, 0xbfe0000000000000ul, 0x3ff8000000000000ul, 0x4004000000000000ul, 0xc004000000000000ul,
  0x41dfffffffc00000ul, 0x41e0000000000000ul, 0xc1e0000000000000ul, 0xc1e0000000200000ul, 0x41efffffffe00000ul,
  0x41f0000000000000ul, 0x43dffffffffffffful, 0x43e0000000000000ul, 0xc3e0000000000000ul, 0x43effffffffffffful,
  0x43f0000000000000ul, 0x3ca0000000000000ul, 0x7fe0000000000000ul, 0x0008000000000000ul, 0x4340000000000000ul,
};
static const u32 fspecial[] = {
  0, 0x80000000, 1, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000, 0x00800001, 0x3f800000,
  0xbf800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000,
  0xff800123, 0x7fc00abc, 0x3f000000, 0xbf000000, 0x3fc00000, 0x40200000, 0xc0200000, 0x4effffff, 0x4f000000,
  0xcf000000, 0xcf000001, 0x4f7fffff, 0x4f800000, 0x5effffff, 0x5f000000, 0xdf000000, 0x5f7fffff, 0x5f800000,
  0x33800000, 0x7f000000, 0x00400000, 0x4b800000,
};

/* Keep only the top `keep` of `total` mantissa bits (produces exact results and ties). */
static u64 maskmant(u64 m, int total) {
  int keep = (int)rn((u32)total + 1);
  if (keep == total) return m;
  return m & ~((1ul << (total - keep)) - 1);
}

static u64 gen_d(void) {
  u32 k = rn(16);
  u64 s = (rnd() & 1) << 63;
  if (k < 2) return dspecial[rn(sizeof dspecial / sizeof dspecial[0])];
  if (k < 4) return rnd();
  if (k < 10) {
    u64 e = 1023 - 8 + rn(17);
    return s | e << 52 | maskmant(rnd() & 0xffffffffffffful, 52);
  }
  if (k < 12) return s | (u64)rn(2047) << 52 | maskmant(rnd() & 0xffffffffffffful, 52);
  if (k < 13) return s | maskmant(rnd() & 0xffffffffffffful, 52) >> rn(52);
  if (k < 14) { /* near the overflow or underflow boundaries */
    u64 e = rn(2) ? 2046 - rn(4) : 1 + rn(4);
    return s | e << 52 | maskmant(rnd() & 0xffffffffffffful, 52);
  }
  /* integers and halves (conversions, ties) */
  double v = (double)(i64)(rnd() >> (1 + rn(63)));
  if (rn(2)) v += 0.5;
  if (rn(2)) v = -v;
  return bitsd(v);
}

static u32 gen_f32(void) {
  u32 k = rn(16);
  u32 s = (u32)(rnd() & 1) << 31;
  if (k < 2) return fspecial[rn(sizeof fspecial / sizeof fspecial[0])];
  if (k < 4) return (u32)rnd();
  if (k < 10) return s | (127 - 8 + rn(17)) << 23 | (u32)maskmant(rnd() & 0x7fffff, 23);
  if (k < 12) return s | rn(255) << 23 | (u32)maskmant(rnd() & 0x7fffff, 23);
  if (k < 13) return s | (u32)maskmant(rnd() & 0x7fffff, 23) >> rn(23);
  if (k < 14) {
    u32 e = rn(2) ? 254 - rn(4) : 1 + rn(4);
    return s | e << 23 | (u32)maskmant(rnd() & 0x7fffff, 23);
  }
  float v = (float)(i64)(rnd() >> (1 + rn(63)));
  if (rn(2)) v += 0.5f;
  if (rn(2)) v = -v;
  return bitsf(v);
}

static u64 box(u32 f) {
  if (rn(64) == 0) return (rnd() << 32) | f; /* improperly boxed: reads as the canonical NaN */
  return 0xffffffff00000000ul | f;
}
static u64 gen_s(void) { return box(gen_f32()); }

static u64 gen_x(void) {
  u32 k = rn(8);
  if (k == 0) return rnd();
  if (k == 1) return (u64)(i64)(int)rnd();
  if (k == 2) { /* 2^n + small */
    u64 v = (1ul << rn(64)) + (u64)(i64)(int)(rn(9) - 4);
    return rn(2) ? v : -v;
  }
  if (k == 3) return (u64)(i64)(int)(rn(2001) - 1000);
  u64 v = rnd() >> rn(64);
  v = maskmant(v, 64);
  return rn(2) ? v : -v;
}

/* Operand kinds: 0 none, 1 single, 2 double, 3 integer. */
struct op {
  const char *name;
  u32 base;   /* encoding without rm and registers */
  char a, b, c;
  char rm;    /* 1: funct3 is a rounding mode; 0: funct3 fixed in base */
  int n;
};

#define R(f7, rs2) (((u32)(f7) << 25) | ((u32)(rs2) << 20) | 0x53)
#define R4(op, fmt) (((u32)(fmt) << 25) | (op))
#define F3(x) ((u32)(x) << 12)

static const struct op ops[] = {
  {"fadd.s", R(0x00, 0), 1, 1, 0, 1, 4000},   {"fsub.s", R(0x04, 0), 1, 1, 0, 1, 3000},
  {"fmul.s", R(0x08, 0), 1, 1, 0, 1, 4000},   {"fdiv.s", R(0x0c, 0), 1, 1, 0, 1, 4000},
  {"fsqrt.s", R(0x2c, 0), 1, 0, 0, 1, 3000},  {"fadd.d", R(0x01, 0), 2, 2, 0, 1, 4000},
  {"fsub.d", R(0x05, 0), 2, 2, 0, 1, 3000},   {"fmul.d", R(0x09, 0), 2, 2, 0, 1, 4000},
  {"fdiv.d", R(0x0d, 0), 2, 2, 0, 1, 4000},   {"fsqrt.d", R(0x2d, 0), 2, 0, 0, 1, 3000},
  {"fsgnj.s", R(0x10, 0) | F3(0), 1, 1, 0, 0, 300}, {"fsgnjn.s", R(0x10, 0) | F3(1), 1, 1, 0, 0, 300},
  {"fsgnjx.s", R(0x10, 0) | F3(2), 1, 1, 0, 0, 300}, {"fsgnj.d", R(0x11, 0) | F3(0), 2, 2, 0, 0, 300},
  {"fsgnjn.d", R(0x11, 0) | F3(1), 2, 2, 0, 0, 300}, {"fsgnjx.d", R(0x11, 0) | F3(2), 2, 2, 0, 0, 300},
  {"fmin.s", R(0x14, 0) | F3(0), 1, 1, 0, 0, 1000}, {"fmax.s", R(0x14, 0) | F3(1), 1, 1, 0, 0, 1000},
  {"fmin.d", R(0x15, 0) | F3(0), 2, 2, 0, 0, 1000}, {"fmax.d", R(0x15, 0) | F3(1), 2, 2, 0, 0, 1000},
  {"fcvt.s.d", R(0x20, 1), 2, 0, 0, 1, 4000}, {"fcvt.d.s", R(0x21, 0), 1, 0, 0, 1, 1000},
  {"fle.s", R(0x50, 0) | F3(0), 1, 1, 0, 0, 1000}, {"flt.s", R(0x50, 0) | F3(1), 1, 1, 0, 0, 1000},
  {"feq.s", R(0x50, 0) | F3(2), 1, 1, 0, 0, 1000}, {"fle.d", R(0x51, 0) | F3(0), 2, 2, 0, 0, 1000},
  {"flt.d", R(0x51, 0) | F3(1), 2, 2, 0, 0, 1000}, {"feq.d", R(0x51, 0) | F3(2), 2, 2, 0, 0, 1000},
  {"fcvt.w.s", R(0x60, 0), 1, 0, 0, 1, 2500}, {"fcvt.wu.s", R(0x60, 1), 1, 0, 0, 1, 2500},
  {"fcvt.l.s", R(0x60, 2), 1, 0, 0, 1, 2500}, {"fcvt.lu.s", R(0x60, 3), 1, 0, 0, 1, 2500},
  {"fcvt.w.d", R(0x61, 0), 2, 0, 0, 1, 2500}, {"fcvt.wu.d", R(0x61, 1), 2, 0, 0, 1, 2500},
  {"fcvt.l.d", R(0x61, 2), 2, 0, 0, 1, 2500}, {"fcvt.lu.d", R(0x61, 3), 2, 0, 0, 1, 2500},
  {"fcvt.s.w", R(0x68, 0), 3, 0, 0, 1, 2000}, {"fcvt.s.wu", R(0x68, 1), 3, 0, 0, 1, 2000},
  {"fcvt.s.l", R(0x68, 2), 3, 0, 0, 1, 2500}, {"fcvt.s.lu", R(0x68, 3), 3, 0, 0, 1, 2500},
  {"fcvt.d.w", R(0x69, 0), 3, 0, 0, 1, 1000}, {"fcvt.d.wu", R(0x69, 1), 3, 0, 0, 1, 1000},
  {"fcvt.d.l", R(0x69, 2), 3, 0, 0, 1, 2500}, {"fcvt.d.lu", R(0x69, 3), 3, 0, 0, 1, 2500},
  {"fmv.x.w", R(0x70, 0) | F3(0), 1, 0, 0, 0, 300}, {"fclass.s", R(0x70, 0) | F3(1), 1, 0, 0, 0, 1000},
  {"fmv.x.d", R(0x71, 0) | F3(0), 2, 0, 0, 0, 300}, {"fclass.d", R(0x71, 0) | F3(1), 2, 0, 0, 0, 1000},
  {"fmv.w.x", R(0x78, 0) | F3(0), 3, 0, 0, 0, 300}, {"fmv.d.x", R(0x79, 0) | F3(0), 3, 0, 0, 0, 300},
  {"fmadd.s", R4(0x43, 0), 1, 1, 1, 1, 5000}, {"fmsub.s", R4(0x47, 0), 1, 1, 1, 1, 3000},
  {"fnmsub.s", R4(0x4b, 0), 1, 1, 1, 1, 3000}, {"fnmadd.s", R4(0x4f, 0), 1, 1, 1, 1, 3000},
  {"fmadd.d", R4(0x43, 1), 2, 2, 2, 1, 5000}, {"fmsub.d", R4(0x47, 1), 2, 2, 2, 1, 3000},
  {"fnmsub.d", R4(0x4b, 1), 2, 2, 2, 1, 3000}, {"fnmadd.d", R4(0x4f, 1), 2, 2, 2, 1, 3000},
};

static u64 gen(int kind) {
  if (kind == 1) return gen_s();
  if (kind == 2) return gen_d();
  if (kind == 3) return gen_x();
  return 0;
}

/* Correlated operands: cancellation in add/sub/fma, exact and near-exact quotients. */
static void correlate(const struct op *o, u64 *a, u64 *b, u64 *c) {
  u32 k = rn(8);
  if (o->a == 2 && o->b == 2 && k < 2) {
    u64 sh = (u64)rn(60) << 52;
    u64 nb = (*a & 0x7fffffffffffffffu) > sh + (1ul << 52) ? *a - sh : *a;
    *b = (nb + (u64)(i64)(int)(rn(9) - 4)) ^ ((rnd() & 1) << 63);
  } else if (o->a == 1 && o->b == 1 && k < 2 && (*a >> 32) == 0xffffffffu) {
    u32 fa = (u32)*a;
    u32 sh = rn(30) << 23;
    u32 nb = (fa & 0x7fffffff) > sh + (1u << 23) ? fa - sh : fa;
    *b = 0xffffffff00000000ul | ((nb + (u32)(int)(rn(9) - 4)) ^ ((u32)(rnd() & 1) << 31));
  }
  if (o->c == 2 && rn(3) == 0) {
    double p = dbl(*a) * dbl(*b);
    u64 pb = bitsd(-p);
    if ((pb & 0x7ff0000000000000ul) != 0x7ff0000000000000ul) *c = pb + (u64)(i64)(int)(rn(5) - 2);
    if (rn(2)) *c ^= rn(2) ? 1 : 0; /* keep near ties */
  }
  if (o->c == 1 && rn(3) == 0 && (*a >> 32) == 0xffffffffu && (*b >> 32) == 0xffffffffu) {
    u32 k3 = rn(3);
    if (k3 == 2) {
      /* 13-bit significands: a*b has at most 26 bits and is often exactly a binary32 midpoint; a tiny c
         then decides the rounding, which rounding through binary64 first gets wrong. */
      *a &= ~0x7fful;
      *b &= ~0x7fful;
      double q = (double)flt((u32)*a) * (double)flt((u32)*b);
      double t = q / (double)(1ul << (40 + rn(20))) / (double)(1ul << 14);
      *c = 0xffffffff00000000ul | bitsf((float)(rn(2) ? t : -t));
      return;
    }
    double p = (double)flt((u32)*a) * (double)flt((u32)*b);
    if (k3 == 1) {
      *c = 0xffffffff00000000ul | (bitsf(-(float)p) + (u32)(int)(rn(5) - 2));
    } else {
      /* c chosen so that a*b+c lands on or near a float midpoint: rounding twice would go wrong. */
      float pf = (float)p;
      double r = p - (double)pf;
      *c = 0xffffffff00000000ul | bitsf((float)(-r * (double)(1 << rn(4))));
    }
  }
}

static void emit(u32 insn, u64 frm) {
  io[4] = frm;
  io[5] = io[6] = io[7] = 0;
  illegal = 0;
  code[0] = insn;
  code[1] = 0x00008067; /* ret */
  exec_insn(io, code);
  puthex(insn);
  putc_(' ');
  puthex(frm);
  for (int i = 0; i < 4; i++) {
    putc_(' ');
    puthex(io[i]);
  }
  putc_(' ');
  puthex(io[5]);
  putc_(' ');
  puthex(io[6]);
  putc_(' ');
  if (illegal)
    putc_('x');
  else
    puthex(io[7]);
  putc_('\n');
}


/* Hand-picked edge cases, each run under all five static rounding modes and the dynamic mode. */
static u64 dp2(int e) { return (u64)(e + 1023) << 52; }           /* 2^e, normal range */
static u64 sp2(int e) { return 0xffffffff00000000ul | (u64)(e + 127) << 23; }
#define NEGD (1ul << 63)
#define NEGS 0x80000000ul
struct fixed { u32 base; u64 a, b, c; };
static void run_fixed(const struct fixed *t, int n) {
  for (int i = 0; i < n; i++) {
    u32 regs = (10u << 7) | (10u << 15) | (11u << 20) | (12u << 27);
    if ((t[i].base & 0x7f) == 0x53) regs &= ~(31u << 27);
    for (u32 rm = 0; rm < 10; rm++) {
      io[0] = t[i].a;
      io[1] = t[i].b;
      io[2] = t[i].c;
      io[3] = t[i].a;
      u32 r = rm < 5 ? rm : 7;
      emit(t[i].base | regs | r << 12, rm < 5 ? rn(5) : rm - 5);
    }
  }
}
static void fixed_cases(void) {
  static struct fixed t[80];
  int n = 0;
  /* Tininess after rounding: a*b + c lands just below the smallest normal. */
  for (int k = 535; k <= 539; k++) {
    t[n++] = (struct fixed){R4(0x43, 1), dp2(-539), dp2(-k) | NEGD, dp2(-1022)};
    t[n++] = (struct fixed){R4(0x43, 1), dp2(-539), dp2(-k), dp2(-1022) | NEGD};
  }
  for (int k = 72; k <= 77; k++) {
    t[n++] = (struct fixed){R4(0x43, 0), sp2(-75), sp2(-k) | NEGS, sp2(-126)};
    t[n++] = (struct fixed){R4(0x43, 0), sp2(-75), sp2(-k), sp2(-126) | NEGS};
  }
  t[n++] = (struct fixed){R(0x09, 0), 0x3feffffffffffffful, dp2(-1022), 0};
  t[n++] = (struct fixed){R(0x09, 0), 0x3feffffffffffffful, dp2(-1022) | NEGD, 0};
  t[n++] = (struct fixed){R(0x08, 0), 0xffffffff3f7ffffful, sp2(-126), 0};
  t[n++] = (struct fixed){R(0x0d, 0), dp2(-1022), 0x3ff0000000000001ul, 0};
  t[n++] = (struct fixed){R(0x0c, 0), sp2(-126), 0xffffffff3f800001ul, 0};
  /* Quotients near 2^1000 and huge over subnormal (exact, no flags). */
  t[n++] = (struct fixed){R(0x0d, 0), 0x7f65a1ea53cb8fc4ul, 0xc108000000000000ul, 0};
  t[n++] = (struct fixed){R(0x0d, 0), 0x3e720131b4000000ul, 0x0009400000000000ul, 0};
  t[n++] = (struct fixed){R(0x0d, 0), 0xffeffffffffffffful, 0x7c50000000000000ul, 0};
  t[n++] = (struct fixed){R(0x0d, 0), 0x7feffffffffffffful, 0xfd10000000000000ul, 0};
  /* Overflow boundaries. */
  t[n++] = (struct fixed){R(0x01, 0), 0x7feffffffffffffful, dp2(970), 0};
  t[n++] = (struct fixed){R(0x01, 0), 0x7feffffffffffffful, dp2(969), 0};
  t[n++] = (struct fixed){R(0x01, 0), 0xffeffffffffffffful, dp2(970) | NEGD, 0};
  t[n++] = (struct fixed){R(0x00, 0), 0xffffffff7f7ffffful, sp2(103), 0};
  t[n++] = (struct fixed){R(0x00, 0), 0xffffffff7f7ffffful, sp2(102), 0};
  t[n++] = (struct fixed){R(0x00, 0), 0xffffffffff7ffffful, sp2(103) | NEGS, 0};
  /* FCVT.S.D around the smallest normal and the largest finite single. */
  static const u64 cvt[] = {0x380fffffffffffff, 0x380ffffff0000000, 0x380fffffe0000000, 0x380ffffff8000000,
                            0x380ffffff0000001, 0x47efffffe0000000, 0x47effffff0000000, 0x47efffffefffffff,
                            0x47effffff0000001, 0x36a0000000000000, 0x3690000000000000, 0x3690000000000001};
  for (unsigned i = 0; i < sizeof cvt / sizeof cvt[0]; i++) {
    t[n++] = (struct fixed){R(0x20, 1), cvt[i], 0, 0};
    t[n++] = (struct fixed){R(0x20, 1), cvt[i] | NEGD, 0, 0};
  }
  run_fixed(t, n);
}

int main(void) {
  fixed_cases();
  for (u32 i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    const struct op *o = &ops[i];
    u32 regs = (10u << 7) | (10u << 15);
    if (o->b) regs |= 11u << 20;
    if (o->c) regs |= 12u << 27;
    for (int t = 0; t < o->n * SCALE; t++) {
      u64 a = gen(o->a), b = gen(o->b), c = gen(o->c);
      correlate(o, &a, &b, &c);
      io[0] = o->a == 3 ? 0 : a;
      io[1] = b;
      io[2] = c;
      io[3] = o->a == 3 ? a : 0;
      u32 rm;
      u64 frm = rn(5);
      if (o->rm) {
        u32 k = rn(64);
        if (k == 0) rm = 5 + rn(2);          /* reserved static rm: illegal */
        else if (k == 1) { rm = 7; frm = 5 + rn(3); } /* invalid dynamic frm: illegal */
        else if (k < 12) rm = 7;
        else rm = rn(5);
      } else {
        rm = (o->base >> 12) & 7;
        if (rn(200) == 0) rm = 3 + rn(5);     /* unused funct3 values: illegal */
      }
      u32 insn = (o->base & ~(7u << 12)) | regs | rm << 12;
      emit(insn, frm);
    }
  }
  return 0;
}

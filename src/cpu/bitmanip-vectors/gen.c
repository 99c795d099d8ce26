/*
 * Zba/Zbb/Zbc/Zbs reference vector generator. Runs bare-metal under qemu-system-riscv64 (-machine
 * virt -bios none; QEMU 7.2's default CPU has the four extensions) and prints one line per executed
 * instruction on the UART:
 *   insn a b result       (hex; result "x" = illegal instruction, with mtval = insn)
 * Each instruction is written into a code buffer and executed with x10 = a, x11 = b (rd = rs1 = x10,
 * rs2 = x11 where it has one), so the vectors exercise the exact encodings pvm decodes. Three parts:
 *   1. every instruction of the four extensions on edge-case and random operands,
 *   2. every shift amount of the immediate forms,
 *   3. the legality walk: every funct7/funct3 (OP, OP-32) and every 12-bit immediate with funct3
 *      1 and 5 (OP-IMM, OP-IMM-32), on one operand pair.
 */
typedef unsigned long u64;
typedef unsigned int u32;

volatile int illegal;
volatile u64 trap_cause, trap_tval;
static u32 code[4] __attribute__((aligned(64)));
extern u64 exec_insn(u64 a, u64 b, u32 *code);

#include "../fpu/vectors/uart.h"

static u64 seed = 0x9e3779b97f4a7c15ul;
static u64 rnd(void) {
  seed ^= seed >> 12;
  seed ^= seed << 25;
  seed ^= seed >> 27;
  return seed * 0x2545f4914f6cdd1dul;
}
/* Random operands biased to the shapes bit manipulation cares about: sparse, dense, one byte. */
static u64 operand(void) {
  switch (rnd() % 6) {
    case 0: return 1ul << (rnd() % 64);
    case 1: return ~(1ul << (rnd() % 64));
    case 2: return rnd() & rnd() & rnd();
    case 3: return (rnd() & 0xff) << (8 * (rnd() % 8));
    case 4: return rnd() % 128;
    default: return rnd();
  }
}

static const u64 EDGE[] = {
  0, 1, 0xffffffffffffffff, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
  0x8000000000000000, 0x7fffffffffffffff, 0x00ff00ff00ff00ff, 0x0123456789abcdef,
  0xfedcba9876543210, 0x8000000000000001, 63, 32,
};
#define NEDGE (sizeof EDGE / sizeof EDGE[0])

#define OP 0x33u
#define OP_32 0x3bu
#define OP_IMM 0x13u
#define OP_IMM_32 0x1bu
#define RD 10u
#define RS1 10u
#define RS2 11u

static u32 r_type(u32 op, u32 f7, u32 f3, u32 rs2) { return (f7 << 25) | (rs2 << 20) | (RS1 << 15) | (f3 << 12) | (RD << 7) | op; }
static u32 i_type(u32 op, u32 f3, u32 imm) { return ((imm & 0xfff) << 20) | (RS1 << 15) | (f3 << 12) | (RD << 7) | op; }

static void one(u32 insn, u64 a, u64 b) {
  code[0] = insn;
  code[1] = 0x00008067; /* ret */
  illegal = 0;
  u64 r = exec_insn(a, b, code);
  puthex(insn);
  putc_(' ');
  puthex(a);
  putc_(' ');
  puthex(b);
  putc_(' ');
  if (illegal) {
    if (trap_cause != 2 || trap_tval != insn) {
      putc_('?');
      puthex(trap_cause);
    } else {
      putc_('x');
    }
  } else {
    puthex(r);
  }
  putc_('\n');
}

/* Register forms: opcode, funct7, funct3. */
static const u32 RTYPE[][3] = {
  {OP, 0x10, 2}, {OP, 0x10, 4}, {OP, 0x10, 6},                   /* sh1add sh2add sh3add */
  {OP_32, 0x04, 0}, {OP_32, 0x10, 2}, {OP_32, 0x10, 4}, {OP_32, 0x10, 6}, /* add.uw shNadd.uw */
  {OP, 0x20, 7}, {OP, 0x20, 6}, {OP, 0x20, 4},                   /* andn orn xnor */
  {OP, 0x05, 4}, {OP, 0x05, 5}, {OP, 0x05, 6}, {OP, 0x05, 7},     /* min minu max maxu */
  {OP, 0x30, 1}, {OP, 0x30, 5}, {OP_32, 0x30, 1}, {OP_32, 0x30, 5}, /* rol ror rolw rorw */
  {OP, 0x05, 1}, {OP, 0x05, 2}, {OP, 0x05, 3},                   /* clmul clmulr clmulh */
  {OP, 0x14, 1}, {OP, 0x24, 1}, {OP, 0x34, 1}, {OP, 0x24, 5},     /* bset bclr binv bext */
};
/* Unary forms: opcode, funct3, imm (OP-32 zext.h as funct7 << 5 | rs2). */
static const u32 UNARY[][3] = {
  {OP_IMM, 1, 0x600}, {OP_IMM, 1, 0x601}, {OP_IMM, 1, 0x602},    /* clz ctz cpop */
  {OP_IMM, 1, 0x604}, {OP_IMM, 1, 0x605},                        /* sext.b sext.h */
  {OP_IMM, 5, 0x287}, {OP_IMM, 5, 0x6b8},                        /* orc.b rev8 */
  {OP_IMM_32, 1, 0x600}, {OP_IMM_32, 1, 0x601}, {OP_IMM_32, 1, 0x602}, /* clzw ctzw cpopw */
  {OP_32, 4, 0x080},                                             /* zext.h */
};
/* Immediate shift forms: opcode, funct3, imm[11:6] << 6, shamt limit. */
static const u32 SHAMT[][4] = {
  {OP_IMM_32, 1, 0x080, 64},                                      /* slli.uw */
  {OP_IMM, 1, 0x280, 64}, {OP_IMM, 1, 0x480, 64}, {OP_IMM, 1, 0x680, 64}, /* bseti bclri binvi */
  {OP_IMM, 5, 0x480, 64}, {OP_IMM, 5, 0x600, 64}, {OP_IMM_32, 5, 0x600, 32}, /* bexti rori roriw */
};

int main(void) {
  unsigned i, j, k;
  for (i = 0; i < sizeof RTYPE / sizeof RTYPE[0]; i++) {
    u32 insn = r_type(RTYPE[i][0], RTYPE[i][1], RTYPE[i][2], RS2);
    for (j = 0; j < NEDGE; j++)
      for (k = 0; k < NEDGE; k++) one(insn, EDGE[j], EDGE[k]);
    for (j = 0; j < 64; j++) one(insn, operand(), operand());
  }
  for (i = 0; i < sizeof UNARY / sizeof UNARY[0]; i++) {
    u32 insn = UNARY[i][0] == OP_32 ? r_type(OP_32, UNARY[i][2] >> 5, UNARY[i][1], 0) : i_type(UNARY[i][0], UNARY[i][1], UNARY[i][2]);
    for (j = 0; j < NEDGE; j++) one(insn, EDGE[j], 0);
    for (j = 0; j < 128; j++) one(insn, operand(), 0);
  }
  for (i = 0; i < sizeof SHAMT / sizeof SHAMT[0]; i++) {
    for (j = 0; j < SHAMT[i][3]; j++) {
      u32 insn = i_type(SHAMT[i][0], SHAMT[i][1], SHAMT[i][2] | j);
      for (k = 0; k < 6; k++) one(insn, k < 3 ? EDGE[k * 5 + 1] : operand(), 0);
    }
  }
  /* the legality walk */
  for (i = 0; i < 128; i++)
    for (j = 0; j < 8; j++) {
      one(r_type(OP, i, j, RS2), 0x0123456789abcdef, 0x8000000000000021);
      one(r_type(OP_32, i, j, RS2), 0x0123456789abcdef, 0x8000000000000021);
      one(r_type(OP_32, i, j, 0), 0x0123456789abcdef, 0x8000000000000021);
    }
  for (i = 0; i < 4096; i++) {
    one(i_type(OP_IMM, 1, i), 0xfedcba9876543210, 0);
    one(i_type(OP_IMM, 5, i), 0xfedcba9876543210, 0);
    one(i_type(OP_IMM_32, 1, i), 0xfedcba9876543210, 0);
    one(i_type(OP_IMM_32, 5, i), 0xfedcba9876543210, 0);
  }
  return 0;
}

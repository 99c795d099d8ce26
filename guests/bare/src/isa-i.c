/* RV64I: every base instruction, with sign-extension and shift-amount corner cases. */
#include "isa.h"

static volatile uint64_t mem[4] __attribute__((aligned(16)));
static volatile uint8_t code_buf[64] __attribute__((aligned(8)));

static void arith(void) {
  T_RR("add", 1, 2, 3);
  T_RR("add", 0x7fffffffffffffff, 1, 0x8000000000000000);
  T_RR("sub", 0, 1, -1);
  T_RR("sub", 0x8000000000000000, 1, 0x7fffffffffffffff);
  T_RR("addw", 0x7fffffff, 1, 0xffffffff80000000);
  T_RR("addw", 0xffffffff00000001, 0x100000000, 1);
  T_RR("subw", 0, 1, -1);
  T_RR("subw", 0x80000000, 1, 0x7fffffff);
  T_RI("addi", 5, -6, -1);
  T_RI("addi", 0, 2047, 2047);
  T_RI("addi", 0, -2048, -2048);
  T_RI("addiw", 0x7fffffff, 1, 0xffffffff80000000);
  T_RI("addiw", 0x123456789, 0, 0x23456789);
  T_RR("and", 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0x0f000f000f000f00);
  T_RR("or", 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xfff0fff0fff0fff0);
  T_RR("xor", 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f0);
  T_RI("andi", 0xff00ff00ff00ff00, -16, 0xff00ff00ff00ff00);
  T_RI("andi", 0xffffffffffffffff, 0x7ff, 0x7ff);
  T_RI("ori", 0, -1, -1);
  T_RI("xori", 0x00ff00ff00ff00ff, -1, 0xff00ff00ff00ff00);
  T_RR("slt", -1, 0, 1);
  T_RR("slt", 0, -1, 0);
  T_RR("sltu", -1, 0, 0);
  T_RR("sltu", 0, -1, 1);
  T_RI("slti", -1, 0, 1);
  T_RI("slti", 0x8000000000000000, -2048, 1);
  T_RI("sltiu", 0, -1, 1);
  T_RI("sltiu", 5, 5, 0);
}

static void shifts(void) {
  T_RR("sll", 1, 63, 0x8000000000000000);
  T_RR("sll", 1, 64, 1);
  T_RR("sll", 1, 65, 2);
  T_RR("srl", 0x8000000000000000, 63, 1);
  T_RR("srl", 0x8000000000000000, 127, 1);
  T_RR("sra", 0x8000000000000000, 63, -1);
  T_RR("sra", 0x8000000000000000, 4, 0xf800000000000000);
  T_RI("slli", 1, 63, 0x8000000000000000);
  T_RI("srli", -1, 60, 0xf);
  T_RI("srai", 0x8000000000000000, 60, -8);
  T_RR("sllw", 1, 31, 0xffffffff80000000);
  T_RR("sllw", 1, 32, 1);
  T_RR("sllw", 0xffffffff00000003, 1, 6);
  T_RR("srlw", 0xffffffff80000000, 31, 1);
  T_RR("srlw", 0x80000000, 0, 0xffffffff80000000);
  T_RR("srlw", 0xffffffff80000000, 33, 0x40000000);
  T_RR("sraw", 0x80000000, 31, -1);
  T_RR("sraw", 0x0000000180000000, 4, 0xfffffffff8000000);
  T_RI("slliw", 0x12345678, 4, 0x23456780);
  T_RI("slliw", 1, 31, 0xffffffff80000000);
  T_RI("srliw", 0xffffffffffffffff, 28, 0xf);
  T_RI("srliw", 0x80000000, 0, 0xffffffff80000000);
  T_RI("sraiw", 0x80000000, 28, -8);
  T_RI("sraiw", 0x7fffffff00000000, 1, 0);
}

static void upper(void) {
  uint64_t r;
  __asm__ volatile("lui %0, 0x80000" : "=r"(r));
  check_eq("lui 0x80000 sign-extends", r, 0xffffffff80000000);
  __asm__ volatile("lui %0, 0x7ffff" : "=r"(r));
  check_eq("lui 0x7ffff", r, 0x7ffff000);
  uint64_t here, a;
  __asm__ volatile(".option push\n.option norvc\n1: auipc %0, 0\nla %1, 1b\n.option pop" : "=r"(a), "=r"(here));
  check_eq("auipc 0 = pc", a, here);
  __asm__ volatile(".option push\n.option norvc\n1: auipc %0, 1\nla %1, 1b\n.option pop" : "=r"(a), "=r"(here));
  check_eq("auipc 1 = pc + 4096", a, here + 4096);
}

static void branches(void) {
  T_BR("beq", 3, 3, 1);
  T_BR("beq", 3, 4, 0);
  T_BR("bne", 3, 4, 1);
  T_BR("bne", 3, 3, 0);
  T_BR("blt", -1, 0, 1);
  T_BR("blt", 0, -1, 0);
  T_BR("blt", 1, 1, 0);
  T_BR("bge", 0, -1, 1);
  T_BR("bge", 1, 1, 1);
  T_BR("bge", -1, 0, 0);
  T_BR("bltu", 0, -1, 1);
  T_BR("bltu", -1, 0, 0);
  T_BR("bgeu", -1, 0, 1);
  T_BR("bgeu", 0, -1, 0);
  T_BR("bgeu", 7, 7, 1);
}

static void jumps(void) {
  uint64_t link, target, taken;
  __asm__ volatile(
      ".option push\n.option norvc\n"
      "li %2, 0\n"
      "jal %0, 1f\n"
      "2: li %2, 99\n"
      "1: la %1, 2b\n"
      "addi %2, %2, 1\n"
      ".option pop"
      : "=&r"(link), "=&r"(target), "=&r"(taken));
  check_eq("jal link = pc + 4", link, target);
  check_eq("jal skips", taken, 1);
  uint64_t r;
  __asm__ volatile(
      ".option push\n.option norvc\n"
      "la t0, 1f\n"
      "addi t0, t0, 1\n" /* jalr clears bit 0 of the target */
      "li %0, 0\n"
      "jalr t1, 0(t0)\n"
      "2: li %0, 99\n"
      "1: addi %0, %0, 7\n"
      "la t2, 2b\n"
      "sub %1, t1, t2\n"
      ".option pop"
      : "=&r"(r), "=&r"(link)::"t0", "t1", "t2");
  check_eq("jalr clears bit 0", r, 7);
  check_eq("jalr link = pc + 4", link, 0);
  /* jalr with rd == rs1: target computed from the old value. */
  __asm__ volatile(
      ".option push\n.option norvc\n"
      "la t0, 1f\n"
      "li %0, 0\n"
      "jalr t0, 0(t0)\n"
      "li %0, 99\n"
      "1: addi %0, %0, 5\n"
      ".option pop"
      : "=&r"(r)::"t0");
  check_eq("jalr rd == rs1", r, 5);
}

static void loads_stores(void) {
  mem[0] = 0x8081828384858687;
  mem[1] = 0;
  volatile uint64_t *m = mem;
  uint64_t r;
#define LD(insn, off, want)                                                 \
  __asm__ volatile(insn " %0, " #off "(%1)" : "=r"(r) : "r"(m) : "memory"); \
  check_eq(insn " " #off, r, want)
  LD("lb", 0, 0xffffffffffffff87);
  LD("lbu", 0, 0x87);
  LD("lb", 7, 0xffffffffffffff80);
  LD("lh", 0, 0xffffffffffff8687);
  LD("lhu", 6, 0x8081);
  LD("lw", 0, 0xffffffff84858687);
  LD("lw", 4, 0xffffffff80818283);
  LD("lwu", 4, 0x80818283);
  LD("ld", 0, 0x8081828384858687);
  __asm__ volatile("sb %1, 8(%0)\nsh %1, 10(%0)\nsw %2, 12(%0)" ::"r"(m), "r"(0x1122334455667788UL),
                   "r"(0xaabbccddeeff0011UL)
                   : "memory");
  check_eq("sb/sh/sw", mem[1], 0xeeff001177880088);
  __asm__ volatile("sd %1, 16(%0)" ::"r"(m), "r"(0x0123456789abcdefUL) : "memory");
  check_eq("sd", mem[2], 0x0123456789abcdef);
  /* Negative offsets. */
  __asm__ volatile("ld %0, -8(%1)" : "=r"(r) : "r"(m + 3) : "memory");
  check_eq("ld -8", r, 0x0123456789abcdef);
  /* Misaligned plain accesses to RAM are emulated (pvm and QEMU). */
  __asm__ volatile("ld %0, 1(%1)" : "=r"(r) : "r"(m) : "memory");
  check_eq("misaligned ld", r, 0x8880818283848586);
  __asm__ volatile("lw %0, 3(%1)" : "=r"(r) : "r"(m) : "memory");
  check_eq("misaligned lw", r, 0xffffffff81828384);
  __asm__ volatile("sw %1, 1(%0)" ::"r"(m + 3), "r"(0xa1b2c3d4UL) : "memory");
  check_eq("misaligned sw", mem[3], 0x000000a1b2c3d400);
  __asm__ volatile("sd %1, 7(%0)" ::"r"(m + 2), "r"(0x1020304050607080UL) : "memory");
  check_eq("misaligned sd lo", mem[2], 0x8023456789abcdef);
  check_eq("misaligned sd hi", mem[3], 0x0010203040506070);
}

static void misc(void) {
  uint64_t r;
  __asm__ volatile("li t0, 5\nadd x0, t0, t0\nmv %0, x0" : "=r"(r)::"t0");
  check_eq("x0 stays zero", r, 0);
  __asm__ volatile("fence\nfence rw, rw\nfence.i\nnop" ::: "memory");
  check("fence, fence.i, nop", 1);
  /* Self-modifying code: write "li a0, 42; ret", fence.i, run it. */
  uint32_t *c = (uint32_t *)code_buf;
  c[0] = 0x02a00513; /* addi a0, zero, 42 */
  c[1] = 0x00008067; /* jalr zero, 0(ra) */
  __asm__ volatile("fence.i" ::: "memory");
  uint64_t (*fn)(void) = (uint64_t (*)(void))(uintptr_t)c;
  check_eq("fence.i then run written code", fn(), 42);
  c[0] = 0x00700513; /* addi a0, zero, 7 */
  __asm__ volatile("fence.i" ::: "memory");
  check_eq("rewritten code after fence.i", fn(), 7);
}

int main(void) {
  arith();
  shifts();
  upper();
  branches();
  jumps();
  loads_stores();
  misc();
  return finish();
}

/* RV64C: every compressed instruction, checked against its expansion (ISA spec chapter 16). */
#include "isa.h"

static volatile uint64_t mem[8] __attribute__((aligned(16)));

#define C_ASM(text) ".option push\n.option rvc\n.option norelax\n" text "\n.option pop\n"

/* Checks that the instruction at label 1 of `text` assembled to 2 bytes (the
   explicit c.* mnemonics of forward branches are always 16-bit). */
#define IS_C(text) text "\n2:\n.if (2b - 1b) != 2\n.error \"not compressed\"\n.endif\n"

int main(void) {
  uint64_t r, s;
  volatile uint64_t *m = mem;
  __asm__ volatile(C_ASM("li %0, 7\n" IS_C("1: c.addi %0, -3")) : "=r"(r));
  check_eq("c.addi", r, 4);
  __asm__ volatile(C_ASM(IS_C("1: c.li %0, -32")) : "=r"(r));
  check_eq("c.li -32", r, -32);
  __asm__ volatile(C_ASM(IS_C("1: c.lui %0, 0xfffe1")) : "=r"(r));
  check_eq("c.lui sign-extends", r, 0xfffffffffffe1000);
  __asm__ volatile(C_ASM(IS_C("1: c.lui %0, 1")) : "=r"(r));
  check_eq("c.lui 1", r, 0x1000);
  r = 0x7fffffff;
  __asm__ volatile(C_ASM(IS_C("1: c.addiw %0, 1")) : "+r"(r));
  check_eq("c.addiw wraps", r, 0xffffffff80000000);
  r = 0x100000005;
  __asm__ volatile(C_ASM(IS_C("1: c.addiw %0, 0")) : "+r"(r));
  check_eq("c.addiw 0 = sext.w", r, 5);
  __asm__ volatile(C_ASM("mv t0, sp\n" IS_C("1: c.addi16sp sp, -64") "\nsub %0, t0, sp\nmv sp, t0") : "=r"(r)::"t0");
  check_eq("c.addi16sp", r, 64);
  __asm__ volatile(C_ASM(IS_C("1: c.addi4spn %0, sp, 1020") "\nsub %0, %0, sp") : "=r"(r));
  check_eq("c.addi4spn", r, 1020);
  /* The 3-bit register forms use x8..x15: a4 and a5 here, moved explicitly. */
#define C_R1(op, x, want)                                                                           \
  __asm__ volatile(C_ASM("mv a5, %1\n" IS_C("1: " op) "\nmv %0, a5") : "=r"(r) : "r"((uint64_t)(x)) : "a5"); \
  check_eq(op " " #x, r, (uint64_t)(want))
  C_R1("c.srli a5, 63", 0x8000000000000000, 1);
  C_R1("c.srai a5, 62", 0x8000000000000000, -2);
  C_R1("c.andi a5, -16", 0xff, 0xf0);
  r = 3;
  __asm__ volatile(C_ASM(IS_C("1: c.slli %0, 62")) : "+r"(r));
  check_eq("c.slli", r, 0xc000000000000000);
#define C_RR(op, x, y, want)                                                                      \
  __asm__ volatile(C_ASM("mv a5, %1\nmv a4, %2\n" IS_C("1: " op " a5, a4") "\nmv %0, a5")          \
                   : "=r"(r)                                                                      \
                   : "r"((uint64_t)(x)), "r"((uint64_t)(y))                                       \
                   : "a4", "a5");                                                                 \
  check_eq(op " " #x ", " #y, r, (uint64_t)(want))
  C_RR("c.sub", 5, 7, -2);
  C_RR("c.xor", 0xf0f0, 0xff00, 0x0ff0);
  C_RR("c.or", 0xf0f0, 0xff00, 0xfff0);
  C_RR("c.and", 0xf0f0, 0xff00, 0xf000);
  C_RR("c.subw", 0x80000000, 1, 0x7fffffff);
  C_RR("c.subw", 0, 1, -1);
  C_RR("c.addw", 0x7fffffff, 1, 0xffffffff80000000);
  C_RR("c.addw", 0x100000000, 0x100000000, 0);
  s = 0x1234;
  __asm__ volatile(C_ASM(IS_C("1: c.mv %0, %1")) : "=r"(r) : "r"(s));
  check_eq("c.mv", r, 0x1234);
  r = 40;
  __asm__ volatile(C_ASM(IS_C("1: c.add %0, %1")) : "+r"(r) : "r"(s));
  check_eq("c.add", r, 0x1234 + 40);
  /* Loads and stores, register-based (x8..x15) and sp-based. */
  mem[0] = 0xfedcba9876543210;
#define C_MEM(text, val)                                                                                  \
  __asm__ volatile(C_ASM("mv a4, %1\nmv a5, %2\n" IS_C("1: " text) "\nmv %0, a5")                          \
                   : "=r"(r)                                                                              \
                   : "r"(m), "r"((uint64_t)(val))                                                         \
                   : "a4", "a5", "memory")
  C_MEM("c.lw a5, 4(a4)", 0);
  check_eq("c.lw sign-extends", r, 0xfffffffffedcba98);
  C_MEM("c.ld a5, 0(a4)", 0);
  check_eq("c.ld", r, 0xfedcba9876543210);
  C_MEM("c.sw a5, 8(a4)", 0x1122334455667788);
  check_eq("c.sw", mem[1], 0x55667788);
  C_MEM("c.sd a5, 16(a4)", 0x1122334455667788);
  check_eq("c.sd", mem[2], 0x1122334455667788);
  __asm__ volatile(C_ASM("mv t0, sp\nmv sp, %1\n" IS_C("1: c.ldsp %0, 16(sp)") "\nmv sp, t0")
                   : "=&r"(r)
                   : "r"(m)
                   : "t0", "memory");
  check_eq("c.ldsp", r, 0x1122334455667788);
  __asm__ volatile(C_ASM("mv t0, sp\nmv sp, %1\n" IS_C("1: c.lwsp %0, 4(sp)") "\nmv sp, t0")
                   : "=&r"(r)
                   : "r"(m)
                   : "t0", "memory");
  check_eq("c.lwsp", r, 0xfffffffffedcba98);
  __asm__ volatile(C_ASM("mv t0, sp\nmv sp, %1\n" IS_C("1: c.sdsp %0, 24(sp)") "\nmv sp, t0")::"r"(0xabcdUL), "r"(m)
                   : "t0", "memory");
  check_eq("c.sdsp", mem[3], 0xabcd);
  __asm__ volatile(C_ASM("mv t0, sp\nmv sp, %1\n" IS_C("1: c.swsp %0, 32(sp)") "\nmv sp, t0")::"r"(-1UL), "r"(m)
                   : "t0", "memory");
  check_eq("c.swsp", mem[4], 0xffffffff);
  /* Control transfer. */
  __asm__ volatile(C_ASM("li %0, 0\n" "1: c.j 3f" "\nli %0, 99\n3: addi %0, %0, 1") : "=&r"(r));
  check_eq("c.j", r, 1);
#define C_BR(op, x)                                                                                  \
  __asm__ volatile(C_ASM("mv a5, %1\nli %0, 0\n" op " a5, 3f\nli %0, 99\n3:") : "=&r"(r) : "r"((uint64_t)(x)) : "a5")
  C_BR("c.beqz", 0);
  check_eq("c.beqz taken", r, 0);
  C_BR("c.beqz", 1);
  check_eq("c.beqz not taken", r, 99);
  C_BR("c.bnez", 1);
  check_eq("c.bnez taken", r, 0);
  C_BR("c.bnez", 0);
  check_eq("c.bnez not taken", r, 99);
  __asm__ volatile(C_ASM("la t0, 3f\nli %0, 0\n" IS_C("1: c.jr t0") "\nli %0, 99\n3: addi %0, %0, 2")
                   : "=&r"(r)::"t0");
  check_eq("c.jr", r, 2);
  __asm__ volatile(C_ASM("mv t1, ra\nla t0, 3f\nli %0, 0\n" IS_C("1: c.jalr t0") "\n4: li %0, 99\n3: la t2, 4b\nsub %1, ra, t2\nmv ra, t1")
                   : "=&r"(r), "=&r"(s)::"t0", "t1", "t2");
  check_eq("c.jalr jumps", r, 0);
  check_eq("c.jalr link = pc + 2", s, 0);
  __asm__ volatile(C_ASM(IS_C("1: c.nop")));
  check("c.nop", 1);
  /* c.ebreak traps with epc on the 2-byte instruction; the handler steps over 2 bytes. */
  uint64_t at;
  trap_reset(1);
  __asm__ volatile(C_ASM("la %0, 1f\n" IS_C("1: c.ebreak")) : "=&r"(at));
  check_trap_notval("c.ebreak", CAUSE_BREAKPOINT, PRV_M, PRV_M);
  /* Illegal compressed encodings: mtval holds the 16-bit instruction (priv spec 3.1.16). */
  trap_reset(1);
  __asm__ volatile(C_ASM(".2byte 0x0000"));
  check_trap("c.unimp (0x0000)", CAUSE_ILLEGAL_INSTRUCTION, 0, PRV_M, PRV_M);
  trap_reset(1);
  __asm__ volatile(C_ASM(".2byte 0x6081")); /* c.lui ra, 0: reserved */
  check_trap("c.lui imm 0 reserved", CAUSE_ILLEGAL_INSTRUCTION, 0x6081, PRV_M, PRV_M);
  trap_reset(1);
  __asm__ volatile(C_ASM(".2byte 0x6101")); /* c.addi16sp sp, 0: reserved */
  check_trap("c.addi16sp imm 0 reserved", CAUSE_ILLEGAL_INSTRUCTION, 0x6101, PRV_M, PRV_M);
  trap_reset(1);
  __asm__ volatile(C_ASM(".2byte 0x4002")); /* c.lwsp x0: reserved */
  check_trap("c.lwsp rd 0 reserved", CAUSE_ILLEGAL_INSTRUCTION, 0x4002, PRV_M, PRV_M);
  trap_reset(1);
  __asm__ volatile(C_ASM(".2byte 0x8002")); /* c.jr x0: reserved */
  check_trap("c.jr rs1 0 reserved", CAUSE_ILLEGAL_INSTRUCTION, 0x8002, PRV_M, PRV_M);
  (void)at;
  return finish();
}

/*
 * Every synchronous trap cause that M-mode code can provoke, with mcause,
 * mtval and mepc as the privileged spec (3.1.15-3.1.17) requires; the same
 * causes raised from S- and U-mode reach the M handler with the right origin.
 */
#include "rt.h"

/* Unmapped on both the QEMU virt board and pvm's board. */
#define UNMAPPED 0x08000000UL

static uint32_t insn_at(uint64_t epc) {
  const volatile uint16_t *p = (const volatile uint16_t *)epc;
  return (p[0] & 3) == 3 ? (uint32_t)p[0] | (uint32_t)p[1] << 16 : p[0];
}

/* Illegal-instruction traps put the faulting instruction's bits in mtval. */
static void check_illegal(const char *name, int from) {
  uint64_t bits = trap_count == 1 ? insn_at(trap_log[0].epc) : 0;
  check_trap(name, CAUSE_ILLEGAL_INSTRUCTION, bits, PRV_M, from);
}

static void m_mode(void) {
  uint64_t v = 0, at;
  trap_reset(1);
  __asm__ volatile(".word 0xfe000033"); /* OP with funct7 = 0x7f: no such instruction */
  check_illegal("illegal OP funct7 0x7f", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x0000000b"); /* custom-0 */
  check_illegal("illegal custom-0", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x00007013"); /* OP-IMM funct3 7 is andi: legal control */
  check_eq("andi x0 is legal (no trap)", trap_count, 0);
  trap_reset(1);
  __asm__ volatile(".word 0x0200403b"); /* OP-32 funct7 1 funct3 4 = divw: legal */
  check_eq("divw x0 is legal (no trap)", trap_count, 0);
  trap_reset(1);
  __asm__ volatile(".word 0x0200103b"); /* OP-32 funct7 1 funct3 1: no mulhw in RV64 */
  check_illegal("illegal OP-32 funct3 1 funct7 1", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x00007003"); /* LOAD funct3 7: reserved */
  check_illegal("illegal LOAD funct3 7", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x00004023"); /* STORE funct3 4: reserved */
  check_illegal("illegal STORE funct3 4", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x00002067"); /* JALR funct3 2: reserved */
  check_illegal("illegal JALR funct3 2", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x00002063"); /* BRANCH funct3 2: reserved */
  check_illegal("illegal BRANCH funct3 2", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0xf800202f"); /* AMO funct5 0x1f: reserved */
  check_illegal("illegal AMO funct5 0x1f", PRV_M);
  trap_reset(1);
  __asm__ volatile(".word 0x302000f3"); /* mret with rd != 0: reserved */
  check_illegal("illegal mret with rd 1", PRV_M);

  trap_reset(1);
  __asm__ volatile("la %0, 1f\n1: ecall" : "=r"(at)::"a7");
  check_trap("ecall from M", CAUSE_MACHINE_ECALL, 0, PRV_M, PRV_M);
  trap_reset(1);
  __asm__ volatile(".option push\n.option norvc\nla %0, 1f\n1: ebreak\n.option pop" : "=r"(at));
  check_trap_notval("ebreak", CAUSE_BREAKPOINT, PRV_M, PRV_M);
  check_eq("ebreak mepc", trap_log[0].epc, at);

  /* Access faults: mtval = the faulting address. */
  trap_reset(1);
  TRY_ASM("ld %0, 0(%1)", : "=r"(v) : "r"(UNMAPPED) : "t5", "t6", "memory");
  check_trap("load access fault", CAUSE_LOAD_ACCESS, UNMAPPED, PRV_M, PRV_M);
  trap_reset(1);
  TRY_ASM("lbu %0, 3(%1)", : "=r"(v) : "r"(UNMAPPED) : "t5", "t6", "memory");
  check_trap("load access fault lbu +3", CAUSE_LOAD_ACCESS, UNMAPPED + 3, PRV_M, PRV_M);
  trap_reset(1);
  TRY_ASM("sw %0, 8(%1)", ::"r"(v), "r"(UNMAPPED) : "t5", "t6", "memory");
  check_trap("store access fault", CAUSE_STORE_ACCESS, UNMAPPED + 8, PRV_M, PRV_M);
  trap_reset(1);
  TRY_ASM("amoadd.d %0, %0, (%1)", : "+r"(v) : "r"(UNMAPPED) : "t5", "t6", "memory");
  check_trap("amo access fault", CAUSE_STORE_ACCESS, UNMAPPED, PRV_M, PRV_M);
  /* Address-misaligned outranks access fault for the same access (priv spec table 3.7). */
  trap_reset(1);
  TRY_ASM("amoadd.w %0, %0, (%1)", : "+r"(v) : "r"(UNMAPPED + 2) : "t5", "t6", "memory");
  check_trap("misaligned amo to unmapped address is misaligned first", CAUSE_MISALIGNED_STORE, UNMAPPED + 2, PRV_M,
             PRV_M);
  trap_reset(1);
  TRY_ASM("jalr x0, 0(%0)", ::"r"(UNMAPPED + 0x40) : "t5", "t6");
  check_trap("fetch access fault", CAUSE_FETCH_ACCESS, UNMAPPED + 0x40, PRV_M, PRV_M);
  check_eq("fetch access fault mepc = target", trap_log[0].epc, UNMAPPED + 0x40);
  (void)v;
}

/* Functions run in S or U mode; results come back through M. */
static uint64_t do_ecall(uint64_t a) {
  __asm__ volatile("li a7, 0\necall" ::: "a7", "memory");
  return a + 1;
}
static uint64_t do_illegal(uint64_t a) {
  __asm__ volatile(".word 0xfe000033");
  return a;
}
static uint64_t do_ebreak(uint64_t a) {
  __asm__ volatile("ebreak");
  return a;
}
static uint64_t do_load_fault(uint64_t a) {
  uint64_t v;
  __asm__ volatile("ld %0, 0(%1)" : "=r"(v) : "r"(a) : "memory");
  return v;
}
static uint64_t do_store_fault(uint64_t a) {
  __asm__ volatile("sd zero, 0(%0)" ::"r"(a) : "memory");
  return 0;
}
static uint64_t do_misaligned_amo(uint64_t a) {
  uint64_t v;
  __asm__ volatile("amoswap.w %0, zero, (%1)" : "=r"(v) : "r"(a + 2) : "memory");
  return v;
}

static volatile uint64_t word __attribute__((aligned(8)));

static void lower_modes(void) {
  static const struct {
    int mode;
    const char *name;
  } modes[] = {{PRV_S, "S"}, {PRV_U, "U"}};
  char name[64];
  for (int i = 0; i < 2; i++) {
    int m = modes[i].mode;
    const char *n = modes[i].name;
#define NAME(s) (memcpy(name, s " from ", sizeof(s " from ") - 1), name[sizeof(s " from ") - 1] = n[0], name[sizeof(s " from ")] = 0, name)
    trap_reset(1);
    uint64_t r = run_in_mode(m, do_ecall, 41);
    check_trap(NAME("ecall"), m == PRV_S ? CAUSE_SUPERVISOR_ECALL : CAUSE_USER_ECALL, 0, PRV_M, m);
    check_eq(NAME("ecall resumes after"), r, 42);
    trap_reset(1);
    run_in_mode(m, do_illegal, 0);
    check_illegal(NAME("illegal"), m);
    trap_reset(1);
    run_in_mode(m, do_ebreak, 0);
    check_trap_notval(NAME("ebreak"), CAUSE_BREAKPOINT, PRV_M, m);
    trap_reset(1);
    run_in_mode(m, do_load_fault, UNMAPPED);
    check_trap(NAME("load access fault"), CAUSE_LOAD_ACCESS, UNMAPPED, PRV_M, m);
    trap_reset(1);
    run_in_mode(m, do_store_fault, UNMAPPED);
    check_trap(NAME("store access fault"), CAUSE_STORE_ACCESS, UNMAPPED, PRV_M, m);
    trap_reset(1);
    run_in_mode(m, do_misaligned_amo, (uint64_t)&word);
    check_trap(NAME("misaligned amo"), CAUSE_MISALIGNED_STORE, (uint64_t)&word + 2, PRV_M, m);
  }
}

int main(void) {
  m_mode();
  lower_modes();
  return finish();
}

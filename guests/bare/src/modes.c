/*
 * Privilege modes: M -> S -> U switches with mret/sret, xRET stack semantics,
 * trap delegation (medeleg), CSR privilege checks, counter enables, and the
 * TVM/TW/TSR traps (privileged spec 3.1.6, 3.1.8, 3.3.2, 4.1).
 */
#include "rt.h"

static uint32_t insn_at(uint64_t epc) {
  const volatile uint16_t *p = (const volatile uint16_t *)epc;
  return (p[0] & 3) == 3 ? (uint32_t)p[0] | (uint32_t)p[1] << 16 : p[0];
}

static void check_illegal_to(const char *name, int handler, int from) {
  uint64_t bits = trap_count == 1 ? insn_at(trap_log[0].epc) : 0;
  check_trap(name, CAUSE_ILLEGAL_INSTRUCTION, bits, handler, from);
}

/* S-mode: sret into fn(a0) in U-mode; fn returns through ra = lower_return. */
uint64_t s_enter_u(uint64_t arg, uint64_t (*fn)(uint64_t));
__asm__(
    ".text\n"
    ".globl s_enter_u\n"
    "s_enter_u:\n"
    "  csrw sepc, a1\n"
    "  li t0, 0x100\n" /* SPP = U */
    "  csrc sstatus, t0\n"
    "  sret\n");

static uint64_t ret_plus_one(uint64_t a) { return a + 1; }
static uint64_t read_sstatus(uint64_t a) { return csr_read(sstatus); }
static uint64_t read_mstatus(uint64_t a) { return csr_read(mstatus); }
static uint64_t read_mscratch(uint64_t a) { return csr_read(mscratch); }
static uint64_t read_cycle(uint64_t a) { return csr_read(cycle); }
static uint64_t read_time(uint64_t a) { return csr_read(time); }
static uint64_t read_instret(uint64_t a) { return csr_read(instret); }
static uint64_t read_satp(uint64_t a) { return csr_read(satp); }
static uint64_t do_sfence(uint64_t a) {
  __asm__ volatile("sfence.vma" ::: "memory");
  return 0;
}
static uint64_t do_wfi(uint64_t a) {
  __asm__ volatile("wfi");
  return 0;
}
static uint64_t do_mret(uint64_t a) {
  __asm__ volatile(".word 0x30200073"); /* mret */
  return 0;
}
static uint64_t do_sret(uint64_t a) {
  __asm__ volatile(".word 0x10200073"); /* sret */
  return 0;
}
static uint64_t do_illegal(uint64_t a) {
  __asm__ volatile(".word 0xfe000033");
  return a;
}
static uint64_t do_ecall(uint64_t a) {
  __asm__ volatile("li a7, 0\necall" ::: "a7", "memory");
  return a;
}
/* S-mode: go to U-mode and run `fn` there (returns what fn returns via M). */
static uint64_t (*volatile u_fn)(uint64_t);
static uint64_t s_then_u(uint64_t a) { return s_enter_u(a, u_fn); }

static void switches(void) {
  trap_reset(0);
  check_eq("M -> S -> M returns value", run_in_mode(PRV_S, ret_plus_one, 41), 42);
  check_eq("M -> U -> M returns value", run_in_mode(PRV_U, ret_plus_one, 9), 10);
  u_fn = ret_plus_one;
  check_eq("M -> S -> U (sret) -> M", run_in_mode(PRV_S, s_then_u, 1), 2);
  /* S reads sstatus; sstatus.SPP after the sret to U is U. */
  uint64_t ss = run_in_mode(PRV_S, read_sstatus, 0);
  check_eq("S reads sstatus (UXL = 2)", (ss >> 32) & 3, 2);
  trap_reset(1);
  run_in_mode(PRV_S, read_mstatus, 0);
  check_illegal_to("S reads mstatus", PRV_M, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_S, read_mscratch, 0);
  check_illegal_to("S reads mscratch", PRV_M, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_U, read_sstatus, 0);
  check_illegal_to("U reads sstatus", PRV_M, PRV_U);
  trap_reset(1);
  run_in_mode(PRV_U, do_mret, 0);
  check_illegal_to("U executes mret", PRV_M, PRV_U);
  trap_reset(1);
  run_in_mode(PRV_U, do_sret, 0);
  check_illegal_to("U executes sret", PRV_M, PRV_U);
  trap_reset(1);
  run_in_mode(PRV_S, do_mret, 0);
  check_illegal_to("S executes mret", PRV_M, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_U, do_sfence, 0);
  check_illegal_to("U executes sfence.vma", PRV_M, PRV_U);
  trap_reset(1);
  run_in_mode(PRV_U, do_wfi, 0);
  check_illegal_to("U executes wfi", PRV_M, PRV_U);
}

/* mret/sret pop the interrupt-enable stack (priv spec 3.1.6.1, 3.3.2). */
static volatile uint64_t after_xret;
static uint64_t s_sret_stack(uint64_t a) {
  uint64_t s;
  csr_clear(sie, -1UL);
  csr_set(sstatus, MSTATUS_SPIE | MSTATUS_SPP);
  csr_clear(sstatus, MSTATUS_SIE);
  __asm__ volatile(
      "la t0, 1f\n"
      "csrw sepc, t0\n"
      "sret\n"
      "1: csrr %0, sstatus\n"
      : "=r"(s)::"t0");
  csr_clear(sstatus, MSTATUS_SIE);
  return s;
}

static void xret_stack(void) {
  uint64_t ms;
  csr_write(mie, 0);
  csr_clear(mstatus, MSTATUS_MIE | MSTATUS_MPP);
  csr_set(mstatus, MSTATUS_MPIE | (3UL << 11));
  __asm__ volatile(
      "la t0, 1f\n"
      "csrw mepc, t0\n"
      "mret\n"
      "1: csrr %0, mstatus\n"
      : "=r"(ms)::"t0");
  csr_clear(mstatus, MSTATUS_MIE);
  check_eq("mret: MIE = old MPIE", (ms >> 3) & 1, 1);
  check_eq("mret: MPIE = 1", (ms >> 7) & 1, 1);
  check_eq("mret: MPP = U", (ms >> 11) & 3, PRV_U);
  uint64_t ss = run_in_mode(PRV_S, s_sret_stack, 0);
  check_eq("sret: SIE = old SPIE", (ss >> 1) & 1, 1);
  check_eq("sret: SPIE = 1", (ss >> 5) & 1, 1);
  check_eq("sret: SPP = U", (ss >> 8) & 1, 0);
  /* mret to a mode below M clears MPRV (priv spec 3.1.6.3). */
  csr_set(mstatus, MSTATUS_MPRV);
  run_in_mode(PRV_S, ret_plus_one, 0);
  check_eq("mret to S clears MPRV", csr_read(mstatus) & MSTATUS_MPRV, 0);
  /* The trap into M records the previous mode in MPP and MIE in MPIE. */
  csr_set(mstatus, MSTATUS_MIE);
  trap_reset(1);
  __asm__ volatile("li a7, 0\necall" ::: "a7");
  check_trap("ecall from M (for MPP/MPIE)", CAUSE_MACHINE_ECALL, 0, PRV_M, PRV_M);
  ms = csr_read(mstatus);
  check_eq("trap pushes MIE into MPIE, returns with MIE restored", ms & MSTATUS_MIE, MSTATUS_MIE);
  csr_clear(mstatus, MSTATUS_MIE);
}

static void delegation(void) {
  rt_enable_s_traps();
  csr_write(medeleg, 1UL << CAUSE_USER_ECALL);
  trap_reset(1);
  check_eq("delegated U ecall returns", run_in_mode(PRV_U, do_ecall, 5), 5);
  check_trap("U ecall delegated to S", CAUSE_USER_ECALL, 0, PRV_S, PRV_U);
  trap_reset(1);
  run_in_mode(PRV_S, do_ecall, 0);
  check_trap("S ecall not delegated", CAUSE_SUPERVISOR_ECALL, 0, PRV_M, PRV_S);
  csr_write(medeleg, 1UL << CAUSE_ILLEGAL_INSTRUCTION);
  trap_reset(1);
  run_in_mode(PRV_U, do_illegal, 0);
  check_illegal_to("U illegal delegated to S", PRV_S, PRV_U);
  trap_reset(1);
  run_in_mode(PRV_S, do_illegal, 0);
  check_illegal_to("S illegal delegated to S", PRV_S, PRV_S);
  trap_reset(1);
  __asm__ volatile(".word 0xfe000033");
  check_illegal_to("M illegal never delegated", PRV_M, PRV_M);
  /* The delegated trap sets scause/stval/sepc, not the M registers. */
  csr_write(mcause, 0);
  trap_reset(1);
  run_in_mode(PRV_U, do_illegal, 0);
  check_eq("delegated trap leaves mcause (last trap was the return ecall)", csr_read(mcause), CAUSE_USER_ECALL);
  trap_reset(0);
  /* U -> S -> U with delegated ecall: the S handler sees SPP = U. */
  csr_write(medeleg, (1UL << CAUSE_USER_ECALL) | (1UL << CAUSE_ILLEGAL_INSTRUCTION));
  u_fn = do_ecall;
  trap_reset(1);
  check_eq("M -> S -> U, U ecall to S, back to U", run_in_mode(PRV_S, s_then_u, 3), 3);
  check_trap("ecall from U (entered by sret)", CAUSE_USER_ECALL, 0, PRV_S, PRV_U);
  csr_write(medeleg, 0);
}

static void counter_enables(void) {
  csr_write(mcounteren, 0);
  csr_write(scounteren, 0);
  trap_reset(1);
  run_in_mode(PRV_S, read_cycle, 0);
  check_illegal_to("S cycle with mcounteren.CY = 0", PRV_M, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_U, read_time, 0);
  check_illegal_to("U time with mcounteren.TM = 0", PRV_M, PRV_U);
  csr_write(mcounteren, 7);
  trap_reset(0);
  run_in_mode(PRV_S, read_cycle, 0);
  run_in_mode(PRV_S, read_time, 0);
  run_in_mode(PRV_S, read_instret, 0);
  check("S cycle/time/instret with mcounteren = 7", 1);
  trap_reset(1);
  run_in_mode(PRV_U, read_instret, 0);
  check_illegal_to("U instret with scounteren.IR = 0", PRV_M, PRV_U);
  csr_write(scounteren, 7);
  trap_reset(0);
  run_in_mode(PRV_U, read_cycle, 0);
  run_in_mode(PRV_U, read_time, 0);
  run_in_mode(PRV_U, read_instret, 0);
  check("U cycle/time/instret with both counteren = 7", 1);
  csr_write(mcounteren, 0);
  csr_write(scounteren, 0);
}

static void tvm_tw_tsr(void) {
  trap_reset(0);
  run_in_mode(PRV_S, read_satp, 0);
  run_in_mode(PRV_S, do_sfence, 0);
  check("S satp and sfence.vma with TVM = 0", 1);
  csr_set(mstatus, MSTATUS_TVM);
  trap_reset(1);
  run_in_mode(PRV_S, read_satp, 0);
  check_illegal_to("S satp with TVM = 1", PRV_M, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_S, do_sfence, 0);
  check_illegal_to("S sfence.vma with TVM = 1", PRV_M, PRV_S);
  csr_clear(mstatus, MSTATUS_TVM);
  csr_set(mstatus, MSTATUS_TW);
  trap_reset(1);
  run_in_mode(PRV_S, do_wfi, 0);
  check_illegal_to("S wfi with TW = 1", PRV_M, PRV_S);
  csr_clear(mstatus, MSTATUS_TW);
  csr_set(mstatus, MSTATUS_TSR);
  trap_reset(1);
  run_in_mode(PRV_S, do_sret, 0);
  check_illegal_to("S sret with TSR = 1", PRV_M, PRV_S);
  csr_clear(mstatus, MSTATUS_TSR);
}

int main(void) {
  switches();
  xret_stack();
  delegation();
  counter_enables();
  tvm_tw_tsr();
  return finish();
}

/*
 * Physical memory protection (privileged spec 3.7): the address-matching modes TOR, NA4 and
 * NAPOT, OFF entries, priority (the lowest-numbered matching entry decides), partial matches,
 * the default for S/U (denied) and M (allowed) when nothing matches, MPRV, instruction fetch,
 * and locking (which binds M-mode and freezes the entry, and a locked TOR entry's bottom).
 *
 * Entry 15 opens RAM ([0x8000_0000, +1 GiB), NAPOT RWX) so that S- and U-mode code, stacks and
 * the runtime's variables stay reachable; the checks program entries below it over `area`.
 */
#include "rt.h"

#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_TOR 0x08
#define PMP_NA4 0x10
#define PMP_NAPOT 0x18
#define PMP_L 0x80

/* Not covered by any entry but reachable: the UART's line status register. */
#define UART_LSR (UART0_BASE + 5)

static uint8_t area[8 * 4096] __attribute__((aligned(16384)));
/* PAGE(0) is 16 KiB-aligned with room below it */
#define PAGE(n) ((uint64_t)area + 16384 + (n) * 4096UL)

static uint64_t napot(uint64_t base, uint64_t size) { return (base + size / 2 - 1) >> 2; }

static void set_addr(int i, uint64_t v) {
  switch (i) {
#define A(n)                  \
  case n:                     \
    csr_write(pmpaddr##n, v); \
    break;
    A(0) A(1) A(2) A(3) A(4) A(5) A(6) A(7) A(8) A(9) A(10) A(11) A(12) A(13) A(14) A(15)
#undef A
  }
}

static uint64_t get_addr(int i) {
  switch (i) {
    case 12:
      return csr_read(pmpaddr12);
    case 14:
      return csr_read(pmpaddr14);
  }
  return 0;
}

static uint8_t get_cfg(int i) {
  uint64_t v = i < 8 ? csr_read(pmpcfg0) : csr_read(pmpcfg2);
  return (uint8_t)(v >> ((i & 7) * 8));
}

static void set_cfg(int i, uint8_t c) {
  int sh = (i & 7) * 8;
  if (i < 8) {
    uint64_t v = csr_read(pmpcfg0);
    csr_write(pmpcfg0, (v & ~(0xffUL << sh)) | ((uint64_t)c << sh));
  } else {
    uint64_t v = csr_read(pmpcfg2);
    csr_write(pmpcfg2, (v & ~(0xffUL << sh)) | ((uint64_t)c << sh));
  }
}

/* Entries 0-7 off; entry 15 keeps RAM open. */
static void reset_low(void) {
  csr_write(pmpcfg0, 0);
  __asm__ volatile("sfence.vma" ::: "memory");
}

/* Accesses, run in the mode under test; a fault resumes after the access (TRY_ASM). */
static uint64_t do_ld(uint64_t a) {
  uint64_t v = 0;
  TRY_ASM("ld %0, 0(%1)", : "+r"(v) : "r"(a) : "t5", "t6", "memory");
  return v;
}
static uint64_t do_lw(uint64_t a) {
  uint64_t v = 0;
  TRY_ASM("lw %0, 0(%1)", : "+r"(v) : "r"(a) : "t5", "t6", "memory");
  return v;
}
static uint64_t do_lbu(uint64_t a) {
  uint64_t v = 0;
  TRY_ASM("lbu %0, 0(%1)", : "+r"(v) : "r"(a) : "t5", "t6", "memory");
  return v;
}
static uint64_t do_sd(uint64_t a) {
  TRY_ASM("sd zero, 0(%0)", ::"r"(a) : "t5", "t6", "memory");
  return 0;
}
static uint64_t do_call(uint64_t a) {
  TRY_ASM("jalr ra, 0(%0)", ::"r"(a) : "ra", "t5", "t6", "memory");
  return 0;
}
/* M-mode load with MPRV = 1 and MPP = S: translated and protected as an S-mode load. */
static uint64_t do_mprv_ld(uint64_t a) {
  uint64_t v = 0;
  csr_clear(mstatus, MSTATUS_MPP);
  csr_set(mstatus, MSTATUS_MPRV | (PRV_S << 11));
  TRY_ASM("ld %0, 0(%1)", : "+r"(v) : "r"(a) : "t5", "t6", "memory");
  csr_clear(mstatus, MSTATUS_MPRV);
  return v;
}

/* Runs fn(a) in `mode`; `cause` 0: no trap wanted, else that fault with tval = a. */
static void expect(const char *name, int mode, uint64_t (*fn)(uint64_t), uint64_t a, uint64_t cause) {
  trap_reset(cause != 0);
  if (mode == PRV_M)
    fn(a);
  else
    run_in_mode(mode, fn, a);
  if (cause != 0)
    check_trap(name, cause, a, PRV_M, mode);
  else
    check_eq(name, trap_count, 0);
}

static void no_match(void) {
  reset_low();
  expect("no entry matches: S denied", PRV_S, do_lbu, UART_LSR, CAUSE_LOAD_ACCESS);
  expect("no entry matches: U denied", PRV_U, do_lbu, UART_LSR, CAUSE_LOAD_ACCESS);
  expect("no entry matches: M allowed", PRV_M, do_lbu, UART_LSR, 0);
}

static void napot_modes(void) {
  reset_low();
  set_addr(0, napot(PAGE(0), 4096));
  set_cfg(0, PMP_NAPOT);
  expect("NAPOT none: S load faults", PRV_S, do_ld, PAGE(0) + 8, CAUSE_LOAD_ACCESS);
  expect("NAPOT none: S store faults", PRV_S, do_sd, PAGE(0) + 16, CAUSE_STORE_ACCESS);
  expect("NAPOT none: U load faults", PRV_U, do_ld, PAGE(0) + 4088, CAUSE_LOAD_ACCESS);
  expect("NAPOT none: next page is entry 15's", PRV_S, do_ld, PAGE(1), 0);
  expect("NAPOT none: unlocked, M is free", PRV_M, do_ld, PAGE(0) + 8, 0);
  expect("NAPOT none: M with MPRV and MPP = S faults", PRV_M, do_mprv_ld, PAGE(0) + 8, CAUSE_LOAD_ACCESS);

  /* a `ret` at the start of page 0, to fetch from */
  *(volatile uint32_t *)PAGE(0) = 0x00008067;
  __asm__ volatile("fence.i" ::: "memory");
  set_cfg(0, PMP_NAPOT | PMP_R);
  expect("NAPOT R: S load passes", PRV_S, do_ld, PAGE(0) + 8, 0);
  expect("NAPOT R: S store faults", PRV_S, do_sd, PAGE(0) + 8, CAUSE_STORE_ACCESS);
  expect("NAPOT R: S fetch faults", PRV_S, do_call, PAGE(0), CAUSE_FETCH_ACCESS);
  set_cfg(0, PMP_NAPOT | PMP_R | PMP_X);
  expect("NAPOT RX: S fetch passes", PRV_S, do_call, PAGE(0), 0);
  expect("NAPOT RX: U fetch passes", PRV_U, do_call, PAGE(0), 0);
  set_cfg(0, PMP_NAPOT | PMP_R | PMP_W);
  expect("NAPOT RW: U store passes", PRV_U, do_sd, PAGE(0) + 8, 0);
  expect("NAPOT RW: U fetch faults", PRV_U, do_call, PAGE(0), CAUSE_FETCH_ACCESS);

  /* an 8-byte NAPOT region inside the page */
  reset_low();
  set_addr(0, napot(PAGE(0) + 8, 8));
  set_cfg(0, PMP_NAPOT);
  expect("NAPOT 8 bytes: load of it faults", PRV_S, do_ld, PAGE(0) + 8, CAUSE_LOAD_ACCESS);
  expect("NAPOT 8 bytes: word inside faults", PRV_S, do_lw, PAGE(0) + 12, CAUSE_LOAD_ACCESS);
  expect("NAPOT 8 bytes: word before passes", PRV_S, do_lw, PAGE(0) + 4, 0);
  expect("NAPOT 8 bytes: word after passes", PRV_S, do_lw, PAGE(0) + 16, 0);
  expect("NAPOT 8 bytes: misaligned load across its start faults", PRV_S, do_ld, PAGE(0) + 4, CAUSE_LOAD_ACCESS);
}

static void tor_mode(void) {
  reset_low();
  set_addr(0, PAGE(0) >> 2);
  set_addr(1, (PAGE(0) + 0x800) >> 2);
  set_cfg(1, PMP_TOR | PMP_R);
  expect("TOR R: S load at its top passes", PRV_S, do_ld, PAGE(0) + 0x7f8, 0);
  expect("TOR R: S store at its top faults", PRV_S, do_sd, PAGE(0) + 0x7f8, CAUSE_STORE_ACCESS);
  expect("TOR R: S store at its bottom faults", PRV_S, do_sd, PAGE(0), CAUSE_STORE_ACCESS);
  expect("TOR R: S store above it passes", PRV_S, do_sd, PAGE(0) + 0x800, 0);
  expect("TOR R: S store below it passes", PRV_S, do_sd, PAGE(0) - 8, 0);
  expect("TOR R: misaligned load across its top faults", PRV_S, do_ld, PAGE(0) + 0x7fc, CAUSE_LOAD_ACCESS);

}

static void na4_mode(void) {
  reset_low();
  set_addr(0, (PAGE(0) + 0x10) >> 2);
  set_cfg(0, PMP_NA4);
  expect("NA4: word faults", PRV_S, do_lw, PAGE(0) + 0x10, CAUSE_LOAD_ACCESS);
  expect("NA4: byte faults", PRV_S, do_lbu, PAGE(0) + 0x13, CAUSE_LOAD_ACCESS);
  expect("NA4: next word passes", PRV_S, do_lw, PAGE(0) + 0x14, 0);
  expect("NA4: word before passes", PRV_S, do_lw, PAGE(0) + 0xc, 0);
  expect("NA4: doubleword over it and the next faults (partial)", PRV_S, do_ld, PAGE(0) + 0x10, CAUSE_LOAD_ACCESS);
  expect("NA4: doubleword before passes", PRV_S, do_ld, PAGE(0) + 0x8, 0);
}

static void priority(void) {
  reset_low();
  set_addr(0, napot(PAGE(0), 4096));
  set_addr(1, napot(PAGE(0), 8192));
  set_cfg(0, PMP_NAPOT | PMP_R);
  set_cfg(1, PMP_NAPOT | PMP_R | PMP_W);
  expect("priority: entry 0 (R) decides over entry 1 (RW)", PRV_S, do_sd, PAGE(0) + 8, CAUSE_STORE_ACCESS);
  expect("priority: entry 1 decides where entry 0 does not match", PRV_S, do_sd, PAGE(1) + 8, 0);
  set_cfg(0, PMP_NAPOT | PMP_R | PMP_W);
  set_cfg(1, PMP_NAPOT | PMP_R);
  expect("priority: entry 0 (RW) decides over entry 1 (R)", PRV_S, do_sd, PAGE(0) + 8, 0);
  expect("priority: then entry 1 (R) for the next page", PRV_S, do_sd, PAGE(1) + 8, CAUSE_STORE_ACCESS);
  set_cfg(0, 0);
  expect("priority: entry 0 OFF, entry 1 decides", PRV_S, do_sd, PAGE(0) + 8, CAUSE_STORE_ACCESS);
  /* an empty TOR range (bottom >= top) matches nothing */
  reset_low();
  set_addr(0, PAGE(1) >> 2);
  set_addr(1, PAGE(0) >> 2);
  set_cfg(1, PMP_TOR);
  expect("TOR with bottom above top matches nothing", PRV_S, do_ld, PAGE(0) + 8, 0);
}

static void locking(void) {
  reset_low();
  set_addr(14, napot(PAGE(3), 4096));
  set_cfg(14, PMP_NAPOT | PMP_R | PMP_L);
  expect("locked R: M load passes", PRV_M, do_ld, PAGE(3) + 8, 0);
  expect("locked R: M store faults", PRV_M, do_sd, PAGE(3) + 8, CAUSE_STORE_ACCESS);
  expect("locked R: S store faults", PRV_S, do_sd, PAGE(3) + 8, CAUSE_STORE_ACCESS);
  set_cfg(14, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
  check_eq("locked: pmpcfg byte ignores writes", get_cfg(14), PMP_NAPOT | PMP_R | PMP_L);
  set_addr(14, napot(PAGE(2), 4096));
  check_eq("locked: pmpaddr ignores writes", get_addr(14), napot(PAGE(3), 4096));
  expect("locked: still in force after the writes", PRV_M, do_sd, PAGE(3) + 8, CAUSE_STORE_ACCESS);

  /* a locked TOR entry also locks the pmpaddr below it, its bottom */
  set_addr(12, PAGE(2) >> 2);
  set_addr(13, (PAGE(2) + 0x800) >> 2);
  set_cfg(13, PMP_TOR | PMP_R | PMP_L);
  set_addr(12, 0);
  check_eq("locked TOR: pmpaddr below it ignores writes", get_addr(12), PAGE(2) >> 2);
  expect("locked TOR: M store inside faults", PRV_M, do_sd, PAGE(2) + 0x7f8, CAUSE_STORE_ACCESS);
  expect("locked TOR: M store above passes", PRV_M, do_sd, PAGE(2) + 0x800, 0);
  expect("locked TOR: M store below passes", PRV_M, do_sd, PAGE(2) - 8, 0);
  check_eq("locked: the other entries still change", (set_cfg(12, PMP_NA4), get_cfg(12)), PMP_NA4);
}

int main(void) {
  /* entry 15: RAM (1 GiB from 0x8000_0000) RWX; then crt0's entry 0 off */
  set_addr(15, napot(0x80000000UL, 0x40000000UL));
  set_cfg(15, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
  no_match();
  napot_modes();
  tor_mode();
  na4_mode();
  priority();
  locking();
  return finish();
}

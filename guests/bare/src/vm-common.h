/*
 * Virtual memory tests shared by Sv39 (LEVELS 3) and Sv48 (LEVELS 4):
 * translation, permission faults with cause and tval, A/D updates, SUM, MXR,
 * U pages, superpages, SFENCE.VMA, MPRV, demand mapping from the fault
 * handler, delegated page faults (privileged spec 4.3-4.5).
 */
#include "rt.h"

#ifndef LEVELS
#error "define LEVELS (3 = Sv39, 4 = Sv48)"
#endif
#define SATP_MODE (LEVELS == 3 ? 8UL : 9UL)
#define MODE_NAME (LEVELS == 3 ? "Sv39" : "Sv48")

#define PTE_V 0x01UL
#define PTE_R 0x02UL
#define PTE_W 0x04UL
#define PTE_X 0x08UL
#define PTE_U 0x10UL
#define PTE_G 0x20UL
#define PTE_A 0x40UL
#define PTE_D 0x80UL
#define PAGE 4096UL

/* Unmapped on both the QEMU virt board and pvm's board. */
#define UNMAPPED 0x08000000UL
/* Test mappings live in the second gigabyte of the virtual address space. */
#define VA(n) (0x40000000UL + (n) * PAGE)

static uint64_t pt_pool[24][512] __attribute__((aligned(4096)));
static int pt_used;
static uint64_t *root;
static uint8_t tpage[8][PAGE] __attribute__((aligned(4096)));
extern char _utext[], _eutext[], _udata[], _eudata[], _end[];

static uint64_t *alloc_pt(void) {
  if (pt_used == 24) {
    printf("page-table pool exhausted\n");
    rt_exit(103);
  }
  uint64_t *t = pt_pool[pt_used++];
  memset(t, 0, PAGE);
  return t;
}

static unsigned vpn(uint64_t va, int level) { return (va >> (12 + 9 * level)) & 0x1ff; }

/* Returns the PTE slot for va at `level`, allocating tables above it. */
static volatile uint64_t *pte_slot(uint64_t va, int level) {
  uint64_t *t = root;
  for (int l = LEVELS - 1; l > level; l--) {
    uint64_t *e = &t[vpn(va, l)];
    if (!(*e & PTE_V)) *e = (((uint64_t)alloc_pt() >> 12) << 10) | PTE_V;
    t = (uint64_t *)((*e >> 10) << 12);
  }
  return &t[vpn(va, level)];
}

static void map(uint64_t va, uint64_t pa, uint64_t flags, int level) {
  *pte_slot(va, level) = ((pa >> 12) << 10) | flags;
  __asm__ volatile("sfence.vma" ::: "memory");
}

static void setup_tables(void) {
  root = alloc_pt();
  map(0, 0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 2); /* devices, 1 GiB */
  for (uint64_t a = 0x80000000UL; a < 0x80200000UL; a += PAGE) {
    uint64_t f = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
    if (a >= (uint64_t)_utext && a < (uint64_t)_eutext) f = PTE_V | PTE_R | PTE_X | PTE_U | PTE_A;
    if (a >= (uint64_t)_udata && a < (uint64_t)_eudata) f = PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D;
    map(a, a, f, 0);
  }
  for (int i = 0; i < 8; i++)
    for (unsigned j = 0; j < PAGE / 8; j++) ((uint64_t *)tpage[i])[j] = 0x1000 * (i + 1) + j;
  csr_write(satp, (SATP_MODE << 60) | ((uint64_t)root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
}

/* ---- S-mode helpers: a fault resumes after the access, leaving 0xdead ---- */
static uint64_t s_load(uint64_t va) {
  uint64_t r = 0xdead;
  TRY_ASM("ld %0, 0(%1)", : "+r"(r) : "r"(va) : "t5", "t6", "memory");
  return r;
}
static uint64_t s_store(uint64_t va) {
  TRY_ASM("sd %0, 0(%0)", ::"r"(va) : "t5", "t6", "memory");
  return 0;
}
static uint64_t s_amo(uint64_t va) {
  uint64_t r = 0xdead;
  TRY_ASM("amoadd.d %0, zero, (%1)", : "+r"(r) : "r"(va) : "t5", "t6", "memory");
  return r;
}
static uint64_t s_call(uint64_t va) {
  uint64_t r = 0xdead;
  TRY_ASM("jalr ra, 0(%1)\nmv %0, a0", : "+&r"(r) : "r"(va) : "t5", "t6", "ra", "a0", "memory");
  return r;
}
static uint64_t s_load_sum(uint64_t va) {
  csr_set(sstatus, MSTATUS_SUM);
  uint64_t r = s_load(va);
  csr_clear(sstatus, MSTATUS_SUM);
  return r;
}
static uint64_t s_load_mxr(uint64_t va) {
  csr_set(sstatus, MSTATUS_MXR);
  uint64_t r = s_load(va);
  csr_clear(sstatus, MSTATUS_MXR);
  return r;
}
static uint64_t s_sfence_load(uint64_t va) {
  __asm__ volatile("sfence.vma %0, zero" ::"r"(va) : "memory");
  return s_load(va);
}
static uint64_t s_sfence_all_load(uint64_t va) {
  __asm__ volatile("sfence.vma" ::: "memory");
  return s_load(va);
}
static uint64_t s_sfence_asid_load(uint64_t va) {
  __asm__ volatile("sfence.vma zero, %0" ::"r"(1UL) : "memory");
  return s_load(va);
}
static uint64_t ret_plus_one(uint64_t a) { return a + 1; }

/* ---- U-mode helpers: only in .utext, touching only their argument ---- */
__attribute__((section(".utext"), noinline)) static uint64_t u_load(uint64_t va) {
  return *(volatile uint64_t *)va;
}
__attribute__((section(".utext"), noinline)) static uint64_t u_store(uint64_t va) {
  *(volatile uint64_t *)va = 0x5a5a;
  return 0;
}
static volatile uint64_t u_cell[2] __attribute__((section(".udata")));

/* ---- checks ---- */
static void expect_fault(const char *name, uint64_t (*fn)(uint64_t), uint64_t va, int mode, uint64_t cause) {
  trap_reset(1);
  run_in_mode(mode, fn, va);
  check_trap(name, cause, va, PRV_M, mode);
}

static void basic(void) {
  trap_reset(0);
  check_eq("S runs with paging on (identity map)", run_in_mode(PRV_S, ret_plus_one, 41), 42);
  map(VA(0), (uint64_t)tpage[0], PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 0);
  check_eq("S load through alias", run_in_mode(PRV_S, s_load, VA(0) + 16), 0x1002);
  run_in_mode(PRV_S, s_store, VA(0) + 24);
  check_eq("S store through alias reaches the physical page", ((uint64_t *)tpage[0])[3], VA(0) + 24);
  trap_reset(0);
  expect_fault("load from unmapped page", s_load, VA(256), PRV_S, CAUSE_LOAD_PAGE_FAULT);
  expect_fault("store to unmapped page", s_store, VA(256) + 8, PRV_S, CAUSE_STORE_PAGE_FAULT);
  expect_fault("fetch from unmapped page", s_call, VA(256), PRV_S, CAUSE_FETCH_PAGE_FAULT);
  expect_fault("load from unmapped gigapage", s_load, 0x140000000UL, PRV_S, CAUSE_LOAD_PAGE_FAULT);
  /* M-mode ignores satp (without MPRV). */
  check_eq("M-mode does not translate", *(volatile uint64_t *)tpage[0], 0x1000);
}

static void permissions(void) {
  map(VA(1), (uint64_t)tpage[1], PTE_V | PTE_R | PTE_A, 0);
  check_eq("read-only page: load", run_in_mode(PRV_S, s_load, VA(1)), 0x2000);
  expect_fault("read-only page: store", s_store, VA(1), PRV_S, CAUSE_STORE_PAGE_FAULT);
  expect_fault("read-only page: amo", s_amo, VA(1) + 8, PRV_S, CAUSE_STORE_PAGE_FAULT);
  expect_fault("read-only page: fetch", s_call, VA(1), PRV_S, CAUSE_FETCH_PAGE_FAULT);

  /* Executable page holding "li a0, 42; ret". */
  uint32_t *code = (uint32_t *)tpage[2];
  code[0] = 0x02a00513;
  code[1] = 0x00008067;
  __asm__ volatile("fence.i" ::: "memory");
  map(VA(2), (uint64_t)tpage[2], PTE_V | PTE_X | PTE_A, 0);
  check_eq("execute-only page: fetch runs", run_in_mode(PRV_S, s_call, VA(2)), 42);
  expect_fault("execute-only page: load (MXR = 0)", s_load, VA(2), PRV_S, CAUSE_LOAD_PAGE_FAULT);
  trap_reset(0);
  check_eq("execute-only page: load with MXR = 1", run_in_mode(PRV_S, s_load_mxr, VA(2)), 0x0000806702a00513UL);

  map(VA(3), (uint64_t)tpage[2], PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 0);
  expect_fault("non-executable page: fetch", s_call, VA(3), PRV_S, CAUSE_FETCH_PAGE_FAULT);

  /* W without R is reserved (priv spec 4.3.1): any access faults. */
  map(VA(4), (uint64_t)tpage[4], PTE_V | PTE_W | PTE_A | PTE_D, 0);
  expect_fault("W without R: load", s_load, VA(4), PRV_S, CAUSE_LOAD_PAGE_FAULT);
  expect_fault("W without R: store", s_store, VA(4), PRV_S, CAUSE_STORE_PAGE_FAULT);
  /* A pointer PTE at the last level is a fault. */
  map(VA(5), (uint64_t)tpage[5], PTE_V, 0);
  expect_fault("non-leaf PTE at level 0", s_load, VA(5), PRV_S, CAUSE_LOAD_PAGE_FAULT);
  /* Misaligned superpage: a 2 MiB leaf whose PPN[0] is not zero. */
  map(0x40200000UL, 0x80001000UL, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 1);
  expect_fault("misaligned 2 MiB superpage", s_load, 0x40200000UL, PRV_S, CAUSE_LOAD_PAGE_FAULT);
  /* An aligned megapage works: VA 0x40400000 -> PA 0x80000000. */
  map(0x40400000UL, 0x80000000UL, PTE_V | PTE_R | PTE_A, 1);
  trap_reset(0);
  check_eq("2 MiB megapage load", run_in_mode(PRV_S, s_load, 0x40400000UL + ((uint64_t)tpage[6] - 0x80000000UL)),
           0x7000);
  /* A leaf pointing at nothing: access fault with the virtual address. */
  map(VA(6), UNMAPPED, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 0);
  expect_fault("leaf to unmapped physical: load access fault", s_load, VA(6), PRV_S, CAUSE_LOAD_ACCESS);
  expect_fault("leaf to unmapped physical: store access fault", s_store, VA(6), PRV_S, CAUSE_STORE_ACCESS);
}

static void canonical(void) {
  uint64_t bad = LEVELS == 3 ? 0x0000008000000000UL : 0x0000800000000000UL;
  expect_fault("non-canonical address: load", s_load, bad, PRV_S, CAUSE_LOAD_PAGE_FAULT);
  expect_fault("non-canonical address: store", s_store, bad + 8, PRV_S, CAUSE_STORE_PAGE_FAULT);
  expect_fault("non-canonical address (high): load", s_load, 0xff00000040000000UL, PRV_S, CAUSE_LOAD_PAGE_FAULT);
  /* The top of the address space is canonical: map and use it. */
  uint64_t top = LEVELS == 3 ? 0xffffffffc0000000UL : 0xffffffffc0000000UL;
  map(top, (uint64_t)tpage[3], PTE_V | PTE_R | PTE_A, 0);
  trap_reset(0);
  check_eq("highest gigabyte (sign-extended VA)", run_in_mode(PRV_S, s_load, top), 0x4000);
#if LEVELS == 4
  /* Bit 44 set: only reachable with four levels. */
  map(0x0000100000000000UL, (uint64_t)tpage[7], PTE_V | PTE_R | PTE_A, 0);
  check_eq("Sv48 address above 2^39", run_in_mode(PRV_S, s_load, 0x0000100000000000UL), 0x8000);
  map(0x0000700000000000UL, 0x80000000UL, PTE_V | PTE_R | PTE_A, 2);
  check_eq("Sv48 gigapage at level 2",
           run_in_mode(PRV_S, s_load, 0x0000700000000000UL + ((uint64_t)tpage[7] - 0x80000000UL)), 0x8000);
#endif
}

static void accessed_dirty(void) {
  volatile uint64_t *pte = pte_slot(VA(7), 0);
  map(VA(7), (uint64_t)tpage[7], PTE_V | PTE_R | PTE_W, 0);
  trap_reset(0);
  check_eq("A=0 page: load", run_in_mode(PRV_S, s_load, VA(7)), 0x8000);
  check_eq("load sets A, not D", *pte & (PTE_A | PTE_D), PTE_A);
  run_in_mode(PRV_S, s_store, VA(7) + 8);
  check_eq("store sets D", *pte & (PTE_A | PTE_D), PTE_A | PTE_D);
  map(VA(7), (uint64_t)tpage[7], PTE_V | PTE_R | PTE_W, 0);
  run_in_mode(PRV_S, s_store, VA(7) + 8);
  check_eq("store to A=0 D=0 page sets both", *pte & (PTE_A | PTE_D), PTE_A | PTE_D);
  map(VA(7), (uint64_t)tpage[7], PTE_V | PTE_R | PTE_W, 0);
  run_in_mode(PRV_S, s_amo, VA(7) + 8);
  check_eq("amo sets A and D", *pte & (PTE_A | PTE_D), PTE_A | PTE_D);
  /* A/D updates never happen on a faulting access. */
  map(VA(7), (uint64_t)tpage[7], PTE_V | PTE_R, 0);
  expect_fault("store to read-only A=0 page faults", s_store, VA(7), PRV_S, CAUSE_STORE_PAGE_FAULT);
  check_eq("... and leaves D clear", *pte & PTE_D, 0);
}

/* A U-mode fetch fault resumes at the U-mode return trampoline. */
extern char lower_return_u[];
static int u_fetch_hook(uint64_t cause, uint64_t tval, uint64_t epc, int handler) {
  if (cause != CAUSE_FETCH_PAGE_FAULT) return 0;
  trap_resume = (uint64_t)lower_return_u;
  return 1;
}

static void user_pages(void) {
  map(VA(8), (uint64_t)tpage[0], PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D, 0);
  expect_fault("S load from U page with SUM = 0", s_load, VA(8), PRV_S, CAUSE_LOAD_PAGE_FAULT);
  expect_fault("S store to U page with SUM = 0", s_store, VA(8), PRV_S, CAUSE_STORE_PAGE_FAULT);
  trap_reset(0);
  check_eq("S load from U page with SUM = 1", run_in_mode(PRV_S, s_load_sum, VA(8)), 0x1000);
  map(VA(9), (uint64_t)tpage[2], PTE_V | PTE_R | PTE_X | PTE_U | PTE_A, 0);
  expect_fault("S fetch from U page (even with SUM)", s_call, VA(9), PRV_S, CAUSE_FETCH_PAGE_FAULT);

  trap_reset(0);
  u_cell[0] = 0x77;
  check_eq("U code on a U page reads U data", run_in_mode(PRV_U, u_load, (uint64_t)&u_cell[0]), 0x77);
  run_in_mode(PRV_U, u_store, (uint64_t)&u_cell[1]);
  check_eq("U store to U data", u_cell[1], 0x5a5a);
  check_eq("U load through U alias", run_in_mode(PRV_U, u_load, VA(8) + 8), 0x1001);
  static volatile uint64_t s_only = 5;
  expect_fault("U load from S page", u_load, (uint64_t)&s_only, PRV_U, CAUSE_LOAD_PAGE_FAULT);
  expect_fault("U store to S page", u_store, (uint64_t)&s_only, PRV_U, CAUSE_STORE_PAGE_FAULT);
  exc_hook = u_fetch_hook;
  expect_fault("U fetch from S page", ret_plus_one, (uint64_t)ret_plus_one, PRV_U, CAUSE_FETCH_PAGE_FAULT);
  exc_hook = 0;
}

static void sfence(void) {
  map(VA(10), (uint64_t)tpage[5], PTE_V | PTE_R | PTE_A, 0);
  trap_reset(0);
  check_eq("before remap", run_in_mode(PRV_S, s_load, VA(10)), 0x6000);
  *pte_slot(VA(10), 0) = (((uint64_t)tpage[6] >> 12) << 10) | PTE_V | PTE_R | PTE_A; /* no fence from M */
  check_eq("sfence.vma va then load sees the new PTE", run_in_mode(PRV_S, s_sfence_load, VA(10)), 0x7000);
  *pte_slot(VA(10), 0) = (((uint64_t)tpage[4] >> 12) << 10) | PTE_V | PTE_R | PTE_A;
  check_eq("sfence.vma (all) then load sees the new PTE", run_in_mode(PRV_S, s_sfence_all_load, VA(10)), 0x5000);
  /* With ASID 1 in satp, sfence.vma zero, asid flushes that address space. */
  csr_write(satp, (SATP_MODE << 60) | (1UL << 44) | ((uint64_t)root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
  check_eq("ASID 1: load", run_in_mode(PRV_S, s_load, VA(10)), 0x5000);
  *pte_slot(VA(10), 0) = (((uint64_t)tpage[3] >> 12) << 10) | PTE_V | PTE_R | PTE_A;
  check_eq("sfence.vma zero, asid 1 then load sees the new PTE", run_in_mode(PRV_S, s_sfence_asid_load, VA(10)), 0x4000);
  csr_write(satp, (SATP_MODE << 60) | ((uint64_t)root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
  *pte_slot(VA(10), 0) = 0;
  trap_reset(1);
  run_in_mode(PRV_S, s_sfence_load, VA(10));
  check_trap("sfence.vma va after unmapping: fault", CAUSE_LOAD_PAGE_FAULT, VA(10), PRV_M, PRV_S);
  /* Changing satp to another root (with an sfence) switches address spaces. */
  uint64_t *old_root = root;
  root = alloc_pt();
  for (int i = 0; i < 512; i++) root[i] = old_root[i];
  /* In the new space, the 1 GiB at VA(0) points at a fresh empty table. */
  root[vpn(VA(0), LEVELS - 1)] = 0;
  if (LEVELS == 4) {
    uint64_t *l2 = alloc_pt();
    uint64_t *old_l2 = (uint64_t *)((old_root[0] >> 10) << 12);
    for (int i = 0; i < 512; i++) l2[i] = old_l2[i];
    l2[vpn(VA(0), 2)] = 0;
    root[0] = (((uint64_t)l2 >> 12) << 10) | PTE_V;
  }
  map(VA(0), (uint64_t)tpage[3], PTE_V | PTE_R | PTE_A, 0);
  csr_write(satp, (SATP_MODE << 60) | (1UL << 44) | ((uint64_t)root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
  trap_reset(0);
  check_eq("new satp root: VA(0) maps elsewhere", run_in_mode(PRV_S, s_load, VA(0)), 0x4000);
  csr_write(satp, (SATP_MODE << 60) | ((uint64_t)old_root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
  root = old_root;
  check_eq("old satp root again", run_in_mode(PRV_S, s_load, VA(0) + 16), 0x1002);
}

static void mprv(void) {
  uint64_t v;
  csr_clear(mstatus, MSTATUS_MPP);
  csr_set(mstatus, (1UL << 11) | MSTATUS_MPRV); /* MPP = S */
  v = *(volatile uint64_t *)(VA(0) + 16);
  csr_clear(mstatus, MSTATUS_MPRV);
  check_eq("M load with MPRV = 1, MPP = S translates", v, 0x1002);
  csr_set(mstatus, (1UL << 11) | MSTATUS_MPRV);
  trap_reset(1);
  TRY_ASM("ld %0, 0(%1)", : "=r"(v) : "r"(VA(256)) : "t5", "t6", "memory");
  csr_clear(mstatus, MSTATUS_MPRV);
  check_trap("M load with MPRV: page fault", CAUSE_LOAD_PAGE_FAULT, VA(256), PRV_M, PRV_M);
}

/* Demand mapping: the M handler maps the faulting page and retries. */
static int demand_hook(uint64_t cause, uint64_t tval, uint64_t epc, int handler) {
  if (cause != CAUSE_LOAD_PAGE_FAULT || (tval & ~(PAGE - 1)) != VA(20)) return 0;
  map(VA(20), (uint64_t)tpage[1], PTE_V | PTE_R | PTE_A, 0);
  trap_resume = epc; /* retry the access */
  return 1;
}

static void demand(void) {
  trap_reset(0);
  exc_hook = demand_hook;
  uint64_t v = run_in_mode(PRV_S, s_load, VA(20) + 8);
  exc_hook = 0;
  check_eq("fault handler maps the page, load retried", v, 0x2001);
  check_eq("... after exactly one fault", trap_count, 1);
  check_eq("... whose tval was the address", trap_log[0].tval, VA(20) + 8);
}

static void delegated(void) {
  rt_enable_s_traps();
  csr_write(medeleg, (1UL << CAUSE_LOAD_PAGE_FAULT) | (1UL << CAUSE_STORE_PAGE_FAULT) | (1UL << CAUSE_FETCH_PAGE_FAULT));
  trap_reset(1);
  run_in_mode(PRV_S, s_load, VA(300));
  check_trap("delegated load page fault: scause/stval in S", CAUSE_LOAD_PAGE_FAULT, VA(300), PRV_S, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_S, s_call, VA(300));
  check_trap("delegated fetch page fault", CAUSE_FETCH_PAGE_FAULT, VA(300), PRV_S, PRV_S);
  trap_reset(1);
  run_in_mode(PRV_U, u_store, VA(1));
  check_trap("delegated store page fault from U", CAUSE_STORE_PAGE_FAULT, VA(1), PRV_S, PRV_U);
  csr_write(medeleg, 0);
}

int main(void) {
  printf("%s\n", MODE_NAME);
  if ((uint64_t)_end > 0x80200000UL) {
    printf("image too large for the 2 MiB identity map\n");
    return 1;
  }
  setup_tables();
  basic();
  permissions();
  canonical();
  accessed_dirty();
  user_pages();
  sfence();
  mprv();
  demand();
  delegated();
  csr_write(satp, 0);
  return finish();
}

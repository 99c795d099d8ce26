/* Physical pages and Sv39 page tables (RISC-V privileged spec §10.4). */
#include "kernel.h"

uint64_t *kernel_pt;
static uint8_t *bump, *bump_end;
static void *free_list;
static unsigned long nfree_list, nused;

void mm_init(void) {
  bump = (uint8_t *)__kernel_end;
  bump_end = (uint8_t *)(boot.ram_base + boot.ram_size);
  /* keep the FDT the firmware left us: allocate from the larger side of it */
  if (boot.fdt >= (unsigned long)bump && boot.fdt < (unsigned long)bump_end && boot.fdt_size) {
    unsigned long lo = boot.fdt & ~(PAGE_SIZE - 1UL);
    unsigned long hi = (boot.fdt + boot.fdt_size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1UL);
    if (lo - (unsigned long)bump >= (unsigned long)bump_end - hi)
      bump_end = (uint8_t *)lo;
    else
      bump = (uint8_t *)hi;
  }

  kernel_pt = page_alloc();
  uint64_t *low = page_alloc();
  const uint64_t krw = PTE_V | PTE_R | PTE_W | PTE_G | PTE_A | PTE_D;
  /* MMIO megapages: test/RTC, PLIC (6 MiB), UART + virtio-mmio */
  static const unsigned long mmio[] = {0x00000000, 0x0c000000, 0x0c200000, 0x0c400000, 0x10000000};
  for (unsigned i = 0; i < sizeof mmio / sizeof mmio[0]; i++)
    low[(mmio[i] >> 21) & 511] = (mmio[i] >> 12) << 10 | krw;
  kernel_pt[0] = ((uint64_t)low >> 12) << 10 | PTE_V;
  /* the PVX grant window (0x40000000, 1 GiB slot): only touched by the PV back end */
  kernel_pt[1] = (0x40000000UL >> 12) << 10 | krw;
  /* RAM: gigapages from 0x80000000 (up to 2 GiB; root[4] is the user half) */
  for (uint64_t gpa = 0x80000000UL; gpa < boot.ram_base + boot.ram_size && gpa < USER_BASE; gpa += 1UL << 30)
    kernel_pt[gpa >> 30] = (gpa >> 12) << 10 | krw | PTE_X;
  satp_switch(kernel_pt);
}

void satp_switch(uint64_t *root) {
  csr_write(satp, (8UL << 60) | ((uint64_t)root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
}

void *page_alloc(void) {
  void *p;
  if (free_list) {
    p = free_list;
    free_list = *(void **)p;
    nfree_list--;
  } else {
    if (bump >= bump_end) panic("out of memory");
    p = bump;
    bump += PAGE_SIZE;
  }
  memset(p, 0, PAGE_SIZE);
  nused++;
  return p;
}

void page_free(void *p) {
  *(void **)p = free_list;
  free_list = p;
  nfree_list++;
  nused--;
}

unsigned long pages_free(void) { return (unsigned long)(bump_end - bump) / PAGE_SIZE + nfree_list; }
unsigned long pages_used(void) { return nused; }

static uint64_t *pt_next(uint64_t *table, unsigned idx, int alloc) {
  uint64_t e = table[idx];
  if (e & PTE_V) {
    if (e & (PTE_R | PTE_W | PTE_X)) return 0; /* a leaf (kernel gigapage) */
    return (uint64_t *)((e >> 10) << 12);
  }
  if (!alloc) return 0;
  uint64_t *n = page_alloc();
  table[idx] = ((uint64_t)n >> 12) << 10 | PTE_V;
  return n;
}

int pt_map(uint64_t *root, uint64_t va, uint64_t pa, uint64_t flags) {
  uint64_t *l1 = pt_next(root, (va >> 30) & 511, 1);
  if (!l1) return -1;
  uint64_t *l0 = pt_next(l1, (va >> 21) & 511, 1);
  if (!l0) return -1;
  l0[(va >> 12) & 511] = (pa >> 12) << 10 | flags | PTE_V | PTE_A | PTE_D;
  return 0;
}

uint64_t pt_walk(uint64_t *root, uint64_t va) {
  uint64_t *l1 = pt_next(root, (va >> 30) & 511, 0);
  if (!l1) return 0;
  uint64_t *l0 = pt_next(l1, (va >> 21) & 511, 0);
  if (!l0) return 0;
  return l0[(va >> 12) & 511];
}

uint64_t *pt_create_user(void) {
  uint64_t *root = page_alloc();
  for (int i = 0; i < 4; i++) root[i] = kernel_pt[i];
  uint64_t base = (uint64_t)__user_start;
  for (uint64_t pa = base; pa < (uint64_t)__user_data; pa += PAGE_SIZE)
    pt_map(root, USER_BASE + (pa - base), pa, PTE_R | PTE_X | PTE_U);
  for (uint64_t pa = (uint64_t)__user_data; pa < (uint64_t)__user_end; pa += PAGE_SIZE) {
    void *copy = page_alloc();
    memcpy(copy, (void *)pa, PAGE_SIZE);
    pt_map(root, USER_BASE + (pa - base), (uint64_t)copy, PTE_R | PTE_W | PTE_U);
  }
  pt_map(root, USER_STACK_TOP - PAGE_SIZE, (uint64_t)page_alloc(), PTE_R | PTE_W | PTE_U);
  return root;
}

void pt_destroy_user(uint64_t *root) {
  for (unsigned i = 4; i < 512; i++) {
    uint64_t *l1 = pt_next(root, i, 0);
    if (!l1) continue;
    for (unsigned j = 0; j < 512; j++) {
      uint64_t *l0 = pt_next(l1, j, 0);
      if (!l0) continue;
      for (unsigned k = 0; k < 512; k++)
        if ((l0[k] & PTE_V) && (l0[k] & PTE_W)) page_free((void *)((l0[k] >> 10) << 12));
      page_free(l0);
    }
    page_free(l1);
  }
  page_free(root);
}

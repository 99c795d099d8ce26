/* pvos entry: choose back ends, bring up paging, tasks and the shell. */
#include "kernel.h"
#include "pvx.h"

const struct pv_ops *pv = &native_ops;

uint64_t user_va(void (*fn)(void)) { return USER_BASE + ((uint64_t)fn - (uint64_t)__user_start); }

void kmain(unsigned long hartid, unsigned long fdt) {
  boot.hartid = hartid;
  fdt_scan(fdt);
  mm_init();
  long probe = sbi_probe(PVX_EID);
  int pvx_ok = probe && pvx_init() == 0;
  if (pvx_ok)
    pv = &pvx_ops;
  else
    native_init();
  virtio_blk_init();
  smp_start_secondaries();
  kprintf("pvos %s: boot hart %lu, harts %u, ram %lu MiB at 0x%lx, timebase %u Hz\n", PVOS_VERSION, boot.hartid,
          harts_online(), (unsigned long)(boot.ram_size >> 20), (unsigned long)boot.ram_base, boot.timebase);
  if (pvx_ok)
    kprintf("pvos: PVX %lu.%lu present (domain %lu, features 0x%lx)\n", pvx_version >> 16, pvx_version & 0xffff,
            pvx_domid, pvx_features);
  else if (probe)
    kprintf("pvos: PVX present but unusable, falling back\n");
  else
    kprintf("pvos: PVX absent (probe_extension 0x%08lx -> 0)\n", (unsigned long)PVX_EID);
  kprintf("pvos: backends: %s\n", pv->name);
  kprintf("pvos: Sv39 paging on, %lu KiB kernel, %lu pages free\n",
          (unsigned long)(__kernel_end - __kernel_start) >> 10, pages_free());
  sched_init();
  task_create_kernel("shell", shell_main);
  task_create_user("hello", user_va(user_hello));
  task_create_user("ticker", user_va(user_ticker));
  sched_start();
}

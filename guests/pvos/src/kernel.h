/* pvos kernel-wide declarations. */
#ifndef PVOS_KERNEL_H
#define PVOS_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "asm.h"

#define PVOS_VERSION "0.1"

/* ---- CSR helpers ---- */
#define csr_read(csr)                                   \
  ({                                                    \
    unsigned long __v;                                  \
    __asm__ volatile("csrr %0, " #csr : "=r"(__v));     \
    __v;                                                \
  })
#define csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" ::"rK"(val) : "memory")
#define csr_set(csr, val) __asm__ volatile("csrs " #csr ", %0" ::"rK"(val) : "memory")
#define csr_clear(csr, val) __asm__ volatile("csrc " #csr ", %0" ::"rK"(val) : "memory")
#define barrier() __asm__ volatile("" ::: "memory")
#define mb() __asm__ volatile("fence rw,rw" ::: "memory")
#define wmb() __asm__ volatile("fence w,w" ::: "memory")
#define rmb() __asm__ volatile("fence r,r" ::: "memory")

static inline uint64_t rdtime(void) {
  uint64_t t;
  __asm__ volatile("rdtime %0" : "=r"(t));
  return t;
}

/* ---- lib.c ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kputs(const char *s);
uint32_t fnv1a(const void *p, size_t n);
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* ---- sbi.c ---- */
struct sbiret {
  long error;
  unsigned long value;
};
struct sbiret sbi_call(unsigned long eid, unsigned long fid, unsigned long a0, unsigned long a1,
                       unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
#define SBI_EXT_BASE 0x10
#define SBI_EXT_TIME 0x54494D45
#define SBI_EXT_IPI 0x735049
#define SBI_EXT_RFENCE 0x52464E43
#define SBI_EXT_HSM 0x48534D
#define SBI_EXT_SRST 0x53525354
#define SBI_EXT_DBCN 0x4442434E
long sbi_probe(unsigned long eid);
void sbi_shutdown(void) __attribute__((noreturn));
void sbi_crash(void) __attribute__((noreturn));
const char *sbi_strerror(long err);

/* ---- fdt.c ---- */
#define MAX_HARTS 8
struct boot_info {
  unsigned long hartid;
  unsigned nharts;              /* from the FDT /cpus node */
  uint32_t harts[MAX_HARTS];
  unsigned long online_mask;    /* harts running pvos (bit = hart id) */
  unsigned nvirtio;             /* virtio-mmio slots the FDT describes */
  uint64_t virtio[8];
  unsigned long fdt;
  uint64_t ram_base, ram_size;
  uint32_t timebase;
  uint32_t fdt_size;
};
extern struct boot_info boot;
void fdt_scan(unsigned long fdt);

/* ---- smp.c ---- */
void smp_start_secondaries(void);
unsigned harts_online(void);

/* ---- pvops.c: the back-end table ---- */
struct tlb_range {
  unsigned long start, size;
};
struct pv_ops {
  const char *name;      /* "native" or "pvx 1.0" */
  const char *console_name, *timer_name, *irq_name, *idle_name, *ipi_name, *tlb_name;
  void (*console_write)(const char *s, size_t n);
  void (*timer_set)(uint64_t deadline); /* absolute, in time-CSR ticks */
  unsigned long (*irq_save)(void);      /* mask; returns nonzero if it was enabled */
  void (*irq_restore)(unsigned long was_enabled);
  void (*irq_enable)(void);
  void (*idle)(void);                   /* called masked; returns unmasked or masked, see sched.c */
  void (*send_ipi)(unsigned long hart_mask);
  void (*tlb_flush)(unsigned long hart_mask, const struct tlb_range *r, int n);
  int (*blk_rw)(int write, uint64_t sector, void *buf, unsigned count);
  void (*interrupt)(unsigned long cause); /* back-end interrupt dispatch */
  /* at trap entry: does the back end's own mask allow interrupts? (native: the mask is
     sstatus.SIE, already saved in SPIE, so always 1; PVX: upcall_mask == 0) */
  int (*soft_unmasked)(void);
};
extern const struct pv_ops *pv;
extern const struct pv_ops native_ops;
extern const struct pv_ops pvx_ops;
void native_init(void);
int pvx_init(void); /* 0 on success */
extern unsigned long pvx_version, pvx_features, pvx_domid;
int pvx_present(void);
void pvx_shell_evtchn(int argc, char **argv);
void pvx_shell_grant(int argc, char **argv);
void pvx_shutdown(void);
void pvx_crash(void);
void pvx_shell_vchan(int argc, char **argv);
void pvx_shell_pvxtest(void);
struct pvx_shared_info *pvx_shinfo(void);

/* ---- virtio_blk.c: the block back end of both tables ---- */
void virtio_blk_init(void);
int virtio_blk_rw(int write, uint64_t sector, void *buf, unsigned count);
const char *virtio_blk_name(void);
uint64_t virtio_blk_sectors(void);

/* ---- console.c ---- */
void console_input(char c);      /* from interrupt context */
int console_getc(void);          /* blocks the calling task */
void console_write(const char *s, size_t n);

/* ---- mm.c ---- */
void *page_alloc(void);
void page_free(void *p);
unsigned long pages_free(void);
unsigned long pages_used(void);
void mm_init(void);
uint64_t *pt_create_user(void);
void pt_destroy_user(uint64_t *root);
int pt_map(uint64_t *root, uint64_t va, uint64_t pa, uint64_t flags);
uint64_t pt_walk(uint64_t *root, uint64_t va); /* returns PTE or 0 */
void satp_switch(uint64_t *root);
extern uint64_t *kernel_pt;
#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define USER_BASE 0x100000000UL
#define USER_STACK_TOP 0x100200000UL
#define USER_LIMIT 0x140000000UL

/* ---- trap.c ---- */
struct trapframe {
  unsigned long regs[32]; /* x0 slot unused; regs[2] = sp */
  unsigned long sepc, sstatus, scause, stval;
};
_Static_assert(sizeof(struct trapframe) == TF_SIZE, "trapframe");
void trap_handler(struct trapframe *tf);
void trap_return(struct trapframe *tf) __attribute__((noreturn));
void trap_entry(void);

/* ---- sched.c ---- */
enum task_state { T_UNUSED, T_READY, T_RUNNING, T_SLEEPING, T_BLOCKED, T_EXITED };
struct context {
  unsigned long ra, sp, s[12];
};
#define NTASKS 8
#define KSTACK_SIZE 8192
struct task {
  int pid;
  enum task_state state;
  int user;
  char name[16];
  struct context ctx;
  uint8_t *kstack;
  uint64_t *pt;
  uint64_t wake_at;   /* in ticks of the scheduler clock */
  uint64_t run_ticks; /* timer ticks charged to this task */
  int exit_code;
  void (*kfn)(void);
  uint64_t user_entry;
};
extern struct task tasks[NTASKS];
extern struct task *current;
extern volatile uint64_t ticks;
#define HZ 100
void swtch(struct context *old, struct context *new);
void sched_init(void);
struct task *task_create_kernel(const char *name, void (*fn)(void));
struct task *task_create_user(const char *name, uint64_t entry);
void sched_tick(void);       /* from the timer interrupt */
void schedule(void);
void yield(void);
void sleep_ticks(uint64_t n);
void block_current(void);    /* called masked; state already set */
void wake(struct task *t);
void task_exit(int code) __attribute__((noreturn));
void task_reap(struct task *t);
void task_kill(struct task *t); /* a task other than current */
void sched_start(void) __attribute__((noreturn));
void preempt_check(void);
extern int need_resched;
void timer_start(void);
void timer_interrupt(void);
extern uint64_t tick_interval;

/* ---- syscall.c ---- */
void syscall(struct trapframe *tf);
#define SYS_WRITE 0
#define SYS_EXIT 1
#define SYS_SLEEP 2
#define SYS_GETPID 3
#define SYS_TICKS 4
#define SYS_YIELD 5

/* ---- user.c (U-mode programs) ---- */
void user_hello(void);
void user_ticker(void);
void user_spin(void);
void user_crash(void);
uint64_t user_va(void (*fn)(void));

/* ---- bench.c ---- */
void cmd_bench(int argc, char **argv);
extern volatile int bench_timer_mode;
extern volatile unsigned long ipis_received; /* IPIs taken by this hart (either back end) */
extern volatile unsigned long bench_wakeups;

/* ---- shell.c ---- */
void shell_main(void);

/* ---- linker symbols ---- */
extern char __kernel_start[], __kernel_end[], __user_start[], __user_data[], __user_end[];

#endif

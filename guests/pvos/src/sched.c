/* Tasks and a preemptive round-robin scheduler driven by the timer tick. */
#include "kernel.h"

struct task tasks[NTASKS];
struct task *current;
volatile uint64_t ticks;
int need_resched;
uint64_t tick_interval;
static uint64_t next_deadline;
static int next_pid;
static uint8_t kstacks[NTASKS][KSTACK_SIZE] __attribute__((aligned(16)));

static struct task *task_alloc(const char *name) {
  for (int i = 0; i < NTASKS; i++) {
    struct task *t = &tasks[i];
    if (t->state != T_UNUSED) continue;
    memset(t, 0, sizeof *t);
    t->pid = next_pid++;
    size_t n = strlen(name);
    if (n >= sizeof t->name) n = sizeof t->name - 1;
    memcpy(t->name, name, n);
    t->kstack = kstacks[i];
    return t;
  }
  return 0;
}

static void kthread_start(void) {
  pv->irq_enable();
  csr_set(sstatus, SSTATUS_SIE); /* PVX masks with upcall_mask; the CPU's SIE stays on */
  current->kfn();
  task_exit(0);
}

static void uthread_start(void) {
  struct trapframe *tf = (struct trapframe *)(current->kstack + KSTACK_SIZE - sizeof(struct trapframe));
  pv->irq_enable();
  trap_return(tf);
}

struct task *task_create_kernel(const char *name, void (*fn)(void)) {
  struct task *t = task_alloc(name);
  if (!t) return 0;
  t->kfn = fn;
  t->ctx.ra = (unsigned long)kthread_start;
  t->ctx.sp = (unsigned long)(t->kstack + KSTACK_SIZE);
  t->state = T_READY;
  return t;
}

struct task *task_create_user(const char *name, uint64_t entry) {
  struct task *t = task_alloc(name);
  if (!t) return 0;
  t->user = 1;
  t->pt = pt_create_user();
  t->user_entry = entry;
  struct trapframe *tf = (struct trapframe *)(t->kstack + KSTACK_SIZE - sizeof(struct trapframe));
  memset(tf, 0, sizeof *tf);
  tf->sepc = entry;
  tf->sstatus = SSTATUS_SPIE; /* SPP = 0: U-mode; interrupts on after sret */
  tf->regs[2] = USER_STACK_TOP;
  t->ctx.ra = (unsigned long)uthread_start;
  t->ctx.sp = (unsigned long)tf;
  t->state = T_READY;
  return t;
}

/*
 * Move the tick count up to `now`: one tick per whole interval since the armed
 * deadline, so time stays right after a late interrupt or a tickless idle.
 * Returns the ticks that passed (the caller's sched_tick() accounts the last one).
 */
static uint64_t tick_catch_up(uint64_t now) {
  if (now < next_deadline) return 0;
  uint64_t n = (now - next_deadline) / tick_interval + 1;
  next_deadline += n * tick_interval;
  ticks += n - 1;
  return n;
}

/*
 * Tickless idle: with nothing ready, arm the timer for the first sleeper's wake-up
 * (at most a second away) instead of the next tick, idle, then put the tick back
 * on its grid. An idle pvos with only the ticker task asleep takes 10 timer
 * interrupts a second instead of 100.
 */
static void idle_wait(void) {
  uint64_t k = HZ;
  for (int i = 1; i < NTASKS; i++) {
    if (tasks[i].state != T_SLEEPING) continue;
    uint64_t d = tasks[i].wake_at > ticks ? tasks[i].wake_at - ticks : 1;
    if (d < k) k = d;
  }
  if (k > 1) pv->timer_set(next_deadline + (k - 1) * tick_interval);
  pv->idle();
  if (k > 1) {
    uint64_t n = tick_catch_up(rdtime());
    pv->timer_set(next_deadline);
    if (n) sched_tick();
  }
}

static void idle_main(void) {
  for (;;) {
    unsigned long f = pv->irq_save();
    int ready = 0;
    for (int i = 1; i < NTASKS; i++) ready |= tasks[i].state == T_READY;
    if (!ready) idle_wait();
    pv->irq_restore(f);
    schedule();
  }
}

void sched_init(void) {
  struct task *idle = task_create_kernel("idle", idle_main);
  idle->state = T_RUNNING;
  current = idle;
}

static struct task *pick_next(void) {
  int cur = (int)(current - tasks);
  for (int k = 1; k <= NTASKS; k++) {
    int i = (cur + k) % NTASKS;
    if (i == 0) continue;
    if (tasks[i].state == T_READY || (i == cur && tasks[i].state == T_RUNNING)) return &tasks[i];
  }
  return &tasks[0];
}

void schedule(void) {
  unsigned long f = pv->irq_save();
  struct task *prev = current;
  struct task *next = pick_next();
  need_resched = 0;
  if (next != prev) {
    if (prev->state == T_RUNNING) prev->state = T_READY;
    next->state = T_RUNNING;
    current = next;
    if (next->pt != prev->pt) satp_switch(next->pt ? next->pt : kernel_pt);
    /* sstatus.SIE belongs to the task: 0 inside a trap handler, 1 in a kernel thread
       that yielded with PVX masking (native masking already cleared it) */
    unsigned long sie = csr_read(sstatus) & SSTATUS_SIE;
    csr_clear(sstatus, SSTATUS_SIE);
    swtch(&prev->ctx, &next->ctx);
    if (sie) csr_set(sstatus, SSTATUS_SIE);
  } else {
    prev->state = T_RUNNING;
  }
  pv->irq_restore(f);
}

void yield(void) { schedule(); }

void sleep_ticks(uint64_t n) {
  unsigned long f = pv->irq_save();
  current->wake_at = ticks + n;
  current->state = T_SLEEPING;
  schedule();
  pv->irq_restore(f);
}

void block_current(void) { schedule(); }

void wake(struct task *t) {
  if (t->state == T_SLEEPING || t->state == T_BLOCKED) {
    t->state = T_READY;
    need_resched = 1;
  }
}

static void release(struct task *t, int code) {
  t->exit_code = code;
  t->state = T_EXITED;
  if (t->pt) {
    uint64_t *pt = t->pt;
    t->pt = 0;
    if (t == current) satp_switch(kernel_pt);
    pt_destroy_user(pt);
    /* the user half is gone: shoot down stale translations on every hart of ours */
    struct tlb_range r[2] = {{USER_BASE, (uint64_t)(__user_end - __user_start)},
                             {USER_STACK_TOP - PAGE_SIZE, PAGE_SIZE}};
    pv->tlb_flush(1UL << boot.hartid, r, 2);
  }
}

void task_kill(struct task *t) {
  unsigned long f = pv->irq_save();
  if (t != current && t->state != T_EXITED && t->state != T_UNUSED) release(t, -9);
  pv->irq_restore(f);
}

void task_exit(int code) {
  pv->irq_save();
  struct task *t = current;
  release(t, code);
  schedule();
  panic("exited task %d scheduled", t->pid);
}

void task_reap(struct task *t) {
  if (t->state == T_EXITED) t->state = T_UNUSED;
}

void sched_tick(void) {
  ticks++;
  current->run_ticks++;
  for (int i = 1; i < NTASKS; i++)
    if (tasks[i].state == T_SLEEPING && tasks[i].wake_at <= ticks) wake(&tasks[i]);
  need_resched = 1;
}

void timer_start(void) {
  tick_interval = boot.timebase / HZ;
  next_deadline = rdtime() + tick_interval;
  pv->timer_set(next_deadline);
}

void timer_interrupt(void) {
  if (bench_timer_mode) { /* bench idle: count the wake-up, leave the tick stopped */
    bench_wakeups++;
    pv->timer_set(~0UL);
    return;
  }
  uint64_t n = tick_catch_up(rdtime());
  pv->timer_set(next_deadline);
  if (n) sched_tick(); /* none: an early or already accounted interrupt (tickless idle) */
}

void sched_start(void) {
  timer_start();
  pv->irq_enable();
  csr_set(sstatus, SSTATUS_SIE);
  idle_main();
  __builtin_unreachable();
}

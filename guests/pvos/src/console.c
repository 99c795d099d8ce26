/* Console: output through the back end, input buffered from the interrupt. */
#include "kernel.h"

static char inbuf[256];
static unsigned in_head, in_tail;
static struct task *reader;

void console_input(char c) {
  if (in_head - in_tail < sizeof inbuf) inbuf[in_head++ % sizeof inbuf] = c;
  if (reader) wake(reader);
}

int console_getc(void) {
  unsigned long f = pv->irq_save();
  while (in_head == in_tail) {
    reader = current;
    current->state = T_BLOCKED;
    block_current();
  }
  reader = 0;
  char c = inbuf[in_tail++ % sizeof inbuf];
  pv->irq_restore(f);
  return (uint8_t)c;
}

void console_write(const char *s, size_t n) {
  unsigned long f = pv->irq_save();
  pv->console_write(s, n);
  pv->irq_restore(f);
}

/* Smallest program: prints a line through the UART and exits through the syscon. */
#include "rt.h"

int main(void) {
  printf("hello from bare-metal hart %lu\n", csr_read(mhartid));
  check_eq("printf %d", 0, 0);
  printf("fmt: %d %u %x %016lx %s %c [%5d]\n", -42, 42u, 0xbeefu, 0x1234abcdUL, "str", 'c', 7);
  return finish();
}

/* Exits through HTIF tohost with code 7 (tohost = 7 << 1 | 1). */
#include "rt.h"

int main(void) {
  printf("exiting with code 7\n");
  rt_exit(7);
}

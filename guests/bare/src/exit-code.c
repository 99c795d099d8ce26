/* Exits through the syscon with a failure code (3): the runner must report it. */
#include "rt.h"

int main(void) {
  printf("exiting with code 3\n");
  rt_exit(3);
}

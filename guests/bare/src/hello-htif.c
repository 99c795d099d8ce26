/* HTIF variant: console through the HTIF console device (tohost device 1,
   command 1) and exit through tohost (value 1 = pass), no UART, so it also
   runs on QEMU's spike machine. */
#include "rt.h"

int main(void) {
  printf("hello through the HTIF console\n");
  check_eq("printf %x", 0xbeef, 0xbeef);
  return finish();
}

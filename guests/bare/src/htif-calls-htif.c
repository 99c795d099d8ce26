/* Many HTIF calls: every character goes through tohost (console device 1,
   command 1) and the program waits for the host to clear tohost before the
   next, so each call costs what the host makes it cost: pvm serves it when
   tohost is written (bench/htif measures the calls per second). */
#include "rt.h"

#define LINES 50

int main(void) {
  for (int i = 0; i < LINES; i++) printf("htif line %02d: the quick brown fox jumps\n", i);
  check("50 lines through the HTIF console", 1);
  return finish();
}

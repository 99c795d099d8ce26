/* UART output for the vector generators (QEMU virt's ns16550a at 0x1000_0000, polled). */
#define UART ((volatile unsigned char *)0x10000000)
static void putc_(char c) {
  while (!(UART[5] & 0x20)) {
  }
  UART[0] = c;
}
/* v in lower-case hex, no leading zeros. */
static void puthex(unsigned long v) {
  char buf[17];
  int n = 0;
  do {
    buf[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n) putc_(buf[--n]);
}

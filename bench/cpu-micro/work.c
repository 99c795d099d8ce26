/* CPU-bound integer workload for bench/cpu-micro.ts: CRC32, quicksort, matrix multiply,
 * linked-list walk. Freestanding RV64IMAC, M-mode, no libc. The checksum is stored at
 * `result` and the program ends with WFI (interrupts are never enabled). */
typedef unsigned long u64;
typedef unsigned int u32;
typedef long i64;

volatile u64 result;
volatile u64 rounds = 4;

static u32 crc_table[256];
static unsigned char buf[65536];
static i64 arr[8192];
static i64 ma[48 * 48], mb[48 * 48], mc[48 * 48];
struct node { struct node *next; u64 v; };
static struct node nodes[4096];

static u64 rng = 88172645463325252UL;
static u64 xorshift(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static u32 crc32(const unsigned char *p, u64 n) {
  u32 c = 0xffffffff;
  for (u64 i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 255] ^ (c >> 8);
  return ~c;
}

static void qsort_i64(i64 *a, i64 lo, i64 hi) {
  while (lo < hi) {
    i64 p = a[(lo + hi) / 2], i = lo, j = hi;
    while (i <= j) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i <= j) { i64 t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (j - lo < hi - i) { qsort_i64(a, lo, j); lo = i; } else { qsort_i64(a, i, hi); hi = j; }
  }
}

int main(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
  u64 sum = 0;
  for (u64 r = 0; r < rounds; r++) {
    for (u64 i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)xorshift();
    sum += crc32(buf, sizeof buf);
    for (u64 i = 0; i < 8192; i++) arr[i] = (i64)xorshift();
    qsort_i64(arr, 0, 8191);
    for (u64 i = 1; i < 8192; i++) if (arr[i - 1] > arr[i]) sum += 1000000;
    for (u64 i = 0; i < 48 * 48; i++) { ma[i] = (i64)(xorshift() % 1000); mb[i] = (i64)(xorshift() % 1000); }
    for (int i = 0; i < 48; i++)
      for (int j = 0; j < 48; j++) {
        i64 s = 0;
        for (int k = 0; k < 48; k++) s += ma[i * 48 + k] * mb[k * 48 + j];
        mc[i * 48 + j] = s;
      }
    for (int i = 0; i < 48 * 48; i++) sum += (u64)mc[i] / 7 + (u64)mc[i] % 13;
    for (int i = 0; i < 4096; i++) { nodes[i].next = &nodes[(i * 1597 + 1) % 4096]; nodes[i].v = (u64)i; }
    struct node *n = &nodes[0];
    for (int i = 0; i < 100000; i++) { sum += n->v; n = n->next; }
  }
  result = sum;
  return 0;
}

__attribute__((naked, section(".text.start"))) void _start(void) {
  __asm__ volatile(
      "la sp, __stack_top\n"
      "call main\n"
      "1: wfi\n"
      "j 1b\n");
}

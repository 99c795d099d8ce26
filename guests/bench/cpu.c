/*
 * CPU benchmark guest: integer-only CRC32, sorting and matrix work, a few
 * hundred million instructions, deterministic. Prints one checksum per phase
 * and exits through the syscon, so it runs unchanged under pvm run --bare and
 * qemu-system-riscv64 -machine virt -bios none (bench/cpu.ts runs both).
 */
#include "rt.h"

#ifndef SCALE
#define SCALE 8
#endif

static uint64_t rng = 0x9e3779b97f4a7c15UL;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* ---- CRC32 (IEEE 802.3, reflected, table-driven) ---- */
static uint32_t crc_table[256];
static uint8_t buf[64 * 1024];

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32(const uint8_t *p, size_t n, uint32_t crc) {
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static uint32_t phase_crc(int reps) {
  for (size_t i = 0; i < sizeof buf; i += 8) {
    uint64_t v = next();
    memcpy(&buf[i], &v, 8);
  }
  uint32_t crc = 0;
  for (int r = 0; r < reps; r++) {
    crc = crc32(buf, sizeof buf, crc);
    buf[r & (sizeof buf - 1)] ^= (uint8_t)crc;
  }
  return crc;
}

/* ---- sorting: quicksort (median of three) + insertion sort for small runs ---- */
#define NSORT 20000
static uint32_t arr[NSORT];

static void insertion(uint32_t *a, int n) {
  for (int i = 1; i < n; i++) {
    uint32_t v = a[i];
    int j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

static void quicksort(uint32_t *a, int n) {
  while (n > 16) {
    uint32_t x = a[0], y = a[n / 2], z = a[n - 1];
    uint32_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    int i = 0, j = n - 1;
    for (;;) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i >= j) break;
      uint32_t t = a[i];
      a[i] = a[j];
      a[j] = t;
      i++;
      j--;
    }
    /* recurse into the smaller part, loop on the larger */
    if (j + 1 < n - j - 1) {
      quicksort(a, j + 1);
      a += j + 1;
      n -= j + 1;
    } else {
      quicksort(a + j + 1, n - j - 1);
      n = j + 1;
    }
  }
  insertion(a, n);
}

static uint32_t phase_sort(int reps) {
  uint32_t sum = 0;
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < NSORT; i++) arr[i] = (uint32_t)next();
    quicksort(arr, NSORT);
    for (int i = 1; i < NSORT; i++)
      if (arr[i - 1] > arr[i]) return 0xbad50f7;
    for (int i = 0; i < NSORT; i += 97) sum = sum * 31 + arr[i];
  }
  return sum;
}

/* ---- matrix multiply (int32, wrapping) ---- */
#define N 48
static int32_t ma[N][N], mb[N][N], mc[N][N];

static uint32_t phase_matrix(int reps) {
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      ma[i][j] = (int32_t)(next() & 0xffff) - 0x8000;
      mb[i][j] = (int32_t)(next() & 0xffff) - 0x8000;
    }
  uint32_t sum = 0;
  for (int r = 0; r < reps; r++) {
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) {
        int32_t acc = 0;
        for (int k = 0; k < N; k++) acc += ma[i][k] * mb[k][j];
        mc[i][j] = acc;
      }
    /* feed the result back so every repetition differs */
    for (int i = 0; i < N; i++) ma[i][r % N] ^= mc[i][(r * 7) % N] & 0xff;
    for (int i = 0; i < N; i++) sum = sum * 33 + (uint32_t)mc[i][i];
  }
  return sum;
}

int main(void) {
  crc_init();
  uint32_t c = phase_crc(24 * SCALE);
  printf("crc32 %08x\n", c);
  uint32_t s = phase_sort(3 * SCALE);
  printf("sort %08x\n", s);
  uint32_t m = phase_matrix(12 * SCALE);
  printf("matrix %08x\n", m);
  printf("checksum %08x\n", c ^ s ^ m);
  return 0;
}

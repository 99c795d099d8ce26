/*
 * FP-heavy bare-metal benchmark (M-mode, QEMU virt / pvm board): a double and a single precision matrix
 * multiply (FMADD), a radix-2 complex FFT forward and back (FADD/FMUL/FSUB), and a normalisation pass
 * (FDIV/FSQRT, conversions). Prints checksums of the exact result bits on the UART, so a run under pvm
 * and one under QEMU must print the same text; then powers off through the sifive,test0 syscon.
 */
typedef unsigned long u64;
typedef unsigned int u32;

#ifndef MM_N
#define MM_N 40
#endif
#ifndef MM_REPS
#define MM_REPS 40
#endif
#ifndef FFT_LOG
#define FFT_LOG 10
#endif
#ifndef FFT_REPS
#define FFT_REPS 60
#endif
#define FFT_N (1 << FFT_LOG)

#define UART ((volatile unsigned char *)0x10000000)
#define SYSCON ((volatile u32 *)0x100000)

static void putc_(char c) {
  while (!(UART[5] & 0x20)) {
  }
  UART[0] = c;
}
static void puts_(const char *s) {
  while (*s) putc_(*s++);
}
static void puthex(u64 v) {
  for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]);
}
static u64 bitsd(double d) {
  union { double d; u64 u; } x = {.d = d};
  return x.u;
}
static u32 bitsf(float f) {
  union { float f; u32 u; } x = {.f = f};
  return x.u;
}
static u64 mix(u64 h, u64 v) {
  h ^= v + 0x9e3779b97f4a7c15ul + (h << 6) + (h >> 2);
  return h;
}

static double A[MM_N][MM_N], B[MM_N][MM_N], C[MM_N][MM_N];
static float As[MM_N][MM_N], Bs[MM_N][MM_N], Cs[MM_N][MM_N];

static u64 matmul(void) {
  for (int i = 0; i < MM_N; i++)
    for (int j = 0; j < MM_N; j++) {
      A[i][j] = (double)(i * MM_N + j) / (MM_N * MM_N) - 0.5;
      B[i][j] = (double)((i + 2 * j) % 7) * 0.125 + 1.0 / (1 + i + j);
      As[i][j] = (float)A[i][j];
      Bs[i][j] = (float)B[i][j];
    }
  u64 h = 0;
  for (int r = 0; r < MM_REPS; r++) {
    for (int i = 0; i < MM_N; i++)
      for (int j = 0; j < MM_N; j++) {
        double s = 0;
        float t = 0;
        for (int k = 0; k < MM_N; k++) {
          s += A[i][k] * B[k][j];
          t += As[i][k] * Bs[k][j];
        }
        C[i][j] = s;
        Cs[i][j] = t;
      }
    /* feed the result back so every repetition computes something new */
    for (int i = 0; i < MM_N; i++)
      for (int j = 0; j < MM_N; j++) {
        A[i][j] = C[i][j] * (1.0 / MM_N);
        As[i][j] = Cs[i][j] * (1.0f / MM_N);
      }
    h = mix(h, bitsd(C[r % MM_N][(3 * r) % MM_N]));
    h = mix(h, bitsf(Cs[(5 * r) % MM_N][r % MM_N]));
  }
  return h;
}

/* sin and cos by range reduction to [-pi/4, pi/4] and Taylor polynomials: plain IEEE arithmetic only. */
static const double PI = 3.14159265358979323846;
static double poly_sin(double x) {
  double x2 = x * x;
  return x * (1 - x2 / 6 * (1 - x2 / 20 * (1 - x2 / 42 * (1 - x2 / 72 * (1 - x2 / 110 * (1 - x2 / 156))))));
}
static double poly_cos(double x) {
  double x2 = x * x;
  return 1 - x2 / 2 * (1 - x2 / 12 * (1 - x2 / 30 * (1 - x2 / 56 * (1 - x2 / 90 * (1 - x2 / 132)))));
}
static void sincos_(double x, double *s, double *c) {
  /* x in [0, pi] here */
  if (x <= PI / 4) {
    *s = poly_sin(x);
    *c = poly_cos(x);
  } else if (x <= 3 * PI / 4) {
    *s = poly_cos(x - PI / 2);
    *c = -poly_sin(x - PI / 2);
  } else {
    *s = -poly_sin(x - PI);
    *c = -poly_cos(x - PI);
  }
}

static double re[FFT_N], im[FFT_N], wr[FFT_N / 2], wi[FFT_N / 2];

static void fft(int inverse) {
  for (u32 i = 1, j = 0; i < FFT_N; i++) {
    u32 bit = FFT_N >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  for (u32 len = 2; len <= FFT_N; len <<= 1) {
    u32 step = FFT_N / len;
    for (u32 i = 0; i < FFT_N; i += len)
      for (u32 k = 0; k < len / 2; k++) {
        double cr = wr[k * step], ci = inverse ? -wi[k * step] : wi[k * step];
        u32 a = i + k, b = i + k + len / 2;
        double xr = re[b] * cr - im[b] * ci;
        double xi = re[b] * ci + im[b] * cr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
  }
  if (inverse)
    for (u32 i = 0; i < FFT_N; i++) {
      re[i] /= FFT_N;
      im[i] /= FFT_N;
    }
}

static u64 fft_bench(void) {
  for (u32 k = 0; k < FFT_N / 2; k++) {
    double s, c;
    sincos_(2 * PI * k / FFT_N, &s, &c);
    wr[k] = c;
    wi[k] = -s;
  }
  for (u32 i = 0; i < FFT_N; i++) {
    re[i] = (double)((i * 37) % 101) / 101.0 - 0.5;
    im[i] = (double)((i * 11) % 29) / 58.0;
  }
  u64 h = 0;
  for (int r = 0; r < FFT_REPS; r++) {
    fft(0);
    h = mix(h, bitsd(re[r % FFT_N]));
    h = mix(h, bitsd(im[(7 * r) % FFT_N]));
    fft(1);
  }
  h = mix(h, bitsd(re[1]));
  return h;
}

/* Division, square root and conversions: normalise rows and quantise them. */
static u64 norm_bench(void) {
  u64 h = 0;
  for (int r = 0; r < MM_REPS; r++)
    for (int i = 0; i < MM_N; i++) {
      double ss = 0;
      for (int j = 0; j < MM_N; j++) ss += B[i][j] * B[i][j];
      double inv = 1.0 / __builtin_sqrt(ss + r);
      long q = 0;
      for (int j = 0; j < MM_N; j++) {
        double v = B[i][j] * inv;
        B[i][j] = v * 1.0001 + (double)q / 1e9;
        q += (long)(v * 1e6);
        float f = (float)v;
        q ^= (long)(__builtin_sqrtf(f * f + 1.0f) * 1000.0f);
      }
      h = mix(h, (u64)q);
    }
  return h;
}

int main(void) {
  puts_("fp bench: mm ");
  puthex(matmul());
  puts_(" fft ");
  puthex(fft_bench());
  puts_(" norm ");
  puthex(norm_bench());
  puts_("\n");
  return 0;
}

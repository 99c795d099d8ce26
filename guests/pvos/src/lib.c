/* A small freestanding libc: memory, strings, printf. */
#include "kernel.h"

void *memset(void *d, int c, size_t n) {
  uint8_t *p = d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  uint8_t *dp = d;
  const uint8_t *sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

void *memmove(void *d, const void *s, size_t n) {
  uint8_t *dp = d;
  const uint8_t *sp = s;
  if (dp < sp) {
    while (n--) *dp++ = *sp++;
  } else {
    while (n--) dp[n] = sp[n];
  }
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
  for (; n; n--, a++, b++) {
    if (*a != *b) return (uint8_t)*a - (uint8_t)*b;
    if (!*a) return 0;
  }
  return 0;
}

struct out {
  char *buf;
  size_t size, len;
};

static void out_c(struct out *o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len] = c;
  o->len++;
}

static void out_num(struct out *o, unsigned long v, int base, int neg, int width, char pad) {
  char tmp[24];
  int n = 0;
  do {
    int d = (int)(v % (unsigned)base);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= (unsigned)base;
  } while (v);
  if (neg) tmp[n++] = '-';
  for (int i = n; i < width; i++) out_c(o, pad);
  while (n) out_c(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  struct out o = {buf, size, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      out_c(&o, *fmt);
      continue;
    }
    fmt++;
    int left = 0;
    char pad = ' ';
    if (*fmt == '-') left = 1, fmt++;
    if (*fmt == '0') pad = '0', fmt++;
    int width = 0;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    int lng = 0;
    while (*fmt == 'l') lng++, fmt++;
    switch (*fmt) {
      case 'd': {
        long v = lng ? va_arg(ap, long) : va_arg(ap, int);
        out_num(&o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, v < 0, width, pad);
        break;
      }
      case 'u':
        out_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0, width, pad);
        break;
      case 'x':
        out_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0, width, pad);
        break;
      case 'p':
        out_c(&o, '0');
        out_c(&o, 'x');
        out_num(&o, (unsigned long)va_arg(ap, void *), 16, 0, width, pad);
        break;
      case 'c':
        out_c(&o, (char)va_arg(ap, int));
        break;
      case 's': {
        const char *s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        int n = (int)strlen(s);
        if (!left)
          for (int i = n; i < width; i++) out_c(&o, ' ');
        while (*s) out_c(&o, *s++);
        if (left)
          for (int i = n; i < width; i++) out_c(&o, ' ');
        break;
      }
      case '%':
        out_c(&o, '%');
        break;
      default:
        out_c(&o, '%');
        out_c(&o, *fmt);
        break;
    }
  }
  if (o.size) o.buf[o.len < o.size ? o.len : o.size - 1] = 0;
  return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int kprintf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  console_write(buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
  return n;
}

void kputs(const char *s) { console_write(s, strlen(s)); }

uint32_t fnv1a(const void *p, size_t n) {
  const uint8_t *b = p;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}

void panic(const char *fmt, ...) {
  char buf[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  kputs("pvos: panic: ");
  kputs(buf);
  kputs("\n");
  sbi_crash();
}

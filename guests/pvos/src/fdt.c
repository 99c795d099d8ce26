/* Just enough of a flattened device tree reader: RAM range and timebase. */
#include "kernel.h"

struct boot_info boot;

static uint32_t be32(const void *p) {
  const uint8_t *b = p;
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void fdt_scan(unsigned long fdt) {
  boot.fdt = fdt;
  boot.ram_base = 0x80000000UL;
  boot.ram_size = 128UL << 20;
  boot.timebase = 10000000;
  const uint8_t *h = (const uint8_t *)fdt;
  if (!fdt || be32(h) != 0xd00dfeed) return;
  boot.fdt_size = be32(h + 4);
  const uint8_t *st = h + be32(h + 8);
  const char *strs = (const char *)h + be32(h + 12);
  int depth = 0, in_memory = 0, in_cpus = 0, in_cpu = 0, is_virtio = 0;
  uint64_t node_reg = 0;
  const uint8_t *p = st;
  for (;;) {
    uint32_t tok = be32(p);
    p += 4;
    if (tok == 1) { /* BEGIN_NODE */
      const char *name = (const char *)p;
      size_t n = strlen(name);
      p += (n + 4) & ~3UL;
      depth++;
      is_virtio = 0;
      node_reg = 0;
      if (depth == 2) {
        in_memory = strncmp(name, "memory", 6) == 0;
        in_cpus = strcmp(name, "cpus") == 0;
      }
      if (depth == 3) in_cpu = in_cpus && strncmp(name, "cpu@", 4) == 0;
    } else if (tok == 2) { /* END_NODE */
      if (is_virtio && node_reg && boot.nvirtio < 8) boot.virtio[boot.nvirtio++] = node_reg;
      is_virtio = 0;
      if (depth == 2) in_memory = in_cpus = 0;
      if (depth == 3) in_cpu = 0;
      depth--;
    } else if (tok == 3) { /* PROP */
      uint32_t len = be32(p), nameoff = be32(p + 4);
      const uint8_t *val = p + 8;
      const char *pname = strs + nameoff;
      if (strcmp(pname, "compatible") == 0 && len >= 11 && memcmp(val, "virtio,mmio", 11) == 0) is_virtio = 1;
      if (strcmp(pname, "reg") == 0 && len >= 16) node_reg = (uint64_t)be32(val) << 32 | be32(val + 4);
      if (depth == 2 && in_memory && strcmp(pname, "reg") == 0 && len >= 16) {
        boot.ram_base = (uint64_t)be32(val) << 32 | be32(val + 4);
        boot.ram_size = (uint64_t)be32(val + 8) << 32 | be32(val + 12);
      } else if (depth == 3 && in_cpu && strcmp(pname, "reg") == 0 && len == 4 && boot.nharts < MAX_HARTS) {
        boot.harts[boot.nharts++] = be32(val);
      } else if (depth == 2 && in_cpus && strcmp(pname, "timebase-frequency") == 0 && len == 4) {
        boot.timebase = be32(val);
      }
      p += 8 + ((len + 3) & ~3UL);
    } else if (tok == 4) { /* NOP */
    } else {
      break; /* END or garbage */
    }
  }
}

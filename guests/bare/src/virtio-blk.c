/*
 * A disk at the first virtio-mmio transport, found the way kernels written for
 * QEMU find theirs (xv6: `-device virtio-blk-device,bus=virtio-mmio-bus.0`):
 * at 0x10001000, PLIC source 1, without reading the device tree. Run with
 *   pvm run --bare virtio-blk.elf --disk DISK,slot=0
 *   qemu-system-riscv64 -machine virt -bios none -kernel virtio-blk.elf
 *     -global virtio-mmio.force-legacy=false
 *     -drive file=DISK,if=none,format=raw,id=d -device virtio-blk-device,drive=d,bus=virtio-mmio-bus.0
 * where DISK is 4 KiB: "pvm-disk-at-slot-0" then zeros in sector 0, sector 1
 * all 'Z', the rest zeros (test/bare.test.ts and regen-expected.sh make it).
 * Checks the transport's identity, the empty transports after it, feature
 * negotiation, a two-sector read completed through the PLIC interrupt, a
 * write read back, and a read past the end refused with IOERR. virtio 1.2
 * §4.2.2 (registers), §2.7 (split queue), §5.2 (block). M-mode, hart 0.
 */
#include "rt.h"

#define VIRTIO0 0x10001000UL
#define VIRTIO_STRIDE 0x1000UL
#define VIRTIO_SLOTS 8
#define VIRTIO0_IRQ 1

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_VENDOR_ID 0x00c
#define R_DEVICE_FEATURES 0x010
#define R_DEVICE_FEATURES_SEL 0x014
#define R_DRIVER_FEATURES 0x020
#define R_DRIVER_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INTERRUPT_STATUS 0x060
#define R_INTERRUPT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC 0x080
#define R_QUEUE_DRIVER 0x090
#define R_QUEUE_DEVICE 0x0a0
#define R_CONFIG 0x100

#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define QSIZE 4
#define F_NEXT 1
#define F_WRITE 2
#define T_IN 0
#define T_OUT 1

struct desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};
struct avail {
  uint16_t flags, idx, ring[QSIZE];
};
struct used {
  uint16_t flags, idx;
  struct {
    uint32_t id, len;
  } ring[QSIZE];
};
struct req {
  uint32_t type, reserved;
  uint64_t sector;
};

static struct desc descs[QSIZE] __attribute__((aligned(16)));
static struct avail avail __attribute__((aligned(2)));
static volatile struct used used __attribute__((aligned(4)));
static struct req req;
static volatile uint8_t status;
static uint8_t buf[1024] __attribute__((aligned(8)));
static uint16_t last_used;
static volatile uint32_t irqs, irq_id, isr_seen;

static uint32_t r32(uint64_t off) { return mmio_r32(VIRTIO0 + off); }
static void w32(uint64_t off, uint32_t v) { mmio_w32(VIRTIO0 + off, v); }

/* The PLIC interrupt of slot 0: claim, acknowledge the device, complete. */
static void virtio_irq(uint64_t code, int handler) {
  uint32_t id = mmio_r32(PLIC_CLAIM(0));
  irq_id = id;
  if (id == VIRTIO0_IRQ) {
    uint32_t isr = r32(R_INTERRUPT_STATUS);
    isr_seen |= isr;
    w32(R_INTERRUPT_ACK, isr);
    irqs++;
  }
  mmio_w32(PLIC_CLAIM(0), id);
}

/* One request: header, `len` data bytes at `data` (device-writable for a read), status. Returns the used length. */
static uint32_t request(uint32_t type, uint64_t sector, void *data, uint32_t len) {
  req.type = type;
  req.reserved = 0;
  req.sector = sector;
  status = 0xff;
  descs[0] = (struct desc){(uint64_t)(uintptr_t)&req, sizeof req, F_NEXT, 1};
  descs[1] = (struct desc){(uint64_t)(uintptr_t)data, len, (uint16_t)(F_NEXT | (type == T_IN ? F_WRITE : 0)), 2};
  descs[2] = (struct desc){(uint64_t)(uintptr_t)&status, 1, F_WRITE, 0};
  avail.ring[avail.idx % QSIZE] = 0;
  __asm__ volatile("fence rw, rw" ::: "memory");
  avail.idx++;
  __asm__ volatile("fence rw, rw" ::: "memory");
  irqs = 0;
  w32(R_QUEUE_NOTIFY, 0);
  /* Wait for the completion interrupt (the device may complete asynchronously). */
  csr_set(mstatus, MSTATUS_MIE);
  for (long i = 0; i < 100000000 && irqs == 0; i++) __asm__ volatile("wfi");
  csr_clear(mstatus, MSTATUS_MIE);
  __asm__ volatile("fence rw, rw" ::: "memory");
  if (used.idx == last_used) return 0xffffffff;
  uint32_t n = used.ring[last_used % QSIZE].len;
  last_used++;
  return n;
}

int main(void) {
  irq_hook = virtio_irq;
  trap_reset(0);

  check_eq("slot 0: magic \"virt\"", r32(R_MAGIC), 0x74726976);
  check_eq("slot 0: version 2 (modern)", r32(R_VERSION), 2);
  check_eq("slot 0: a block device", r32(R_DEVICE_ID), 2);
  check_eq("slot 0: QEMU's vendor id", r32(R_VENDOR_ID), 0x554d4551);
  int empty = 0;
  for (unsigned n = 1; n < VIRTIO_SLOTS; n++) {
    uint64_t b = VIRTIO0 + n * VIRTIO_STRIDE;
    empty += mmio_r32(b + R_MAGIC) == 0x74726976 && mmio_r32(b + R_DEVICE_ID) == 0;
  }
  check_eq("slots 1..7 are empty transports (device id 0)", empty, VIRTIO_SLOTS - 1);

  w32(R_STATUS, 0);
  w32(R_STATUS, S_ACKNOWLEDGE);
  w32(R_STATUS, S_ACKNOWLEDGE | S_DRIVER);
  w32(R_DEVICE_FEATURES_SEL, 1);
  check_eq("VIRTIO_F_VERSION_1 offered", r32(R_DEVICE_FEATURES) & 1, 1);
  w32(R_DRIVER_FEATURES_SEL, 0);
  w32(R_DRIVER_FEATURES, 0);
  w32(R_DRIVER_FEATURES_SEL, 1);
  w32(R_DRIVER_FEATURES, 1);
  w32(R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
  check_eq("FEATURES_OK kept", r32(R_STATUS) & S_FEATURES_OK, S_FEATURES_OK);
  w32(R_QUEUE_SEL, 0);
  check("queue 0 holds 4 descriptors", r32(R_QUEUE_NUM_MAX) >= QSIZE);
  w32(R_QUEUE_NUM, QSIZE);
  w32(R_QUEUE_DESC, (uint32_t)(uintptr_t)descs);
  w32(R_QUEUE_DESC + 4, 0);
  w32(R_QUEUE_DRIVER, (uint32_t)(uintptr_t)&avail);
  w32(R_QUEUE_DRIVER + 4, 0);
  w32(R_QUEUE_DEVICE, (uint32_t)(uintptr_t)&used);
  w32(R_QUEUE_DEVICE + 4, 0);
  w32(R_QUEUE_READY, 1);
  w32(R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  check_eq("capacity: 8 sectors", (uint64_t)r32(R_CONFIG) | (uint64_t)r32(R_CONFIG + 4) << 32, 8);

  /* Completions arrive as PLIC source 1 in the M-mode context of hart 0. */
  mmio_w32(PLIC_PRIO(VIRTIO0_IRQ), 1);
  mmio_w32(PLIC_THRESHOLD(0), 0);
  mmio_w32(PLIC_ENABLE(0), 1u << VIRTIO0_IRQ);
  csr_write(mie, MIP_MEIP);

  memset(buf, 0xee, sizeof buf);
  uint32_t n = request(T_IN, 0, buf, 1024);
  check_eq("read sectors 0-1: used length 1025 (data and status)", n, 1025);
  check_eq("read: status OK", status, 0);
  check_eq("read: completion interrupt from source 1", irq_id, VIRTIO0_IRQ);
  check_eq("read: InterruptStatus said used buffer", isr_seen & 1, 1);
  static const char label[] = "pvm-disk-at-slot-0";
  check("sector 0 starts with the host's label", memcmp(buf, label, sizeof label - 1) == 0);
  int zeros = 0, zs = 0;
  for (unsigned i = sizeof label - 1; i < 512; i++) zeros += buf[i] == 0;
  for (unsigned i = 512; i < 1024; i++) zs += buf[i] == 'Z';
  check_eq("the rest of sector 0 is zero", zeros, 512 - (sizeof label - 1));
  check_eq("sector 1 is all 'Z'", zs, 512);

  for (unsigned i = 0; i < 512; i++) buf[i] = (uint8_t)(i * 7 + 3);
  n = request(T_OUT, 2, buf, 512);
  check_eq("write sector 2: used length 1 (status only)", n, 1);
  check_eq("write: status OK", status, 0);
  memset(buf, 0, 512);
  request(T_IN, 2, buf, 512);
  int same = 0;
  for (unsigned i = 0; i < 512; i++) same += buf[i] == (uint8_t)(i * 7 + 3);
  check_eq("sector 2 reads back what was written", same, 512);

  request(T_IN, 8, buf, 512);
  check_eq("a read past the end: IOERR", status, 1);
  return finish();
}

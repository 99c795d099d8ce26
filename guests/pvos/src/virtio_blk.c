/*
 * virtio-blk over virtio-mmio version 2 (virtio 1.x §4.2.2, §5.2), one split
 * queue, polled. The block back end of both pv-ops tables: QEMU's virt board
 * and pvm both offer virtio-mmio at 0x10001000 + n*0x1000.
 */
#include "kernel.h"

#define VIRTIO_BASE 0x10001000UL
#define VIRTIO_SLOTS 8
#define VMMIO_MAGIC 0x000
#define VMMIO_VERSION 0x004
#define VMMIO_DEVICE_ID 0x008
#define VMMIO_DEVICE_FEATURES 0x010
#define VMMIO_DEVICE_FEATURES_SEL 0x014
#define VMMIO_DRIVER_FEATURES 0x020
#define VMMIO_DRIVER_FEATURES_SEL 0x024
#define VMMIO_QUEUE_SEL 0x030
#define VMMIO_QUEUE_NUM_MAX 0x034
#define VMMIO_QUEUE_NUM 0x038
#define VMMIO_QUEUE_READY 0x044
#define VMMIO_QUEUE_NOTIFY 0x050
#define VMMIO_INTERRUPT_STATUS 0x060
#define VMMIO_INTERRUPT_ACK 0x064
#define VMMIO_STATUS 0x070
#define VMMIO_QUEUE_DESC 0x080
#define VMMIO_QUEUE_DRIVER 0x090
#define VMMIO_QUEUE_DEVICE 0x0a0
#define VMMIO_CONFIG 0x100

#define ST_ACKNOWLEDGE 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define VIRTIO_F_VERSION_1_HI 1 /* feature bit 32 */

#define QSIZE 8
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2

struct vring_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};
struct vring_avail {
  uint16_t flags, idx, ring[QSIZE];
};
struct vring_used {
  uint16_t flags, idx;
  struct {
    uint32_t id, len;
  } ring[QSIZE];
};
struct blk_req {
  uint32_t type, reserved;
  uint64_t sector;
};

static unsigned long base;
static uint64_t capacity;
static struct vring_desc *desc;
static struct vring_avail *avail;
static volatile struct vring_used *used;
static uint16_t last_used;
static struct blk_req req;
static volatile uint8_t status;
static char name[48] = "none";

static uint32_t r32(unsigned long off) { return *(volatile uint32_t *)(base + off); }
static void w32(unsigned long off, uint32_t v) { *(volatile uint32_t *)(base + off) = v; }
static void w64(unsigned long off, uint64_t v) {
  w32(off, (uint32_t)v);
  w32(off + 4, (uint32_t)(v >> 32));
}

const char *virtio_blk_name(void) { return name; }
uint64_t virtio_blk_sectors(void) { return base ? capacity : 0; }

/* Only the slots the device tree describes are probed: pvm leaves absent slots unmapped. */
void virtio_blk_init(void) {
  for (unsigned n = 0; n < boot.nvirtio; n++) {
    base = boot.virtio[n];
    if (base < VIRTIO_BASE || base >= VIRTIO_BASE + VIRTIO_SLOTS * 0x1000UL) continue;
    if (r32(VMMIO_MAGIC) != 0x74726976 || r32(VMMIO_VERSION) != 2 || r32(VMMIO_DEVICE_ID) != 2) continue;
    w32(VMMIO_STATUS, 0);
    w32(VMMIO_STATUS, ST_ACKNOWLEDGE);
    w32(VMMIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
    w32(VMMIO_DEVICE_FEATURES_SEL, 1);
    if (!(r32(VMMIO_DEVICE_FEATURES) & VIRTIO_F_VERSION_1_HI)) continue;
    w32(VMMIO_DRIVER_FEATURES_SEL, 0);
    w32(VMMIO_DRIVER_FEATURES, 0);
    w32(VMMIO_DRIVER_FEATURES_SEL, 1);
    w32(VMMIO_DRIVER_FEATURES, VIRTIO_F_VERSION_1_HI);
    w32(VMMIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
    if (!(r32(VMMIO_STATUS) & ST_FEATURES_OK)) continue;
    w32(VMMIO_QUEUE_SEL, 0);
    if (r32(VMMIO_QUEUE_NUM_MAX) < QSIZE) continue;
    uint8_t *page = page_alloc();
    desc = (struct vring_desc *)page;
    avail = (struct vring_avail *)(page + 256);
    used = (volatile struct vring_used *)(page + 512);
    w32(VMMIO_QUEUE_NUM, QSIZE);
    w64(VMMIO_QUEUE_DESC, (uint64_t)desc);
    w64(VMMIO_QUEUE_DRIVER, (uint64_t)avail);
    w64(VMMIO_QUEUE_DEVICE, (uint64_t)used);
    w32(VMMIO_QUEUE_READY, 1);
    w32(VMMIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    capacity = (uint64_t)r32(VMMIO_CONFIG) | (uint64_t)r32(VMMIO_CONFIG + 4) << 32;
    snprintf(name, sizeof name, "virtio-blk@0x%lx", base);
    return;
  }
  base = 0;
}

/* Reads or writes `count` 512-byte sectors; 0 on success. Polls the used ring. */
int virtio_blk_rw(int write, uint64_t sector, void *buf, unsigned count) {
  if (!base || !count || sector >= capacity || count > capacity - sector) return -1;
  req.type = write ? 1 : 0;
  req.reserved = 0;
  req.sector = sector;
  status = 0xff;
  desc[0] = (struct vring_desc){(uint64_t)&req, sizeof req, VRING_DESC_F_NEXT, 1};
  desc[1] = (struct vring_desc){(uint64_t)buf, count * 512u, (uint16_t)(VRING_DESC_F_NEXT | (write ? 0 : VRING_DESC_F_WRITE)), 2};
  desc[2] = (struct vring_desc){(uint64_t)&status, 1, VRING_DESC_F_WRITE, 0};
  avail->ring[avail->idx % QSIZE] = 0;
  wmb();
  avail->idx++;
  mb();
  w32(VMMIO_QUEUE_NOTIFY, 0);
  while (used->idx == last_used) mb();
  last_used++;
  uint32_t isr = r32(VMMIO_INTERRUPT_STATUS);
  if (isr) w32(VMMIO_INTERRUPT_ACK, isr);
  rmb();
  return status == 0 ? 0 : -1;
}

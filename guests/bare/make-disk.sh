#!/bin/sh
# Writes the 4 KiB disk image the virtio-blk* programs read (src/virtio-blk.c): sector 0 is
# "pvm-disk-at-slot-0" then zeros, sector 1 is all 'Z', sectors 2-7 are zeros.
# Usage: guests/bare/make-disk.sh FILE
set -eu
{
  printf 'pvm-disk-at-slot-0'
  head -c 494 /dev/zero
  head -c 512 /dev/zero | tr '\0' 'Z'
  head -c 3072 /dev/zero
} > "$1"

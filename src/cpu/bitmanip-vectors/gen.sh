#!/bin/sh
# Regenerates bitvectors.txt.gz (the Zba/Zbb/Zbc/Zbs reference vectors, see gen.c) from
# qemu-system-riscv64, whose default CPU implements the four extensions. Needs
# riscv64-unknown-elf-gcc and qemu-system-riscv64; the unit tests only read the committed file.
set -eu
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostdlib -nostartfiles -ffreestanding \
  -fno-builtin -Wl,--no-warn-rwx-segments -T ../fpu/vectors/link.ld -o "$out/gen.elf" start.S gen.c
# Keep only vector lines (drop terminal control sequences QEMU may print).
timeout 600 qemu-system-riscv64 -machine virt -bios none -nographic -m 64M -kernel "$out/gen.elf" </dev/null |
  tr -d '\r' | grep -E '^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ [0-9a-fx?]+$' >"$out/vectors.txt"
wc -l <"$out/vectors.txt"
gzip -9n <"$out/vectors.txt" >bitvectors.txt.gz

#!/bin/sh
# Regenerates fpvectors.txt.gz: builds gen.c bare-metal and runs it under qemu-system-riscv64 (the reference).
# Needs riscv64-unknown-elf-gcc and qemu-system-riscv64; the tests only read the committed vector file.
set -eu
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostdlib -nostartfiles -ffreestanding \
  -fno-builtin -T link.ld -o "$out/gen.elf" start.S gen.c
timeout 600 qemu-system-riscv64 -machine virt -bios none -nographic -m 64M -kernel "$out/gen.elf" \
  </dev/null >"$out/raw.txt"
# Keep only vector lines (drop terminal control sequences QEMU may print).
tr -d '\r' <"$out/raw.txt" | grep -E '^[0-9a-f]+ [0-9a-f]+ ' >"$out/vectors.txt"
wc -l <"$out/vectors.txt"
gzip -9n <"$out/vectors.txt" >fpvectors.txt.gz

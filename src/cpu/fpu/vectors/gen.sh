#!/bin/sh
# Regenerates fpvectors.txt.gz: builds gen.c bare-metal and runs it under qemu-system-riscv64 (the reference).
# Needs riscv64-unknown-elf-gcc and qemu-system-riscv64; the unit tests only read the committed vector file.
#   gen.sh                 rebuild and regenerate fpvectors.txt.gz
#   gen.sh --elf FILE      only build the generator program into FILE (test/fp-guest.test.ts runs it under pvm)
set -eu
cd "$(dirname "$0")"
build() {
  riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostdlib -nostartfiles -ffreestanding \
    -fno-builtin -Wl,--no-warn-rwx-segments -T link.ld -o "$1" start.S gen.c
}
if [ "${1:-}" = "--elf" ]; then
  build "$2"
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build "$out/gen.elf"
timeout 600 qemu-system-riscv64 -machine virt -bios none -nographic -m 64M -kernel "$out/gen.elf" \
  </dev/null >"$out/raw.txt"
# Keep only vector lines (drop terminal control sequences QEMU may print).
tr -d '\r' <"$out/raw.txt" | grep -E '^[0-9a-f]+ [0-9a-f]+ ' >"$out/vectors.txt"
wc -l <"$out/vectors.txt"
gzip -9n <"$out/vectors.txt" >fpvectors.txt.gz

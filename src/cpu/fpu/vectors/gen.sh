#!/bin/sh
# Regenerates the FPU reference data from qemu-system-riscv64:
#   fpvectors.txt.gz     gen.c: one line per executed F/D instruction (operands, result, fflags or trap)
#   plumbing.expected    plumbing.c: fcsr/frm/fflags, FP loads/stores and NaN boxing, mstatus.FS, misa
# Needs riscv64-unknown-elf-gcc and qemu-system-riscv64; the unit tests only read the committed files.
#   gen.sh               rebuild both programs and regenerate both files
#   gen.sh --elf DIR     only build DIR/gen.elf and DIR/plumbing.elf (test/fp-guest.test.ts runs them under pvm)
set -eu
cd "$(dirname "$0")"
build() {
  riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostdlib -nostartfiles -ffreestanding \
    -fno-builtin -Wl,--no-warn-rwx-segments -T link.ld -o "$1/gen.elf" start.S gen.c
  riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostdlib -nostartfiles -ffreestanding \
    -fno-builtin -Wl,--no-warn-rwx-segments -T link.ld -o "$1/plumbing.elf" start.S plumbing.c
}
run() {
  timeout 600 qemu-system-riscv64 -machine virt -bios none -nographic -m 64M -kernel "$1" </dev/null | tr -d '\r'
}
if [ "${1:-}" = "--elf" ]; then
  build "$2"
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build "$out"
# Keep only vector lines (drop terminal control sequences QEMU may print).
run "$out/gen.elf" | grep -E '^[0-9a-f]+ [0-9a-f]+ ' >"$out/vectors.txt"
wc -l <"$out/vectors.txt"
gzip -9n <"$out/vectors.txt" >fpvectors.txt.gz
run "$out/plumbing.elf" >plumbing.expected

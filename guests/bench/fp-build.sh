#!/bin/sh
# Builds the FP benchmark guest into guests/bench/build/fp.elf (git-ignored).
# Extra arguments go to gcc, e.g. -DMM_REPS=10 for a shorter run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
mkdir -p "$out"
riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -fno-math-errno -ffreestanding -fno-builtin-printf \
  -nostdlib -nostartfiles -Wall -Wextra -Wl,--no-warn-rwx-segments -T "$here/fp.ld" "$@" \
  -o "$out/fp.elf" "$here/fp-start.S" "$here/fp.c"
echo "$out/fp.elf"

#!/bin/sh
# Builds every bare-metal test program into guests/bare/build/.
set -eu
cd "$(dirname "$0")"
if ! command -v riscv64-unknown-elf-gcc >/dev/null 2>&1; then
  echo "build.sh: riscv64-unknown-elf-gcc not found (Debian: apt-get install gcc-riscv64-unknown-elf)" >&2
  exit 1
fi
exec make -s "$@"

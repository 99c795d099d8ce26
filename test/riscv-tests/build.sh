#!/bin/sh
# Builds riscv-tests from a source tree laid out like
# riscv-software-src/riscv-tests (isa/rv64*/, isa/macros/scalar/, and the
# riscv-test-env submodule in env/ with env/p, env/v, env/encoding.h) into OUT,
# with the compiler options of upstream's isa/Makefile: rv64g for every suite
# except rv64uc (rv64gc); the p environment for all, the v environment for the
# rv64u* suites. Rebuilds only what changed.
#
#   test/riscv-tests/build.sh SRC OUT [SUITES]     (default suites: rv64ui rv64um rv64ua rv64uc rv64uf rv64ud rv64si rv64mi)
set -u
if [ $# -lt 2 ] || [ ! -d "$1/isa" ] || [ ! -d "$1/env/p" ]; then
  echo "usage: $0 SRC OUT [SUITES]  (SRC: a riscv-tests tree with isa/ and env/)" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
suites=${3:-"rv64ui rv64um rv64ua rv64uc rv64uf rv64ud rv64si rv64mi"}
CC=${CC:-riscv64-unknown-elf-gcc}
command -v "$CC" >/dev/null 2>&1 || { echo "$0: $CC not found (apt-get install gcc-riscv64-unknown-elf)" >&2; exit 1; }
COMMON="-mabi=lp64 -static -mcmodel=medany -fvisibility=hidden -nostdlib -nostartfiles -Wl,--no-warn-rwx-segments"
fail=0
for d in $suites; do
  case $d in rv64uc) march=rv64gc_zicsr_zifencei ;; *) march=rv64g_zicsr_zifencei ;; esac
  for s in "$src"/isa/$d/*.S; do
    [ -e "$s" ] || continue
    t=$(basename "$s" .S)
    p="$out/$d-p-$t"
    if [ ! -e "$p" ] || [ "$s" -nt "$p" ]; then
      $CC -march=$march $COMMON -I"$src/env/p" -I"$src/isa/macros/scalar" -T"$src/env/p/link.ld" "$s" -o "$p" ||
        { echo "BUILD FAIL $p" >&2; fail=1; }
    fi
    case $d in rv64u*)
      v="$out/$d-v-$t"
      if [ ! -e "$v" ] || [ "$s" -nt "$v" ]; then
        entropy=$(echo "$v" | md5sum | cut -c 1-7)
        $CC -march=$march $COMMON --specs=picolibc.specs -fno-tree-loop-distribute-patterns -DENTROPY=0x$entropy \
          -std=gnu99 -O2 -I"$src/env/v" -I"$src/isa/macros/scalar" -T"$src/env/v/link.ld" \
          "$src/env/v/entry.S" "$src"/env/v/*.c "$s" -o "$v" || { echo "BUILD FAIL $v" >&2; fail=1; }
      fi ;;
    esac
  done
done
exit $fail

#!/bin/sh
# Runs every riscv-tests binary in a directory under `pvm run --bare` and prints
# one line per test (PASS, or FAIL with the HTIF exit status / reason) and a
# summary line. Exit status: 0 if all pass, 1 otherwise.
#
#   test/riscv-tests/run.sh DIR [PATTERN]
#
# DIR holds binaries built from riscv-software-src/riscv-tests (names such as
# rv64ui-p-add, rv64ui-v-add; files ending in .dump/.S/.o are ignored).
# PATTERN (a shell glob, default *) selects tests. A test passes when pvm exits
# 0 (tohost = 1). A failing riscv-test reports tohost = TESTNUM << 1 | 1, so the
# exit status is the number of the failed test case. Not part of `npm test`:
# the suite is not in the repository (docs/testing.md explains how to build it).
# Environment: PVM (default: node <repo>/bin/pvm.js), MAX_INSTRUCTIONS
# (default 50000000), TIMEOUT seconds per test (default 60).
set -u
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 DIR [PATTERN]" >&2
  exit 2
fi
dir=$1
pattern=${2:-*}
root=$(cd "$(dirname "$0")/../.." && pwd)
pvm=${PVM:-node $root/bin/pvm.js}
max=${MAX_INSTRUCTIONS:-50000000}
limit=${TIMEOUT:-60}
pass=0
fail=0
failed=""
for t in "$dir"/$pattern; do
  [ -f "$t" ] || continue
  case "$t" in *.dump | *.S | *.o | *.txt | *.md) continue ;; esac
  name=$(basename "$t")
  out=$(timeout "$limit" $pvm run --bare "$t" --max-instructions "$max" 2>&1 </dev/null)
  code=$?
  if [ "$code" -eq 0 ]; then
    pass=$((pass + 1))
    echo "PASS $name"
  else
    fail=$((fail + 1))
    failed="$failed $name"
    case "$code" in
      124) why="timeout after ${limit}s" ;;
      *) why="exit $code" ;;
    esac
    last=$(printf '%s' "$out" | tail -n 1 | cut -c 1-160)
    echo "FAIL $name ($why)${last:+: $last}"
  fi
done
total=$((pass + fail))
echo "riscv-tests: $pass/$total passed${failed:+, failed:$failed}"
[ "$fail" -eq 0 ]

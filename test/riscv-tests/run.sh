#!/bin/sh
# Runs every riscv-tests binary in a directory under `pvm run --bare` and prints
# one line per test (PASS, or FAIL with the HTIF exit status / reason) and a
# summary line. Exit status: 0 if all pass, 1 otherwise.
#
#   test/riscv-tests/run.sh DIR [PATTERN]
#
# DIR holds binaries built from riscv-software-src/riscv-tests (names such as
# rv64ui-p-add, rv64ui-v-add; files ending in .dump/.S/.o are ignored; see
# test/riscv-tests/build.sh). PATTERN (a shell glob, default *) selects tests.
# A test passes when pvm exits 0 (tohost = 1). A failing riscv-test reports
# tohost = TESTNUM << 1 | 1, so the exit status is the number of the failed
# test case. Not part of `npm test`: the suite is not in the repository
# (docs/testing.md explains how to build it).
# Environment: PVM (default: node <repo>/bin/pvm.js), MAX_INSTRUCTIONS
# (default 50000000), TIMEOUT seconds per test (default 60), JOBS tests run at
# once (default 1).
set -u

# Runs one test; writes "PASS name" or "FAIL name (...)" to $results/name.
run_one() {
  t=$1
  name=$(basename "$t")
  out=$(timeout "$TIMEOUT" $PVM_CMD run --bare "$t" --max-instructions "$MAX_INSTRUCTIONS" 2>&1 </dev/null)
  code=$?
  if [ "$code" -eq 0 ]; then
    echo "PASS $name" >"$results/$name"
  else
    case "$code" in
      124) why="exit 124: instruction limit or ${TIMEOUT}s timeout" ;;
      *) why="exit $code" ;;
    esac
    last=$(printf '%s' "$out" | tail -n 1 | cut -c 1-160)
    echo "FAIL $name ($why)${last:+: $last}" >"$results/$name"
  fi
}

# Internal: `run.sh --one FILE` runs one test (used for JOBS > 1).
if [ "${1:-}" = "--one" ]; then
  run_one "$2"
  exit 0
fi

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 DIR [PATTERN]" >&2
  exit 2
fi
dir=$1
pattern=${2:-*}
root=$(cd "$(dirname "$0")/../.." && pwd)
export PVM_CMD="${PVM:-node $root/bin/pvm.js}"
export MAX_INSTRUCTIONS="${MAX_INSTRUCTIONS:-50000000}"
export TIMEOUT="${TIMEOUT:-60}"
jobs=${JOBS:-1}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT INT TERM
export results


list=""
for t in "$dir"/$pattern; do
  [ -f "$t" ] || continue
  case "$t" in *.dump | *.S | *.o | *.txt | *.md) continue ;; esac
  list="$list $t"
done

if [ "$jobs" -gt 1 ] && command -v xargs >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  printf '%s\n' $list | xargs -P "$jobs" -n 1 sh "$0" --one
else
  for t in $list; do run_one "$t"; done
fi

pass=0
fail=0
failed=""
for t in $list; do
  name=$(basename "$t")
  line=$(cat "$results/$name" 2>/dev/null || echo "FAIL $name (no result)")
  echo "$line"
  case "$line" in
    PASS*) pass=$((pass + 1)) ;;
    *) fail=$((fail + 1)); failed="$failed $name" ;;
  esac
done
total=$((pass + fail))
echo "riscv-tests: $pass/$total passed${failed:+, failed:$failed}"
[ "$fail" -eq 0 ]

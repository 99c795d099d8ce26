#!/bin/sh
# Regenerates expected/NAME.out for every bare-metal program by running it under
# QEMU: qemu-system-riscv64 -machine virt -bios none (the *-htif programs use
# -machine spike, which implements HTIF tohost). Each file holds the console
# output followed by a line "exit N" with QEMU's exit status.
# Where pvm deliberately follows the spec and QEMU 7.2 does not, the sed script
# expected/NAME.fixup.sed rewrites QEMU's lines into the spec's (docs/testing.md).
# Usage: guests/bare/regen-expected.sh [NAME...]
set -eu
cd "$(dirname "$0")"
./build.sh
names="$*"
if [ -z "$names" ]; then
  names=$(for f in build/*.elf; do basename "$f" .elf; done)
fi
for n in $names; do
  case "$n" in
    *-htif) machine=spike ;;
    *) machine=virt ;;
  esac
  set +e
  out=$(timeout 60 qemu-system-riscv64 -machine "$machine" -bios none -nographic -monitor none -serial stdio \
    -kernel "build/$n.elf" </dev/null)
  code=$?
  set -e
  { [ -n "$out" ] && printf '%s\n' "$out"; printf 'exit %d\n' "$code"; } > "expected/$n.out.tmp"
  if [ -f "expected/$n.fixup.sed" ]; then
    sed -f "expected/$n.fixup.sed" "expected/$n.out.tmp" > "expected/$n.out"
    rm "expected/$n.out.tmp"
  else
    mv "expected/$n.out.tmp" "expected/$n.out"
  fi
  echo "$n: qemu exit $code -> expected/$n.out"
done

#!/bin/sh
# Regenerates expected/NAME.out for every bare-metal program by running it under
# QEMU: qemu-system-riscv64 -machine virt -bios none (the *-htif programs use
# -machine spike, which implements HTIF tohost; the smp* programs get 2 harts; the virtio-blk*
# programs get the disk of make-disk.sh on the first transport, virtio-mmio-bus.0, as pvm's
# `--disk DISK,slot=0`). Each file holds the console output followed by a line "exit N" with
# QEMU's exit status.
# Where pvm deliberately follows the spec and QEMU 7.2 does not, the sed script
# expected/qemu-deviations.sed rewrites QEMU's lines into the spec's and the
# verdict is recounted (docs/testing.md lists the deviations).
# Usage: guests/bare/regen-expected.sh [NAME...]
set -eu
cd "$(dirname "$0")"
./build.sh
names="$*"
if [ -z "$names" ]; then
  names=$(for f in build/*.elf; do basename "$f" .elf; done)
fi
disk=$(mktemp)
trap 'rm -f "$disk"' EXIT
for n in $names; do
  case "$n" in
    *-htif) machine=spike; cpu= ;;
    smp*) machine=virt; cpu="-cpu rv64,h=false -smp 2" ;;
    virtio-blk*)
      ./make-disk.sh "$disk"
      machine=virt
      cpu="-cpu rv64,h=false -global virtio-mmio.force-legacy=false -drive file=$disk,if=none,format=raw,id=d
        -device virtio-blk-device,drive=d,bus=virtio-mmio-bus.0" ;;
    *) machine=virt; cpu="-cpu rv64,h=false" ;;
  esac
  set +e
  out=$(timeout 60 qemu-system-riscv64 -machine "$machine" $cpu -bios none -nographic -monitor none -serial stdio \
    -kernel "build/$n.elf" </dev/null)
  code=$?
  set -e
  raw="expected/$n.qemu.tmp"
  { [ -n "$out" ] && printf '%s\n' "$out"; printf 'exit %d\n' "$code"; } > "$raw"
  sed -f expected/qemu-deviations.sed "$raw" > "$raw.2"
  if cmp -s "$raw" "$raw.2"; then
    mv "$raw" "expected/$n.out"
  else
    # Recount the verdict and the exit status after the rewrite.
    awk '
      /^ok / { n++ } /^FAIL / { n++; f++ }
      /^(PASSED|FAILED) [0-9]+/ { line[NR] = "VERDICT"; next }
      /^exit [0-9]+$/ { line[NR] = "EXIT"; next }
      { line[NR] = $0 }
      END {
        for (i = 1; i <= NR; i++) {
          if (line[i] == "VERDICT") print (f ? "FAILED " f " of " n " checks" : "PASSED " n " checks");
          else if (line[i] == "EXIT") print "exit " f + 0;
          else print line[i];
        }
      }' "$raw.2" > "expected/$n.out"
    rm -f "$raw"
  fi
  rm -f "$raw.2"
  echo "$n: qemu exit $code -> expected/$n.out"
done

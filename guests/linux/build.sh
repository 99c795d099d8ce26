#!/bin/bash
# Builds pvm's Linux test guest from Debian packages only (no other downloads):
#   Image              Linux 6.1 (linux-source-6.1), ARCH=riscv, tinyconfig + config.fragment
#   initramfs.cpio.gz  static busybox (Debian's busybox source package) + init + /etc/selftest
#                      + udhcpc's event script
# Needs root for apt-get and about 10 minutes on 2 cores.
# Usage: guests/linux/build.sh [OUT_DIR]      (default: guests/linux/build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-$here/build}")
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DEBIAN_FRONTEND=noninteractive
jobs=$(nproc)
cross=(ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu-)

echo "== packages"
apt-get update -qq
apt-get install -y -qq gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1 \
  bc flex bison cpio xz-utils dpkg-dev make >/dev/null

echo "== kernel (linux-source-6.1, tinyconfig + config.fragment)"
tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
ksrc="$work/linux-source-6.1"
make -C "$ksrc" "${cross[@]}" tinyconfig >/dev/null
(cd "$ksrc" && ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- scripts/kconfig/merge_config.sh -m .config "$here/config.fragment" >/dev/null)
make -C "$ksrc" "${cross[@]}" olddefconfig >/dev/null
make -C "$ksrc" "${cross[@]}" -j"$jobs" Image >/dev/null
cp "$ksrc/arch/riscv/boot/Image" "$out/Image"
cp "$ksrc/.config" "$out/linux.config"

echo "== busybox (static, rv64gc lp64d)"
if ! ls /etc/apt/sources.list.d/*src* >/dev/null 2>&1 && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  mirror=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/ && u !~ /security/ {print u; exit}' /etc/apt/sources.list.d/*.sources)
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
    >/etc/apt/sources.list.d/pvm-src.list
  apt-get update -qq
fi
(cd "$work" && apt-get source -qq busybox >/dev/null 2>&1)
bb=$(ls -d "$work"/busybox-*/ | head -1)
make -C "$bb" defconfig >/dev/null
sed -i 's/# CONFIG_STATIC is not set/CONFIG_STATIC=y/; s/^CONFIG_TC=y/# CONFIG_TC is not set/' "$bb/.config"
# `yes` dies of SIGPIPE when oldconfig is done; that is not a failure.
{ yes '' || true; } | make -C "$bb" CROSS_COMPILE=riscv64-linux-gnu- oldconfig >/dev/null
make -C "$bb" CROSS_COMPILE=riscv64-linux-gnu- -j"$jobs" busybox >/dev/null

echo "== initramfs"
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,mnt,usr/bin,usr/sbin,usr/share/udhcpc}
install -m755 "$bb/busybox" "$root/bin/busybox"
install -m755 "$here/init" "$root/init"
install -m755 "$here/selftest" "$root/etc/selftest"
install -m755 "$here/udhcpc.script" "$root/usr/share/udhcpc/default.script"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner 0:0 --reproducible) | gzip -9n >"$out/initramfs.cpio.gz"

(cd "$out" && sha256sum Image initramfs.cpio.gz >SHA256SUMS)
ls -l "$out/Image" "$out/initramfs.cpio.gz"
echo "boot it: pvm run --kernel $out/Image --initrd $out/initramfs.cpio.gz --append 'console=ttyS0 pvm.selftest'"

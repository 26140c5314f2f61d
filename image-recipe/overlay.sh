#!/usr/bin/env bash
# The one way to add files to the image's root for a boot: copies INITRD to OUT and appends
# each DIR as an uncompressed cpio archive (the kernel unpacks concatenated archives in order,
# later files win). Used by boot-qemu.sh (--overlay, --autologin) and vm-tests.
#   overlay.sh INITRD OUT DIR...
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: overlay.sh INITRD OUT DIR..." >&2; exit 2; }
initrd=$1 out=$2; shift 2
cp "$initrd" "$out"
# An uncompressed archive after a compressed one must start 4-byte aligned.
truncate -s %4 "$out"
for dir in "$@"; do
    [ -d "$dir" ] || { echo "overlay.sh: $dir is not a directory" >&2; exit 1; }
    (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >> "$out"
done

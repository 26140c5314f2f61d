#!/usr/bin/env bash
# Builds the RAM-only router image from Debian bookworm packages and the release build of
# router-agent, into image-recipe/out/:
#   vmlinuz       Debian's kernel
#   initrd.img    the whole root filesystem (zstd cpio); the kernel unpacks it into RAM
#                 and runs systemd from it: there is no switch_root and no disk
#   router.ipxe   iPXE script for HTTP boot (kernel + initrd next to it)
#   router.iso    hybrid ISO, BIOS and UEFI (CD, USB stick, a hypervisor's virtual CD)
#   router.efi    unified kernel image (UEFI HTTP boot; command line baked in)
#   cmdline       the kernel arguments every boot of the image needs (boot-qemu.sh's
#                 -kernel boots start with them)
#   SHA256SUMS, sizes.txt
#
# Environment (all optional):
#   IMAGE_APPEND      kernel arguments baked into the ISO, iPXE script and UKI after the
#                     console ones, e.g. "router.store=http://192.0.2.1:8080 router.mgmt=dhcp"
#   IMAGE_OUT         output directory (default image-recipe/out)
#   IMAGE_CACHE       where downloaded .debs are kept between builds
#                     (default ~/.cache/router-image)
#   ROUTER_AGENT_BIN  the agent binary (default target/release/router-agent)
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR   the apt mirrors (default deb.debian.org)
#   SOURCE_DATE_EPOCH timestamps in the image (default: the last commit's time), which
#                     makes two builds from the same packages byte-identical
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=${IMAGE_OUT:-$here/out}
cache=${IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/router-image}
agent=${ROUTER_AGENT_BIN:-$repo/target/release/router-agent}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# rootfstype=ramfs: without root= the kernel unpacks the initramfs into a tmpfs capped at
# half the RAM it sees that early (86 MiB of a 256 MiB VM), too small for this root.
# loglevel=4: the kernel's warnings and errors on the console, its 300 lines of boot
# chatter only in the journal (each byte to an emulated UART costs under TCG).
base_args="rootfstype=ramfs console=tty0 console=ttyS0,115200n8 loglevel=4"
append=${IMAGE_APPEND:-}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct)}
export SOURCE_DATE_EPOCH

die() { echo "build.sh: $*" >&2; exit 1; }
step() { echo "== $* ($(( SECONDS ))s)" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap builds the root in a chroot)"
for tool in mmdebstrap dpkg-deb apt-get depmod modprobe cpio zstd xz xorriso grub-mkrescue \
    mformat objcopy readelf strip sha256sum python3; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup.sh"
done
stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -f "$stub" ] || die "$stub not found (package systemd-boot-efi): run scripts/setup.sh"
[ -x "$agent" ] || die "$agent not found: build it with 'cargo build --release --locked' (make image does)"

work=$out/work
rm -rf "$work"
mkdir -p "$work" "$cache"
root=$work/root

# The packages of the router. Recommends are not installed (mmdebstrap's default), so
# this is close to the closure of what is named here. The essential variant brings no apt.
packages=(
    systemd systemd-sysv udev kmod procps
    iproute2 nftables bird2
    openssh-server ca-certificates
    tcpdump ethtool iputils-ping traceroute
    acpid
    # router.mgmt=dhcp: the agent runs the first DHCP client it finds (udhcpc is busybox's).
    udhcpc
    # `wg show` for operators looking at kind = "wireguard" tunnels (the agent needs none).
    wireguard-tools
)
step "mmdebstrap: bookworm root"
# Hooks run on the host. The kernel package is only downloaded, not installed: installing
# it would pull in initramfs-tools and run it, and the image needs just a few modules.
mmdebstrap --variant=essential --mode=root --format=directory --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook="sync-in '$cache' /var/cache/apt/archives/" \
    --customize-hook='cd "$1"/var/cache/apt/archives &&
        kpkg=$(APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-cache depends --important linux-image-amd64 |
               sed -n "s/^ *Depends: //p" | head -n1) &&
        [ -n "$kpkg" ] && { ls "$kpkg"_*.deb >/dev/null 2>&1 ||
            APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-get download -q "$kpkg"; } &&
        dpkg-deb -x "$(ls "$kpkg"_*.deb | sort -V | tail -n1)" "$1"/../kernel' \
    --customize-hook="sync-out /var/cache/apt/archives '$cache'" \
    bookworm "$root" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security_mirror bookworm-security main"

step "kernel and modules"
kdir=$work/kernel
kver=$(ls "$kdir/lib/modules")
[ "$(echo "$kver" | wc -w)" = 1 ] || die "expected one kernel in the kernel package, found: $kver"
cp "$kdir/boot/vmlinuz-$kver" "$work/vmlinuz"
depmod -b "$kdir" "$kver"  # the package ships no modules.dep (its postinst makes it)
# Resolve modules.list (globs on module names) against the kernel's own module list, then
# take each module's dependencies too. Modules are stored zstd-compressed (kmod reads them):
# the unpacked root is what the RAM pays for, and kmod unpacks zstd several times faster
# than Debian's xz, which counts under TCG for the modules every boot loads.
mapfile -t all_modules < <(find "$kdir/lib/modules/$kver/kernel" -name '*.ko' -printf '%f\n' | sed 's/\.ko$//' | tr - _ | sort -u)
wanted=()
while read -r pattern; do
    pattern=${pattern%%#*}; pattern=${pattern//[[:space:]]/}
    [ -n "$pattern" ] || continue
    matched=0
    for m in "${all_modules[@]}"; do
        # shellcheck disable=SC2053  # the pattern is a glob on purpose
        if [[ $m == ${pattern//-/_} ]]; then wanted+=("$m"); matched=1; fi
    done
    [ $matched = 1 ] || die "modules.list: '$pattern' matches no module of kernel $kver"
done < "$here/modules.list"
mapfile -t files < <(
    for m in "${wanted[@]}"; do
        modprobe -d "$kdir" -S "$kver" --show-depends "$m" | sed -n 's/^insmod //p' | cut -d' ' -f1
    done | sort -u)
for f in "${files[@]}"; do
    rel=${f#"$kdir"/}
    mkdir -p "$root/$(dirname "$rel")"
    zstd -q -19 -c "$f" > "$root/$rel.zst"
done
cp "$kdir/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
depmod -b "$root" "$kver"
echo "${#wanted[@]} modules asked for, ${#files[@]} kept with their dependencies" >&2

step "router-agent and the image's own files"
strip -o "$root/usr/sbin/router-agent" "$agent"
# The agent is built on this host: it must run against the image's libraries.
chroot "$root" /usr/sbin/router-agent --version >/dev/null \
    || die "the agent does not run inside the image (built against a newer glibc than bookworm's?)"
# Copied as root without the checkout's owner: the image's files belong to root.
cp -R --preserve=mode "$here/rootfs/." "$root/"
chroot "$root" systemctl enable router-agent.service ssh-hostkeys.service serial-getty@ttyS0.service
chroot "$root" systemctl set-default multi-user.target
# The system users exist from the build on: systemd-sysusers at boot would only find so.
chroot "$root" systemd-sysusers
# firstboot would prompt on the console: every boot of a RAM root is a "first boot".
# logind needs D-Bus, which the image does not have (nothing here uses sessions).
# The rest has no use on a router whose root is RAM, and on a small VM each unit costs
# boot time: remounting a root that has no fstab, saving a random seed or utmp records
# that die with the RAM, filesystems nothing here uses (fuse, configfs, hugetlbfs, mqueue,
# debugfs, tracefs, pstore), static nodes for modules the image does not have.
chroot "$root" systemctl mask systemd-firstboot.service systemd-logind.service \
    getty-static.service systemd-hwdb-update.service fstrim.timer dpkg-db-backup.timer \
    proc-sys-fs-binfmt_misc.automount systemd-binfmt.service \
    systemd-remount-fs.service systemd-random-seed.service systemd-update-utmp.service \
    systemd-update-utmp-runlevel.service systemd-pstore.service kmod-static-nodes.service \
    sys-fs-fuse-connections.mount sys-kernel-config.mount dev-hugepages.mount \
    dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    modprobe@dm_mod.service modprobe@loop.service modprobe@fuse.service \
    modprobe@efi_pstore.service modprobe@configfs.service \
    systemd-sysusers.service systemd-journal-flush.service
# journal-flush moves the journal to /var, which Storage=volatile never does.
# systemd-modules-load has nothing to do (the agent loads what its config needs, udev the
# drivers): without kmod's /etc/modules link it is skipped by its condition, not run.
rm "$root/etc/modules-load.d/modules.conf"
# The agent owns net.* sysctls ([sysctl] in its config) and starts beside
# systemd-sysctl, not after it: a net.* key here would race it.
if grep -rsh '^[[:space:]]*-\?net\.' "$root"/etc/sysctl.d "$root"/usr/lib/sysctl.d "$root"/etc/sysctl.conf; then
    die "the image's sysctl.d sets net.* keys (above), which would race the agent's [sysctl]"
fi
# Generators that look for disks, encrypted volumes and SysV scripts: none here, and each
# one costs boot time.
# (fstab: the image has no fstab, nothing here mounts a disk. run: systemd.run= on the
# kernel command line, a debugging aid. Kept: debug, for systemd.mask=/wants=/debug_shell,
# and getty, for a console= other than ttyS0.)
for g in systemd-fstab-generator systemd-run-generator systemd-gpt-auto-generator systemd-cryptsetup-generator systemd-integritysetup-generator \
    systemd-veritysetup-generator systemd-hibernate-resume-generator systemd-sysv-generator \
    systemd-rc-local-generator systemd-system-update-generator; do
    [ -e "$root/usr/lib/systemd/system-generators/$g" ] || die "generator $g not found: update the list"
    mkdir -p "$root/etc/systemd/system-generators"
    ln -sf /dev/null "$root/etc/systemd/system-generators/$g"
done
# udev rules for what a router has none of (disks, device mapper, btrfs, sound, video,
# input seats, cameras, FIDO keys, MTD): each costs time on every device of the coldplug.
# Kept: the defaults, drivers (80-drivers: modules by modalias), network naming and link
# files, power switch, serial, and 99-systemd (device units).
for r in 55-dm 60-autosuspend 60-block 60-cdrom_id 60-drm 60-evdev 60-fido-id \
    60-infiniband 60-input-id 60-persistent-alsa 60-persistent-input 60-persistent-storage-dm \
    60-persistent-storage-tape 60-persistent-storage 60-persistent-v4l 60-sensor 64-btrfs \
    70-camera 70-joystick 70-memory 70-mouse 70-touchpad 70-uaccess 71-seat 73-seat-late \
    75-probe_mtd 78-sound-card 81-net-dhcp 85-hwclock 95-dm-notify; do
    [ -e "$root/usr/lib/udev/rules.d/$r.rules" ] || die "udev rule $r not found: update the list"
    rm "$root/usr/lib/udev/rules.d/$r.rules"
done
rm -f "$root"/usr/lib/udev/{ata_id,cdrom_id,dmi_memory_id,fido_id,mtd_probe,scsi_id,v4l_id}
ln -s /sbin/init "$root/init"
: > "$root/etc/resolv.conf"

step "prune"
# No package manager: remove dpkg, debconf and perl (only their maintainer scripts needed
# them) by their own file lists, then the package database itself.
for pkg in dpkg debconf perl-base usr-is-merged; do
    list=$root/var/lib/dpkg/info/$pkg.list
    [ -f "$list" ] || list=$root/var/lib/dpkg/info/$pkg:amd64.list
    [ -f "$list" ] || die "no file list for $pkg in the root"
    while read -r path; do
        # Directories stay (shared with other packages; /sbin and /lib are symlinks).
        [ -d "$root$path" ] || rm -f "$root$path"
    done < "$list"
done
# hwdb: vendor names and keyboard quirks, 22 MB; NIC naming does not use it.
# gconv: iconv's charsets, 8 MB; nothing in the image converts charsets.
rm -rf "$root"/var/lib/dpkg "$root"/etc/dpkg "$root"/var/cache/debconf "$root"/var/log/* \
    "$root"/usr/share/{bash-completion,zsh,lintian,info,man,locale} \
    "$root"/usr/lib/udev/hwdb.d "$root"/usr/lib/udev/hwdb.bin "$root"/etc/udev/hwdb.bin \
    "$root"/usr/lib/x86_64-linux-gnu/gconv \
    "$root"/var/lib/systemd/catalog/database \
    "$root"/etc/ssh/ssh_host_* \
    "$root"/etc/bird/bird.conf
# What a RAM-root router never runs, with the libraries only it needs (7 MB; unpacking
# the root at boot costs about 17 ms per MB under TCG): systemd-networkd (the agent owns
# the network), disk encryption, partitioning and fsck (no disk), iproute2's arpd and
# pam_userdb (Berkeley DB), tc's ATM qdisc (its libatm is not installed), and libmvec
# (linked by nothing). Each must exist: a stale
# list fails the build. The check after it makes sure every binary still finds its
# libraries.
lib=usr/lib/x86_64-linux-gnu
for f in usr/lib/systemd/systemd-networkd usr/lib/systemd/systemd-networkd-wait-online \
    usr/lib/systemd/systemd-network-generator usr/bin/networkctl \
    usr/lib/systemd/system/systemd-networkd.service usr/lib/systemd/system/systemd-networkd.socket \
    usr/lib/systemd/system/systemd-networkd-wait-online.service \
    usr/lib/systemd/system/systemd-networkd-wait-online@.service \
    usr/lib/systemd/system/systemd-network-generator.service \
    usr/lib/systemd/systemd-cryptsetup usr/lib/systemd/systemd-veritysetup \
    usr/lib/systemd/systemd-integritysetup usr/bin/systemd-cryptenroll usr/bin/systemd-repart \
    usr/lib/systemd/system/systemd-repart.service usr/sbin/dmsetup \
    "$lib"/cryptsetup "$lib"/libcryptsetup.so.12 "$lib"/libcryptsetup.so.12.9.0 \
    "$lib"/libdevmapper.so.1.02.1 "$lib"/libfdisk.so.1 "$lib"/libfdisk.so.1.1.0 \
    "$lib"/libp11-kit.so.0 "$lib"/libp11-kit.so.0.3.0 \
    usr/sbin/arpd "$lib"/security/pam_userdb.so "$lib"/libdb-5.3.so "$lib"/tc/q_atm.so \
    "$lib"/libmvec.so.1; do
    [ -e "$root/$f" ] || [ -L "$root/$f" ] || die "prune: /$f not in the root: update the list"
    rm -rf "${root:?}/$f"
done
find "$root" -xdev -depth -type d -empty -path "$root/usr/share/*" -delete
# Every ELF file's libraries are in the root (a pruned library still needed fails here).
# (readelf fails on the scripts among the executables: its status means nothing here.)
missing=$(find "$root" -xdev -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    { xargs -0 readelf -d 2>/dev/null || true; } | awk '
        /^File: / { file = $2 }
        /\(NEEDED\)/ { gsub(/[][]/, "", $5); print file " " $5 }' |
    while read -r file needed; do
        found=0
        for d in usr/lib/x86_64-linux-gnu usr/lib usr/lib64 usr/lib/x86_64-linux-gnu/systemd; do
            [ -e "$root/$d/$needed" ] && { found=1; break; }
        done
        [ $found = 1 ] || echo "${file#"$root"} needs $needed"
    done)
[ -z "$missing" ] || die "libraries missing from the root:
$missing"
for must in usr/sbin/router-agent usr/lib/systemd/systemd usr/sbin/sshd usr/bin/ssh-keygen \
    usr/sbin/nft usr/sbin/bird usr/sbin/birdc usr/bin/ip usr/bin/tcpdump usr/sbin/ethtool \
    usr/bin/ping usr/bin/traceroute usr/sbin/agetty usr/sbin/modprobe; do
    chroot "$root" test -e "/$must" || die "the root lacks /$must"
done
[ ! -e "$root/etc/initrd-release" ] || die "/etc/initrd-release would make systemd act as an initrd"

step "initrd.img"
# Reproducible archive: sorted names, every mtime clamped to SOURCE_DATE_EPOCH, inode
# numbers renumbered (--reproducible).
find "$root" -xdev -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
root_bytes=$(du -sb --apparent-size "$root" | cut -f1)
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --quiet -o -0 -H newc --reproducible) > "$work/root.cpio"
# zstd decompresses several times faster than xz at boot. Level 12: 10% bigger than 19,
# compressed in seconds instead of a minute on two cores.
zstd -q -12 -T0 -f "$work/root.cpio" -o "$work/initrd.img"

step "iPXE script, ISO, UKI"
mkdir -p "$out"
mv "$work/vmlinuz" "$work/initrd.img" "$out/"
echo "$base_args" > "$out/cmdline"
cmdline="$base_args${append:+ $append}"
cat > "$out/router.ipxe" <<EOF
#!ipxe
# The router image over HTTP: serve this script with vmlinuz and initrd.img beside it.
# BOOTIF tells the agent which NIC iPXE booted from (its management NIC).
kernel vmlinuz initrd=initrd.img $cmdline BOOTIF=01-\${netX/mac:hexhyp}
initrd initrd.img
boot
EOF
iso=$work/iso
mkdir -p "$iso/boot/grub"
cp "$out/vmlinuz" "$out/initrd.img" "$iso/boot/"
cat > "$iso/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=3
menuentry "router (RAM root)" {
    linux /boot/vmlinuz $cmdline
    initrd /boot/initrd.img
}
EOF
find "$iso" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
grub-mkrescue --quiet -o "$out/router.iso" "$iso" -- -volid ROUTER 2> "$work/grub-mkrescue.log" \
    || { cat "$work/grub-mkrescue.log" >&2; die "grub-mkrescue failed"; }
# The UKI: the systemd stub with the kernel, initrd and command line as PE sections.
printf '%s' "$cmdline" > "$work/cmdline"
objcopy \
    --add-section .osrel="$root/etc/os-release" --change-section-vma .osrel=0x20000 \
    --add-section .cmdline="$work/cmdline" --change-section-vma .cmdline=0x30000 \
    --add-section .linux="$out/vmlinuz" --change-section-vma .linux=0x2000000 \
    --add-section .initrd="$out/initrd.img" --change-section-vma .initrd=0x3000000 \
    "$stub" "$out/router.efi"
# objcopy stamps the PE header with the time of the build: put SOURCE_DATE_EPOCH there and
# recompute the PE checksum, so that the UKI is reproducible too.
python3 - "$out/router.efi" "$SOURCE_DATE_EPOCH" <<'PY'
import struct, sys
path, epoch = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, "rb").read())
pe = struct.unpack_from("<I", data, 0x3C)[0]
struct.pack_into("<I", data, pe + 8, epoch & 0xFFFFFFFF)  # COFF TimeDateStamp
csum_at = pe + 24 + 64                                     # optional header CheckSum
struct.pack_into("<I", data, csum_at, 0)
total = 0
for (word,) in struct.iter_unpack("<H", data + b"\0" * (len(data) % 2)):
    total += word
    total = (total & 0xFFFF) + (total >> 16)
struct.pack_into("<I", data, csum_at, total + len(data))
open(path, "wb").write(data)
PY

step "sizes"
initrd_bytes=$(stat -c %s "$out/initrd.img")
{
    echo "kernel        $kver"
    echo "vmlinuz       $(stat -c %s "$out/vmlinuz") bytes"
    echo "initrd.img    $initrd_bytes bytes (zstd)"
    echo "root          $root_bytes bytes unpacked"
    echo "modules       ${#files[@]} files"
    echo "router.iso    $(stat -c %s "$out/router.iso") bytes"
    echo "router.efi    $(stat -c %s "$out/router.efi") bytes"
    echo "epoch         $SOURCE_DATE_EPOCH"
} > "$out/sizes.txt"
(cd "$out" && sha256sum vmlinuz initrd.img router.ipxe router.iso router.efi > SHA256SUMS)
rm -rf "$work"
cat "$out/sizes.txt"
[ "$initrd_bytes" -le $((40 * 1024 * 1024)) ] || die "initrd.img is $initrd_bytes bytes, over the 40 MiB target"
[ "$root_bytes" -le $((128 * 1024 * 1024)) ] || die "the root is $root_bytes bytes unpacked, over the 128 MiB target"
step "done: $out"

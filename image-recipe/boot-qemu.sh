#!/usr/bin/env bash
# Boots the router image under qemu (TCG), headless, the serial console in a log file and
# on stdout. Never hangs: --timeout bounds every run. See image-recipe/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: boot-qemu.sh [options]

Image
  --image DIR         directory with vmlinuz, initrd.img, router.iso, router.efi
                      (default: image-recipe/out)
  --boot MODE         kernel (default: -kernel/-initrd, takes --append and --overlay),
                      iso (BIOS), iso-uefi (OVMF), uki (OVMF, router.efi from a FAT disk)
  --append ARGS       kernel arguments after the image's own (its cmdline file), e.g.
                      "router.store=http://10.0.2.2:8080 router.id=r1 router.mgmt=dhcp"
  --overlay DIR       add DIR's files to the root (appended to the initrd as a second
                      cpio, owned by root); repeatable
  --autologin         root logged in on the serial console (an overlay)

Machine
  --mem MIB           RAM (default 256)
  --smp N             CPUs (default 1)
  --nic SPEC          one NIC, as qemu's -nic SPEC; the model defaults to virtio-net-pci.
                      Repeatable, in order. Examples:
                        user                                user-mode net (host is 10.0.2.2)
                        user,hostfwd=tcp:127.0.0.1:2222-:22
                        socket,listen=127.0.0.1:10001,mac=52:54:00:00:00:01
                        socket,connect=127.0.0.1:10001,mac=52:54:00:00:00:02
                        tap,ifname=tap0,script=no,downscript=no
                        none                                no NIC at all
                      Without --nic: one user-mode NIC.
  --ssh-port PORT     shorthand for --nic user,hostfwd=tcp:127.0.0.1:PORT-:22
  --allow-reboot      a guest reboot reboots (default: qemu exits, like a powered-off box)
  --qemu-arg ARG      passed to qemu as is; repeatable

Run
  --log FILE          serial console log (default: a temporary file, removed at exit)
  --quiet             do not copy the console to stdout
  --timeout SEC       give up after SEC seconds: stop the VM, print the console's tail,
                      exit 1 (default 300; 0 = no limit, for interactive use)
  --wait-for REGEX    succeed once the console matches REGEX (extended regex); prints
                      "matched after N.N s" (seconds since qemu started)
  --then ACTION       after --wait-for matched: kill (default: stop qemu at once),
                      powerdown (ACPI power button, then wait for the ordered shutdown;
                      fails if it takes over 60 s), continue (keep running until the VM
                      exits or the timeout)

SIGTERM or SIGINT to this script presses the VM's power button, waits up to 60 s for the
ordered shutdown, then kills qemu. Exit status: 0 when the VM powered off or the wait
matched, 1 on timeout or failure.
EOF
}

die() { echo "boot-qemu.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=$here/out
boot=kernel
append=""
overlays=()
autologin=0
mem=256
smp=1
nics=()
allow_reboot=0
extra=()
log=""
quiet=0
timeout=300
wait_for=""
then_action=kill

need() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case $1 in
        --image) need "$@"; image=$2; shift 2 ;;
        --boot) need "$@"; boot=$2; shift 2 ;;
        --append) need "$@"; append=$2; shift 2 ;;
        --overlay) need "$@"; overlays+=("$2"); shift 2 ;;
        --autologin) autologin=1; shift ;;
        --mem) need "$@"; mem=$2; shift 2 ;;
        --smp) need "$@"; smp=$2; shift 2 ;;
        --nic) need "$@"; nics+=("$2"); shift 2 ;;
        --ssh-port) need "$@"; nics+=("user,hostfwd=tcp:127.0.0.1:$2-:22"); shift 2 ;;
        --allow-reboot) allow_reboot=1; shift ;;
        --qemu-arg) need "$@"; extra+=("$2"); shift 2 ;;
        --log) need "$@"; log=$2; shift 2 ;;
        --quiet) quiet=1; shift ;;
        --timeout) need "$@"; timeout=$2; shift 2 ;;
        --wait-for) need "$@"; wait_for=$2; shift 2 ;;
        --then) need "$@"; then_action=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

[[ $mem =~ ^[0-9]+$ ]] || die "--mem takes MiB as a number, not '$mem'"
[[ $smp =~ ^[0-9]+$ ]] || die "--smp takes a number, not '$smp'"
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout takes seconds as a number, not '$timeout'"
case $then_action in kill|powerdown|continue) ;; *) die "--then takes kill, powerdown or continue, not '$then_action'" ;; esac
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: run scripts/setup.sh"
command -v python3 >/dev/null || die "python3 not found (it talks to qemu's monitor): run scripts/setup.sh"
if [ "$boot" != kernel ] && { [ -n "$append" ] || [ ${#overlays[@]} -gt 0 ] || [ $autologin = 1 ]; }; then
    die "--append, --overlay and --autologin need --boot kernel (the ISO and UKI carry their own command line and root)"
fi

tmp=$(mktemp -d)
qemu_pid=""
tail_pid=""
cleanup() {
    [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
    [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "$log" ] || log=$tmp/console.log
: > "$log"

ovmf=/usr/share/ovmf/OVMF.fd
args=(-accel tcg -m "$mem" -smp "$smp" -display none -vga std
      -chardev "file,id=console,path=$log" -serial chardev:console
      -monitor "unix:$tmp/monitor,server,nowait"
      -device virtio-rng-pci)
[ $allow_reboot = 1 ] || args+=(-no-reboot)
case $boot in
    kernel)
        for f in vmlinuz initrd.img cmdline; do
            [ -f "$image/$f" ] || die "$image/$f not found: build the image (make image)"
        done
        initrd=$image/initrd.img
        if [ $autologin = 1 ]; then
            d=$tmp/autologin/etc/systemd/system/serial-getty@ttyS0.service.d
            mkdir -p "$d"
            printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 - $TERM\n' > "$d/autologin.conf"
            overlays+=("$tmp/autologin")
        fi
        if [ ${#overlays[@]} -gt 0 ]; then
            "$here/overlay.sh" "$initrd" "$tmp/initrd.img" "${overlays[@]}"
            initrd=$tmp/initrd.img
        fi
        args+=(-kernel "$image/vmlinuz" -initrd "$initrd"
               -append "$(cat "$image/cmdline")${append:+ $append}")
        ;;
    iso|iso-uefi)
        [ -f "$image/router.iso" ] || die "$image/router.iso not found: build the image (make image)"
        args+=(-drive "file=$image/router.iso,media=cdrom,readonly=on")
        if [ $boot = iso-uefi ]; then
            [ -f "$ovmf" ] || die "$ovmf not found (package ovmf): run scripts/setup.sh"
            args+=(-bios "$ovmf")
        fi
        ;;
    uki)
        [ -f "$image/router.efi" ] || die "$image/router.efi not found: build the image (make image)"
        [ -f "$ovmf" ] || die "$ovmf not found (package ovmf): run scripts/setup.sh"
        # The firmware's default boot path on a FAT disk: EFI/BOOT/BOOTX64.EFI.
        size_kib=$(( $(stat -c %s "$image/router.efi") / 1024 + 8192 ))
        mkfs.fat -C "$tmp/esp.img" "$size_kib" >/dev/null
        mmd -i "$tmp/esp.img" ::/EFI ::/EFI/BOOT
        mcopy -i "$tmp/esp.img" "$image/router.efi" ::/EFI/BOOT/BOOTX64.EFI
        args+=(-bios "$ovmf" -drive "file=$tmp/esp.img,format=raw,if=virtio")
        ;;
    *) die "--boot takes kernel, iso, iso-uefi or uki, not '$boot'" ;;
esac
[ ${#nics[@]} -gt 0 ] || nics=(user)
for n in "${nics[@]}"; do
    if [ "$n" = none ]; then args+=(-nic none); continue; fi
    [[ $n == *model=* ]] || n+=",model=virtio-net-pci"
    args+=(-nic "$n")
done

monitor() {
    python3 - "$tmp/monitor" "$1" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.2)
EOF
}
alive() { kill -0 "$qemu_pid" 2>/dev/null; }
tail_console() { echo "---- last 60 lines of the console ($log) ----" >&2; tail -n 60 "$log" >&2; }
# Presses the power button and waits for the guest's ordered shutdown to end qemu.
powerdown() {
    alive || return 0
    monitor system_powerdown || true
    for _ in $(seq 600); do alive || return 0; sleep 0.1; done
    echo "boot-qemu.sh: the VM did not power off within 60 s of the power button; killing it" >&2
    tail_console
    return 1
}
on_signal() { trap - TERM INT; powerdown; exit $?; }

start=$(date +%s.%N)
qemu-system-x86_64 "${args[@]}" "${extra[@]}" &
qemu_pid=$!
trap on_signal TERM INT
[ $quiet = 1 ] || { tail -n +1 -F "$log" 2>/dev/null & tail_pid=$!; }

elapsed() { echo "$(date +%s.%N) - $start" | bc; }
deadline=$(( $(date +%s) + timeout ))
matched=0
while alive; do
    if [ -n "$wait_for" ] && [ $matched = 0 ] && grep -Eq -- "$wait_for" "$log"; then
        matched=1
        printf 'boot-qemu.sh: matched after %.1f s: %s\n' "$(elapsed)" "$wait_for" >&2
        case $then_action in
            kill) exit 0 ;;
            powerdown) powerdown; exit $? ;;
            continue) ;;
        esac
    fi
    if [ "$timeout" -gt 0 ] && [ "$(date +%s)" -ge "$deadline" ]; then
        echo "boot-qemu.sh: timeout after ${timeout} s${wait_for:+ waiting for '$wait_for'}" >&2
        tail_console
        exit 1
    fi
    sleep 0.1
done
wait "$qemu_pid" && rc=0 || rc=$?
qemu_pid=""
if [ -n "$wait_for" ] && [ $matched = 0 ]; then
    echo "boot-qemu.sh: qemu exited (status $rc) before the console matched '$wait_for'" >&2
    tail_console
    exit 1
fi
[ $rc = 0 ] || { echo "boot-qemu.sh: qemu exited with status $rc" >&2; tail_console; exit 1; }

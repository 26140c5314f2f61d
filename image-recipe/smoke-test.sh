#!/usr/bin/env bash
# Builds the image, boots it in a 256 MiB VM under qemu TCG and checks that it comes up
# (router-agent started, no unit failed, a login prompt on the serial console) and shuts
# down in order (router-agent stops after sshd, i.e. while the network is still up).
# Then boots the ISO (BIOS and UEFI) and the UKI to a login prompt. Fails loudly with the
# console log. Needs the release build of the agent (make build); `make image-test`
# does it all.
#   --no-build   use the image already in image-recipe/out
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=$here/out
build=1
case ${1:-} in
    --no-build) build=0 ;;
    "") ;;
    *) echo "usage: smoke-test.sh [--no-build]" >&2; exit 2 ;;
esac

fail() { echo "smoke-test: FAIL: $*" >&2; exit 1; }

if [ $build = 1 ]; then
    start=$SECONDS
    "$here/build.sh"
    echo "smoke-test: image built in $(( SECONDS - start )) s"
fi
for f in vmlinuz initrd.img router.ipxe router.iso router.efi; do
    [ -s "$out/$f" ] || fail "$out/$f is missing or empty"
done
initrd_bytes=$(stat -c %s "$out/initrd.img")
[ "$initrd_bytes" -le $((40 * 1024 * 1024)) ] || fail "initrd.img is $initrd_bytes bytes, over 40 MiB"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
overlay_args=()
# Until the agent has its daemon, the unit runs a stand-in, so that the image is tested
# and the gap is visible.
agent=${ROUTER_AGENT_BIN:-$repo/target/release/router-agent}
if ! "$agent" --help | grep -qw daemon; then
    echo "smoke-test: NOTE: this router-agent has no 'daemon' subcommand yet: booting with a stand-in ExecStart" >&2
    d=$logs/standin/etc/systemd/system/router-agent.service.d
    mkdir -p "$d"
    printf '[Service]\nExecStart=\nExecStart=/bin/sh -c "echo router-agent stand-in: no daemon in this build >&2; exec sleep infinity"\n' > "$d/standin.conf"
    overlay_args=(--overlay "$logs/standin")
fi

# The store is unreachable (nothing listens on the host's port 9): the image must come up
# all the same.
log=$logs/kernel.log
echo "smoke-test: booting vmlinuz + initrd.img, 256 MiB, TCG"
"$here/boot-qemu.sh" --quiet --log "$log" --mem 256 --timeout 180 "${overlay_args[@]}" \
    --append "router.id=smoke router.store=http://10.0.2.2:9 router.mgmt=dhcp" \
    --wait-for 'Started .*router-agent' --then continue &
boot_pid=$!
# Wait for the login prompt on the serial console, then press the power button.
for _ in $(seq 1800); do
    grep -qs 'router login:' "$log" && break
    kill -0 $boot_pid 2>/dev/null || break
    sleep 0.1
done
if ! grep -q 'router login:' "$log"; then
    kill $boot_pid 2>/dev/null || true
    wait $boot_pid || true
    cat "$log" >&2
    fail "no login prompt on the serial console (console log above)"
fi
kill -TERM $boot_pid
wait $boot_pid || { cat "$log" >&2; fail "the VM did not shut down in order (console log above)"; }

failed=$(grep -a 'FAILED' "$log" | grep -av 'router-agent' || true)
[ -z "$failed" ] || { cat "$log" >&2; fail "units failed: $failed"; }
grep -aq 'Started .*router-agent' "$log" || { cat "$log" >&2; fail "router-agent never started"; }
# Shutdown order: sshd (it needs the network, like bird, which does not run here: no BGP
# config) stops before the agent, whose final snapshot needs the network.
line() { { grep -an "$1" "$log" || true; } | tail -n1 | cut -d: -f1; }
agent_stop=$(line 'Stopped .*router-agent')
ssh_stop=$(line 'Stopped .*ssh.service')
[ -n "$agent_stop" ] && [ -n "$ssh_stop" ] \
    || { cat "$log" >&2; fail "the shutdown did not stop router-agent and ssh (console log above)"; }
[ "$agent_stop" -gt "$ssh_stop" ] \
    || { cat "$log" >&2; fail "router-agent stopped before ssh: its snapshot would race the network going"; }
grep -aq 'reboot: Power down' "$log" || { cat "$log" >&2; fail "no power-off at the end of the shutdown"; }
echo "smoke-test: kernel boot ok (agent started, login prompt, ordered shutdown)"

# Under OVMF, 256 MiB is too little for the UEFI paths: GRUB 2.06's EFI loader runs out
# of memory loading the initrd ("error: out of memory") and the UKI's stub page-faults.
# They get 512 MiB; the 256 MiB target holds for the kernel+initrd boot and the BIOS ISO.
for spec in iso:256 iso-uefi:512 uki:512; do
    mode=${spec%:*} mem=${spec#*:}
    echo "smoke-test: booting $mode, $mem MiB"
    "$here/boot-qemu.sh" --quiet --boot "$mode" --log "$logs/$mode.log" --mem "$mem" --timeout 240 \
        --wait-for 'router login:' \
        || fail "$mode did not boot to a login prompt (console tail above)"
done
echo "smoke-test: PASS"

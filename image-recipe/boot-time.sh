#!/usr/bin/env bash
# Boot-time benchmark: qemu start (TCG, 256 MiB, one vCPU) to "config applied" for the
# built image against the store server on this machine with configs/vm-demo.toml, and the
# floor in the same run: the same kernel with a busybox-only initramfs whose /init just
# prints. Rounds alternate floor and image so that both see the same load; medians printed.
#   image-recipe/boot-time.sh [ROUNDS]     (default 5; needs `make image`)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
rounds=${1:-5}
agent=target/release/router-agent
store_bin=target/release/router-store
out=image-recipe/out
[ -x "$agent" ] || { echo "boot-time.sh: $agent missing: make build" >&2; exit 1; }
[ -f "$out/initrd.img" ] || { echo "boot-time.sh: no image: make image" >&2; exit 1; }

work=$(mktemp -d /tmp/boot-time.XXXXXX)
store_pid=
cleanup() { [ -z "$store_pid" ] || kill "$store_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The floor: busybox and the libraries it links, taken from the image itself.
mkdir -p "$work/floor-root" "$work/floor"
(cd "$work/floor-root" && zstd -dc "$here/out/initrd.img" |
    cpio --quiet -id 'usr/bin/busybox' 'usr/lib/x86_64-linux-gnu/libc.so.6' \
        'usr/lib/x86_64-linux-gnu/libresolv.so.2' 'usr/lib64/ld-linux-x86-64.so.2' \
        'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' 2>/dev/null)
[ -x "$work/floor-root/usr/bin/busybox" ] || { echo "boot-time.sh: no busybox in the image" >&2; exit 1; }
ln -s usr/bin "$work/floor-root/bin"; ln -s usr/lib "$work/floor-root/lib"; ln -s usr/lib64 "$work/floor-root/lib64"
mkdir -p "$work/floor-root/dev" "$work/floor-root/proc"
cat > "$work/floor-root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox echo "FLOOR: /init ran at $(/bin/busybox cut -d' ' -f1 /proc/uptime) s" > /dev/ttyS0
exec /bin/busybox sleep 600
EOF
chmod 755 "$work/floor-root/init"
(cd "$work/floor-root" && find . | cpio --quiet -o -H newc) | zstd -q > "$work/floor/initrd.img"
ln -s "$here/out/vmlinuz" "$work/floor/vmlinuz"
ln -s "$here/out/cmdline" "$work/floor/cmdline"

port=$((20000 + RANDOM % 20000))
"$store_bin" serve --dir "$work/store" --listen "127.0.0.1:$port" >"$work/store.log" 2>&1 &
store_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -fsS -X PUT -H 'If-None-Match: *' --data-binary @configs/vm-demo.toml \
    "http://127.0.0.1:$port/v1/routers/demo/config" >/dev/null

seconds() { sed -n 's/^boot-qemu.sh: matched after \([0-9.]*\) s.*/\1/p'; }
floor=() image=() floor_k=() image_k=()
for r in $(seq "$rounds"); do
    f=$(image-recipe/boot-qemu.sh --image "$work/floor" --quiet --timeout 60 --log "$work/floor.log" \
        --wait-for "FLOOR: /init ran" --then kill 2>&1 | tee -a "$work/floor.out" | seconds || true)
    i=$(image-recipe/boot-qemu.sh --quiet --timeout 120 --log "$work/console.log" \
        --nic "user,mac=52:54:00:de:00:01" --nic "socket,listen=127.0.0.1:$((port + 1)),mac=52:54:00:de:00:02" \
        --append "router.store=http://10.0.2.2:$port router.id=demo router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac=52:54:00:de:00:01" \
        --wait-for "applied demo@" --then kill 2>&1 | tee -a "$work/image.out" | seconds || true)
    [ -n "$f" ] && [ -n "$i" ] || { echo "boot-time.sh: round $r failed (floor '$f', image '$i')" >&2; tail -30 "$work/console.log" >&2; exit 1; }
    kernel=$(grep -a 'applied demo@' "$work/console.log" | head -1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
    fkernel=$(sed -n 's/.*FLOOR: \/init ran at \([0-9.]*\) s.*/\1/p' "$work/floor.log" | head -1)
    [ -n "$fkernel" ] && [ -n "$kernel" ] || { echo "boot-time.sh: round $r: no kernel-clock time in a console line (floor '$fkernel', image '$kernel')" >&2; exit 1; }
    echo "round $r: floor ${f} s (kernel clock ${fkernel} s), image ${i} s to config applied (kernel clock ${kernel} s), load $(cut -d' ' -f1 /proc/loadavg)"
    floor+=("$f") image+=("$i") floor_k+=("$fkernel") image_k+=("$kernel")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mf=$(median "${floor[@]}") mi=$(median "${image[@]}")
echo "median of $rounds: floor $mf s, image $mi s to config applied; the image adds $(echo "$mi - $mf" | bc) s"
echo "median of $rounds on the guest kernel's clock: floor $(median "${floor_k[@]}") s, image $(median "${image_k[@]}") s"

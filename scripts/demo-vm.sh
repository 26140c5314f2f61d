#!/usr/bin/env bash
# The demo of `make demo`: the store server on this machine with configs/vm-demo.toml, the
# RAM-only image booted in qemu against it, the config applied; then a change made on the
# router by hand (over SSH) and its snapshot landing in the store's git history.
# Interactive (a terminal): the router keeps running until Enter. Otherwise it powers off
# at the end and the final snapshot is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
agent=target/release/router-agent
store_bin=target/release/router-store
demo=${DEMO_DIR:-demo}
port=${DEMO_STORE_PORT:-8080}
ssh_port=${DEMO_SSH_PORT:-2222}
id=demo
[ -x "$agent" ] || { echo "demo-vm.sh: $agent missing: make build" >&2; exit 1; }
[ -f image-recipe/out/initrd.img ] || { echo "demo-vm.sh: no image: make image" >&2; exit 1; }

rm -rf "$demo"; mkdir -p "$demo/overlay/root/.ssh"
ssh-keygen -q -t ed25519 -N "" -f "$demo/id_ed25519"
install -m 600 "$demo/id_ed25519.pub" "$demo/overlay/root/.ssh/authorized_keys"
chmod 700 "$demo/overlay/root/.ssh"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "store server: $store_bin serve --dir $demo/store --listen 127.0.0.1:$port"
"$store_bin" serve --dir "$demo/store" --listen "127.0.0.1:$port" 2>"$demo/store.log" &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -fsS -X PUT -H 'If-None-Match: *' --data-binary @configs/vm-demo.toml \
    "http://127.0.0.1:$port/v1/routers/$id/config" >/dev/null
echo "configs/vm-demo.toml stored as router '$id'"

ssh_() {
    ssh -q -i "$demo/id_ed25519" -p "$ssh_port" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 root@127.0.0.1 "$@"
}
history() { git --git-dir "$demo/store/configs.git" log --format='%h %ad %s' --date=format:%T "$id"; }

say "booting the image in qemu (TCG, 256 MiB)"
image-recipe/boot-qemu.sh --mem 256 --timeout 0 --quiet --log "$demo/console.log" \
    --overlay "$demo/overlay" \
    --nic "user,hostfwd=tcp:127.0.0.1:$ssh_port-:22,mac=52:54:00:de:00:01" \
    --nic "socket,listen=127.0.0.1:$((port + 1)),mac=52:54:00:de:00:02" \
    --append "router.store=http://10.0.2.2:$port router.id=$id router.mgmt=10.0.2.15/24,gw=10.0.2.2,mac=52:54:00:de:00:01" &
qemu=$!; pids+=($qemu)
start=$SECONDS
until grep -q "applied $id@" "$demo/console.log" 2>/dev/null; do
    [ $((SECONDS - start)) -lt 180 ] || { tail -40 "$demo/console.log"; echo "demo-vm.sh: no config applied within 180 s" >&2; exit 1; }
    kill -0 "$qemu" 2>/dev/null || { tail -40 "$demo/console.log"; echo "demo-vm.sh: qemu exited" >&2; exit 1; }
    sleep 0.5
done
echo "config applied $((SECONDS - start)) s after qemu started:"
grep -a "router-agent: " "$demo/console.log" | sed 's/^/  /' | tail -8
until ssh_ true 2>/dev/null; do
    [ $((SECONDS - start)) -lt 240 ] || { echo "demo-vm.sh: no SSH within 240 s" >&2; exit 1; }
    sleep 1
done

say "on the router: router-agent status; ip -br addr; nft list chain inet router_agent input"
ssh_ 'router-agent status; ip -br addr; nft list chain inet router_agent input'

say "the store's history of '$id' (git, one commit per version)"
history

say "a change by hand on the router: ip route add 100.64.0.0/10 via 10.0.2.2 proto static"
ssh_ 'ip route add 100.64.0.0/10 via 10.0.2.2 proto static'
for _ in $(seq 40); do
    git --git-dir "$demo/store/configs.git" show "$id:config.toml" 2>/dev/null | grep -q 100.64.0.0/10 && break
    sleep 0.5
done
history
say "what the snapshot changed (git show $id)"
git --git-dir "$demo/store/configs.git" show --format='%h %s' "$id" | sed -n '1,40p'

if [ -t 0 ]; then
    say "the router keeps running"
    cat <<TXT
  ssh -i $demo/id_ed25519 -p $ssh_port -o StrictHostKeyChecking=no root@127.0.0.1
      change anything with ip, nft or router-agent apply;
  git --git-dir $demo/store/configs.git log -p $id
      shows each snapshot land. Console log: $demo/console.log
Press Enter to power the router off (its final snapshot goes to the store).
TXT
    read -r _
else
    ssh_ 'ip address add 192.0.2.99/24 dev lan.20'
fi
say "power off (ACPI): the agent's final snapshot"
kill -TERM "$qemu"; wait "$qemu" || true
history

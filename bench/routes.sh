#!/usr/bin/env bash
# Route install benchmark, all in one run and one kernel: `router-agent apply` of N routes
# from a config file, against `ip -batch` of the same routes and against the raw batched
# netlink baseline (examples/raw_routes.rs), plus the no-op re-apply with N routes installed
# against `ip route show` dumping them, and the agent's peak RSS. Each measurement runs in a
# fresh network namespace. Usage: [AGENT=path/to/router-agent] bench/routes.sh [N...]
# (default: 100000 1000000; AGENT measures that binary instead of building this tree's).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/routes.sh needs root (network namespaces)" >&2; exit 1; }
counts=("${@:-100000 1000000}")
[ $# -gt 0 ] || counts=(100000 1000000)

if [ -z "${AGENT:-}" ]; then
    cargo build --release --quiet --bin router-agent --example raw_routes
else
    cargo build --release --quiet --example raw_routes
fi
agent=${AGENT:-$PWD/target/release/router-agent}
raw=target/release/examples/raw_routes
work=$(mktemp -d)
trap 'rm -rf "$work"; for n in $(ip netns list | awk "/^ra-bench-/{print \$1}"); do ip netns del "$n"; done' EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }

fresh_ns() {
    local ns="ra-bench-$1"
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add v0 type veth peer name v1
    ip -n "$ns" addr add 192.0.2.1/24 dev v0
    ip -n "$ns" link set v0 up
    ip -n "$ns" link set v1 up
    echo "$ns"
}

prefixes() { # N /32s from 100.64.0.0 on
    python3 -c "
import ipaddress,sys
b=int(ipaddress.IPv4Address('100.64.0.0'))
w=sys.stdout.write
for i in range($1): w(str(ipaddress.IPv4Address(b+i))+'/32\n')"
}

printf '| routes | agent apply | ip -batch | raw netlink | raw, nexthop object | agent rate | agent / raw | ip -batch / raw | no-op re-apply | ip route show | no-op / show | agent peak RSS |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for n in "${counts[@]}"; do
    prefixes "$n" > "$work/p"
    {
        printf 'version = 1\n\n[[interface]]\nname = "v0"\nkind = "veth"\naddresses = ["192.0.2.1/24"]\nveth = { peer = "v1" }\n\n'
        printf '[[interface]]\nname = "v1"\nkind = "veth"\nveth = { peer = "v0" }\n\n'
        printf '[[route]]\nvia = "192.0.2.2"\ndev = "v0"\nprefixes = """\n'
        cat "$work/p"
        printf '"""\n'
    } > "$work/c.toml"
    sed 's|^|route add |; s|$| via 192.0.2.2 dev v0|' "$work/p" > "$work/batch"

    ns=$(fresh_ns raw)
    t_raw=$(ip netns exec "$ns" "$raw" "$n" 192.0.2.2 v0)
    ip netns del "$ns"

    ns=$(fresh_ns rawnh)
    ip -n "$ns" nexthop add id 1 via 192.0.2.2 dev v0
    t_rawnh=$(ip netns exec "$ns" "$raw" "$n" 192.0.2.2 v0 1)
    ip netns del "$ns"

    ns=$(fresh_ns ip)
    t0=$(now); ip -n "$ns" -batch "$work/batch"; t1=$(now)
    t_ip=$(elapsed "$t0" "$t1")
    ip netns del "$ns"

    ns=$(fresh_ns agent)
    t0=$(now); "$agent" apply --netns "$ns" "$work/c.toml" >/dev/null 2>"$work/apply.log"; t1=$(now)
    t_agent=$(elapsed "$t0" "$t1")
    t0=$(now); "$agent" apply --netns "$ns" "$work/c.toml" >/dev/null 2>"$work/noop.log"; t1=$(now)
    t_noop=$(elapsed "$t0" "$t1")
    t0=$(now); ip -n "$ns" route show > /dev/null; t1=$(now)
    t_show=$(elapsed "$t0" "$t1")
    rss=$(grep -o 'peak RSS [0-9]* MiB' "$work/apply.log" | grep -o '[0-9]*' || echo "?")
    ip netns del "$ns"

    rate=$(echo "$n / $t_agent" | bc)
    printf '| %d | %.2f s | %.2f s | %.2f s | %.2f s | %d/s | %.0f%% | %.0f%% | %.2f s | %.2f s | %.2fx | %s MiB |\n' \
        "$n" "$t_agent" "$t_ip" "$t_raw" "$t_rawnh" "$rate" \
        "$(echo "100 * $t_raw / $t_agent" | bc -l)" "$(echo "100 * $t_raw / $t_ip" | bc -l)" \
        "$t_noop" "$t_show" "$(echo "$t_noop / $t_show" | bc -l)" "$rss"
    sed 's/^/    agent: /' "$work/apply.log" | grep applied >&2 || true
done

#!/usr/bin/env bash
# Firewall install benchmark, all in one run and one kernel: `router-agent apply` of a config
# with R rules (each matching its own /32 source and port) and an S-element IPv4 set (used by
# one rule), against `nft -f` of the equivalent native ruleset — the table the agent wrote,
# as `nft list table` prints it — and, for reference, `nft -j -f` of its JSON listing, the
# agent's no-op re-apply and `nft list` of the table. Each load runs in a fresh network
# namespace; REPEAT (default 5) interleaved rounds, medians reported.
# Usage: [REPEAT=N] [AGENT=path/to/router-agent] bench/firewall.sh [RULES [SET_ELEMENTS]]
#        (default: 10000 100000; AGENT measures that binary instead of building this tree's)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/firewall.sh needs root (network namespaces)" >&2; exit 1; }
command -v nft >/dev/null || { echo "bench/firewall.sh needs nft (nftables)" >&2; exit 1; }
rules=${1:-10000}
elements=${2:-100000}
repeat=${REPEAT:-5}

if [ -z "${AGENT:-}" ]; then
    cargo build --release --quiet --bin router-agent
fi
agent=${AGENT:-$PWD/target/release/router-agent}
work=$(mktemp -d)
trap 'rm -rf "$work"; for n in $(ip netns list | awk "/^ra-fwbench-/{print \$1}"); do ip netns del "$n"; done' EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }

fresh_ns() {
    local ns="ra-fwbench-$1-$$"
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    echo "$ns"
}

# The config: R rules on distinct sources and ports (10.0.0.0 on, 1024 on), spread over
# input and forward, and one forward rule dropping sources in the set: every other address
# from 100.64.0.0 on, as the agent merges adjacent addresses into prefixes (nft would too).
python3 - "$rules" "$elements" > "$work/fw.toml" <<'EOF'
import ipaddress, sys
rules, elements = int(sys.argv[1]), int(sys.argv[2])
w = sys.stdout.write
w('version = 1\n\n[firewall]\ninput = "drop"\nforward = "drop"\n\n')
w('[firewall.set.blocklist]\ntype = "ipv4"\nelements = """\n')
base = int(ipaddress.IPv4Address('100.64.0.0'))
for i in range(elements):
    w(str(ipaddress.IPv4Address(base + 2 * i)) + '\n')
w('"""\n\n')
w('[[firewall.rule]]\nchain = "forward"\nsource = "@blocklist"\naction = "drop"\n\n')
base = int(ipaddress.IPv4Address('10.0.0.0'))
for i in range(rules):
    w('[[firewall.rule]]\nchain = "%s"\nsource = "%s"\nprotocol = "tcp"\ndport = %d\naction = "accept"\n\n'
      % ("input" if i % 2 else "forward", ipaddress.IPv4Address(base + i), 1024 + i % 60000))
EOF

# The native ruleset, and the agent's peak RSS, from one agent run.
ns=$(fresh_ns ref)
"$agent" apply --netns "$ns" "$work/fw.toml" >/dev/null 2>"$work/apply.log"
ip netns exec "$ns" nft list table inet router_agent > "$work/native.nft"
ip netns exec "$ns" nft -j list table inet router_agent > "$work/native.json"
n_rules=$(grep -c 'accept$\|drop$' "$work/native.nft" || true)
rss=$(grep -o 'peak RSS [0-9]* MiB' "$work/apply.log" | grep -o '[0-9]*' || echo "?")
ip netns del "$ns"

# Interleaved repetitions, medians: this machine is shared and single runs vary by 2x.
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); elapsed "$t0" "$t1"; }
for i in $(seq "$repeat"); do
    ns=$(fresh_ns agent)
    echo "agent $(timed "$agent" apply --netns "$ns" "$work/fw.toml")" >> "$work/times"
    echo "noop $(timed "$agent" apply --netns "$ns" "$work/fw.toml")" >> "$work/times"
    echo "list $(timed ip netns exec "$ns" nft list table inet router_agent)" >> "$work/times"
    ip netns del "$ns"
    ns=$(fresh_ns nft)
    echo "nft $(timed ip netns exec "$ns" nft -f "$work/native.nft")" >> "$work/times"
    if [ "$i" = 1 ]; then
        ip netns exec "$ns" nft list table inet router_agent > "$work/check.nft"
        cmp -s "$work/native.nft" "$work/check.nft" || echo "warning: nft -f did not reproduce the agent's table" >&2
    fi
    ip netns del "$ns"
    ns=$(fresh_ns json)
    echo "json $(timed ip netns exec "$ns" nft -j -f "$work/native.json")" >> "$work/times"
    ip netns del "$ns"
done
median() { awk -v k="$1" '$1 == k {print $2}' "$work/times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_agent=$(median agent); t_noop=$(median noop); t_list=$(median list); t_nft=$(median nft); t_json=$(median json)

ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2fx'; }
printf '| rules | set elements | runs | agent apply | nft -f | agent / nft -f | nft -j -f | no-op re-apply | nft list table | no-op / list | agent peak RSS |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
printf '| %d | %d | %d | %.2f s | %.2f s | %s | %.2f s | %.2f s | %.2f s | %s | %s MiB |\n' \
    "$n_rules" "$elements" "$repeat" "$t_agent" "$t_nft" "$(ratio "$t_agent" "$t_nft")" "$t_json" \
    "$t_noop" "$t_list" "$(ratio "$t_noop" "$t_list")" "$rss"
sed 's/^/    agent: /' "$work/apply.log" | grep -E 'applied|firewall:' >&2 || true

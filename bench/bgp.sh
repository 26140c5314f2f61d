#!/usr/bin/env bash
# BGP benchmark, in one run on this machine:
#  1. render + check + reload: `router-agent check` and `apply` of a route server with P
#     peers (IRR lists of 20 prefixes each) against a running BIRD, next to the baseline
#     `bird -p` + `birdc configure` of the very file the agent wrote; then a re-apply that
#     adds one peer (BIRD reconfigures without touching the others).
#  2. convergence: C client BIRDs with N prefixes each, started at once, until the route
#     server (configured by the agent) has all C*N routes and every client has the others'.
# BIRDs run in namespaces with their own config and control socket, never the system service.
# Usage: bench/bgp.sh [PEERS [CLIENTS [PREFIXES]]]   (default: 500 20 10000)
# AGENT=path/to/router-agent measures that binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/bgp.sh needs root (network namespaces)" >&2; exit 1; }
command -v bird >/dev/null || { echo "bench/bgp.sh needs bird (apt-get install bird2)" >&2; exit 1; }
peers=${1:-500}
clients=${2:-20}
prefixes=${3:-10000}

if [ -z "${AGENT:-}" ]; then
    cargo build --release --quiet --bin router-agent
fi
agent=${AGENT:-$PWD/target/release/router-agent}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for n in $(ip netns list | awk '/^ra-bgpbench-/{print $1}'); do ip netns del "$n"; done
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
ns() { local n="ra-bgpbench-$1-$$"; ip netns add "$n"; ip -n "$n" link set lo up; echo "$n"; }
start_bird() { # NS CONF CTL
    ip netns exec "$1" bird -f -c "$2" -s "$3" 2>"$3.log" &
    pids+=($!)
    for _ in $(seq 100); do birdc -s "$3" show status >/dev/null 2>&1 && return; sleep 0.1; done
    echo "BIRD in $1 did not start: $(cat "$3.log")" >&2; exit 1
}

rs_config() { # PEERS [EXTRA]
    python3 - "$@" <<'PY'
import sys
n = int(sys.argv[1]); extra = len(sys.argv) > 2
print('version = 1\n[bgp]\nasn = 64500\nrouter_id = "10.255.0.254"\nroute_server = true')
print('[bgp.policy.default]\nbogon_prefixes = false')
for i in range(n + (1 if extra else 0)):
    asn = 10000 + i
    a = f"10.{(i // 250) + 1}.{i % 250}.1" if i >= 250 or n > 250 else f"10.255.0.{i + 1}"
    lists = " ".join(f"{(i % 200) + 20}.{j}.0.0/16{{16,24}}" for j in range(64))
    print(f'[[bgp.peer]]\nname = "as{asn}"\naddress = "{a}"\nasn = {asn}\nmax_prefix_v4 = 20000')
    print(f'allowed_prefixes = "{lists}"\nallowed_origins = [{asn}]')
PY
}

echo "== render + check + reload, $peers peers"
rs=$(ns rs)
printf 'router id 10.255.0.254;\nprotocol device {}\n' >"$work/rs.conf"
start_bird "$rs" "$work/rs.conf" "$work/rs.ctl"
export ROUTER_AGENT_BIRD_CONF=$work/rs.conf ROUTER_AGENT_BIRD_CTL=$work/rs.ctl
rs_config "$peers" >"$work/rs.toml"
rs_config "$peers" extra >"$work/rs-plus.toml"
t0=$(now); "$agent" check "$work/rs.toml" >/dev/null; t1=$(now)
"$agent" apply --netns "$rs" "$work/rs.toml" >/dev/null 2>&1; t2=$(now)
# The baseline goes the same way: from the small config to the agent's file.
cp "$work/rs.conf" "$work/baseline.conf"
printf 'router id 10.255.0.254;\nprotocol device {}\n' >"$work/small.conf"
birdc -s "$work/rs.ctl" configure \"$work/small.conf\" >/dev/null
t3=$(now); bird -p -c "$work/baseline.conf"; birdc -s "$work/rs.ctl" configure \"$work/baseline.conf\" >/dev/null; t4=$(now)
"$agent" apply --netns "$rs" "$work/rs.toml" >/dev/null 2>&1; t5=$(now)
"$agent" apply --netns "$rs" "$work/rs-plus.toml" >/dev/null 2>&1; t6=$(now)
echo "bird.conf: $(wc -l <"$work/rs.conf") lines, $(du -k "$work/rs.conf" | cut -f1) KiB"
echo "agent check (parse, validate, render, bird -p):  $(elapsed "$t0" "$t1") s"
echo "agent apply (first, BIRD reconfigured):           $(elapsed "$t1" "$t2") s"
echo "baseline bird -p + birdc configure, same file:   $(elapsed "$t3" "$t4") s"
echo "agent apply, unchanged (no reconfigure):          $(elapsed "$t4" "$t5") s"
echo "  (the agent's file was reloaded by the baseline; the agent's next apply finds it unchanged)"
echo "agent apply, one peer added:                      $(elapsed "$t5" "$t6") s"
echo "first apply / baseline:                           $(echo "($t2 - $t1) / ($t4 - $t3)" | bc -l | xargs printf '%.2f')x"

echo "== convergence, $clients clients x $prefixes prefixes"
lan=$(ns lan)
ip -n "$lan" link add br0 type bridge; ip -n "$lan" link set br0 up
attach() { # NS IDX ADDR
    ip -n "$lan" link add "p$2" type veth peer name ixp0 netns "$1"
    ip -n "$lan" link set "p$2" master br0 up
    ip -n "$1" addr add "$3/16" dev ixp0; ip -n "$1" link set ixp0 up
}
rs2=$(ns rs2)
attach "$rs2" 0 10.255.0.254
printf 'router id 10.255.0.254;\nprotocol device {}\n' >"$work/rs2.conf"
start_bird "$rs2" "$work/rs2.conf" "$work/rs2.ctl"
ROUTER_AGENT_BIRD_CONF=$work/rs2.conf ROUTER_AGENT_BIRD_CTL=$work/rs2.ctl \
    "$agent" apply --netns "$rs2" <(rs_config "$clients") >/dev/null 2>&1 \
    || { rs_config "$clients" >"$work/rs2.toml"; ROUTER_AGENT_BIRD_CONF=$work/rs2.conf ROUTER_AGENT_BIRD_CTL=$work/rs2.ctl "$agent" apply --netns "$rs2" "$work/rs2.toml" >/dev/null; }
for i in $(seq 0 $((clients - 1))); do
    c=$(ns "c$i"); attach "$c" $((i + 1)) "10.255.0.$((i + 1))"
    python3 - "$i" "$prefixes" >"$work/c$i.conf" <<'PY'
import sys
i, n = int(sys.argv[1]), int(sys.argv[2])
print(f"router id 10.255.0.{i+1};\nprotocol device {{}}\nprotocol static s4 {{\n  ipv4;")
base = (i % 200) + 20
for k in range(n):
    print(f"  route {base}.{k // 256}.{k % 256}.0/24 blackhole;")
print(f"}}\nprotocol bgp to_rs {{\n  local as {10000+i};\n  neighbor 10.255.0.254 as 64500;\n  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}")
PY
    clientns[$i]=$c
done
want=$((clients * prefixes))
t0=$(now)
for i in $(seq 0 $((clients - 1))); do
    ip netns exec "${clientns[$i]}" bird -f -c "$work/c$i.conf" -s "$work/c$i.ctl" 2>"$work/c$i.log" &
    pids+=($!)
done
count() { birdc -s "$1" show route count 2>/dev/null | awk '/routes for/{print $1; exit}'; }
until [ "$(count "$work/rs2.ctl")" = "$want" ]; do sleep 0.2; [ "$(elapsed "$t0" "$(now)" | cut -d. -f1)" -lt 600 ] || { echo "no convergence in 600 s" >&2; exit 1; }; done
t1=$(now)
last=$((clients - 1))
until [ "$(count "$work/c$last.ctl")" = "$want" ]; do sleep 0.2; [ "$(elapsed "$t0" "$(now)" | cut -d. -f1)" -lt 600 ] || { echo "no convergence in 600 s" >&2; exit 1; }; done
t2=$(now)
echo "route server holds all $want routes:  $(elapsed "$t0" "$t1") s after the clients start"
echo "the last client holds all $want routes (its own + the others'): $(elapsed "$t0" "$t2") s"
echo "route server BIRD RSS: $(ps -o rss= -p "$(pgrep -f "bird -f -c $work/rs2.conf" | head -1)" | awk '{printf "%d MiB", $1/1024}')"

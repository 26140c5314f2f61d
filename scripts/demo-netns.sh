#!/usr/bin/env bash
# A demo router in network namespaces (until the RAM-only image boots in qemu, issue 5):
# apply configs/demo-router.toml, pass traffic through it, change it by hand, and watch
# `show` capture the change.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the demo needs root (network namespaces); run: sudo make demo" >&2; exit 1; }
agent=target/release/router-agent
r=demo-router c=demo-client i=demo-isp
for n in $r $c $i; do ip netns del $n 2>/dev/null || true; ip netns add $n; ip -n $n link set lo up; done
trap 'for n in $r $c $i; do ip netns del $n 2>/dev/null || true; done' EXIT
# The "cables": NICs as the router would find them at boot.
ip link add eth0 netns $r type veth peer name wan netns $i
ip link add lan1 netns $r type veth peer name eth0 netns $c
ip -n $i addr add 198.51.100.1/24 dev wan; ip -n $i addr add 2001:db8:100::1/64 dev wan; ip -n $i link set wan up
ip -n $i route add 192.0.2.0/24 via 198.51.100.2
ip -n $c addr add 192.0.2.10/24 dev eth0; ip -n $c link set eth0 up; ip -n $c route add default via 192.0.2.1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "router-agent check configs/demo-router.toml"
$agent check configs/demo-router.toml
step "router-agent plan --netns $r configs/demo-router.toml"
$agent plan --netns $r configs/demo-router.toml
step "router-agent apply --netns $r configs/demo-router.toml"
$agent apply --netns $r configs/demo-router.toml
step "client -> ISP through the router"
ip netns exec $c ping -c 2 -W 2 198.51.100.1
step "apply again: nothing to do, nothing written"
$agent apply --netns $r configs/demo-router.toml
step "an operator adds a route and a rule by hand"
ip -n $r route add 203.0.113.0/24 via 198.51.100.1 metric 50
ip -n $r rule add from 192.0.2.64/26 table 100 prio 1100
step "router-agent show --netns $r: the running config, hand edits included"
$agent show --netns $r | tee /tmp/demo-running.toml
step "plan of the original file now undoes the hand edits"
$agent plan --netns $r configs/demo-router.toml

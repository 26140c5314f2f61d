#!/usr/bin/env bash
# The fleet at scale (issue 18, item 4): ROUTERS simulated routers in one process
# (store-client/examples/fleet_sim: per router its own store clients, a status heartbeat
# and one snapshot per simulated minute, a watch kept open; an operator editing every
# router's config twice), against a 3-member etcd cluster on loopback and against
# `router-store serve` (release build) on a temporary git store. Prints one table with
# both, and what each server's processes cost in CPU. A benchmark: never in `make test`.
# Usage: [ROUTERS=1000] [MINUTE_MS=1000] [MINUTES=4] [POLL_SECS=10] [EDITS=2]
#        [EDIT_ROUTERS=ROUTERS] [ROUTER_STORE=path/to/router-store] bench/fleet.sh [etcd] [http]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUTERS=${ROUTERS:-1000}
MINUTE_MS=${MINUTE_MS:-1000}   # real milliseconds per simulated minute
MINUTES=${MINUTES:-4}          # simulated minutes the fleet runs
POLL_SECS=${POLL_SECS:-10}     # the daemon's --poll-interval (HTTP watches), simulated seconds
EDITS=${EDITS:-2}
EDIT_ROUTERS=${EDIT_ROUTERS:-$ROUTERS}
targets=("$@")
[ $# -gt 0 ] || targets=(etcd http)

cargo build --release --quiet --locked -p router-store --bin router-store \
    -p router-store-client --example fleet_sim
sim=$PWD/target/release/examples/fleet_sim
server=${ROUTER_STORE:-$PWD/target/release/router-store}   # another build, to compare
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
# A thousand watchers hold more than 1,024 descriptors, here and in the servers (the
# simulator and router-store also raise their own soft limit to the hard one).
ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# CPU seconds (user + system, reaped children included: git) of the given processes.
cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat"))); done
        echo "scale=1; $t / $(getconf CLK_TCK)" | bc; }

start_etcd() {
    local i cluster="" hosts=""
    local -a cport pport
    for i in 0 1 2; do
        cport[i]=$(free_port); pport[i]=$(free_port)
        cluster+="m$i=http://127.0.0.1:${pport[i]},"
        hosts+="127.0.0.1:${cport[i]},"
    done
    server_pids=()
    for i in 0 1 2; do
        etcd --name "m$i" --data-dir "$work/etcd/m$i" \
            --listen-client-urls "http://127.0.0.1:${cport[i]}" \
            --advertise-client-urls "http://127.0.0.1:${cport[i]}" \
            --listen-peer-urls "http://127.0.0.1:${pport[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${pport[i]}" \
            --initial-cluster "${cluster%,}" --initial-cluster-state new \
            --initial-cluster-token "fleet-bench-$$" \
            --logger zap --log-level warn >/dev/null 2>"$work/etcd-m$i.log" &
        pids+=($!); server_pids+=($!)
    done
    for i in 0 1 2; do
        for _ in $(seq 300); do
            curl -sf -X POST "http://127.0.0.1:${cport[i]}/v3/kv/put" \
                -d '{"key":"L3JlYWR5","value":"MQ=="}' >/dev/null && break
            sleep 0.1
        done
    done
    url="etcd://${hosts%,}/fleet"
    extra=()
}

start_http() {
    "$sim" tokens "$ROUTERS" > "$work/tokens.toml"
    # Every simulated router connects from 127.0.0.1: the per-address limit (64, meant
    # for a flood from one place) is raised to let the whole fleet in.
    "$server" serve --dir "$work/store" --listen 127.0.0.1:0 --tokens "$work/tokens.toml" \
        --max-connections 16384 --max-connections-per-client 16384 \
        >"$work/store.out" 2>"$work/store.log" &
    pids+=($!); server_pids=($!)
    for _ in $(seq 300); do grep -q 'listening on' "$work/store.out" && break; sleep 0.1; done
    local addr
    addr=$(grep -o 'http://[0-9.:]*' "$work/store.out")
    url=$addr
    extra=(--tokens --dashboard "$addr/")
}

rows=() costs=()
for target in "${targets[@]}"; do
    case $target in
        etcd) start_etcd; label="etcd, 3 members" ;;
        http) start_http; label="router-store serve" ;;
        *) echo "unknown target $target (etcd, http)" >&2; exit 2 ;;
    esac
    before=$(cpu "${server_pids[@]}")
    declare -A one_before=()
    for p in "${server_pids[@]}"; do one_before[$p]=$(cpu "$p"); done
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$work/sim.time" "$sim" run --url "$url" --label "$label" \
        --routers "$ROUTERS" --minute-ms "$MINUTE_MS" --minutes "$MINUTES" \
        --poll-secs "$POLL_SECS" --edits "$EDITS" --edit-routers "$EDIT_ROUTERS" \
        "${extra[@]}" >"$work/row" 2>"$work/sim.log" || { cat "$work/sim.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    after=$(cpu "${server_pids[@]}")
    each=""
    for p in "${server_pids[@]}"; do each+="$(echo "$(cpu "$p") - ${one_before[$p]}" | bc) s, "; done
    cat "$work/sim.log" >&2
    rows+=("$(cat "$work/row")")
    wall=$(echo "$t1 - $t0" | bc)
    costs+=("$(printf '| %s | %.0f s | %.1f s (%.2f cores) | %s | %.1f s |' "$label" "$wall" \
        "$(echo "$after - $before" | bc)" "$(echo "($after - $before) / $wall" | bc -l)" "${each%, }" \
        "$(awk '{print $1 + $2}' "$work/sim.time")")")
    for p in "${server_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
done

echo
echo "$ROUTERS routers, a simulated minute = $MINUTE_MS ms, $MINUTES minutes, HTTP poll every $POLL_SECS simulated s, $EDITS edit rounds of $EDIT_ROUTERS routers; $(nproc) cores, $(date -u +%F)"
echo
"$sim" header
printf '%s\n' "${rows[@]}"
echo
echo "| store | run (wall) | server CPU | per process | simulator CPU |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${costs[@]}"

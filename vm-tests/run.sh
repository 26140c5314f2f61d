#!/usr/bin/env bash
# Runs every VM scenario in two lanes at once (`make test`, `make vm-test`). Each qemu guest
# runs on TCG, one host core per busy vCPU, so on a 2-core machine two lanes take about
# half the wall time of one. The lanes are balanced by hand from the figures in README.md
# ("Budget"); a scenario in tests/ that no lane lists fails the run rather than being
# skipped. Extra arguments go to every test binary (e.g. --nocapture); ONLY="a b" runs
# just those scenarios (each in its own lane).
set -euo pipefail
cd "$(dirname "$0")"

# Lane A holds the scenarios that boot several guests at once; lane B the one-guest ones,
# so at most one multi-guest boot shares the machine with one single guest.
lane_a=(mission route_server kinds)
lane_b=(netboot store_trouble mgmt_dhcp commit_confirm prometheus)

fail() { echo "vm-tests: FAIL: $*" >&2; exit 1; }
for f in tests/*.rs; do
    name=$(basename "$f" .rs)
    [[ " ${lane_a[*]} ${lane_b[*]} " == *" $name "* ]] \
        || fail "tests/$name.rs is in no lane of vm-tests/run.sh: add it to one (and its cost to README.md)"
done

if [ -n "${ONLY:-}" ]; then
    only_a=() only_b=()
    for name in $ONLY; do
        [[ " ${lane_a[*]} " == *" $name "* ]] && only_a+=("$name")
        [[ " ${lane_b[*]} " == *" $name "* ]] && only_b+=("$name")
        [[ " ${lane_a[*]} ${lane_b[*]} " == *" $name "* ]] || fail "ONLY: no scenario $name"
    done
    lane_a=("${only_a[@]}") lane_b=("${only_b[@]}")
fi

# Build once; the JSON names each test binary.
bins=$(cargo test --locked -p vm-tests --tests --no-run --message-format=json \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])')
bin_of() { awk -v n="$1" '$1 == n { print $2 }' <<<"$bins"; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# One lane: its scenarios one after another; each one's output printed whole when it ends.
run_lane() {
    local lane=$1; shift
    local name bin start rc=0 one
    for name in "$@"; do
        bin=$(bin_of "$name")
        [ -n "$bin" ] || { echo "vm-tests: no test binary for $name" >"$logs/$name.log"; rc=1; continue; }
        start=$SECONDS
        one=0
        "$bin" --test-threads 1 "${extra[@]}" >"$logs/$name.log" 2>&1 || one=$?
        {
            flock 9
            echo "=== vm-tests lane $lane: $name ($((SECONDS - start)) s, $([ $one = 0 ] && echo ok || echo FAILED))"
            cat "$logs/$name.log"
        } 9>"$logs/print.lock"
        [ $one = 0 ] || rc=1
    done
    return $rc
}
extra=("$@")
start=$SECONDS
run_lane A "${lane_a[@]}" & a=$!
run_lane B "${lane_b[@]}" & b=$!
rc=0
wait $a || rc=1
wait $b || rc=1
echo "vm-tests: both lanes done in $((SECONDS - start)) s: $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc

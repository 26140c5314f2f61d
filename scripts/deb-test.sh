#!/usr/bin/env bash
# Builds the router-store .deb, installs it with dpkg, starts the service, talks to it
# with `router-agent store` (ls, push with the admin token the first start made), then
# purges the package and checks nothing is left. Needs root and a release build
# (`cargo build --release`): run by `make test` after it.
# Without systemd as PID 1 (a container), the unit is checked with `systemd-analyze verify`
# and its ExecStart is run by hand as the package's user, the way the unit would.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
command -v cargo-deb >/dev/null || fail "cargo-deb missing: scripts/setup.sh installs it"
agent=target/release/router-agent
[ -x "$agent" ] && [ -x target/release/router-store ] || fail "no release build: cargo build --release"
if dpkg -s router-store >/dev/null 2>&1; then
    fail "router-store is installed on this machine already; this test installs and purges its own (dpkg --purge router-store first)"
fi

out=$(mktemp -d)
pid=""
cleanup() {
    set +e
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ -n "${systemd:-}" ]; then systemctl stop router-store 2>/dev/null || true; fi
    dpkg --purge router-store >/dev/null 2>&1 || true
    rm -rf "$out"
}
trap cleanup EXIT

cargo deb -p router-store --no-build --locked --output "$out" >/dev/null
deb=$(ls "$out"/router-store_*.deb)
dpkg -i "$deb" >/dev/null
echo "deb-test: installed $(basename "$deb") ($(stat -c %s "$deb") bytes)"

unit=/lib/systemd/system/router-store.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/router-store.service
[ -f "$unit" ] || fail "the package installed no router-store.service"
getent passwd router-store >/dev/null || fail "postinst made no router-store user"
[ "$(stat -c %a:%U:%G /etc/router-store/router-store.env)" = 640:root:router-store ] \
    || fail "/etc/router-store/router-store.env: $(stat -c %a:%U:%G /etc/router-store/router-store.env), expected 640:root:router-store"
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verify"
# verify also prints warnings about other units of this machine; ours must have none.
if grep -F router-store.service <<<"$verify"; then fail "systemd-analyze verify warns about the unit"; fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/^LISTEN=.*/LISTEN=127.0.0.1:$port/" /etc/router-store/router-store.env
url=http://127.0.0.1:$port

systemd=""
if [ "$(ps -p 1 -o comm=)" = systemd ] && systemctl is-system-running >/dev/null 2>&1; then
    systemd=1
    systemctl restart router-store
else
    echo "deb-test: systemd is not PID 1 ($(ps -p 1 -o comm=)): running the unit's ExecStart by hand as router-store"
    # What StateDirectory= and UMask= do before ExecStart.
    install -d -m 0700 -o router-store -g router-store /var/lib/router-store
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
    # shellcheck disable=SC2046 # the env file is KEY=value lines, no spaces in values here
    runuser -u router-store -- env -i PATH=/usr/bin:/bin $(grep -v '^#' /etc/router-store/router-store.env) \
        sh -c "umask 0077; exec $exec_start" >"$out/serve.log" 2>&1 &
    pid=$!
fi
for _ in $(seq 100); do
    [ -s /var/lib/router-store/admin.token ] && "$agent" store ls "$url" \
        --token-file /var/lib/router-store/admin.token >/dev/null 2>&1 && break
    sleep 0.1
done
token=/var/lib/router-store/admin.token
[ -s "$token" ] || fail "no admin token after the first start: $(cat "$out/serve.log" 2>/dev/null)"
for f in "$token" /var/lib/router-store/tokens.toml; do
    [ "$(stat -c %a:%U "$f")" = 600:router-store ] || fail "$f: $(stat -c %a:%U "$f"), expected 600:router-store"
done

"$agent" store ls "$url" --token-file "$token" >/dev/null || fail "store ls with the admin token"
if "$agent" store ls "$url" >/dev/null 2>&1; then fail "store ls without a token was let in"; fi
"$agent" store push "$url" demo configs/vm-demo.toml --token-file "$token" >/dev/null \
    || fail "store push with the admin token"
"$agent" store ls "$url" --token-file "$token" | grep -qw demo || fail "store ls does not list the pushed router"
"$agent" store log "$url" demo --token-file "$token" >/dev/null || fail "store log demo"
git --git-dir /var/lib/router-store/store/configs.git log --all --oneline | grep -q . || fail "no commit in the store's history"
echo "deb-test: service answers on $url; ls, push and log with the first start's admin token"

[ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
[ -n "$systemd" ] && systemctl stop router-store
dpkg --purge router-store >/dev/null
for gone in /var/lib/router-store /etc/router-store /usr/bin/router-store "$unit"; do
    [ ! -e "$gone" ] || fail "$gone is left after dpkg --purge"
done
if getent passwd router-store >/dev/null; then fail "the router-store user is left after dpkg --purge"; fi
echo "deb-test: purged; nothing left"

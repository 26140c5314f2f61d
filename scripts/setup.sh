#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (bookworm or later).
# Rust comes from rustup where the machine has none.
set -euo pipefail
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
pkgs=(iproute2 iputils-ping nftables netcat-openbsd bc python3 build-essential ca-certificates curl
      git)  # git: the store server keeps history in a bare repository
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
fi

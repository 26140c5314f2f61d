#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (bookworm or later).
# Rust comes from rustup where the machine has none.
set -euo pipefail
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
pkgs=(iproute2 iputils-ping nftables netcat-openbsd bc python3 build-essential ca-certificates curl
      etcd-server tftpd-hpa bird2
      stayrtr  # the RTR cache the BGP tests validate against
      git  # git: the store server keeps history in a bare repository
      chromium  # headless: the store dashboard's browser tests (router-store/tests/dashboard_browser.rs)
      prometheus  # the exporter's scrape test and promtool for docs/alerts/
      rsyslog)  # the collector the log forwarding tests send to (run by the tests, not as a service)
# The image (image-recipe/): root filesystem, kernel modules, archive, ISO, UKI, qemu.
pkgs+=(mmdebstrap kmod cpio zstd xz-utils xorriso grub-common grub-pc-bin grub-efi-amd64-bin
    mtools dosfstools systemd-boot-efi qemu-system-x86 ovmf
    ipxe-qemu)  # ipxe-qemu: the NICs' iPXE ROMs, for the VM tests that boot over the network
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
    # The store tests run their own etcd, in.tftpd and StayRTR; the system
    # services these packages start are not needed (stopped only when installed here).
    for p in "${missing[@]}"; do
        case "$p" in
            etcd-server) svc=etcd ;;
            tftpd-hpa) svc=tftpd-hpa ;;
            stayrtr) svc=stayrtr ;;
            prometheus) svc=prometheus ;;
            rsyslog) svc=rsyslog ;;
            *) continue ;;
        esac
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
        else
            $sudo service "$svc" stop >/dev/null 2>&1 || true
        fi
    done
fi
# The tests run their own BIRD processes (own config and control socket); the service the
# bird2 package starts would only hold the default socket.
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $sudo systemctl disable --now bird.service >/dev/null 2>&1 || true
fi
if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
fi
# The store server's .deb (scripts/deb-test.sh).
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-deb >/dev/null 2>&1; then
    cargo install --locked cargo-deb
fi

#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine, as root: the real daemons the
# generated configs are checked with and run by (gobgpd, exabgp, FRR, BIRD, keepalived), the IPVS
# tools, what the IPVS VM runner needs, what `npm run images` builds and unpacks images with, and the
# npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gobgpd exabgp frr bird2 keepalived ipvsadm iproute2 nftables iptables
  nginx-light wrk curl procps iputils-ping
  qemu-system-x86 busybox-static cpio kmod
  mmdebstrap gpg arch-test umoci skopeo podman jq crun openssl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts FRR, BIRD and nginx as services on install; the tests run their own instances.
for service in frr bird nginx; do
  systemctl stop "$service" >/dev/null 2>&1 || service "$service" stop >/dev/null 2>&1 || true
done

npm ci --no-audit --no-fund

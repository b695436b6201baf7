#!/usr/bin/env bash
# The slow tests: the controller driving real keepalived/IPVS in two LB namespaces, exabgp
# announcing to a real gobgpd, inside a throwaway VM whose kernel has IPVS (one boot, ~1-2 min).
# Needs root. Installs what it needs from Debian's apt first.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for b in keepalived:keepalived ipvsadm:ipvsadm nft:nftables exabgp:exabgp gobgpd:gobgpd python3:python3; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The CLI bundled as the LB image has it (scripts/bundle-cli.mjs): the VM runs what the image would run.
mkdir -p build/vm
node scripts/bundle-cli.mjs build/vm/ecmp-lb.js
out=$(mktemp -d /tmp/ecmp-vm-out.XXXXXX)
# The VM's logs stay in $out when a check fails, for a look; a passing run leaves nothing behind.
bash scripts/ipvs-vm.sh --out "$out" controller/vm/in-vm.sh && rm -rf "$out" || { echo "VM logs kept in $out"; exit 1; }

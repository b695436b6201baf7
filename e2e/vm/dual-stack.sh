#!/usr/bin/env bash
# A dual-stack service end to end in the IPVS VM (e2e/dual-stack-vm.ts): IPv6 and IPv4 traffic
# through the synthesized router's ECMP routes to real IPVS. The host bundles the CLI and synthesizes;
# the VM runs the scenario. Wrap in `flock /tmp/ecmp-vm.lock`. About 2 minutes.
# usage: e2e/vm/dual-stack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d /tmp/ecmp-ds-vm.XXXXXX)
node scripts/bundle-cli.mjs "$out/ecmp-lb.js"
node -r ts-node/register/transpile-only e2e/dual-stack-vm.ts synth "$out/synth"
rc=0
IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-600} bash scripts/ipvs-vm.sh --mem 2048 --cpus 2 --out "$out" e2e/vm/dual-stack-in-vm.sh "$out/synth" "$out/ecmp-lb.js" || rc=$?
echo "# IPVS VM dual-stack run exited $rc (logs: $out)"
[[ $rc -ne 0 ]] || rm -rf "$out"
exit "$rc"

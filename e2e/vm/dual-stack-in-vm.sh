#!/usr/bin/env bash
# Inside the IPVS VM: the kernel modules, then the dual-stack scenario.  usage: dual-stack-in-vm.sh SYNTH_DIR CLI
set -uo pipefail
cd "$(dirname "$0")/../.."
modprobe -a ip_vs ip_vs_mh nf_tables nft_nat nft_ct nf_nat nft_chain_nat veth bridge 2>/dev/null || modprobe -a ip_vs ip_vs_mh nf_tables nft_nat nft_ct nf_nat veth bridge
timeout 480 node node_modules/.bin/ts-node --transpile-only e2e/dual-stack-vm.ts run "$1" "$2"

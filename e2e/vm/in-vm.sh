#!/usr/bin/env bash
# Inside the IPVS VM: loads what the LB pods' nodes need (modules-load.d in production), then runs
# a compiled e2e entry point. Results and logs go to $IPVS_VM_OUT, which the host reads back.
# usage: in-vm.sh ENTRY SYNTH_DIR [ARGS...]
set -uo pipefail
cd "$(dirname "$0")/../.."
entry=$1; shift
modprobe -a ip_vs ip_vs_mh nf_conntrack nf_tables nft_nat nft_ct nf_nat veth bridge
E2E_LOG_DIR=$IPVS_VM_OUT/logs E2E_RESULTS_DIR=${E2E_RESULTS_DIR:-$IPVS_VM_OUT/results} \
  timeout 1400 node "e2e/.build/e2e/$entry.js" "$@"

#!/usr/bin/env bash
# Inside the IPVS VM: loads what the LB pods' nodes need (modules-load.d in production), then runs
# a compiled e2e entry point (ipip: backends of TUN services decapsulate on tunl0). Results and logs go to $IPVS_VM_OUT, which the host reads back.
# usage: in-vm.sh ENTRY SYNTH_DIR [ARGS...]   (data-plane: ARGS is the resilient-hashing synth dir, then the unpacked images JSON; lb-pod: the in-cluster synth dir, then the images JSON)
set -uo pipefail
cd "$(dirname "$0")/../.."
entry=$1; shift
# E2E_ONLY / E2E_CAPTURE from the host (e2e/vm/run.sh)
[[ -f $IPVS_VM_OUT/e2e.env ]] && source "$IPVS_VM_OUT/e2e.env"
modprobe -a ip_vs ip_vs_mh ipip nf_conntrack nf_tables nft_nat nft_ct nf_nat veth bridge
limit=1700; [[ $entry == bench-data-plane ]] && limit=2700   # the bench's NAT and TUN labs: ~20 min
E2E_LOG_DIR=$IPVS_VM_OUT/logs E2E_RESULTS_DIR=${E2E_RESULTS_DIR:-$IPVS_VM_OUT/results} \
  timeout $limit node "e2e/.build/e2e/$entry.js" "$@"

#!/usr/bin/env bash
# Runs inside the IPVS VM (scripts/ipvs-vm.sh boots it): loads IPVS, builds the topology, runs
# the scenario with the bundled CLI, and always tears the topology down.
set -uo pipefail
cd "$(dirname "$0")/../.."
modprobe -a ip_vs ip_vs_mh nf_tables nft_nat nft_ct nf_nat veth bridge
sysctl -qw net.ipv4.ip_forward=1
trap 'bash controller/vm/topology.sh down' EXIT
bash controller/vm/topology.sh up
ECMP_LB_CLI=$PWD/build/vm/ecmp-lb.js SCENARIO_WORK=/tmp/ecmp-vm \
  timeout 780 node node_modules/.bin/ts-node --transpile-only controller/vm/scenario.ts
rc=$?
[[ -n ${IPVS_VM_OUT:-} ]] && cp -r /tmp/ecmp-vm "$IPVS_VM_OUT/logs" 2>/dev/null
exit $rc

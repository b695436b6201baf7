#!/usr/bin/env bash
# npm run bench:e2e: prints the measurements and writes them to e2e/results/ (JSON and SVG).
#   1. control plane on this host: with BFD, ECMP update delay (LB start/stop, 100 events) and silent
#      failure (20 frozen pods, 20 link cuts); without BFD, silent failure by the hold timer (~12 min);
#      the CPU-saturation run is separate: node -r ts-node/register/transpile-only e2e/bench-control-plane.ts saturation [MINUTES];
#   2. data plane in the IPVS VM: failed requests under load (NAT and TUN, graceful and abrupt LB loss,
#      LB joins) (~20 min);
#   3. data plane in the IPVS VM, each LB pod's link capped: throughput against the number of LBs
#      (Fig. 13a) and the LB count changed under load (Fig. 13b) (~10 min);
#   4. data plane in the IPVS VM, plain and resilient hashing, NAT and TUN: a backend rollout with an LB
#      joining halfway, a graceful and an abrupt LB loss, an LB join (~25 min).
# usage: e2e/run-bench.sh [EVENTS] [SILENT_EVENTS] [BFD_EVENTS]
set -uo pipefail
cd "$(dirname "$0")/.."
export CDK8S_CHECK_UPGRADE=false
rc=0
timeout 3600 node -r ts-node/register/transpile-only e2e/bench-control-plane.ts "${1:-100}" "${2:-5}" "${3:-20}" || rc=1
IPVS_VM_TIMEOUT=2800 timeout 2900 bash e2e/vm/run.sh bench-data-plane || rc=1
IPVS_VM_TIMEOUT=1500 timeout 1600 bash e2e/vm/run.sh bench-data-plane capacity || rc=1
IPVS_VM_TIMEOUT=2800 timeout 2900 bash e2e/vm/run.sh bench-data-plane rollout || rc=1
exit $rc

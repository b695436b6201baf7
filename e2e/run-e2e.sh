#!/usr/bin/env bash
# npm run e2e: the synthesized topology on the real daemons. Needs root (network namespaces).
#   1. control plane on this host, in network namespaces: Fig. 12 on FRR (with a frozen LB pod found by BFD), then on BIRD,
#      both again with the router in another AS (eBGP), then the in-cluster reflector, also over eBGP with FRR and BIRD,
#      then two routers (a pair of ToRs), one of them failing under load (~2.5 min);
#   2. data plane with real IPVS inside the IPVS VM: traffic spread, graceful scale-down, withdrawal, capped LBs,
#      TUN scale-down, joins and a backend rollout, resilient hashing (~15 min);
#   3. a dual-stack service in the IPVS VM: IPv6 and IPv4 traffic through the router's two ECMP routes (~2 min).
# E2E_LOG_DIR=DIR keeps every daemon's log. Exit status: non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export CDK8S_CHECK_UPGRADE=false
rc=0
timeout 600 node -r ts-node/register/transpile-only e2e/control-plane.ts || rc=1
timeout 1500 bash e2e/vm/run.sh data-plane || rc=1
timeout 600 bash e2e/vm/dual-stack.sh || rc=1
echo "# e2e: $([[ $rc -eq 0 ]] && echo PASS || echo FAIL)"
exit $rc

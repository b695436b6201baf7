#!/usr/bin/env bash
# npm run test:pods: the LB pod run exactly as the synthesized manifest says, from the built images,
# by the pod runner (e2e/lib/pod-runner.ts, crun) inside the IPVS VM (e2e/lb-pod.ts; ~2-3 min).
# e2e/vm/run.sh builds the images (`npm run images`, cached) and unpacks them on this host
# (build/pod-rootfs, cached per digest; e2e/vm/pod-images.sh), then boots the VM. Needs root.
# Then the in-cluster reflector pod (gobgpd image + reflector agent) with LB pods through cluster DNS, ClusterIP DNAT and node SNAT.
# POD_IMAGES_MANIFEST=FILE uses another images manifest.json. E2E_LOG_DIR=DIR keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
timeout 1000 bash e2e/vm/run.sh lb-pod

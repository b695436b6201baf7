#!/usr/bin/env bash
# npm run test:pods: the LB pod run exactly as the synthesized manifest says, from the built images,
# by the pod runner (e2e/lib/pod-runner.ts, crun) inside the IPVS VM (e2e/lb-pod.ts; ~2-3 min).
# Builds the images first (`npm run images`: seconds when nothing changed, so the pod never runs stale
# images), unpacks them on this host (build/pod-rootfs, cached per digest), then boots the VM. Needs root.
# POD_IMAGES_MANIFEST=FILE uses another images manifest.json. E2E_LOG_DIR=DIR keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CDK8S_CHECK_UPGRADE=false
need=()
for b in crun:crun umoci:umoci openssl:openssl nsenter:util-linux; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
manifest=${POD_IMAGES_MANIFEST:-build/images/manifest.json}
[[ -n ${POD_IMAGES_MANIFEST:-} ]] || npm run images
node -r ts-node/register/transpile-only e2e/unpack-images.ts "$manifest" build/pod-rootfs
timeout 600 bash e2e/vm/run.sh lb-pod "$PWD/build/pod-rootfs/images.json"

#!/usr/bin/env bash
# The built images, unpacked for the pod runner inside the IPVS VM (it shares this host's file
# system): installs what the runner needs on this host (crun, umoci, openssl, nsenter), runs
# `npm run images` (cached: seconds when nothing changed), unpacks them to build/pod-rootfs (cached
# per digest) and prints the path of the images JSON the VM's entry points take.
# POD_IMAGES_MANIFEST=FILE uses another images manifest.json (and builds nothing). Needs root.
# usage: e2e/vm/pod-images.sh   (used by e2e/vm/run.sh for the entries that run pods)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CDK8S_CHECK_UPGRADE=false
need=()
for b in crun:crun umoci:umoci openssl:openssl nsenter:util-linux; do
  command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b##*:}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ -n ${POD_IMAGES_MANIFEST:-} ]]; then manifest=$POD_IMAGES_MANIFEST; else manifest=build/images/manifest.json; npm run images >&2; fi
node -r ts-node/register/transpile-only e2e/unpack-images.ts "$manifest" build/pod-rootfs >&2
echo "$PWD/build/pod-rootfs/images.json"

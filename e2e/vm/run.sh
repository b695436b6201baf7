#!/usr/bin/env bash
# Runs an e2e entry point inside the IPVS VM (scripts/ipvs-vm.sh: Debian's stock kernel with IPVS,
# the host's filesystem shared read-only). The host compiles the harness and the controller CLI to
# e2e/.build and synthesizes the topology (node and cdk8s are slow under software emulation); the
# VM only runs them. The entries that run the LB pods from the built images (data-plane, lb-pod)
# get the unpacked images' JSON as their last argument (e2e/vm/pod-images.sh: `npm run images`, unpack);
# lb-pod also gets the in-cluster reflector topology, synthesized beside the first; data-plane and
# bench-data-plane get the topology with a resilient-hashing BIRD router as their first argument.
# usage: e2e/vm/run.sh ENTRY [ARGS...]   (ENTRY: data-plane | lb-pod | bench-data-plane)
set -euo pipefail
cd "$(dirname "$0")/../.."
entry=${1:?usage: e2e/vm/run.sh ENTRY [ARGS...]}; shift
out=$(mktemp -d /tmp/ecmp-e2e-vm.XXXXXX)
node node_modules/typescript/bin/tsc -p e2e/tsconfig.vm.json
# The bench runs the LB pods' programs as host processes: the CLI bundled, as the LB image has it.
[[ $entry != bench-data-plane ]] || node scripts/bundle-cli.mjs e2e/.build/ecmp-lb.js
node -r ts-node/register/transpile-only e2e/synth-cli.ts "$out/synth" frr
if [[ $entry == data-plane || $entry == bench-data-plane ]]; then
  node -r ts-node/register/transpile-only e2e/synth-cli.ts "$out/synth-resilient" bird-resilient
  set -- "$out/synth-resilient" "$@"
fi
if [[ $entry == lb-pod ]]; then
  node -r ts-node/register/transpile-only e2e/synth-in-cluster-cli.ts "$out/synth-in-cluster"
  set -- "$@" "$out/synth-in-cluster"
fi
case $entry in data-plane|lb-pod) images_json=$(bash e2e/vm/pod-images.sh); set -- "$@" "$images_json" ;; esac
# The VM gets no environment from here: the e2e's own switches go in a file that in-vm.sh reads.
for var in E2E_ONLY E2E_CAPTURE; do [[ -n ${!var:-} ]] && printf 'export %s=%q\n' "$var" "${!var}" >> "$out/e2e.env"; done
echo "# booting the IPVS VM for $entry (logs and results: $out)"
rc=0
IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-1800} bash scripts/ipvs-vm.sh --mem 3072 --cpus 2 --out "$out" e2e/vm/in-vm.sh "$entry" "$out/synth" "$@" || rc=$?
if [[ -d $out/results ]]; then mkdir -p e2e/results && cp "$out"/results/* e2e/results/; fi
echo "# IPVS VM run of $entry exited $rc"
# Keep the VM's logs only when something failed (or when asked to).
[[ $rc -ne 0 || -n ${E2E_LOG_DIR:-} ]] || rm -rf "$out"
exit "$rc"

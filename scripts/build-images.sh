#!/usr/bin/env bash
# Builds the three images the synthesized manifests name (docs/images.md) into OCI image archives:
#   build/images/lb.oci.tar      cdk8s-ecmp-lb/lb:VERSION      the ecmp-lb CLI on Node.js, keepalived, ipvsadm, ip, nft
#   build/images/exabgp.oci.tar  cdk8s-ecmp-lb/exabgp:VERSION  exabgp, python3
#   build/images/gobgpd.oci.tar  cdk8s-ecmp-lb/gobgpd:VERSION  gobgpd
# and build/images/manifest.json (name, reference, archive, digest, size of each). VERSION is package.json's.
# Root filesystems come from Debian's packages (mmdebstrap --variant=minbase, versions pinned in
# images/versions.lock), Node.js from the npm package node-linux-ARCH, the CLI bundled by esbuild with
# its dependencies at package-lock.json's versions; no base image is pulled. Timestamps are SOURCE_DATE_EPOCH from the lock file, so
# the same inputs give the same digests. Layers are cached in ~/.cache/ecmp-lb-images (ECMP_LB_IMAGE_CACHE),
# keyed by everything they are built from: a rebuild with nothing changed takes seconds.
# Each new image is checked by chroot into its root filesystem, read-only, as the pods' users: every
# command the constructs put in a container (scripts/image-commands.ts) exists there, and the programs start.
# Then the archives are loaded into podman or docker if one answers.
#
#   bash scripts/build-images.sh [--arch amd64|arm64] [--out DIR] [--no-cache] [--no-check] [--no-load]
#   bash scripts/build-images.sh --print-references | --print-pins
#
# Needs root (mmdebstrap --mode=root, chroot), the apt packages of scripts/setup-test-machine.sh and the
# repository's npm dependencies (npm ci). --arch arm64 on an amd64 host also needs qemu-user-static and
# arch-test (binfmt_misc registered), for the packages' maintainer scripts and the checks.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
repo=$PWD
umask 022
export LC_ALL=C.UTF-8 TZ=UTC

# Bump when the recipe changes in a way the cache keys below do not see (APP_RECIPE: the LB's app layer only).
RECIPE=2 APP_RECIPE=3
IMAGES=(lb exabgp gobgpd)
arch=amd64 out=build/images use_cache=1 check=1 load=1 mode=build
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --no-cache) use_cache=0; shift ;;
    --no-check) check=0; shift ;;
    --no-load) load=0; shift ;;
    --print-references) mode=references; shift ;;
    --print-pins) mode=pins; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-images: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in amd64|arm64) ;; *) echo "build-images: --arch must be amd64 or arm64, not $arch" >&2; exit 2 ;; esac
die() { echo "build-images: $*" >&2; exit 1; }
log() { printf '%s build-images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- the pins -------------------------------------------------------------------------------------
declare -A pin=() lock=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  key=${line%%=*} value=${line#*=}
  if [[ "$key" == deb:* ]]; then pin[${key#deb:}]=$value; else lock[$key]=$value; fi
done < images/versions.lock
SOURCE_DATE_EPOCH=${lock[SOURCE_DATE_EPOCH]:?images/versions.lock has no SOURCE_DATE_EPOCH}
export SOURCE_DATE_EPOCH
suite=${lock[debian-suite]:?images/versions.lock has no debian-suite}
node_version=${lock[node]:?images/versions.lock has no node}
declare -A npm_arch=([amd64]=x64 [arm64]=arm64)
node_integrity=${lock[node-integrity-$arch]:?images/versions.lock has no node-integrity-$arch}
version=$(node -p 'require("./package.json").version')

# The packages an image installs: its images/NAME/packages, each at its pinned version.
packages_of() {
  grep -v '^\s*\(#\|$\)' "images/$1/packages" | while read -r p; do
    # deb:NAME:ARCH=VERSION, where an architecture has its own build of the package, wins.
    v=${pin[$p:$arch]:-${pin[$p]:-}}
    [[ -n "$v" ]] || die "images/$1/packages names $p, which images/versions.lock does not pin (deb:$p=VERSION)"
    echo "$p=$v"
  done
}
reference_of() { echo "cdk8s-ecmp-lb/$1:$version"; }

if [[ $mode == references ]]; then
  for name in "${IMAGES[@]}"; do packages_of "$name" >/dev/null; echo "$name $(reference_of "$name")"; done
  exit 0
fi
if [[ $mode == pins ]]; then
  for p in $(cat images/*/packages | grep -v '^\s*\(#\|$\)' | sort -u); do
    echo "deb:$p=$(apt-cache policy "$p" | awk '/Candidate:/ { print $2 }')"
  done
  exit 0
fi

[[ $(id -u) == 0 ]] || die "needs root (mmdebstrap --mode=root, chroot): sudo bash scripts/build-images.sh"
for tool in mmdebstrap gzip tar sha256sum unshare chroot flock jq npm node; do
  command -v "$tool" >/dev/null || die "$tool is missing: bash scripts/setup-test-machine.sh installs it"
done
[[ -x node_modules/typescript/bin/tsc ]] || die "node_modules/typescript is missing: run npm ci first"
host_arch=$(dpkg --print-architecture)
cache=${ECMP_LB_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecmp-lb-images}
mkdir -p "$cache" "$out"
out=$(cd "$out" && pwd)
# One build at a time per cache (a second one waits): entries are written in place.
exec 9> "$cache/.lock"
flock 9
work=$(mktemp -d "${TMPDIR:-/tmp}/ecmp-lb-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
log "arch $arch, tag $version, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH, cache $cache$([[ $use_cache == 1 ]] || echo ' (not used: --no-cache)')"

hash_of() { sha256sum | cut -c1-24; }

# Compresses TAR into DIR as layer.tar.gz and records its diff id (the tar's digest), digest and size.
finish_layer() {
  local dir=$1 tar=$2
  sha256sum < "$tar" | awk '{ print "sha256:" $1 }' > "$dir/diffid"
  gzip -n -6 -c "$tar" > "$dir/layer.tar.gz"
  sha256sum < "$dir/layer.tar.gz" | awk '{ print "sha256:" $1 }' > "$dir/digest"
  stat -c %s "$dir/layer.tar.gz" > "$dir/size"
}

# A cache entry is complete once its "done" file exists; a killed build leaves none and is redone.
cached() { [[ $use_cache == 1 && -f "$1/done" ]]; }

# --- base layers: Debian minbase plus the image's pinned packages -----------------------------------
# Without docs, man pages and locales; without the host's hostname and resolv.conf that mmdebstrap copies
# in; without setuid/setgid bits (su, mount, passwd: nothing in a pod may gain privileges anyway).
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_args() {
  local name=$1 include
  include=$(packages_of "$name" | paste -sd, -)
  printf '%s\n' --mode=root --variant=minbase "--architectures=$arch" --format=tar "--include=$include" \
    '--dpkgopt=path-exclude=/usr/share/man/*' '--dpkgopt=path-exclude=/usr/share/info/*' \
    '--dpkgopt=path-exclude=/usr/share/locale/*' '--dpkgopt=path-include=/usr/share/locale/locale.alias' \
    '--dpkgopt=path-exclude=/usr/share/doc/*' '--dpkgopt=path-include=/usr/share/doc/*/copyright' \
    '--customize-hook=rm -f "$1"/etc/hostname "$1"/etc/resolv.conf "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
    '--customize-hook=find "$1" -xdev -type f -perm /6000 -exec chmod ug-s {} +' \
    "$suite" - \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main"
}
base_dir() {
  echo "$cache/base-$1-$arch-$( { echo "recipe $RECIPE $SOURCE_DATE_EPOCH"; mmdebstrap --version; base_args "$1"; } | hash_of)"
}
build_base() {
  local name=$1 dir args
  dir=$(base_dir "$name")
  cached "$dir" && return 0
  rm -rf "$dir" && mkdir -p "$dir"
  mapfile -t args < <(base_args "$name")
  mmdebstrap "${args[@]}" > "$dir/rootfs.tar"
  # Device nodes are the runtime's business (it mounts /dev); unprivileged unpackers cannot make them.
  tar --delete --wildcards -f "$dir/rootfs.tar" './dev/?*'
  # Every package with its version, for the record (build/images/NAME.packages).
  tar -xOf "$dir/rootfs.tar" ./var/lib/dpkg/status \
    | awk '/^Package:/ { p = $2 } /^Architecture:/ { a = $2 } /^Version:/ { v = $2 } /^$/ { if (p) print p ":" a "=" v; p = "" } END { if (p) print p ":" a "=" v }' \
    | sort > "$dir/packages"
  finish_layer "$dir" "$dir/rootfs.tar"
  touch "$dir/done"
}

# --- the LB image's application layer: Node.js and the CLI bundled into one file with its dependencies
# The CLI's sources (not all of lib/), as tsc lists them: the layer's cache key.
TSC_ARGS=(--module node16 --moduleResolution node16 --target ES2022 --esModuleInterop --skipLibCheck --strict controller/src/cli.ts)
WRAPPER='#!/bin/sh
exec /usr/local/bin/node /opt/ecmp-lb/ecmp-lb.js "$@"'
app_dir() {
  echo "$cache/app-$arch-$( {
    echo "recipe $RECIPE $APP_RECIPE $SOURCE_DATE_EPOCH node-linux-${npm_arch[$arch]} $node_version $node_integrity"
    echo "$WRAPPER"; tar --version | head -1
    # The bundler, the CLI's sources and the lockfile (which pins every bundled package).
    { node node_modules/typescript/bin/tsc --listFilesOnly "${TSC_ARGS[@]}" | grep -v /node_modules/ | sed "s|^$repo/||"
      echo scripts/bundle-cli.mjs; echo package-lock.json; echo node_modules/esbuild/package.json; } | sort | xargs sha256sum
  } | hash_of)"
}
node_tarball() {
  local package="node-linux-${npm_arch[$arch]}" got
  local file="$cache/node/$package-$node_version.tgz"
  if [[ ! -f "$file" ]]; then
    mkdir -p "$cache/node" "$work/npm-pack"
    (cd "$work/npm-pack" && npm pack --silent "$package@$node_version" >/dev/null)
    mv "$work/npm-pack/$package-$node_version.tgz" "$file.tmp"
    got=$(node -e 'process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$file.tmp")
    [[ "$got" == "$node_integrity" ]] || { rm -f "$file.tmp"; die "$package@$node_version has integrity $got, images/versions.lock says $node_integrity"; }
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}
build_app() {
  local dir=$1 stage="$work/app" tgz
  cached "$dir" && return 0
  rm -rf "$dir" "$stage" && mkdir -p "$dir" "$stage/opt/ecmp-lb" "$stage/usr/local/bin" "$stage/usr/local/share/doc/node"
  tgz=$(node_tarball)
  tar -xzf "$tgz" -C "$work" package/bin/node package/LICENSE
  install -m 0755 "$work/package/bin/node" "$stage/usr/local/bin/node"
  install -m 0644 "$work/package/LICENSE" "$stage/usr/local/share/doc/node/LICENSE"
  node scripts/bundle-cli.mjs "$stage/opt/ecmp-lb/ecmp-lb.js" --licenses "$stage/usr/local/share/doc/ecmp-lb/node_modules"
  printf '{"name": "cdk8s-ecmp-lb", "version": "%s", "private": true, "license": "Apache-2.0"}\n' "$version" > "$stage/opt/ecmp-lb/package.json"
  printf '%s\n' "$WRAPPER" > "$stage/usr/local/bin/ecmp-lb" && chmod 0755 "$stage/usr/local/bin/ecmp-lb"
  chmod -R u+rwX,go+rX,go-w "$stage"
  tar --sort=name --format=gnu --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$stage" -cf "$dir/app.tar" ./opt ./usr
  finish_layer "$dir" "$dir/app.tar"
  touch "$dir/done"
}

# --- build the layers, in parallel --------------------------------------------------------------
if [[ $arch != "$host_arch" ]]; then
  command -v arch-test >/dev/null && arch-test "$arch" >/dev/null 2>&1 \
    || die "building $arch on $host_arch needs qemu-user-static and arch-test with binfmt_misc (apt-get install qemu-user-static arch-test)"
fi
declare -A base=()
jobs=()
for name in "${IMAGES[@]}"; do
  base[$name]=$(base_dir "$name")
  if cached "${base[$name]}"; then continue; fi
  log "$name: mmdebstrap $suite minbase + $(packages_of "$name" | paste -sd' ' -)"
  (build_base "$name") > "$work/base-$name.log" 2>&1 &
  jobs+=("$!:base-$name:${base[$name]}")
done
app=$(app_dir)
if ! cached "$app"; then
  log "lb: Node.js $node_version (node-linux-${npm_arch[$arch]}), controller/src/cli.ts bundled by esbuild"
  (build_app "$app") > "$work/app.log" 2>&1 &
  jobs+=("$!:app:$app")
fi
failed=0
for job in "${jobs[@]}"; do
  IFS=: read -r pid what dir <<< "$job"
  if wait "$pid"; then
    log "$what: built ($(( $(date +%s) - started )) s since the start)"
  else
    failed=1; rm -rf "$dir"; echo "build-images: $what failed; its log:" >&2; tail -n 40 "$work/$what.log" >&2
  fi
done
[[ $failed == 0 ]] || exit 1
# Older cache entries of these layers (other pins, other sources) go.
for dir in "${base[@]}" "$app"; do
  for old in "${dir%-*}"-*; do [[ "$old" == "$dir" ]] || rm -rf "$old"; done
done

# --- assemble the OCI archives ------------------------------------------------------------------
# The layout: oci-layout, index.json (one manifest, named by org.opencontainers.image.ref.name), blobs.
write_archive() {
  local name=$1; shift
  local layout="$work/layout-$name" specs=() dir hex
  mkdir -p "$layout/blobs/sha256"
  for dir in "$@"; do
    hex=$(cut -d: -f2 "$dir/digest")
    ln -f "$dir/layer.tar.gz" "$layout/blobs/sha256/$hex" 2>/dev/null || cp "$dir/layer.tar.gz" "$layout/blobs/sha256/$hex"
    specs+=(--layer "$(cat "$dir/digest")|$(cat "$dir/diffid")|$(cat "$dir/size")|$(cat "$dir/created-by")")
  done
  node scripts/oci-image.mjs --layout "$layout" --ref "$(reference_of "$name")" --arch "$arch" --created "$SOURCE_DATE_EPOCH" \
    --config "images/$name/config.json" --label "org.opencontainers.image.title=cdk8s-ecmp-lb/$name" \
    --label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.licenses=Apache-2.0" \
    "${specs[@]}" > "$work/$name.ids"
  tar --sort=name --format=gnu --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$layout" -cf "$out/$name.oci.tar.tmp" oci-layout index.json blobs
  mv "$out/$name.oci.tar.tmp" "$out/$name.oci.tar"
}
for name in "${IMAGES[@]}"; do
  echo "mmdebstrap $suite minbase $(packages_of "$name" | paste -sd' ' -)" > "${base[$name]}/created-by"
  cp "${base[$name]}/packages" "$out/$name.packages"
done
echo "node-linux-${npm_arch[$arch]}@$node_version as /usr/local/bin/node; controller/src/cli.ts bundled by esbuild (scripts/bundle-cli.mjs) as /opt/ecmp-lb/ecmp-lb.js; /usr/local/bin/ecmp-lb" > "$app/created-by"
write_archive lb "${base[lb]}" "$app"
write_archive exabgp "${base[exabgp]}"
write_archive gobgpd "${base[gobgpd]}"

# --- check each new image: the pods' commands exist, the programs start ---------------------------
# Runs CMD in the image's root filesystem ROOT as UID, the root read-only (as readOnlyRootFilesystem),
# tmpfs on the colon-separated WRITABLE paths (the pod's volumes), with the image's PATH.
run_in() {
  local root=$1 uid=$2 writable=$3; shift 3
  unshare -m -- /bin/sh -ec '
    root=$1 uid=$2 writable=$3; shift 3
    mount --bind "$root" "$root"
    mount -o remount,bind,ro "$root"
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    IFS=:
    for dir in $writable; do mount -t tmpfs -o mode=1777 tmpfs "$root$dir"; done
    unset IFS
    exec chroot --userspec="$uid:$uid" "$root" /usr/bin/env -i HOME=/ \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
  ' run_in "$root" "$uid" "$writable" "$@"
}
expect() { # DESCRIPTION WANTED-EXIT-CODE WANTED-OUTPUT-REGEX -- run_in args...
  local what=$1 code=$2 pattern=$3 got=0 output; shift 4
  output=$(run_in "$@" 2>&1) || got=$?
  if [[ $got != "$code" ]] || ! grep -Eq -- "$pattern" <<< "$output"; then
    echo "build-images: check failed: $what: exit $got (wanted $code), output:" >&2; echo "$output" | head -20 >&2; return 1
  fi
}
check_images() {
  local root="$work/root" name writable="/tmp:/run/ecmp-lb:/etc/ecmp-lb:/etc/gobgpd:/run/gobgpd:/var/run/secrets/kubernetes.io/serviceaccount"
  for name in "${IMAGES[@]}"; do
    mkdir -p "$root/$name"
    tar -xf "${base[$name]}/rootfs.tar" -C "$root/$name"
    # The mount points the kubelet would create (the root is read-only once checking starts).
    (IFS=:; for dir in $writable; do mkdir -p "$root/$name$dir"; done)
  done
  tar -xf "$app/app.tar" -C "$root/lb"
  local lb="$root/lb" exabgp="$root/exabgp" gobgpd="$root/gobgpd"
  # The LB image: the CLI loads (all of its modules, and the ESM-only client through a real kube call).
  expect "node is $node_version" 0 "^v$node_version\$" -- "$lb" 0 "$writable" node --version
  expect "ecmp-lb prints its usage" 2 '^usage:' -- "$lb" 65534 "$writable" ecmp-lb
  expect "ecmp-lb node-agent loads @kubernetes/client-node" 1 '"msg":"fatal".*ENOENT.*/nonexistent' -- "$lb" 0 "$writable" \
    NODE_NAME=n1 ecmp-lb node-agent --namespaces=lb --kubeconfig /nonexistent
  expect "keepalived" 0 'Keepalived v2' -- "$lb" 0 "$writable" keepalived --version
  # ipvsadm exits 2 where the kernel has no IPVS (this host): 127 would mean it cannot be run.
  expect "ipvsadm" 0 '^ran$' -- "$lb" 0 "$writable" sh -c 'ipvsadm --version >/dev/null 2>&1; [ $? -lt 126 ] && echo ran'
  expect "ip" 0 'iproute2' -- "$lb" 0 "$writable" ip -V
  expect "nft" 0 'nftables v1' -- "$lb" 0 "$writable" nft --version
  expect "modprobe" 0 'kmod version' -- "$lb" 0 "$writable" modprobe --version
  # exabgp, as the LB pod runs it: nobody, read-only root, its environment; a config it must accept.
  printf '%s\n' 'neighbor 127.0.0.1 {' '  router-id 198.18.0.1;' '  local-address 127.0.0.1;' '  local-as 65021;' '  peer-as 65021;' '}' > "$work/exabgp.conf"
  expect "exabgp" 0 '4\.2\.' -- "$exabgp" 65534 "$writable" exabgp --version
  expect "exabgp --test as nobody on a read-only root" 0 '' -- "$exabgp" 65534 "$writable" \
    exabgp_daemon_user=nobody exabgp_log_destination=stdout exabgp_api_cli=false sh -c 'cat > /tmp/exabgp.conf && exabgp --test /tmp/exabgp.conf' < "$work/exabgp.conf"
  expect "python3 for the announcer" 0 '^ok$' -- "$exabgp" 65534 "$writable" /usr/bin/python3 -c 'import json, os, select, sys, time; print("ok")'
  # gobgpd: its config checker, as nobody.
  printf '%s\n' '[global.config]' '  as = 65021' '  router-id = "198.18.0.21"' > "$work/gobgpd.toml"
  expect "gobgpd" 0 'gobgpd version 3' -- "$gobgpd" 65534 "$writable" gobgpd --version
  expect "gobgpd -d as nobody on a read-only root" 0 '' -- "$gobgpd" 65534 "$writable" \
    sh -c 'cat > /tmp/gobgpd.toml && gobgpd -d -t toml -f /tmp/gobgpd.toml' < "$work/gobgpd.toml"
  for name in "${IMAGES[@]}"; do
    expect "$name: no setuid or setgid files" 0 '^$' -- "$root/$name" 0 "$writable" find / -xdev -type f -perm /6000
  done
  # Every container the constructs synthesize: its image is one built here, its command is there for its user.
  local line image command user n=0
  while IFS= read -r line; do
    image=$(jq -r .image <<< "$line") user=$(jq -r .runAsUser <<< "$line")
    name=
    for candidate in "${IMAGES[@]}"; do [[ "$image" == "$(reference_of "$candidate")" ]] && name=$candidate; done
    [[ -n "$name" ]] || { echo "build-images: $(jq -r '.pod + " " + .name' <<< "$line") runs $image, which is not one of: $(for i in "${IMAGES[@]}"; do reference_of "$i"; done | paste -sd' ' -)" >&2; return 1; }
    # The command, or every program a script the constructs wrote calls (the TUN backend's init container).
    while IFS= read -r command; do
      expect "$(jq -r '.pod + " container " + .name' <<< "$line"): $command in $image for uid $user" 0 . -- "$root/$name" "$user" "$writable" \
        sh -c 'p=$(command -v "$1") && test -x "$p" && echo "$p"' sh "$command"
    done < <(jq -r '.programs[]' <<< "$line")
    n=$((n + 1))
  done < <(node_modules/.bin/ts-node --transpile-only scripts/image-commands.ts)
  [[ $n -ge 5 ]] || { echo "build-images: scripts/image-commands.ts listed only $n containers" >&2; return 1; }
  log "checked: every program starts; the $n containers' commands exist in their images for their users"
}

digests=$(for name in "${IMAGES[@]}"; do jq -r .digest "$work/$name.ids"; done | paste -sd- -)
can_check=1
if [[ $arch != "$host_arch" ]] && ! arch-test "$arch" >/dev/null 2>&1; then can_check=0; fi
if [[ $check == 0 ]]; then
  log "not checked (--no-check)"
elif [[ $can_check == 0 ]]; then
  log "not checked: this host cannot run $arch programs"
elif [[ $use_cache == 1 && -f "$cache/checked/$arch-$digests" ]]; then
  log "checked before (these digests)"
else
  check_images
  mkdir -p "$cache/checked" && touch "$cache/checked/$arch-$digests"
fi

# --- the record: build/images/manifest.json, digests and sizes ------------------------------------
{
  echo '{'
  echo "  \"arch\": \"$arch\","
  echo "  \"sourceDateEpoch\": $SOURCE_DATE_EPOCH,"
  echo '  "images": ['
  sep=
  for name in "${IMAGES[@]}"; do
    printf '%s    {"name": "%s", "reference": "%s", "archive": "%s", "digest": "%s", "config": "%s", "size": %s, "packages": "%s"}' \
      "$sep" "$name" "$(reference_of "$name")" "$name.oci.tar" "$(jq -r .digest "$work/$name.ids")" "$(jq -r .config "$work/$name.ids")" \
      "$(stat -c %s "$out/$name.oci.tar")" "$name.packages"
    sep=$',\n'
  done
  printf '\n  ]\n}\n'
} > "$out/manifest.json.tmp"
jq -e . "$out/manifest.json.tmp" >/dev/null
mv "$out/manifest.json.tmp" "$out/manifest.json"
for name in "${IMAGES[@]}"; do
  printf '%-7s %-28s %s %6s MB  %s\n' "$name" "$(reference_of "$name")" "$(jq -r .digest "$work/$name.ids")" \
    "$(( $(stat -c %s "$out/$name.oci.tar") / 1000000 ))" "${out#"$repo"/}/$name.oci.tar"
done
log "done in $(( $(date +%s) - started )) s: ${out#"$repo"/}/manifest.json"

# --- load into a local engine, if one answers ---------------------------------------------------
if [[ $load == 1 ]]; then
  if command -v podman >/dev/null && timeout 20 podman info >/dev/null 2>&1; then
    for name in "${IMAGES[@]}"; do
      # podman names it localhost/REFERENCE, which the reference finds (short-name resolution).
      if [[ "$(podman image inspect --format '{{.Digest}}' "localhost/$(reference_of "$name")" 2>/dev/null)" == "$(jq -r .digest "$work/$name.ids")" ]]; then
        log "podman: localhost/$(reference_of "$name") is loaded already"
      else
        previous=$(podman image inspect --format '{{.Id}}' "localhost/$(reference_of "$name")" 2>/dev/null || true)
        podman load -q -i "$out/$name.oci.tar" >/dev/null
        # The image the tag named before, unless something else still names it.
        [[ -z "$previous" ]] || podman rmi "$previous" >/dev/null 2>&1 || true
        log "podman: loaded localhost/$(reference_of "$name")"
      fi
    done
  elif command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
    for name in "${IMAGES[@]}"; do
      if command -v skopeo >/dev/null; then skopeo copy -q "oci-archive:$out/$name.oci.tar" "docker-daemon:$(reference_of "$name")"
      else docker load -q -i "$out/$name.oci.tar" >/dev/null; fi
      log "docker: loaded $(reference_of "$name")"
    done
  else
    log "not loaded: neither podman nor docker answers here (the archives are in ${out#"$repo"/})"
  fi
fi

#!/usr/bin/env bash
# Builds the container image from Containerfile with `podman build --network none`, and prints its name on stdout.
#
# No base image is pulled from a registry: the base is made with debootstrap from Debian's packages (minbase plus
# what the image needs, installed at debootstrap time because the build itself has no network), trimmed like
# Debian's slim images, and imported into the project's Podman storage (scripts/podman). It is built once per
# package list and reused. Deno and the npm packages come from this host: the pinned Deno (scripts/install-deno.sh)
# and a DENO_DIR filled from deno.lock, handed to the build as the `prefetched` build context. Both caches live under
# the tools folder (${SIDEROLINK_TOOLS:-/opt/siderolink-tools}/image and .../containers).
#
# Needs root, podman, runc and debootstrap (apt-get install podman runc debootstrap). Environment: SIDEROLINK_IMAGE
# (default localhost/siderolink:<version in deno.json>), SIDEROLINK_DEBIAN_MIRROR (default: debootstrap's).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools=${SIDEROLINK_TOOLS:-/opt/siderolink-tools}
suite=bookworm
base_packages=(wireguard-go wireguard-tools)

[ "$(id -u)" = 0 ] || { echo "build-image: run as root (debootstrap and Podman's storage need it)" >&2; exit 1; }
for program in podman runc debootstrap; do
  command -v "$program" >/dev/null ||
    { echo "build-image: $program is missing (apt-get install podman runc debootstrap)" >&2; exit 1; }
done
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' deno.json)
[ -n "$version" ] || { echo "build-image: no version in deno.json" >&2; exit 1; }
image=${SIDEROLINK_IMAGE:-localhost/siderolink:$version}
cache="$tools/image"
mkdir -p "$cache"
# One build at a time per tools folder: two would remake the same base and DENO_DIR under each other.
exec 9>"$cache/lock"
flock 9
started=$SECONDS

# The base, keyed on what goes into it: the suite, the packages and the trimming below (bump `recipe` when it changes).
recipe=1
base_key=$(printf '%s\n' "$suite" "$recipe" "${base_packages[@]}" | sha256sum | cut -c1-16)
base="localhost/siderolink-base:$base_key"
if ! ./scripts/podman image exists "$base"; then
  echo "build-image: making the base $base with debootstrap ($suite, minbase + ${base_packages[*]})" >&2
  root=$(mktemp -d "$cache/base.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  # A private mount namespace: the /proc and /sys that debootstrap mounts in the target go away with it, even when
  # it fails half-way.
  unshare --mount --propagation private debootstrap --variant=minbase --include="$(IFS=,; echo "${base_packages[*]}")" \
    "$suite" "$root/rootfs" ${SIDEROLINK_DEBIAN_MIRROR:+"$SIDEROLINK_DEBIAN_MIRROR"} >"$root/debootstrap.log" 2>&1 ||
    { tail -20 "$root/debootstrap.log" >&2; echo "build-image: debootstrap failed (log above)" >&2; exit 1; }
  # What Debian's slim images leave out as well: downloaded packages, package lists, documentation, translations.
  rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/cache/apt/*.bin \
    "$root"/rootfs/var/lib/apt/lists/* "$root"/rootfs/var/log/* \
    "$root"/rootfs/usr/share/{doc,man,info,locale}/*
  tar -C "$root/rootfs" --numeric-owner -c . | ./scripts/podman import --quiet - "$base" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

# Deno and the npm packages, from this host; the DENO_DIR is made anew when deno.json or deno.lock change.
deno=$(./scripts/install-deno.sh)
prefetched="$cache/prefetched"
mkdir -p "$prefetched"
cmp -s "$deno" "$prefetched/deno" || cp "$deno" "$prefetched/deno"
deps_key=$(cat deno.json deno.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$cache/prefetched.key" 2>/dev/null)" != "$deps_key" ]; then
  echo "build-image: caching the npm packages of deno.lock" >&2
  rm -rf "$prefetched/deno-dir" "$cache/prefetched.key"
  project=$(mktemp -d "$cache/project.XXXXXX")
  cp deno.json deno.lock "$project/"
  (cd "$project" && DENO_DIR="$prefetched/deno-dir" "$deno" install --frozen --quiet)
  rm -rf "$project"
  echo "$deps_key" >"$cache/prefetched.key"
fi

# The inputs of the build: skipped when the image was built from exactly these (podman's own layer cache would still
# copy the base once per stage on vfs, about half a minute). The context files are those .dockerignore lets in.
inputs=$( (
  echo "$base $(./scripts/podman image inspect --format '{{.Id}}' "$base")"
  sha256sum Containerfile .dockerignore "$prefetched/deno"
  echo "$deps_key"
  sed -n 's/^!//p' .dockerignore | xargs -I{} find {} -type f | LC_ALL=C sort | xargs sha256sum
) | sha256sum | cut -c1-16)
if [ "$(./scripts/podman image inspect --format '{{index .Labels "siderolink.build-inputs"}}' "$image" 2>/dev/null)" \
  != "$inputs" ]; then
  # --layers=false: one layer over the base and no intermediate images (on vfs each layer is a full copy).
  ./scripts/podman build --runtime runc --network none --pull=never --layers=false --quiet \
    --build-arg BASE="$base" --build-context prefetched="$prefetched" --label siderolink.build-inputs="$inputs" \
    --tag "$image" -f Containerfile . >/dev/null
  # The image this tag named before, if any, is left without a name: drop it (and only dangling images).
  ./scripts/podman image prune --force >/dev/null
fi
size=$(./scripts/podman image inspect --format '{{.Size}}' "$image")
echo "build-image: $image, $((size / 1024 / 1024)) MiB, in $((SECONDS - started)) s" >&2
echo "$image"

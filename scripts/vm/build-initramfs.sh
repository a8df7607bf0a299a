#!/usr/bin/env bash
# Builds the boot files of the kernel-WireGuard test VM and prints "<kernel> <initramfs>" on stdout.
#
# Usage: scripts/vm/build-initramfs.sh OUTPUT
#
# The initramfs written to OUTPUT is two concatenated cpio archives (the kernel unpacks each in turn), uncompressed:
# unpacking gzip in the emulated guest costs ~3 s per boot, more than reading 130 MB more from the page cache.
#  1. base (cached, rebuilt only when an input changes): dash as /bin/sh, busybox-static with its applets, the
#     `wireguard` and `veth` modules of Debian's newest linux-image-6.1.*-amd64 package with their dependencies in
#     load order, full iproute2 `ip`, `wg`, `ping`, deno, and for the machines the guest tests play util-linux
#     `dmesg` (busybox's has no -J), `curl`, Debian's python3 with its standard library (less tests, IDLE, Tk and the
#     build files), grpcio, grpc_tools (with pkg_resources) and protobuf; every shared library `ldd` lists for all of
#     them (with the dynamic loader), and scripts/vm/init.sh as /init;
#  2. project (every run): this work tree's files (tracked and untracked, minus ignored ones), its node_modules, and
#     a DENO_DIR prepared here by `deno cache` of tests/vm/*.ts and of cli.ts with its log-store worker (guest tests
#     run serve and the CLI), all at the same absolute paths as on this host.
# Everything lands in the cache folder SIDEROLINK_VM_CACHE (default /var/cache/siderolink-vm), never in the repo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${SIDEROLINK_VM_CACHE:-/var/cache/siderolink-vm}
output=${1:?usage: build-initramfs.sh OUTPUT}
modules_wanted=(wireguard veth)

say() { echo "build-initramfs: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb depmod modprobe busybox dash ip wg ping dmesg curl ldd sha256sum xz git flock tar; do
  command -v "$tool" >/dev/null || die "$tool is missing (run ./scripts/install-test-deps.sh as root)"
done
busybox_bin=$(command -v busybox)
ldd "$busybox_bin" >/dev/null 2>&1 && die "$busybox_bin is dynamically linked; install busybox-static"
deno_bin=$("$root/scripts/install-deno.sh")
mkdir -p "$cache/kernel" "$cache/deno-dir"
exec 9>"$cache/lock"
flock 9 # one builder at a time; concurrent runs share the cached parts

# The newest Debian 6.1 amd64 kernel image apt offers (signed or unsigned: the same kernel and modules); sets
# package, version and kernel_dir, the cache folder of its extracted parts. Asking apt takes seconds, so the answer
# is kept until apt's package lists change.
pick_kernel() {
  local lists
  lists=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16)
  if [ -f "$cache/kernel-pick" ] && [ "$(cut -d' ' -f1 "$cache/kernel-pick")" = "$lists" ]; then
    read -r _ package version <"$cache/kernel-pick"
  else
    package=$(apt-cache pkgnames linux-image-6.1. | grep -E '^linux-image-6\.1\.[0-9.-]+-amd64(-unsigned)?$' |
      sort -V | tail -n 1) || true
    [ -n "$package" ] || return 1
    version=$(apt-cache policy "$package" | sed -n 's/^  Candidate: //p')
    echo "$lists $package $version" >"$cache/kernel-pick"
  fi
  kernel_dir="$cache/kernel/${package}_$version"
}
if ! pick_kernel || [ ! -f "$kernel_dir/kernel" ]; then
  # Not cached: refresh apt's lists first, so the kernel fetched is the newest and still on the mirror.
  say "running apt-get update"
  apt-get update -q >&2 || say "apt-get update failed; going on with apt's lists as they are"
  pick_kernel || die "apt offers no linux-image-6.1.*-amd64 package (is Debian bookworm in the apt sources?)"
fi

# Kernel part: the kernel image, the wanted modules with their dependencies, and their insmod order.
if [ ! -f "$kernel_dir/kernel" ]; then
  say "downloading $package $version"
  extracted=$(mktemp -d "$cache/extract.XXXXXX")
  trap 'rm -rf "$extracted"' EXIT
  (cd "$extracted" && apt-get download -q -o APT::Sandbox::User=root "$package=$version" >&2)
  dpkg-deb -x "$extracted"/*.deb "$extracted"
  kver=$(ls "$extracted/lib/modules")
  depmod -b "$extracted" "$kver"
  rm -rf "$kernel_dir.tmp" && mkdir -p "$kernel_dir.tmp"
  # The bzImage's xz payload is the plain ELF kernel, which QEMU starts directly (PVH entry): that skips the
  # firmware's real-mode setup and the self-decompression, ~6 s of emulation per boot.
  vmlinuz="$extracted/boot/vmlinuz-$kver"
  payload=$(LC_ALL=C grep -m 1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1) || true
  if [ -n "$payload" ] && tail -c "+$((payload + 1))" "$vmlinuz" >"$extracted/payload.xz" &&
    xz -dc --single-stream "$extracted/payload.xz" >"$kernel_dir.tmp/kernel" &&
    [ "$(head -c 4 "$kernel_dir.tmp/kernel")" = $'\x7fELF' ]; then
    say "booting the uncompressed ELF kernel"
  else
    say "no xz payload in $vmlinuz; booting the bzImage"
    cp "$vmlinuz" "$kernel_dir.tmp/kernel"
  fi
  : >"$kernel_dir.tmp/modules"
  for module in "${modules_wanted[@]}"; do
    # One "insmod /path" line per module, dependencies first; builtin ones print "builtin …" and need nothing.
    modprobe -d "$extracted" -S "$kver" --show-depends "$module" | sed -n 's/^insmod \([^ ]*\).*/\1/p' |
      while read -r path; do
        guest_path=${path#"$extracted"}
        grep -qxF "$guest_path" "$kernel_dir.tmp/modules" && continue
        mkdir -p "$kernel_dir.tmp/tree$(dirname "$guest_path")"
        cp "$path" "$kernel_dir.tmp/tree$guest_path"
        echo "$guest_path" >>"$kernel_dir.tmp/modules"
      done
  done
  grep -q '/wireguard\.ko' "$kernel_dir.tmp/modules" || die "$package has no wireguard module"
  rm -rf "$kernel_dir" && mv "$kernel_dir.tmp" "$kernel_dir"
  # Older kernels are not needed any more.
  find "$cache/kernel" -mindepth 1 -maxdepth 1 -not -path "$kernel_dir" -exec rm -rf {} +
  rm -rf "$extracted" && trap - EXIT
  say "kernel $package $version: $(wc -l <"$kernel_dir/modules") modules"
fi

# Base archive, named by a hash of everything that goes into it.
# dash is /bin/sh: Debian's busybox sh runs its own applets before PATH, so `ip` would be busybox's cut-down one.
shell=$(command -v dash) || die "dash is missing"
# Debian's python3 (the one the tests run, tests/support/requirements.ts), not whichever python3 PATH finds first.
python=/usr/bin/python3
[ -x "$python" ] || die "$python is missing (apt-get install python3)"
python_stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
python_trees=("${python_stdlib#/}")
for package in grpc grpc_tools google/protobuf pkg_resources; do # pkg_resources: grpc_tools finds its .proto files
  dir=$("$python" -c "import ${package//\//.} as p, os; print(os.path.dirname(p.__file__))" 2>/dev/null) ||
    die "python3 cannot import ${package//\//.} (apt-get install python3-grpcio python3-grpc-tools)"
  python_trees+=("${dir#/}")
done
python_skip=(--exclude=test --exclude=idlelib --exclude=tkinter --exclude=turtledemo --exclude=ensurepip
  --exclude=lib2to3 --exclude='config-*' --exclude='_tkinter*' --exclude='_test*')
programs=("$shell" "$(command -v ip)" "$(command -v wg)" "$(command -v ping)" "$(command -v dmesg)"
  "$(command -v curl)" "$python" "$deno_bin")
mapfile -t python_modules < <(cd / && find "${python_trees[@]}" -path '*/config-*' -prune -o -name '*.so' -print)
# Indented lines only: with several files, ldd heads each one's list with its name.
mapfile -t libraries < <(ldd "${programs[@]}" "${python_modules[@]/#//}" | grep '^[[:space:]]' |
  grep -o '/[^ ]*\.so[^ ]*' | sort -u)
base_key=$(
  {
    echo "$package $version"
    sha256sum "${BASH_SOURCE[0]}" "$root/scripts/vm/init.sh"
    # Binaries change by replacement (package updates): their size and time say so without reading 100 MB.
    stat -L -c '%n %s %Y' "$busybox_bin" "${programs[@]}" "${libraries[@]}"
    (cd / && find "${python_trees[@]}" -printf '%p %s %T@\n')
  } | sha256sum | cut -c1-16
)
base="$cache/base-$base_key.cpio"
if [ ! -f "$base" ]; then
  say "packing base archive $base"
  staging=$(mktemp -d "$cache/staging.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  mkdir -p "$staging"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys,tmp,run,root,etc/siderolink-vm}
  cp "$busybox_bin" "$staging/bin/busybox"
  for applet in $("$busybox_bin" --list); do
    case $applet in busybox | sh | ip | ping | ping6) ;; *) ln -s busybox "$staging/bin/$applet" ;; esac
  done
  for program in "${programs[@]}"; do
    case $program in
      "$shell") target=/bin/sh ;;
      "$deno_bin") target=/usr/local/bin/deno ;;
      *) target=$program ;;
    esac
    mkdir -p "$staging$(dirname "$target")" && cp -L "$program" "$staging$target"
  done
  for library in "${libraries[@]}"; do
    mkdir -p "$staging$(dirname "$library")" && cp -L "$library" "$staging$library"
  done
  # Dereferenced: Debian links sitecustomize.py to /etc.
  tar -C / -chf - "${python_skip[@]}" "${python_trees[@]}" | tar -C "$staging" -xf -
  cp -a "$kernel_dir/tree/." "$staging/"
  cp "$kernel_dir/modules" "$staging/etc/siderolink-vm/modules"
  install -m 0755 "$root/scripts/vm/init.sh" "$staging/init"
  (cd "$staging" && find . -mindepth 1 | busybox cpio -o -H newc 2>/dev/null) >"$base.tmp"
  mv "$base.tmp" "$base"
  # Outdated bases can go: a run copies its base while holding the lock.
  find "$cache" -maxdepth 1 -name 'base-*.cpio*' -not -path "$base" -delete
  rm -rf "$staging" && trap - EXIT
fi

# Project archive: prepare the guest's DENO_DIR here (no network in the VM), then archive the paths as they are.
DENO_DIR="$cache/deno-dir" "$deno_bin" cache --frozen --quiet "$root"/tests/vm/*.ts "$root/cli.ts" \
  "$root/src/logs/store_worker.ts" >&2
{
  # Tracked files deleted in the work tree are left out.
  git -C "$root" ls-files -z --cached --others --exclude-standard | tr '\0' '\n' | sed "s|^|$root/|" |
    while read -r file; do if [ -e "$file" ] || [ -L "$file" ]; then echo "$file"; fi; done
  [ -d "$root/node_modules" ] && find "$root/node_modules"
  find "$cache/deno-dir"
} >"$output.list"
# Every parent folder gets its own entry, before what it holds, so the kernel can create the paths.
awk '{ path = $0; while (match(path, /\/[^\/]*$/) && RSTART > 1) { path = substr(path, 1, RSTART - 1); print path } }' \
  "$output.list" | sort -u | cat - "$output.list" | awk '!seen[$0]++' | sed 's|^/||' >"$output.sorted"
cp "$base" "$output"
(cd / && busybox cpio -o -H newc <"$output.sorted" 2>/dev/null) >>"$output"
rm -f "$output.list" "$output.sorted"
echo "$kernel_dir/kernel $output"

#!/usr/bin/env bash
# Installs the real Kubernetes control plane the Kubernetes-mode tests run: Debian's etcd-server, and kube-apiserver
# plus kubectl 1.20.2 built from Debian's `kubernetes` source package (Debian 12 ships no binaries of them) into
# ${SIDEROLINK_TOOLS:-/opt/siderolink-tools}/kubernetes/bin. The build takes minutes, once; a later run only checks
# the binaries' versions. Needs root for apt. Progress goes to stderr; a failing step prints its log's tail.
set -euo pipefail
version=1.20.2
tools=${SIDEROLINK_TOOLS:-/opt/siderolink-tools}
bin="$tools/kubernetes/bin"
go=/usr/lib/go-1.19/bin/go

say() { echo "install-kube-tools: $*" >&2; }

built() {
  [ "$("$bin/kube-apiserver" --version 2>/dev/null)" = "Kubernetes v$version" ] &&
    [ "$("$bin/kubectl" version --client --short 2>/dev/null)" = "Client Version: v$version" ]
}

# Installs the Debian packages given that are not installed yet.
apt_install() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { say "run as root to install: ${missing[*]}"; exit 1; }
  say "apt-get install ${missing[*]}"
  logged apt-get update -q
  DEBIAN_FRONTEND=noninteractive logged apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Runs a noisy command with its output in a log, printing the log's tail only when it fails.
logged() {
  local log
  log=$(mktemp)
  if "$@" >"$log" 2>&1; then
    rm -f "$log"
  else
    local code=$?
    say "failed ($code): $*"
    tail -n 40 "$log" >&2
    rm -f "$log"
    exit "$code"
  fi
}

apt_install etcd-server
built && exit 0

apt_install golang-1.19-go golang-github-modern-go-reflect2-dev dpkg-dev

# `apt-get source` needs a deb-src entry: add one beside the machine's Debian sources, same mirrors and suites.
if ! apt-cache showsrc kubernetes >/dev/null 2>&1; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    say "adding /etc/apt/sources.list.d/debian-src.sources"
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      >/etc/apt/sources.list.d/debian-src.sources
  elif [ -f /etc/apt/sources.list ]; then
    say "adding /etc/apt/sources.list.d/debian-src.list"
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/debian-src.list
  else
    say "no Debian sources file found to derive a deb-src entry from"
    exit 1
  fi
  logged apt-get update -q
fi

work=$(mktemp -d /var/tmp/siderolink-kube-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
say "fetching Debian's kubernetes source package"
logged apt-get source -q -o APT::Sandbox::User=root kubernetes
tree=$(find "$work" -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
[ -n "$tree" ] || { say "apt-get source left no kubernetes-* folder"; exit 1; }

# GOPATH mode: the tree's vendor/ (orig tarball) holds every dependency; modules would need the network.
export GO111MODULE=off CGO_ENABLED=0 GOPATH="$work/gopath" GOCACHE="$work/cache" GOFLAGS=
mkdir -p "$GOPATH/src/k8s.io"
ln -s "$tree" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# reflect2 1.0.1 uses the pre-Go-1.18 runtime map iterator and faults under watch load; 1.0.2 is Debian's.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2

# pkg/generated/openapi is generated, not shipped: run the vendored openapi-gen over the packages that ask for it,
# chosen as build/root/Makefile.generated_files's gen_openapi rule chooses them (staging named as vendor, without
# code-generator and sample-apiserver).
say "generating pkg/generated/openapi (openapi-gen)"
logged "$go" build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
inputs=$(find -H . \( -path ./_\* -o -path ./.\* -o -path ./vendor -o -path ./debian \) -prune -o \
  -type f -name '*.go' -print |
  xargs grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' |
  sed -e 's|^\./||' -e 's|^staging/src/|vendor/|' -e 's|/[^/]*$||' |
  grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
  LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
logged "$work/openapi-gen" --logtostderr -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
  -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$work/openapi-violations.report"

say "building kube-apiserver and kubectl v$version (several minutes on 2 cores)"
package=k8s.io/kubernetes/vendor/k8s.io
ldflags="-s -w"
for key in gitVersion=v$version gitMajor=1 gitMinor=20 gitTreeState=clean; do
  ldflags+=" -X $package/component-base/version.$key -X $package/client-go/pkg/version.$key"
done
mkdir -p "$work/out"
logged "$go" build -ldflags "$ldflags" -o "$work/out/" ./cmd/kube-apiserver ./cmd/kubectl

mkdir -p "$bin"
for program in kube-apiserver kubectl; do
  install -m 0755 "$work/out/$program" "$bin/.$program.new"
  mv -f "$bin/.$program.new" "$bin/$program"
done
built || { say "the built binaries do not report v$version"; exit 1; }
say "installed kube-apiserver and kubectl v$version in $bin"

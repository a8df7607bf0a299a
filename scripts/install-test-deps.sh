#!/usr/bin/env bash
# Installs the real components the tests drive: WireGuard tools and wireguard-go, iproute2 for namespaces,
# Python gRPC and h2 as independent clients, QEMU and busybox for the kernel-WireGuard VM, etcd and a kube-apiserver
# for the Kubernetes mode (install-kube-tools.sh: its own packages, and a build of minutes the first time; openssl
# makes the test certificates), Prometheus (and curl to ask it; curl is also an HTTP/1.1 client of the TLS Provision
# API) to scrape serve's metrics, debootstrap and Podman to build the container image (runc: crun refuses the hybrid
# cgroup layout some machines have), iperf3 for the WireGuard-over-gRPC benchmark. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
packages=(wireguard-tools wireguard-go iproute2 iputils-ping python3-grpcio python3-grpc-tools python3-h2
  qemu-system-x86 busybox-static kmod xz-utils jq openssl prometheus curl debootstrap podman runc iperf3)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "install-test-deps: run as root to install: ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The tests start their own Prometheus inside their namespaces; the packaged service, which systemd would start
  # listening on every address, is not wanted.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus || true
  fi
fi
./scripts/install-deno.sh >/dev/null
./scripts/install-kube-tools.sh

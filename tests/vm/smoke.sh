#!/bin/sh
# Guest side of the VM harness smoke test (run by tests/kernel_wireguard_test.ts inside the VM): proves the kernel's
# WireGuard works with the stock tools. Two namespaces joined by a veth, a kernel WireGuard interface in each set up
# with `ip` and `wg`, then ping6 through the tunnel and a completed handshake on both sides.
set -eu
umask 077 # the private keys below

ip link add wg0 type wireguard # in the initial namespace first: the module answers at all
ip link del wg0

ip netns add a
ip netns add b
ip link add veth-a netns a type veth peer name veth-b netns b
for side in a b; do
  case $side in a) n=1 ;; b) n=2 ;; esac
  ip -n $side link set lo up
  ip -n $side -6 addr add "fd00:1::$n/64" dev veth-$side nodad
  ip -n $side link set veth-$side up
  wg genkey >/tmp/$side.key
  wg pubkey </tmp/$side.key >/tmp/$side.pub
  ip -n $side link add wg0 type wireguard
  ip -n $side link set wg0 mtu 1280
  ip -n $side -6 addr add "fd00:2::$n/64" dev wg0 nodad
done
ip netns exec a wg set wg0 private-key /tmp/a.key listen-port 51820 \
  peer "$(cat /tmp/b.pub)" endpoint "[fd00:1::2]:51821" allowed-ips fd00:2::2/128
ip netns exec b wg set wg0 private-key /tmp/b.key listen-port 51821 \
  peer "$(cat /tmp/a.pub)" endpoint "[fd00:1::1]:51820" allowed-ips fd00:2::1/128
ip -n a link set wg0 up
ip -n b link set wg0 up

# The first packets may be lost while the handshake completes: try a few times.
attempt=0
until ip netns exec a ping -6 -c 1 -W 2 fd00:2::2 >/dev/null; do
  attempt=$((attempt + 1))
  [ $attempt -lt 5 ] || { echo "smoke: no ping6 reply through the tunnel after $attempt attempts"; exit 1; }
done
ip netns exec a ping -6 -c 3 -i 0.2 fd00:2::2

for side in a b; do
  handshake=$(ip netns exec $side wg show wg0 latest-handshakes | cut -f2)
  [ "$handshake" -gt 0 ] || { echo "smoke: no handshake recorded in namespace $side"; exit 1; }
done
ip netns exec a wg show wg0
echo "smoke: kernel WireGuard tunnel works"

#!/usr/bin/env bash
# Boots Debian's kernel under QEMU (software emulation) with the test initramfs and runs one command inside, from
# the project folder; streams the serial console to stdout and exits with the guest command's exit code.
#
# Usage: scripts/vm/run.sh COMMAND [ARG...]      e.g. scripts/vm/run.sh sh tests/vm/smoke.sh
#
# Exit codes: the guest command's own; 125 when the VM did not report one (boot failure, crash, or the hard timeout
# SIDEROLINK_VM_TIMEOUT, default 300 s, so a hung guest cannot hang CI). The command travels on the kernel command
# line after `--`, so its words may not contain blanks or quotes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${SIDEROLINK_VM_CACHE:-/var/cache/siderolink-vm}
timeout_s=${SIDEROLINK_VM_TIMEOUT:-300}

say() { echo "vm/run: $*" >&2; }
[ $# -gt 0 ] || { say "usage: scripts/vm/run.sh COMMAND [ARG...]"; exit 2; }
for word in "$root" "$cache" "$@"; do # the paths travel on the kernel command line too
  case $word in
    *[[:space:]\"\'\\]* | "")
      say "argument '$word' is empty or has blanks, quotes or backslashes: the kernel command line cannot carry it"
      exit 2
      ;;
  esac
done
command -v qemu-system-x86_64 >/dev/null || {
  say "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
  exit 2
}

mkdir -p "$cache/run"
find "$cache/run" -mindepth 1 -maxdepth 1 -mmin +120 -exec rm -rf {} + # left by runs that were killed
work=$(mktemp -d "$cache/run/XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s%N)
boot_files=$("$root/scripts/vm/build-initramfs.sh" "$work/initrd.img") || { say "build-initramfs.sh failed"; exit 125; }
read -r kernel initrd <<<"$boot_files"
built=$(date +%s%N)
say "initramfs ready in $(((built - started) / 1000000)) ms; booting (timeout ${timeout_s}s)"

nonce=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
append="console=ttyS0 quiet panic=-1 SIDEROLINK_PROJECT=$root SIDEROLINK_VM_NONCE=$nonce DENO_DIR=$cache/deno-dir"
append+=" NO_COLOR=1 -- $*"
# Stdin stays attached so a person can type into the console; the harness gives it /dev/null.
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 2048 -nographic -nic none \
  -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$append" | tee "$work/console.log"
qemu_status=${PIPESTATUS[0]}
set -e
finished=$(date +%s%N)
code=$(tr -d '\r' <"$work/console.log" | sed -n "s/^.*SIDEROLINK-VM-EXIT $nonce \([0-9]*\)\$/\1/p" | tail -n 1)
if [ -z "$code" ]; then
  [ "$qemu_status" = 124 ] && say "no exit report: the VM hit the ${timeout_s}s timeout"
  say "no exit report from the guest (qemu exited $qemu_status)"
  exit 125
fi
say "guest command exited $code; VM ran $(((finished - built) / 1000000)) ms"
exit "$code"

#!/bin/sh
# PID 1 of the test VM (build-initramfs.sh copies it to /init; /bin/sh there is dash, so PATH decides which `ip`
# runs, not busybox). Mounts the pseudo file systems, loads the WireGuard module and its dependencies, runs the command
# given after `--` on the kernel command line from the project folder, prints a marker line with its exit code (and
# the run's nonce, so no guest output can fake it), and powers off. The host passes SIDEROLINK_PROJECT,
# SIDEROLINK_VM_NONCE, DENO_DIR and NO_COLOR as `key=value` kernel parameters, which reach init as environment.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root WG_COLOR_MODE=never

finish() {
  echo "SIDEROLINK-VM-EXIT $SIDEROLINK_VM_NONCE $1"
  sync
  poweroff -f
}

mount -t devtmpfs dev /dev
# The kernel may have found no /dev/console in the archive: take the console now that devtmpfs provides it.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
# No tmpfs on /tmp: the initramfs is already in RAM, and the project (a CI clone) may itself live under /tmp.
mkdir -p /tmp && chmod 1777 /tmp
mount -t tmpfs run /run
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm

while read -r module; do
  insmod "$module" || { echo "init: insmod $module failed"; finish 125; }
done </etc/siderolink-vm/modules
ip link set lo up || finish 125

[ $# -gt 0 ] || { echo "init: no command after -- on the kernel command line"; finish 125; }
cd "$SIDEROLINK_PROJECT" || finish 125
echo "SIDEROLINK-VM-START $SIDEROLINK_VM_NONCE uptime=$(cut -d' ' -f1 /proc/uptime)s"
"$@"
finish $?

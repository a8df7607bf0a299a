/**
 * Runs a container image's entrypoint where no container can run: chrooted into an overlay over the image's mounted
 * filesystem (`podman image mount`), so the image itself stays unchanged; with a `/dev` holding only the usual
 * character devices and `/dev/net/tun` (what a pod gets with the TUN device from the host), a fresh `/proc`, host
 * folders bound in as volumes, and exactly the image's environment. Each run happens in a private mount namespace
 * made for that one process, so all its mounts disappear when the process and its children (wireguard-go) exit,
 * also when a test fails half-way.
 *
 * @module
 */

/** What one run of the image needs. */
export interface ImageRun {
  /** The image's filesystem, from `podman image mount`. */
  rootfs: string;
  /** A folder for the overlays' upper layers; each run gets its own below it. */
  scratch: string;
  /** The image's `Config.Env` (`NAME=value` entries). */
  env: string[];
  /** The image's `Config.Entrypoint`. */
  entrypoint: string[];
  /** Volumes: path in the image → host folder. */
  volumes?: Record<string, string>;
}

let runs = 0;

// $1 the image's filesystem, $2 this run's folder, then pairs of (path in the image, host folder) up to `--`, then
// the command.
const SCRIPT = `set -eu
rootfs=$1
run=$2
root=$run/root
shift 2
mkdir -p "$run/upper" "$run/work" "$root"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$root"
mount -t tmpfs -o mode=0755,nosuid,size=64k dev "$root/dev"
mkdir "$root/dev/net"
for node in null zero full random urandom tty net/tun; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
mount -t proc proc "$root/proc"
while [ "$1" != -- ]; do
  mkdir -p "$root$1"
  mount --bind "$2" "$root$1"
  shift 2
done
shift
exec "$@"
`;

/**
 * The command line (program first) that runs the image's entrypoint as described above; append the entrypoint's
 * arguments. Needs root, `unshare` (util-linux) and overlayfs.
 */
export function imageCommand(image: ImageRun): string[] {
  const volumes = Object.entries(image.volumes ?? {}).flat();
  const run = `${image.scratch}/run-${runs++}`;
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    SCRIPT,
    "image-run",
    image.rootfs,
    run,
    ...volumes,
    "--",
    "env",
    "-i",
    ...image.env,
    "chroot",
    `${run}/root`,
    ...image.entrypoint,
  ];
}

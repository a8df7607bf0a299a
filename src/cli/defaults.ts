/**
 * The subcommands' defaults and the environment variable of each flag. Free of commander, so that a plain
 * `peers` (src/cli/peers_print.ts) starts without loading it.
 *
 * @module
 */

/** Default folder of the embedded state store. */
export const DEFAULT_STATE_DIR = "/var/lib/siderolink";

/** Default path of the control socket through which `peers` and `logs` ask the daemon. */
export const DEFAULT_CONTROL_SOCKET = "/run/siderolink/siderolink.sock";

/** Default TCP port of the kernel-log receiver on the server's tunnel address. */
export const DEFAULT_LOG_PORT = 4001;

/** Default port of the event sink on the server's tunnel address. */
export const DEFAULT_EVENT_PORT = 4002;

/** Turns a long flag name into its environment variable: `state-dir` → `SIDEROLINK_STATE_DIR`. */
export function envName(flag: string): string {
  return `SIDEROLINK_${flag.replaceAll("-", "_").toUpperCase()}`;
}

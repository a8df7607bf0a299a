/**
 * Printing what `peers` shows, and the plain `peers` that only asks the daemon, recognised without commander:
 * at 10,000 peers `peers` is measured against `wg show`, and loading commander alone (through the runtime's
 * CommonJS support) costs about half of what `wg` takes in all.
 *
 * @module
 */

import { controlBody } from "../control/client.ts";
import type { PeersFormat } from "../control/peers_format.ts";
import { writeAllSync } from "../output.ts";
import { DEFAULT_CONTROL_SOCKET, envName } from "./defaults.ts";

/** What a `peers` that asks the daemon needs. */
export interface DaemonPeersRequest {
  format: PeersFormat;
  controlSocket: string;
}

/**
 * The request of `peers [--json | --dump] [--control-socket PATH]` as `args` give it (with `env` for the socket's
 * variable), or undefined for anything else: help, `--direct`, a global option, a typo, a value that commander
 * could read otherwise or would refuse. Commander then parses the same arguments, so this only ever takes the
 * plain cases, where both read the same.
 */
export function plainPeersRequest(args: string[], env: Record<string, string>): DaemonPeersRequest | undefined {
  // Variables of the other flags go through commander, which checks them (a wrong log level is an error).
  if (args[0] !== "peers" || ["log-level", "wireguard-backend"].some((flag) => env[envName(flag)] !== undefined)) {
    return undefined;
  }
  let format: PeersFormat = "table", controlSocket = env[envName("control-socket")] ?? DEFAULT_CONTROL_SOCKET;
  for (let index = 1; index < args.length; index++) {
    const arg = args[index];
    if ((arg === "--json" || arg === "--dump") && format === "table") format = arg === "--json" ? "json" : "dump";
    else if (arg === "--control-socket" && /^[^-]/.test(args[index + 1] ?? "")) controlSocket = args[++index];
    else if (/^--control-socket=[^-]/.test(arg)) controlSocket = arg.slice("--control-socket=".length);
    else return undefined;
  }
  return controlSocket === "" ? undefined : { format, controlSocket };
}

/** Prints the daemon's `peers` text: the daemon formats it (`?format=`), so its bytes go to stdout as they come. */
export async function printFromDaemon(request: DaemonPeersRequest): Promise<void> {
  const colours = Deno.stdout.isTerminal() ? "&colour=1" : "";
  await toStdout(async () => {
    const path = `/v1/peers?format=${request.format}${colours}`;
    for await (const bytes of controlBody(request.controlSocket, path, "or use --direct as root")) {
      writeAllSync(Deno.stdout, bytes);
    }
  });
}

/** Runs `write`, which writes to stdout; a reader that went away (`| head`) ends it without a word. */
export async function toStdout(write: () => void | Promise<void>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/**
 * `siderolink peers`: the WireGuard peers joined with the machines they belong to, from the running daemon
 * (or, as root with `--direct`, from the device and the state store themselves).
 *
 * @module
 */

import { Command, Option } from "commander";
import { formatPeers, type PeersFormat } from "../control/peers_format.ts";
import { writeAllSync } from "../output.ts";
import { printFromDaemon, toStdout } from "./peers_print.ts";
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR, envName } from "./defaults.ts";

/** The options of `peers`. */
export interface PeersOptions {
  json?: boolean;
  dump?: boolean;
  controlSocket: string;
  direct?: boolean;
  stateDir: string;
  interface: string;
  wireguardBackend: "auto" | "kernel" | "userspace";
}

/** Builds the `peers` subcommand. */
export function peersCommand(): Command {
  return new Command("peers")
    .description("list WireGuard peers with the server each belongs to")
    .addOption(new Option("--json", "an array of objects with full values").conflicts("dump"))
    .addOption(new Option("--dump", "tab-separated, `wg show <iface> dump` peer columns plus the server UUID"))
    .addOption(
      new Option("--control-socket <path>", "the daemon's control socket").default(DEFAULT_CONTROL_SOCKET)
        .env(envName("control-socket")),
    )
    .option("--direct", "read the device and the state store directly (root, on the daemon's host)")
    .addOption(new Option("--state-dir <dir>", "with --direct").default(DEFAULT_STATE_DIR).env(envName("state-dir")))
    .addOption(new Option("--interface <name>", "with --direct").default("siderolink").env(envName("interface")))
    .addOption(
      new Option("--wireguard-backend <backend>", "with --direct").choices(["auto", "kernel", "userspace"])
        .default("auto").env(envName("wireguard-backend")),
    )
    .action(async (options: PeersOptions) => {
      const format: PeersFormat = options.json ? "json" : options.dump ? "dump" : "table";
      if (!options.direct) return await printFromDaemon({ format, controlSocket: options.controlSocket });
      // The state store and the device code load only for --direct: asking the daemon needs neither.
      const report = await (await import("./peers_direct.ts")).readDirect(options);
      const text = formatPeers(report, format, new Date(), Deno.stdout.isTerminal());
      // One write of the whole text: console.log costs as much again at 10,000 peers.
      await toStdout(() => writeAllSync(Deno.stdout, new TextEncoder().encode(text)));
    });
}

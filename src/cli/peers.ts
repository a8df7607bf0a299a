/**
 * `siderolink peers`: the WireGuard peers joined with the machines they belong to, from the running daemon
 * (or, as root with `--direct`, from the device and the state store themselves).
 *
 * @module
 */

import { Command, Option } from "commander";
import { colour, formatAge, formatBytes, table } from "../control/format.ts";
import { controlGet } from "../control/client.ts";
import type { PeersReport, PeerView } from "../control/peers.ts";
import { writeAllSync } from "../output.ts";
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR, envName } from "./options.ts";

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
      // The state store and the device code load only for --direct: asking the daemon needs neither.
      const report = options.direct
        ? await (await import("./peers_direct.ts")).readDirect(options)
        : await readFromDaemon(options.controlSocket);
      const now = new Date();
      const text = options.json
        ? JSON.stringify(report.peers, null, 2)
        : options.dump
        ? report.peers.map(dumpLine).join("\n")
        : peersTable(report, now, Deno.stdout.isTerminal());
      try {
        // One write of the whole text: console.log costs as much again at 10,000 peers.
        writeAllSync(Deno.stdout, new TextEncoder().encode(text === "" ? "" : `${text}\n`));
      } catch (error) {
        if (error instanceof Deno.errors.BrokenPipe) return; // the reader went away (`| head`): nothing to say
        throw error;
      }
    });
}

async function readFromDaemon(socket: string): Promise<PeersReport> {
  return await (await controlGet(socket, "/v1/peers", "or use --direct as root")).json() as PeersReport;
}

/** One `wg show dump` peer line (public key, preshared key, endpoint, allowed IPs, handshake, rx, tx, keepalive) plus the UUID. */
export function dumpLine(peer: PeerView): string {
  return [
    peer.publicKey,
    "(none)",
    peer.endpoint ?? "(none)",
    peer.allowedIPs.join(",") || "(none)",
    peer.lastHandshake ? Math.floor(Date.parse(peer.lastHandshake) / 1000) : 0,
    peer.receiveBytes,
    peer.transmitBytes,
    peer.persistentKeepalive || "off",
    peer.serverUuid ?? "unknown",
  ].join("\t");
}

/** The table for people. */
export function peersTable(report: PeersReport, now: Date, colours: boolean): string {
  const stateColour = { up: "green", down: "red", never: "yellow" } as const;
  const rows = report.peers.map((peer) => [
    peer.serverUuid ?? "unknown",
    peer.machine ?? "",
    peer.cluster ?? "",
    peer.address ?? peer.allowedIPs.join(","),
    `${peer.publicKey.slice(0, 10)}…`,
    peer.endpoint ?? "",
    peer.transport ?? "",
    peer.lastHandshake ? formatAge(new Date(peer.lastHandshake), now) : "never",
    `${formatBytes(peer.receiveBytes)} / ${formatBytes(peer.transmitBytes)}`,
    colour(peer.state, stateColour[peer.state], colours),
  ]);
  const { name, backend, listenPort, publicKey } = report.interface;
  const heading = `interface ${name} (${backend}), listening on ${listenPort}, public key ${publicKey ?? "(none)"}, ` +
    `${report.peers.length} peers`;
  const header = [
    "SERVER UUID",
    "MACHINE",
    "CLUSTER",
    "ADDRESS",
    "PUBLIC KEY",
    "ENDPOINT",
    "TRANSPORT",
    "LATEST HANDSHAKE",
    "RX / TX",
    "STATE",
  ];
  return `${heading}\n${table(header, rows)}`;
}

/**
 * `siderolink peers`: the WireGuard peers joined with the machines they belong to, from the running daemon
 * (or, as root with `--direct`, from the device and the state store themselves).
 *
 * @module
 */

import { Command, Option } from "commander";
import { colour, formatAge, formatBytes, table } from "../control/format.ts";
import { controlGet } from "../control/client.ts";
import { type PeersReport, peersReport, type PeerView } from "../control/peers.ts";
import { MachineRegistry } from "../machines/registry.ts";
import { MachineStore } from "../machines/store.ts";
import { SqliteState } from "../state/sqlite.ts";
import { openDevice } from "../wireguard/select.ts";
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR, envName } from "./options.ts";

interface PeersOptions {
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
      const report = options.direct ? await readDirect(options) : await readFromDaemon(options.controlSocket);
      const now = new Date();
      if (options.json) console.log(JSON.stringify(report.peers, null, 2));
      else if (options.dump) { for (const peer of report.peers) console.log(dumpLine(peer)); }
      else console.log(peersTable(report, now, Deno.stdout.isTerminal()));
    });
}

async function readFromDaemon(socket: string): Promise<PeersReport> {
  return await (await controlGet(socket, "/v1/peers", "or use --direct as root")).json() as PeersReport;
}

async function readDirect(options: PeersOptions): Promise<PeersReport> {
  console.error(`note: reading ${options.interface} and ${options.stateDir} directly, not asking the daemon`);
  using state = SqliteState.open(options.stateDir, "read");
  const machines = new MachineStore(state);
  const device = openDevice(options.wireguardBackend, options.interface);
  try {
    const records = machines.list();
    const registry = new MachineRegistry(records, new Map());
    return peersReport(await device.read(), device.backend, records, registry.identityOf.bind(registry), new Date());
  } finally {
    await device.close();
  }
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

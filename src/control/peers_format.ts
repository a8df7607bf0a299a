/**
 * The text `siderolink peers` prints: the table, `--json` and `--dump`. The daemon formats it (`/v1/peers?format=`)
 * so that the CLI only copies bytes to stdout; `--direct` formats the report it reads itself with the same code.
 *
 * @module
 */

import { colour, formatAge, formatBytes, table } from "./format.ts";
import type { PeersReport, PeerView } from "./peers.ts";

/** The forms of `peers`' output. */
export const PEERS_FORMATS = ["table", "json", "dump"] as const;

/** One of {@link PEERS_FORMATS}. */
export type PeersFormat = typeof PEERS_FORMATS[number];

/**
 * The whole output of `peers` in `format`, each line ending in a newline (nothing at all for a `dump` of no
 * peers); the table's ages count from `now`, its states are coloured when `colours`.
 *
 * @example
 * ```ts
 * formatPeers(report, "json", new Date(), false); // "[\n  {\n    \"serverUuid\": …"
 * ```
 */
export function formatPeers(report: PeersReport, format: PeersFormat, now: Date, colours: boolean): string {
  const text = format === "json"
    ? JSON.stringify(report.peers, null, 2)
    : format === "dump"
    ? report.peers.map(dumpLine).join("\n")
    : peersTable(report, now, colours);
  return text === "" ? "" : `${text}\n`;
}

/** One `wg show dump` peer line (public key, preshared key, endpoint, allowed IPs, handshake, rx, tx, keepalive) plus the UUID. */
function dumpLine(peer: PeerView): string {
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

const STATE_COLOUR = { up: "green", down: "red", never: "yellow" } as const;

const TABLE_HEADER = [
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

/** The table for people. */
function peersTable(report: PeersReport, now: Date, colours: boolean): string {
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
    colour(peer.state, STATE_COLOUR[peer.state], colours),
  ]);
  const { name, backend, listenPort, publicKey } = report.interface;
  const heading = `interface ${name} (${backend}), listening on ${listenPort}, public key ${publicKey ?? "(none)"}, ` +
    `${report.peers.length} peers`;
  return `${heading}\n${table(TABLE_HEADER, rows)}`;
}

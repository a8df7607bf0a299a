/**
 * The operator's view of the WireGuard peers: each device peer joined with the machine that owns its key.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { formatKey } from "../keys.ts";
import type { MachineDirectory } from "../machines/directory.ts";
import type { MachineIdentity } from "../machines/identity.ts";
import type { MachineRecord } from "../machines/store.ts";
import { type Transport, transportOf } from "../tunnel/endpoint.ts";
import type { Device, DeviceInfo } from "../wireguard/device.ts";
import { formatPeers, PEERS_FORMATS, type PeersFormat } from "./peers_format.ts";
import type { ControlRoute } from "./server.ts";

/** A peer counts as down after this long without a handshake (PROTOCOL.md §7). */
export const PEER_DOWN_AFTER_MS = 275_000;

/** A peer's state: `up` under {@link PEER_DOWN_AFTER_MS} since its last handshake, else `down`, or `never`. */
export type PeerState = "up" | "down" | "never";

/**
 * The state of a peer whose last handshake was at `lastHandshake` (undefined: none yet), at `now`.
 *
 * @example
 * ```ts
 * peerState(new Date(Date.now() - 60_000), new Date()); // "up"
 * ```
 */
export function peerState(lastHandshake: Date | undefined, now: Date): PeerState {
  if (!lastHandshake) return "never";
  return now.getTime() - lastHandshake.getTime() < PEER_DOWN_AFTER_MS ? "up" : "down";
}

/** One peer as `peers` shows it; times in RFC 3339, bytes as integers. */
export interface PeerView {
  serverUuid?: string;
  namespace?: string;
  cluster?: string;
  metalMachine?: string;
  machine?: string;
  /** The machine's SideroLink address, bare. */
  address?: string;
  publicKey: string;
  endpoint?: string;
  /** How the peer reaches WireGuard (from its endpoint): `udp`, or `grpc` through a WireGuard-over-gRPC stream. */
  transport?: Transport;
  lastHandshake?: string;
  receiveBytes: number;
  transmitBytes: number;
  persistentKeepalive: number;
  allowedIPs: string[];
  state: PeerState;
}

/** The device and its peers, as the control API's `/v1/peers` answers. */
export interface PeersReport {
  interface: { name: string; backend: string; publicKey?: string; listenPort: number };
  peers: PeerView[];
}

/**
 * Joins the device's peers with the machine records (by public key), most recent handshake first, peers that
 * never completed one last.
 *
 * @example
 * ```ts
 * const report = peersReport(await device.read(), device.backend, machines.list(), registry.identityOf, new Date());
 * ```
 */
export function peersReport(
  info: DeviceInfo,
  backend: string,
  records: readonly MachineRecord[],
  identityOf: (uuid: string, record: MachineRecord) => MachineIdentity,
  now: Date,
): PeersReport {
  const byKey = new Map<string, MachineRecord>();
  for (const record of records) if (record.publicKey) byKey.set(record.publicKey, record);
  const peers = info.peers.map((peer): PeerView => {
    const publicKey = formatKey(peer.publicKey);
    const record = byKey.get(publicKey);
    // Fields are set only when they have a value (JSON output leaves absent ones out), without a pass to drop them.
    const view = {} as PeerView;
    if (record) {
      const identity = identityOf(record.uuid, record);
      view.serverUuid = identity.serverUuid;
      if (identity.namespace !== undefined) view.namespace = identity.namespace;
      if (identity.cluster !== undefined) view.cluster = identity.cluster;
      if (identity.metalMachine !== undefined) view.metalMachine = identity.metalMachine;
      if (identity.machine !== undefined) view.machine = identity.machine;
      view.address = record.address;
    }
    view.publicKey = publicKey;
    if (peer.endpoint !== undefined) {
      view.endpoint = peer.endpoint;
      view.transport = transportOf(peer.endpoint);
    }
    if (peer.lastHandshake) view.lastHandshake = peer.lastHandshake.toISOString();
    view.receiveBytes = peer.receiveBytes;
    view.transmitBytes = peer.transmitBytes;
    view.persistentKeepalive = peer.persistentKeepaliveInterval;
    view.allowedIPs = peer.allowedIPs;
    view.state = peerState(peer.lastHandshake, now);
    return view;
  });
  // RFC 3339 times in UTC compare as text; a plain comparison, as localeCompare costs 5 ms at 10,000 peers.
  peers.sort((a, b) => {
    const left = b.lastHandshake ?? "", right = a.lastHandshake ?? "";
    return left < right ? -1 : left > right ? 1 : 0;
  });
  return {
    interface: {
      name: info.name,
      backend,
      publicKey: info.publicKey && formatKey(info.publicKey),
      listenPort: info.listenPort,
    },
    peers,
  };
}

/**
 * The control API's `/v1/peers`: the report of `device` and `directory` now, or with `?format=` (one of
 * {@link PEERS_FORMATS}, `&colour=1` for a terminal) the very text `peers` prints, so that the CLI only copies it
 * to stdout. Its `Server-Timing` header gives the milliseconds of each stage (`device`: the read, `join`, then
 * `json` or `format`), which the benchmark reports at fleet size.
 */
export function peersRoute(device: Device, directory: MachineDirectory): ControlRoute {
  return async (url) => {
    const format = url.searchParams.get("format");
    if (format !== null && !(PEERS_FORMATS as readonly string[]).includes(format)) {
      throw new UserError(`format "${format}" is not one of ${PEERS_FORMATS.join(", ")}`);
    }
    const started = performance.now();
    const info = await device.read();
    const read = performance.now();
    const now = new Date();
    const report = peersReport(
      info,
      device.backend,
      directory.list(),
      (_uuid, record) => directory.identityOf(record),
      now,
    );
    const joined = performance.now();
    const body = format === null
      ? JSON.stringify(report)
      : formatPeers(report, format as PeersFormat, now, url.searchParams.get("colour") === "1");
    const done = performance.now();
    const timing = [["device", read - started], ["join", joined - read], [format ? "format" : "json", done - joined]]
      .map(([name, ms]) => `${name};dur=${(ms as number).toFixed(1)}`).join(", ");
    const type = format === null || format === "json" ? "application/json" : "text/plain; charset=utf-8";
    return new Response(body, { headers: { "content-type": type, "server-timing": timing } });
  };
}

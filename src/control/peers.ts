/**
 * The operator's view of the WireGuard peers: each device peer joined with the machine that owns its key.
 *
 * @module
 */

import { formatKey } from "../keys.ts";
import type { MachineIdentity } from "../machines/identity.ts";
import type { MachineRecord } from "../machines/store.ts";
import { type Transport, transportOf } from "../tunnel/endpoint.ts";
import type { DeviceInfo } from "../wireguard/device.ts";

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
  const byKey = new Map(records.filter((record) => record.publicKey).map((record) => [record.publicKey!, record]));
  const peers = info.peers.map((peer): PeerView => {
    const publicKey = formatKey(peer.publicKey);
    const record = byKey.get(publicKey);
    const identity = record ? identityOf(record.uuid, record) : undefined;
    const handshake = peer.lastHandshake;
    return {
      ...(identity && {
        serverUuid: identity.serverUuid,
        namespace: identity.namespace,
        cluster: identity.cluster,
        metalMachine: identity.metalMachine,
        machine: identity.machine,
        address: record!.address,
      }),
      publicKey,
      endpoint: peer.endpoint,
      transport: transportOf(peer.endpoint),
      lastHandshake: handshake?.toISOString(),
      receiveBytes: peer.receiveBytes,
      transmitBytes: peer.transmitBytes,
      persistentKeepalive: peer.persistentKeepaliveInterval,
      allowedIPs: peer.allowedIPs,
      state: peerState(handshake, now),
    };
  });
  peers.sort((a, b) => (b.lastHandshake ?? "").localeCompare(a.lastHandshake ?? ""));
  return {
    interface: {
      name: info.name,
      backend,
      publicKey: info.publicKey && formatKey(info.publicKey),
      listenPort: info.listenPort,
    },
    peers: peers.map(dropUndefined),
  };
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

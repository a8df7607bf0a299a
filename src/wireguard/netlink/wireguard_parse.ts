/**
 * Parsing the WG_CMD_GET_DEVICE dump of the "wireguard" generic netlink family. The kernel spreads a large
 * device over several messages: the first has the device's attributes, each message has more peers, and a peer
 * whose allowed IPs did not fit is repeated in the next message with only its public key and the rest of its
 * allowed IPs. Peers are merged by public key.
 *
 * @module
 */

import type { DeviceInfo, Peer } from "../device.ts";
import { genlAttributes } from "./genetlink.ts";
import { decodeSockaddr, formatCidr } from "./inet.ts";
import { type Attribute, type NetlinkMessage, parseAttributes, read } from "./parse.ts";
import { WG_KEY_LEN, WGALLOWEDIP_A, WGDEVICE_A, WGPEER_A } from "./wireguard.ts";

function key(value: Uint8Array, what: string): Uint8Array {
  if (value.length !== WG_KEY_LEN) throw new Error(`${what} has ${value.length} bytes, expected ${WG_KEY_LEN}`);
  return value.slice();
}

function allowedIP(nest: Attribute): string {
  let address: Uint8Array | undefined, prefixLength: number | undefined;
  for (const { type, value } of parseAttributes(nest.value)) {
    if (type === WGALLOWEDIP_A.IPADDR) address = value.slice();
    else if (type === WGALLOWEDIP_A.CIDR_MASK) prefixLength = read.u8(value, "WGALLOWEDIP_A_CIDR_MASK");
  }
  if (!(address?.length === 4 || address?.length === 16) || prefixLength === undefined) {
    throw new Error("WireGuard dump: an allowed IP without a 4- or 16-byte address and a prefix length");
  }
  return formatCidr({ address, prefixLength });
}

function lastHandshake(value: Uint8Array): Date | undefined {
  // struct __kernel_timespec { s64 tv_sec; s64 tv_nsec; }; all zero when no handshake completed.
  if (value.length < 16) throw new Error(`WGPEER_A_LAST_HANDSHAKE_TIME has ${value.length} bytes, expected 16`);
  const data = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const seconds = Number(data.getBigInt64(0, true)), nanoseconds = Number(data.getBigInt64(8, true));
  return seconds === 0 && nanoseconds === 0 ? undefined : new Date(seconds * 1000 + Math.floor(nanoseconds / 1e6));
}

function parsePeer(nest: Attribute): Peer {
  const peer: Partial<Peer> & { allowedIPs: string[] } = {
    receiveBytes: 0,
    transmitBytes: 0,
    persistentKeepaliveInterval: 0,
    allowedIPs: [],
  };
  for (const { type, value } of parseAttributes(nest.value)) {
    switch (type) {
      case WGPEER_A.PUBLIC_KEY:
        peer.publicKey = key(value, "WGPEER_A_PUBLIC_KEY");
        break;
      case WGPEER_A.ENDPOINT:
        peer.endpoint = decodeSockaddr(value);
        break;
      case WGPEER_A.LAST_HANDSHAKE_TIME:
        peer.lastHandshake = lastHandshake(value);
        break;
      case WGPEER_A.RX_BYTES:
        peer.receiveBytes = read.u64(value, "WGPEER_A_RX_BYTES");
        break;
      case WGPEER_A.TX_BYTES:
        peer.transmitBytes = read.u64(value, "WGPEER_A_TX_BYTES");
        break;
      case WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL:
        peer.persistentKeepaliveInterval = read.u16(value, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL");
        break;
      case WGPEER_A.ALLOWEDIPS:
        for (const entry of parseAttributes(value)) peer.allowedIPs.push(allowedIP(entry));
        break;
    }
  }
  if (!peer.publicKey) throw new Error("WireGuard dump: a peer without a public key");
  return peer as Peer;
}

/** Builds the device from all messages of a WG_CMD_GET_DEVICE dump, merging peers split across messages. */
export function parseDevice(messages: NetlinkMessage[]): DeviceInfo {
  const device: DeviceInfo = { name: "", listenPort: 0, peers: [] };
  const peers = new Map<string, Peer>();
  for (const message of messages) {
    for (const { type, value } of parseAttributes(genlAttributes(message))) {
      switch (type) {
        case WGDEVICE_A.IFNAME:
          device.name = read.string(value);
          break;
        case WGDEVICE_A.PUBLIC_KEY:
          device.publicKey = key(value, "WGDEVICE_A_PUBLIC_KEY");
          break;
        case WGDEVICE_A.LISTEN_PORT:
          device.listenPort = read.u16(value, "WGDEVICE_A_LISTEN_PORT");
          break;
        case WGDEVICE_A.PEERS:
          for (const nest of parseAttributes(value)) {
            const peer = parsePeer(nest);
            const id = peer.publicKey.toHex();
            const known = peers.get(id);
            if (known) known.allowedIPs.push(...peer.allowedIPs);
            else peers.set(id, peer);
          }
          break;
      }
    }
  }
  device.peers = [...peers.values()];
  return device;
}

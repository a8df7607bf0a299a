/**
 * Requests of the "wireguard" generic netlink family, version 1 (attribute numbers from the kernel header
 * include/uapi/linux/wireguard.h): the WG_CMD_GET_DEVICE dump request and WG_CMD_SET_DEVICE, split over several
 * messages when a batch of peers does not fit in one. Replies are parsed in `wireguard_parse.ts`.
 *
 * @module
 */

import type { DeviceConfig, PeerConfig } from "../device.ts";
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from "./constants.ts";
import { attributeSize, type MessageBuilder } from "./encode.ts";
import { genlMessage } from "./genetlink.ts";
import { addressFamily, type Cidr, encodeSockaddr, parseCidr } from "./inet.ts";

/** Name of the generic netlink family. */
export const WG_GENL_NAME = "wireguard";
/** Version of the family this codec speaks. */
export const WG_GENL_VERSION = 1;
/** Length of every WireGuard key. */
export const WG_KEY_LEN = 32;

/** Commands (enum wg_cmd). */
export const WG_CMD_GET_DEVICE = 0;
/** Sets the device and its peers. */
export const WG_CMD_SET_DEVICE = 1;

/** Device attributes (enum wgdevice_attribute). */
export const WGDEVICE_A = {
  IFINDEX: 1,
  IFNAME: 2,
  PRIVATE_KEY: 3,
  PUBLIC_KEY: 4,
  FLAGS: 5,
  LISTEN_PORT: 6,
  FWMARK: 7,
  PEERS: 8,
} as const;
/** Device flag: remove every peer not in this request. */
export const WGDEVICE_F_REPLACE_PEERS = 1;

/** Peer attributes (enum wgpeer_attribute). */
export const WGPEER_A = {
  PUBLIC_KEY: 1,
  PRESHARED_KEY: 2,
  FLAGS: 3,
  ENDPOINT: 4,
  PERSISTENT_KEEPALIVE_INTERVAL: 5,
  LAST_HANDSHAKE_TIME: 6,
  RX_BYTES: 7,
  TX_BYTES: 8,
  ALLOWEDIPS: 9,
  PROTOCOL_VERSION: 10,
} as const;
/** Peer flag: remove this peer. */
export const WGPEER_F_REMOVE_ME = 1;
/** Peer flag: replace the peer's allowed IPs with those in the request. */
export const WGPEER_F_REPLACE_ALLOWEDIPS = 2;

/** Allowed-IP attributes (enum wgallowedip_attribute). */
export const WGALLOWEDIP_A = { FAMILY: 1, IPADDR: 2, CIDR_MASK: 3 } as const;

/**
 * Largest WG_CMD_SET_DEVICE message built: well under the default socket send buffer (~208 KiB) and the 64 KiB
 * limit of one nested attribute's length.
 */
export const MAX_SET_MESSAGE_BYTES = 32 * 1024;

// Fixed sizes: the nest header of a peer or an allowed IP, and one allowed IP's attributes.
const NEST = attributeSize(0);
const allowedIPSize = (cidr: Cidr): number =>
  NEST + attributeSize(2) + attributeSize(cidr.address.length) + attributeSize(1);

function checkKey(key: Uint8Array, what: string): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== WG_KEY_LEN) {
    throw new Error(`${what} must be ${WG_KEY_LEN} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`);
  }
  return key;
}

function checkPort(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new Error(`${what} ${value} is not 0–65535`);
  return value;
}

/** A peer change checked and converted to wire values, so that encoding cannot fail half-way. */
interface PeerWire {
  publicKey: Uint8Array;
  flags: number;
  endpoint?: Uint8Array;
  keepalive?: number;
  allowedIPs: Cidr[];
}

function peerWire(peer: PeerConfig): PeerWire {
  const publicKey = checkKey(peer.publicKey, "peer public key");
  const who = `peer ${publicKey.toBase64()}`;
  if (peer.remove) return { publicKey, flags: WGPEER_F_REMOVE_ME, allowedIPs: [] };
  const allowedIPs = (peer.allowedIPs ?? []).map((cidr) => parseCidr(cidr, `allowed IP of ${who}`));
  // Without a list there is nothing to replace the allowed IPs with: they stay as they are.
  const replace = peer.allowedIPs !== undefined && peer.replaceAllowedIPs !== false;
  return {
    publicKey,
    flags: replace ? WGPEER_F_REPLACE_ALLOWEDIPS : 0,
    endpoint: peer.endpoint === undefined ? undefined : encodeSockaddr(peer.endpoint, `endpoint of ${who}`),
    keepalive: peer.persistentKeepaliveInterval === undefined
      ? undefined
      : checkPort(peer.persistentKeepaliveInterval, `persistent keepalive interval of ${who}`),
    allowedIPs,
  };
}

/** WG_CMD_GET_DEVICE dump request for the device named `name`. */
export function encodeGetDevice(family: number, name: string): Uint8Array<ArrayBuffer> {
  return genlMessage(family, NLM_F_REQUEST | NLM_F_DUMP, WG_CMD_GET_DEVICE, WG_GENL_VERSION)
    .string(WGDEVICE_A.IFNAME, name)
    .finish();
}

/**
 * WG_CMD_SET_DEVICE messages applying `config` to device `name`, each at most `maxBytes` long. The first carries
 * the private key, listen port and WGDEVICE_F_REPLACE_PEERS; later ones only the name and more peers. A peer whose
 * allowed IPs do not fit continues in the next message with only its public key and the remaining allowed IPs,
 * without WGPEER_F_REPLACE_ALLOWEDIPS, so the continuation adds to what the first part set.
 *
 * @example
 * ```ts
 * for (const message of encodeSetDevice(familyId, "siderolink", { listenPort: 51821, peers })) connection.request(message, "set");
 * ```
 */
export function encodeSetDevice(
  family: number,
  name: string,
  config: DeviceConfig,
  maxBytes: number = MAX_SET_MESSAGE_BYTES,
): Uint8Array<ArrayBuffer>[] {
  const privateKey = config.privateKey === undefined ? undefined : checkKey(config.privateKey, "private key");
  const listenPort = config.listenPort === undefined ? undefined : checkPort(config.listenPort, "listen port");
  const peers = (config.peers ?? []).map(peerWire);

  const messages: Uint8Array<ArrayBuffer>[] = [];
  let builder = genlMessage(family, NLM_F_REQUEST | NLM_F_ACK, WG_CMD_SET_DEVICE, WG_GENL_VERSION)
    .string(WGDEVICE_A.IFNAME, name);
  if (privateKey) builder.binary(WGDEVICE_A.PRIVATE_KEY, privateKey);
  if (listenPort !== undefined) builder.u16(WGDEVICE_A.LISTEN_PORT, listenPort);
  if (config.replacePeers) builder.u32(WGDEVICE_A.FLAGS, WGDEVICE_F_REPLACE_PEERS);
  // Open nests, innermost last: [WGDEVICE_A_PEERS, peer, WGPEER_A_ALLOWEDIPS].
  let open: number[] = [];

  const fits = (size: number): boolean => builder.length + size <= maxBytes;
  const nextMessage = (): void => {
    for (const start of open.reverse()) builder.endNest(start);
    messages.push(builder.finish());
    builder = genlMessage(family, NLM_F_REQUEST | NLM_F_ACK, WG_CMD_SET_DEVICE, WG_GENL_VERSION)
      .string(WGDEVICE_A.IFNAME, name);
    open = [];
  };
  const beginPeer = (b: MessageBuilder, publicKey: Uint8Array): void => {
    if (open.length === 0) open.push(b.beginNest(WGDEVICE_A.PEERS));
    open.push(b.beginNest(0));
    b.binary(WGPEER_A.PUBLIC_KEY, publicKey);
  };

  for (const peer of peers) {
    const headerSize = NEST + attributeSize(WG_KEY_LEN) + (peer.flags ? attributeSize(4) : 0) +
      (peer.endpoint ? attributeSize(peer.endpoint.length) : 0) +
      (peer.keepalive === undefined ? 0 : attributeSize(2)) +
      (peer.allowedIPs.length ? NEST + allowedIPSize(peer.allowedIPs[0]) : 0);
    const needed = (open.length === 0 ? NEST : 0) + headerSize;
    if (!fits(needed)) nextMessage();
    if (!fits(NEST + headerSize)) throw new Error(`one peer does not fit in a ${maxBytes}-byte netlink message`);
    beginPeer(builder, peer.publicKey);
    if (peer.flags) builder.u32(WGPEER_A.FLAGS, peer.flags);
    if (peer.endpoint) builder.binary(WGPEER_A.ENDPOINT, peer.endpoint);
    if (peer.keepalive !== undefined) builder.u16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, peer.keepalive);
    if (peer.allowedIPs.length) open.push(builder.beginNest(WGPEER_A.ALLOWEDIPS));
    for (const cidr of peer.allowedIPs) {
      if (!fits(allowedIPSize(cidr))) {
        nextMessage();
        beginPeer(builder, peer.publicKey);
        open.push(builder.beginNest(WGPEER_A.ALLOWEDIPS));
      }
      builder.nest(0, (b) =>
        b.u16(WGALLOWEDIP_A.FAMILY, addressFamily(cidr.address))
          .binary(WGALLOWEDIP_A.IPADDR, cidr.address)
          .u8(WGALLOWEDIP_A.CIDR_MASK, cidr.prefixLength));
    }
    // Close the peer (and its allowed IPs), keeping WGDEVICE_A_PEERS open for the next peer.
    while (open.length > 1) builder.endNest(open.pop()!);
  }
  nextMessage();
  return messages;
}

/**
 * The WireGuard cross-platform userspace API (UAPI) text codec, as spoken by wireguard-go and boringtun on
 * `/var/run/wireguard/<iface>.sock`: `set=1` requests built from a {@linkcode DeviceConfig}, `get=1` replies
 * parsed into peers, and the `errno=N` status that ends every reply. Pure text in, text out: the socket and the
 * process live in `userspace.ts`.
 *
 * Every value that goes on the wire is validated first, so a stray newline in an endpoint or a CIDR cannot
 * smuggle extra commands into a request.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { formatKeyHex, KEY_LENGTH } from "../keys.ts";
import type { DeviceConfig, Peer } from "./device.ts";
import { encodeSockaddr, formatCidr, parseCidr } from "./netlink/inet.ts";

/** The request that reads the whole device. */
export const GET_REQUEST = "get=1\n\n";

/** A `get` reply: the device's own settings and its peers. */
export interface UapiDevice {
  /** The private key, when one is set. Never log it: derive the public key and drop this. */
  privateKey?: Uint8Array;
  listenPort: number;
  peers: Peer[];
}

/** A non-zero `errno` in a UAPI reply. */
export class UapiError extends Error {
  /** The value as the daemon sent it (wireguard-go negative, boringtun positive). */
  readonly errno: number;

  constructor(message: string, errno: number) {
    super(message);
    this.errno = errno;
  }
}

// The errno values the known daemons answer, named so the error says what kind of failure it was.
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  12: "ENOMEM",
  22: "EINVAL",
  55: "ENOANO",
  71: "EPROTO",
  98: "EADDRINUSE",
};

/**
 * Builds the `set=1` request that applies `config` in one transaction.
 *
 * Per peer: `remove=true` removes it (nothing else is sent for it); otherwise the endpoint and keepalive are sent
 * when defined, and when `allowedIPs` is defined they replace the peer's allowed IPs (unless
 * `replaceAllowedIPs` is false, then they are added). An undefined `allowedIPs` leaves them as they are.
 *
 * @example
 * ```ts
 * encodeSetRequest({ listenPort: 51820 }); // "set=1\nlisten_port=51820\n\n"
 * ```
 */
export function encodeSetRequest(config: DeviceConfig): string {
  const lines = ["set=1"];
  if (config.privateKey !== undefined) lines.push(`private_key=${hexKey(config.privateKey, "private key")}`);
  if (config.listenPort !== undefined) lines.push(`listen_port=${checkUint16(config.listenPort, "listen port")}`);
  if (config.replacePeers) lines.push("replace_peers=true");
  for (const peer of config.peers ?? []) {
    lines.push(`public_key=${hexKey(peer.publicKey, "peer public key")}`);
    if (peer.remove) {
      lines.push("remove=true");
      continue;
    }
    if (peer.endpoint !== undefined) lines.push(`endpoint=${checkEndpoint(peer.endpoint)}`);
    if (peer.persistentKeepaliveInterval !== undefined) {
      const seconds = checkUint16(peer.persistentKeepaliveInterval, "persistent keepalive interval");
      lines.push(`persistent_keepalive_interval=${seconds}`);
    }
    if (peer.allowedIPs !== undefined) {
      if (peer.replaceAllowedIPs !== false) lines.push("replace_allowed_ips=true");
      for (const cidr of peer.allowedIPs) lines.push(`allowed_ip=${canonicalCidr(cidr)}`);
    }
  }
  return `${lines.join("\n")}\n\n`;
}

/**
 * Splits a complete reply (ending in `errno=N` and an empty line) into its `key=value` lines and checks the
 * errno: any non-zero value throws a {@linkcode UapiError} naming `device`.
 *
 * @example
 * ```ts
 * checkReply("errno=0\n\n", "siderolink"); // []
 * ```
 */
export function checkReply(reply: string, device: string): [string, string][] {
  const pairs: [string, string][] = [];
  scanReply(reply, device, (key, value) => pairs.push([key, value]));
  return pairs;
}

/**
 * Calls `line` with each `key=value` line of a complete reply but its final `errno=N`, then checks the errno
 * (as {@linkcode checkReply}). One pass with indexOf and no array of lines: a reply of 10,000 peers has about
 * 130,000 lines.
 */
function scanReply(reply: string, device: string, line: (key: string, value: string) => void): void {
  if (!reply.endsWith("\n\n")) throw new Error(`UAPI reply from ${device} is truncated`);
  const end = reply.length - 1;
  let errno: string | undefined;
  for (let start = 0; start < end;) {
    const newline = reply.indexOf("\n", start);
    const equals = reply.indexOf("=", start);
    if (equals <= start || equals > newline) {
      throw new Error(`UAPI reply from ${device} has a malformed line "${reply.slice(start, newline)}"`);
    }
    const key = reply.slice(start, equals), value = reply.slice(equals + 1, newline);
    start = newline + 1;
    if (start === end && key === "errno") errno = value;
    else line(key, value);
  }
  if (errno === undefined || !/^-?\d+$/.test(errno)) {
    throw new Error(`UAPI reply from ${device} does not end with errno=N`);
  }
  if (errno !== "0") {
    const name = ERRNO_NAMES[Math.abs(Number(errno))];
    throw new UapiError(
      `WireGuard device ${device} refused the request: errno=${errno}${name ? ` (${name})` : ""}`,
      Number(errno),
    );
  }
}

/**
 * Parses a complete `get` reply, checking it as {@linkcode checkReply} does. Unknown keys are skipped, so a newer
 * daemon's extra fields do not break reading. A handshake time of 0 s 0 ns means none ever completed.
 *
 * @example
 * ```ts
 * parseGetReply("listen_port=51820\nerrno=0\n\n", "siderolink"); // { listenPort: 51820, peers: [] }
 * ```
 */
export function parseGetReply(reply: string, device: string): UapiDevice {
  const parsed: UapiDevice = { listenPort: 0, peers: [] };
  // The handshake time comes in two lines; it becomes a Date once the peer's lines are all read.
  let peer: Peer | undefined, sec = 0, nsec = 0;
  const finishPeer = () => {
    if (peer && (sec !== 0 || nsec !== 0)) peer.lastHandshake = new Date(sec * 1000 + Math.floor(nsec / 1e6));
  };
  // The peers' public keys are views into blocks of KEYS_PER_BLOCK keys: one allocation each was a third of the
  // parse at 10,000 peers.
  let keys = new Uint8Array(0), used = 0;
  const nextKey = () => {
    if (used === keys.length) [keys, used] = [new Uint8Array(KEYS_PER_BLOCK * KEY_LENGTH), 0];
    return keys.subarray(used, used += KEY_LENGTH);
  };
  scanReply(reply, device, (key, value) => {
    if (key === "public_key") {
      finishPeer();
      peer = {
        publicKey: parseHexKey(value, key, nextKey()),
        receiveBytes: 0,
        transmitBytes: 0,
        persistentKeepaliveInterval: 0,
        allowedIPs: [],
      };
      sec = nsec = 0;
      parsed.peers.push(peer);
    } else if (!peer) {
      // Device-level keys come before the first peer.
      if (key === "private_key") parsed.privateKey = parseHexKey(value, key);
      else if (key === "listen_port") parsed.listenPort = parseCount(value, key);
    } else if (key === "allowed_ip") peer.allowedIPs.push(canonicalCidr(value));
    else if (key === "endpoint") peer.endpoint = value;
    else if (key === "last_handshake_time_sec") sec = parseCount(value, key);
    else if (key === "last_handshake_time_nsec") nsec = parseCount(value, key);
    else if (key === "rx_bytes") peer.receiveBytes = parseCount(value, key);
    else if (key === "tx_bytes") peer.transmitBytes = parseCount(value, key);
    else if (key === "persistent_keepalive_interval") peer.persistentKeepaliveInterval = parseCount(value, key);
  });
  finishPeer();
  return parsed;
}

/**
 * Returns a CIDR (`fd00::2/128`, `10.0.0.0/8`) in canonical text, IPv6 per RFC 5952; throws a
 * {@linkcode UsageError} naming the text when it is not one.
 *
 * @example
 * ```ts
 * canonicalCidr("FD00:0:0:0::2/128"); // "fd00::2/128"
 * ```
 */
export function canonicalCidr(text: string): string {
  // Most SideroLink addresses have no zero group: eight groups without leading zeros are canonical as they are.
  if (NO_ZERO_GROUP_IPV6_CIDR.test(text)) return text;
  try {
    return formatCidr(parseCidr(text, "allowed IP"));
  } catch {
    throw new UsageError(`"${text}" is not an IPv4 or IPv6 CIDR`);
  }
}

const NO_ZERO_GROUP_IPV6_CIDR =
  /^(?:[1-9a-f][0-9a-f]{0,3}:){7}[1-9a-f][0-9a-f]{0,3}\/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])$/;

function hexKey(key: Uint8Array, what: string): string {
  if (key.length !== KEY_LENGTH) throw new UsageError(`${what} must be ${KEY_LENGTH} bytes, got ${key.length}`);
  return formatKeyHex(key);
}

// Decodes a key into `into` (32 bytes), or into a buffer of its own.
function parseHexKey(text: string, what: string, into = new Uint8Array(KEY_LENGTH)): Uint8Array {
  if (text.length !== 2 * KEY_LENGTH || text !== text.toLowerCase()) throw notHexKey(what);
  try {
    into.setFromHex(text);
    return into;
  } catch {
    throw notHexKey(what);
  }
}

/** How many peers' public keys share one buffer in a parsed `get` reply. */
const KEYS_PER_BLOCK = 256;

function notHexKey(what: string): Error {
  return new Error(`UAPI ${what} is not 64 lowercase hex digits`);
}

function parseCount(text: string, what: string): number {
  // A loop over the digits: six of these per peer, 60,000 in a read of 10,000 peers.
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) throw notCount(text, what);
  }
  if (text.length === 0) throw notCount(text, what);
  return Number(text);
}

function notCount(text: string, what: string): Error {
  return new Error(`UAPI ${what} "${text}" is not a non-negative integer`);
}

function checkUint16(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new UsageError(`${what} must be an integer from 0 to 65535, got ${value}`);
  }
  return value;
}

function checkEndpoint(endpoint: string): string {
  try {
    encodeSockaddr(endpoint, "endpoint");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return endpoint;
}

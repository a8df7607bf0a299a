/**
 * SideroLink addressing (PROTOCOL.md §2): the network prefix of an installation, the server's address,
 * each machine's address and its virtual address for WireGuard over gRPC (§3). Pure functions, so `addr`
 * computes everything offline.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { UsageError } from "./errors.ts";
import { formatIPv6 } from "./ipv6.ts";

/** Byte 7 of a SideroLink prefix; Talos recognises SideroLink addresses by it (and byte 0 = 0xfd). */
export const SIDEROLINK_PURPOSE = 0x03;

/** Byte 7 of the virtual prefix, whose addresses name machines that tunnel WireGuard over gRPC. */
export const VIRTUAL_PURPOSE = 0x04;

/** The port of every virtual `[addr]:port` (fixed by the protocol; nothing listens on it). */
export const GRPC_TUNNEL_PORT = 50888;

/** Prefix length of the SideroLink network, of the server address and of every node address. */
export const PREFIX_LENGTH = 64;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(text, "utf8").digest());
}

/**
 * The /64 network prefix of an installation: the last 16 bytes of SHA-256 of the installation ID text,
 * byte 0 set to 0xfd, byte 7 to the purpose byte, bytes 8..15 zero.
 *
 * @example
 * ```ts
 * formatIPv6(networkPrefix("")); // "fdae:41e4:649b:9303::"
 * ```
 */
export function networkPrefix(installationId: string, purpose = SIDEROLINK_PURPOSE): Uint8Array {
  const prefix = sha256(installationId).slice(16, 32);
  prefix[0] = 0xfd;
  prefix[7] = purpose;
  prefix.fill(0, 8);
  return prefix;
}

/** The server's address, the prefix's first address (`<prefix>::1`), assigned as /64 on the interface. */
export function serverAddress(installationId: string): Uint8Array {
  const address = networkPrefix(installationId);
  address[15] = 1;
  return address;
}

/**
 * The deterministic node address of a server: the prefix's bytes 0..7, then the first 8 bytes of
 * SHA-256(`<installation-id>/<uuid>`); if those are 0 or 1 (the subnet-router and server addresses),
 * bytes 8..15 of the same digest.
 *
 * @example
 * ```ts
 * formatIPv6(nodeAddress("", "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f"));
 * ```
 */
export function nodeAddress(installationId: string, serverUuid: string): Uint8Array {
  const address = networkPrefix(installationId);
  address.set(nodeSuffix(sha256(`${installationId}/${canonicalUuid(serverUuid)}`)), 8);
  return address;
}

/** Bytes 8..15 of a node address from the 32-byte digest: its first 8 bytes, unless they spell 0 or 1. */
export function nodeSuffix(digest: Uint8Array): Uint8Array {
  const first = digest.subarray(0, 8);
  const reserved = first.subarray(0, 7).every((byte) => byte === 0) && first[7] <= 1;
  return reserved ? digest.subarray(8, 16) : first;
}

/**
 * The virtual address of the machine at SideroLink address `address`: the virtual prefix with the same bytes
 * 8..15. So it is stable whenever the SideroLink address is (stored, imported or computed), and needs no storage.
 *
 * @example
 * ```ts
 * formatIPv6(virtualAddress("", parseIPv6("fdae:41e4:649b:9303:cda8:cd34:bce1:2962")!));
 * // "fdae:41e4:649b:9304:cda8:cd34:bce1:2962"
 * ```
 */
export function virtualAddress(installationId: string, address: Uint8Array): Uint8Array {
  const virtual = networkPrefix(installationId, VIRTUAL_PURPOSE);
  virtual.set(address.subarray(8, 16), 8);
  return virtual;
}

/**
 * The SideroLink address a virtual address stands for (the inverse of {@linkcode virtualAddress}), or
 * `undefined` when `virtual` is not in this installation's virtual prefix.
 */
export function addressOfVirtual(installationId: string, virtual: Uint8Array): Uint8Array | undefined {
  const prefix = networkPrefix(installationId, VIRTUAL_PURPOSE);
  if (!virtual.subarray(0, 8).every((byte, i) => byte === prefix[i])) return undefined;
  const address = networkPrefix(installationId);
  address.set(virtual.subarray(8, 16), 8);
  return address;
}

/**
 * Validates a server UUID and returns it in lowercase canonical form; throws a `UsageError` naming it otherwise.
 *
 * @example
 * ```ts
 * canonicalUuid("0F3C5A9E-2B1D-4C7E-9F00-6A1B2C3D4E5F"); // "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f"
 * ```
 */
export function canonicalUuid(uuid: string): string {
  const lower = uuid.toLowerCase();
  if (!UUID_PATTERN.test(lower)) {
    const shown = uuid.length > 64 ? `${uuid.slice(0, 64)}…` : uuid;
    throw new UsageError(`malformed server UUID ${JSON.stringify(shown)}: want 8-4-4-4-12 hex digits`);
  }
  return lower;
}

/** The `/64` text of an address (`fd…/64`), as ServerBindings and Provision replies carry it. */
export function withPrefixLength(address: Uint8Array): string {
  return `${formatIPv6(address)}/${PREFIX_LENGTH}`;
}

/**
 * Checks that an installation ID is usable text: printable ASCII without spaces, at most 256 characters.
 * Sidero's are 44-character base64 strings; the empty ID is valid (it is WireGuard-over-gRPC's).
 */
export function checkInstallationId(installationId: string): string {
  if (installationId.length > 256 || !/^[\x21-\x7e]*$/.test(installationId)) {
    throw new UsageError(
      `malformed installation ID ${
        JSON.stringify(installationId.slice(0, 64))
      }: want printable ASCII without spaces, at most 256 characters`,
    );
  }
  return installationId;
}

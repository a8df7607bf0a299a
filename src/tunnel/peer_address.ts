/**
 * Which machine a WireGuard-over-gRPC stream speaks for: its request metadata `x-siderolink-ipv6-addr` carries the
 * virtual `[addr]:50888` that the machine's Provision reply gave it (PROTOCOL.md §3), which maps back to its
 * SideroLink address. The refusals carry the messages the reference server gives.
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import { addressOfVirtual, GRPC_TUNNEL_PORT } from "../addressing.ts";
import { formatIPv6, parseIPv6 } from "../ipv6.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

/** The request metadata key naming the machine. */
export const PEER_ADDRESS_KEY = "x-siderolink-ipv6-addr";

/** The machine a stream names. */
export interface TunnelPeer {
  /** The virtual `[addr]:port` as the machine sent it, canonicalised. */
  virtual: string;
  /** The SideroLink address it stands for (bare canonical text), for `MachineDirectory.identify`. */
  address: string;
}

/** The peer refused when no provisioned machine holds the named address (the reference's words). */
export const PEER_NOT_ALLOWED = "peer not allowed";

/**
 * Reads the metadata values of {@link PEER_ADDRESS_KEY} (the first counts, as in the reference server) and maps
 * the virtual address back to a SideroLink address of `installationId`. Throws {@link GrpcRefusal}: missing →
 * INVALID_ARGUMENT "failed to get peer address from context", not `[ipv6]:port` → INVALID_ARGUMENT "incorrect
 * header value …", outside the virtual prefix or another port → PERMISSION_DENIED "peer not allowed". Whether a
 * provisioned machine holds the address is the caller's question.
 *
 * @example
 * ```ts
 * tunnelPeer(["[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:50888"], "");
 * // { virtual: "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:50888", address: "fdae:41e4:649b:9303:cda8:cd34:bce1:2962" }
 * ```
 */
export function tunnelPeer(values: readonly (string | Uint8Array)[], installationId: string): TunnelPeer {
  const value = values[0];
  if (value === undefined || value === "") {
    throw new GrpcRefusal(status.INVALID_ARGUMENT, "failed to get peer address from context");
  }
  const text = typeof value === "string" ? value : new TextDecoder().decode(value);
  const match = /^\[([0-9A-Fa-f:]+)\]:(\d{1,5})$/.exec(text);
  const virtual = match ? parseIPv6(match[1]) : undefined;
  if (!match || !virtual || Number(match[2]) > 65535) {
    const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
    throw new GrpcRefusal(status.INVALID_ARGUMENT, `incorrect header value ${JSON.stringify(shown)}`);
  }
  const address = addressOfVirtual(installationId, virtual);
  if (!address || Number(match[2]) !== GRPC_TUNNEL_PORT) {
    throw new GrpcRefusal(status.PERMISSION_DENIED, PEER_NOT_ALLOWED);
  }
  return { virtual: `[${formatIPv6(virtual)}]:${GRPC_TUNNEL_PORT}`, address: formatIPv6(address) };
}

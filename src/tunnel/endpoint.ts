/**
 * Where the relay's sockets live, and how `peers` tells a tunnelled machine from a direct one by its endpoint
 * alone, so that nothing about transports is stored.
 *
 * @module
 */

/** The loopback address every relay socket binds, and on which the relay reaches WireGuard's listen port. */
export const RELAY_HOST = "127.0.0.1";

/** How a peer reaches WireGuard: directly over UDP, or through a WireGuard-over-gRPC stream's relay socket. */
export type Transport = "udp" | "grpc";

/**
 * The transport of the peer whose learned endpoint is `endpoint`: `grpc` when it is on {@link RELAY_HOST} (only
 * relay sockets send from there: machines reach WireGuard from their own addresses, never through the server's
 * loopback), `udp` for any other endpoint, none before a handshake. Judged from the endpoint rather than the
 * relay's open sockets, so it reads the same from `peers --direct`, which cannot see the daemon's sockets, and
 * stays `grpc` for a machine whose stream just ended until its next datagram moves the endpoint.
 *
 * @example
 * ```ts
 * transportOf("127.0.0.1:41234"); // "grpc"
 * transportOf("[fd5e:1::2]:51820"); // "udp"
 * ```
 */
export function transportOf(endpoint: string | undefined): Transport | undefined {
  if (endpoint === undefined) return undefined;
  // The relay host is IPv4, so its endpoints are exactly "127.0.0.1:port" (no brackets to strip).
  return endpoint.startsWith(`${RELAY_HOST}:`) ? "grpc" : "udp";
}

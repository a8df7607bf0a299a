/**
 * Peers as a device reports them, for the metrics' tests.
 *
 * @module
 */

import type { Peer } from "../wireguard/device.ts";

/** The moment the tests' handshake ages are counted from. */
export const NOW = new Date("2026-03-02T08:00:00Z");

/** A peer whose key is 32 bytes of `id`, with its last handshake that many seconds before {@link NOW} (or none). */
export function peer(id: number, handshakeSecondsAgo: number | undefined, receiveBytes = 0, transmitBytes = 0): Peer {
  return {
    publicKey: new Uint8Array(32).fill(id),
    lastHandshake: handshakeSecondsAgo === undefined ? undefined : new Date(NOW.getTime() - handshakeSecondsAgo * 1000),
    receiveBytes,
    transmitBytes,
    persistentKeepaliveInterval: 25,
    allowedIPs: [],
  };
}

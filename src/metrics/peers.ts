/**
 * What the peer metrics say about the device's peers, from one reading: how many are in each state, how long ago
 * each one's last handshake was, and the bytes over all of them.
 *
 * @module
 */

import { type PeerState, peerState } from "../control/peers.ts";
import type { Peer } from "../wireguard/device.ts";

/**
 * Upper bounds (seconds) of the handshake-age histogram. WireGuard renews a session every 2 minutes while traffic
 * flows (Talos keeps it flowing with a 25 s keepalive), so live peers fall under 180 s; 275 s is where a peer
 * counts as down, and the larger bounds tell a short outage from a machine long gone.
 */
export const HANDSHAKE_AGE_BUCKETS = [15, 30, 60, 120, 180, 275, 600, 1800, 3600, 21_600, 86_400];

/** The device's peers at one moment. */
export interface PeerSummary {
  /** Peers per state (`up`, `down`, `never`), every state present. */
  states: Record<PeerState, number>;
  /** Seconds since the last handshake of each peer that made one. */
  handshakeAgesSeconds: number[];
}

/**
 * Sums up `peers` at `now`.
 *
 * @example
 * ```ts
 * summarizePeers((await device.read()).peers, new Date()).states; // { up: 3, down: 1, never: 0 }
 * ```
 */
export function summarizePeers(peers: readonly Peer[], now: Date): PeerSummary {
  const states: Record<PeerState, number> = { up: 0, down: 0, never: 0 };
  const handshakeAgesSeconds: number[] = [];
  for (const peer of peers) {
    states[peerState(peer.lastHandshake, now)]++;
    if (peer.lastHandshake) {
      handshakeAgesSeconds.push(Math.max(0, (now.getTime() - peer.lastHandshake.getTime()) / 1000));
    }
  }
  return { states, handshakeAgesSeconds };
}

/** Bytes received and sent. */
export interface Transfer {
  received: number;
  sent: number;
}

/**
 * Bytes received and sent over all peers, as totals that never go down (Prometheus counters): the device's
 * per-peer counters vanish with a removed peer (a machine that came back with a new key) and start again at 0
 * when a peer is added again or the device is made anew, so the last bytes seen of each such peer are kept.
 * Bytes a removed peer moved after the last reading are not seen.
 *
 * @example
 * ```ts
 * const totals = new TransferTotals();
 * totals.update((await device.read()).peers); // { received: 1234, sent: 5678 }
 * ```
 */
export class TransferTotals {
  /** The last reading of each peer, by public key (hex). */
  #last = new Map<string, Transfer>();
  /** Bytes of peers whose counters are gone or started again. */
  readonly #gone: Transfer = { received: 0, sent: 0 };

  /** Takes a new reading of the peers; returns the totals. */
  update(peers: readonly Peer[]): Transfer {
    const current = new Map<string, Transfer>();
    const total: Transfer = { received: 0, sent: 0 };
    for (const peer of peers) {
      const key = peer.publicKey.toHex();
      const now = { received: peer.receiveBytes, sent: peer.transmitBytes };
      const before = this.#last.get(key);
      if (before && (now.received < before.received || now.sent < before.sent)) this.#keep(before);
      this.#last.delete(key);
      current.set(key, now);
      total.received += now.received;
      total.sent += now.sent;
    }
    for (const before of this.#last.values()) this.#keep(before);
    this.#last = current;
    return { received: total.received + this.#gone.received, sent: total.sent + this.#gone.sent };
  }

  #keep(transfer: Transfer): void {
    this.#gone.received += transfer.received;
    this.#gone.sent += transfer.sent;
  }
}

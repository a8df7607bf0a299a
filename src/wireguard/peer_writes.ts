/**
 * Peer changes from concurrent callers, merged into one device write at a time. A write of one peer costs the
 * userspace backend a UAPI connection and a transaction (at fleet size, more than the peer itself: 250 µs a peer
 * written alone, about 100 µs in a batch), so provisions that arrive while a write is in flight go out together in
 * the next one. Each caller's promise settles when the write that holds its changes has been applied, so a reply
 * sent after it still finds its peer on the device.
 *
 * @module
 */

import { logger } from "../log.ts";
import type { Device, PeerConfig } from "./device.ts";

const log = logger(["wireguard"]);

/** One caller's changes, and how to tell it the outcome. */
interface Waiting {
  peers: PeerConfig[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Applies peer changes to `device`, one write at a time, each holding every change that came in meanwhile.
 *
 * @example
 * ```ts
 * const writes = new PeerWrites(device);
 * await writes.apply([{ publicKey, replaceAllowedIPs: true, allowedIPs: ["fd…/128"] }]); // on the device now
 * ```
 */
export class PeerWrites {
  readonly #device: Device;
  #waiting: Waiting[] = [];
  #writing = false;

  constructor(device: Device) {
    this.#device = device;
  }

  /** Resolves once `peers` are on the device (in the order given); rejects with the device's error for them. */
  apply(peers: PeerConfig[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ peers, resolve, reject });
      if (!this.#writing) this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting;
      this.#waiting = [];
      log.trace("one device write for {callers} callers", { callers: batch.length });
      try {
        await this.#device.configure({ peers: batch.flatMap((waiting) => waiting.peers) });
        for (const waiting of batch) waiting.resolve();
      } catch (error) {
        if (batch.length === 1) batch[0].reject(error);
        // One caller's bad change must not fail the others: each is written alone again (every change is
        // idempotent, so the part of the batch the device took before it failed can be written twice).
        else for (const waiting of batch) await this.#alone(waiting);
      }
    }
    this.#writing = false;
  }

  async #alone(waiting: Waiting): Promise<void> {
    try {
      await this.#device.configure({ peers: waiting.peers });
      waiting.resolve();
    } catch (error) {
      waiting.reject(error);
    }
  }
}

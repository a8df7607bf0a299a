/**
 * A fixed-size queue of datagrams that drops the oldest one when full: what a slow reader of a tunnel stream
 * misses is what it would have missed on a congested UDP path, and the newest datagrams (the next keepalive or
 * handshake) are the ones worth delivering.
 *
 * @module
 */

/**
 * A ring of at most `capacity` datagrams.
 *
 * @example
 * ```ts
 * const ring = new DatagramRing(100);
 * if (ring.push(datagram)) dropped++;
 * const next = ring.shift();
 * ```
 */
export class DatagramRing {
  readonly #slots: (Uint8Array | undefined)[];
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity ${capacity}: want 1 or more`);
    this.#slots = new Array(capacity);
  }

  /** How many datagrams wait. */
  get size(): number {
    return this.#size;
  }

  /** Appends `datagram`; returns true when the oldest one was dropped to make room. */
  push(datagram: Uint8Array): boolean {
    const capacity = this.#slots.length;
    const full = this.#size === capacity;
    this.#slots[(this.#head + this.#size) % capacity] = datagram;
    if (full) this.#head = (this.#head + 1) % capacity;
    else this.#size++;
    return full;
  }

  /** Removes and returns the oldest datagram, if any. */
  shift(): Uint8Array | undefined {
    if (this.#size === 0) return undefined;
    const datagram = this.#slots[this.#head];
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#slots.length;
    this.#size--;
    return datagram;
  }

  /** Drops everything waiting. */
  clear(): void {
    this.#slots.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }
}

/**
 * A reading shared by everyone who asks within a short time: the peer metrics of one scrape all come from one
 * read of the device, and scrapes in quick succession (several Prometheus servers) do not read it more often than
 * once a second.
 *
 * @module
 */

/** How long a reading is reused (ms). */
export const READ_CACHE_MS = 1000;

/**
 * A cached asynchronous read: a new read starts only when the last one has finished and started at least
 * `maxAgeMs` ago, so reads never overlap and start at most once per `maxAgeMs`.
 *
 * @example
 * ```ts
 * const info = new CachedRead(() => device.read());
 * await info.get(); // reads the device
 * await info.get(); // the same reading, within a second
 * ```
 */
export class CachedRead<T> {
  readonly #read: () => Promise<T>;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #last: { startedAt: number; value: Promise<T>; settled: boolean } | undefined;

  constructor(read: () => Promise<T>, maxAgeMs = READ_CACHE_MS, now: () => number = () => performance.now()) {
    this.#read = read;
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  /** The current reading (a failed one too, until it is old enough to read again). */
  get(): Promise<T> {
    const now = this.#now();
    const last = this.#last;
    if (last && (!last.settled || now - last.startedAt < this.#maxAgeMs)) return last.value;
    const value = this.#read();
    const reading = { startedAt: now, value, settled: false };
    const settle = () => {
      reading.settled = true;
    };
    value.then(settle, settle);
    this.#last = reading;
    return value;
  }
}

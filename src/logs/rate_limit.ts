/**
 * A per-machine limit on kernel-log lines per second (`serve --log-rate-limit`), so that one machine flooding the
 * receiver cannot delay the lines of the others or fill the history. Each machine has a token bucket that holds
 * one second's worth of lines and refills continuously: bursts up to the limit pass, a sustained flood is cut to
 * the limit. Lines beyond it are dropped before they are parsed (the cheapest point), counted, and reported.
 *
 * @module
 */

/** Least time between two reports of one machine's dropped lines (ms). */
export const RATE_LIMIT_REPORT_MS = 10_000;

/** Receives a machine's dropped lines since its previous report. */
export type RateLimitReport = (key: string, dropped: number) => void;

interface Bucket {
  tokens: number;
  refilledAt: number;
  unreported: number;
  reportedAt: number;
}

/**
 * Token buckets by key (a server UUID).
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter(1000, (uuid, dropped) => log.warn(`${uuid}: ${dropped} lines dropped`));
 * if (!limiter.admit(uuid)) return; // over the limit: drop the line
 * ```
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #report: RateLimitReport;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * @param perSecond lines per second per key, also the burst size
   * @param report called with the drops of a key at its first drop, then at most every {@link RATE_LIMIT_REPORT_MS}
   * @param now the clock in ms (tests)
   */
  constructor(perSecond: number, report: RateLimitReport, now: () => number = performance.now.bind(performance)) {
    if (!(perSecond > 0)) throw new RangeError(`rate limit must be positive, got ${perSecond}`);
    this.#perSecond = perSecond;
    this.#report = report;
    this.#now = now;
  }

  /** Whether one more line of `key` is within the limit; a line that is not is counted as dropped. */
  admit(key: string): boolean {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.#perSecond, refilledAt: now, unreported: 0, reportedAt: -Infinity };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.#perSecond, bucket.tokens + (now - bucket.refilledAt) * this.#perSecond / 1000);
      bucket.refilledAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens--;
      return true;
    }
    bucket.unreported++;
    if (now - bucket.reportedAt >= RATE_LIMIT_REPORT_MS) {
      bucket.reportedAt = now;
      const dropped = bucket.unreported;
      bucket.unreported = 0;
      this.#report(key, dropped);
    }
    return false;
  }
}

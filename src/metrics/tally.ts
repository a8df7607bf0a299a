/**
 * A counter with labels that any module can count into without loading the metrics library: the counts live in
 * a plain map, and the metrics registry (registry.ts) reads them at each scrape. So a module counts the same way
 * whether `--metrics-listen` is given or not, and start-up without it never loads prom-client.
 *
 * @module
 */

/** One series of a {@link Tally}: its label values and its count. */
export interface TallySeries<Label extends string> {
  readonly labels: Readonly<Record<Label, string>>;
  readonly value: number;
}

/**
 * Counts by label values. Callers pass values from small fixed sets (a gRPC code name, an event type, a result),
 * never an identifier of a machine or a line, so the series stay few.
 *
 * @example
 * ```ts
 * const calls = new Tally(["code"]);
 * calls.add({ code: "OK" });
 * calls.get({ code: "OK" }); // 1
 * ```
 */
export class Tally<Label extends string> {
  /** The label names, in the order the registry declares them. */
  readonly labelNames: readonly Label[];
  readonly #series = new Map<string, { labels: Readonly<Record<Label, string>>; value: number }>();

  constructor(labelNames: readonly Label[]) {
    this.labelNames = labelNames;
  }

  /** Adds `by` (default 1) to the series of `labels`. */
  add(labels: Record<Label, string>, by = 1): void {
    const key = this.#key(labels);
    const series = this.#series.get(key);
    if (series) series.value += by;
    else this.#series.set(key, { labels: { ...labels }, value: by });
  }

  /** The count of the series of `labels`; 0 when it was never counted. */
  get(labels: Record<Label, string>): number {
    return this.#series.get(this.#key(labels))?.value ?? 0;
  }

  /** Every series counted so far, in the order each was first counted. */
  series(): TallySeries<Label>[] {
    return [...this.#series.values()].map(({ labels, value }) => ({ labels, value }));
  }

  #key(labels: Record<Label, string>): string {
    return this.labelNames.map((name) => labels[name]).join("\0");
  }
}

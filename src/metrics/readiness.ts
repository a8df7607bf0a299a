/**
 * Readiness as named conditions that parts of the daemon set: ready when none is unmet. `/readyz` answers 200 then,
 * else 503 with each unmet condition and its reason. Embedded mode waits for `device` and `listeners`; Kubernetes
 * mode adds its own (the watches synced) the same way.
 *
 * @module
 */

/**
 * The daemon's readiness.
 *
 * @example
 * ```ts
 * const readiness = new Readiness({ device: "the WireGuard device is not configured yet" });
 * readiness.unmet("watches", "the Kubernetes watches have not synced yet");
 * readiness.met("device");
 * readiness.reasons(); // ["watches: the Kubernetes watches have not synced yet"]
 * ```
 */
export class Readiness {
  /** Unmet conditions and why, in the order they were set. */
  readonly #unmet = new Map<string, string>();

  /** Starts with the given conditions unmet (name → reason). */
  constructor(unmet: Record<string, string> = {}) {
    for (const [name, reason] of Object.entries(unmet)) this.#unmet.set(name, reason);
  }

  /** Marks `name` as met (a name never set is met already). */
  met(name: string): void {
    this.#unmet.delete(name);
  }

  /** Marks `name` as unmet, with the reason `/readyz` gives. */
  unmet(name: string, reason: string): void {
    this.#unmet.set(name, reason);
  }

  /** Whether every condition is met. */
  get ready(): boolean {
    return this.#unmet.size === 0;
  }

  /** `name: reason` of each unmet condition. */
  reasons(): string[] {
    return [...this.#unmet].map(([name, reason]) => `${name}: ${reason}`);
  }
}

/**
 * What the daemon keeps for operators besides its logs: the counters its modules increment, its readiness, and,
 * with `--metrics-listen`, the listener that serves both with the process metrics. prom-client (about 80 ms to
 * load) is loaded only when that listener is asked for.
 *
 * @module
 */

import { type DaemonCounters, daemonCounters } from "./counters.ts";
import { Readiness } from "./readiness.ts";
import type { MetricsSources } from "./registry.ts";
import { type HealthServer, startHealthServer } from "./server.ts";

/** The conditions `serve` waits for before it is ready, and why it is not ready while they are unmet. */
export const SERVE_CONDITIONS = {
  device: "the WireGuard device is not configured yet",
  listeners: "the Provision API, kernel-log, event and control listeners are not all bound yet",
};

/**
 * Counters, readiness and the metrics listener of one daemon.
 *
 * @example
 * ```ts
 * const telemetry = await Telemetry.start("[::1]:9091");
 * provisionService(provisioner, telemetry.counters.provisionCalls);
 * telemetry.observe({ logs, device });
 * telemetry.readiness.met("device");
 * await telemetry.close();
 * ```
 */
export class Telemetry {
  /** The counters to hand to the daemon's modules. */
  readonly counters: DaemonCounters = daemonCounters();
  /** Unmet until the daemon says otherwise: see {@link SERVE_CONDITIONS}. */
  readonly readiness: Readiness = new Readiness(SERVE_CONDITIONS);
  readonly #sources: MetricsSources = { counters: this.counters };
  #server: HealthServer | undefined;

  private constructor() {}

  /** Starts listening on `listen` when given (binding exactly there); without it, only counts. */
  static async start(listen: string | undefined): Promise<Telemetry> {
    const telemetry = new Telemetry();
    if (listen !== undefined) {
      const { metricsRegistry } = await import("./registry.ts");
      telemetry.#server = startHealthServer(listen, metricsRegistry(telemetry.#sources), telemetry.readiness);
    }
    return telemetry;
  }

  /** The bound port of the listener, if there is one. */
  get port(): number | undefined {
    return this.#server?.port;
  }

  /** Lets the metrics read the kernel-log path and the device, once they run. */
  observe(sources: Omit<MetricsSources, "counters">): void {
    Object.assign(this.#sources, sources);
  }

  /** Stops the listener. */
  async close(): Promise<void> {
    await this.#server?.close();
  }
}

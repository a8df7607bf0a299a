/**
 * What the daemon keeps for operators besides its logs: the counters its modules increment, its readiness, and,
 * with `--metrics-listen`, the listener that serves both with the process metrics. prom-client (90 to 230 ms to
 * load here) is loaded only when that listener is asked for, and then while the start-up goes on: the listener
 * answers the probes at once, and `/metrics` once the registry is there.
 *
 * @module
 */

import { logger } from "../log.ts";
import { type DaemonCounters, daemonCounters } from "./counters.ts";
import { Readiness } from "./readiness.ts";
import type { MetricsSources } from "./registry.ts";
import { type HealthServer, startHealthServer } from "./server.ts";

const log = logger(["metrics"]);

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
 * const telemetry = Telemetry.start("[::1]:9091");
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
  static start(listen: string | undefined): Telemetry {
    const telemetry = new Telemetry();
    if (listen !== undefined) {
      const registry = import("./registry.ts").then(({ metricsRegistry }) => metricsRegistry(telemetry.#sources));
      // Not left unhandled (that would end the daemon): the probes go on, and `/metrics` answers 500 with the error.
      registry.catch((error) => log.error("the metrics registry failed to load: {error}", { error: error.message }));
      telemetry.#server = startHealthServer(listen, registry, telemetry.readiness);
    }
    return telemetry;
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

/**
 * The counters the daemon's modules increment, created once by the daemon and handed to each module through its
 * options (prom-client stays out of those modules: see tally.ts), with the metric each becomes.
 *
 * A new counted metric is one field in {@link DaemonCounters}, one line in {@link daemonCounters} and one entry in
 * {@link TALLY_METRICS}; the registry exposes it from there.
 *
 * @module
 */

import { Tally } from "./tally.ts";

/**
 * What became of one event sink call: `handled` (printed and kept), `duplicate` (its id was handled already),
 * `handling_error` (printed with `handling_error`: undecodable or not stored), `unknown_source` (printed, from an
 * address that is no machine's), `refused` (INVALID_ARGUMENT), `unavailable` (UNAVAILABLE: Kubernetes mode, the
 * machine's status could not be written now; Talos sends it again).
 */
export type EventResult = "handled" | "duplicate" | "handling_error" | "unknown_source" | "refused" | "unavailable";

/** The tallies of the daemon. */
export interface DaemonCounters {
  /** Provision calls by the gRPC status code's name (`OK`, `PERMISSION_DENIED`, …). */
  provisionCalls: Tally<"code">;
  /**
   * Event sink calls by payload type (a Talos type name, `unknown` for a type the sink does not know, `none` when
   * the request was refused before its type was read) and {@link EventResult}.
   */
  events: Tally<"type" | "result">;
  /** Kubernetes mode: requests to the Kubernetes API by verb and HTTP status code; the Kubernetes client counts. */
  kubernetesApiRequests: Tally<"verb" | "code">;
  /** Kubernetes mode: watches started again (after an error or expiry), by resource; the Kubernetes client counts. */
  kubernetesWatchRestarts: Tally<"resource">;
}

/** A fresh set of tallies, all zero. */
export function daemonCounters(): DaemonCounters {
  return {
    provisionCalls: new Tally(["code"]),
    events: new Tally(["type", "result"]),
    kubernetesApiRequests: new Tally(["verb", "code"]),
    kubernetesWatchRestarts: new Tally(["resource"]),
  };
}

/** The counter metric each tally is exposed as. */
export const TALLY_METRICS: Record<keyof DaemonCounters, { name: string; help: string }> = {
  provisionCalls: { name: "siderolink_provision_calls_total", help: "Provision API calls by gRPC status code." },
  events: { name: "siderolink_events_total", help: "Event sink calls by payload type and result." },
  kubernetesApiRequests: {
    name: "siderolink_kubernetes_api_requests_total",
    help: "Kubernetes API requests by verb and HTTP status code (Kubernetes mode).",
  },
  kubernetesWatchRestarts: {
    name: "siderolink_kubernetes_watch_restarts_total",
    help: "Kubernetes watches started again, by resource (Kubernetes mode).",
  },
};

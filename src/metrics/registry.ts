/**
 * The Prometheus registry of `serve`: the process metrics prom-client gives by default (less those that are wrong
 * under Deno, see {@link OMITTED_DEFAULT_METRICS}) and the daemon's own, each read from its source at scrape time.
 * This is the only module that loads prom-client; the daemon imports it only when `--metrics-listen` is given.
 *
 * @module
 */

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { logger } from "../log.ts";
import type { LogPipelineCounters } from "../logs/pipeline.ts";
import type { LogStore } from "../logs/store.ts";
import type { GrpcTunnelCounters } from "../tunnel/service.ts";
import type { Device } from "../wireguard/device.ts";
import { CachedRead } from "./cached_read.ts";
import { type DaemonCounters, TALLY_METRICS } from "./counters.ts";
import { HANDSHAKE_AGE_BUCKETS, type PeerSummary, summarizePeers, type Transfer, TransferTotals } from "./peers.ts";

/** What the collectors read; the daemon fills in each part once it runs. */
export interface MetricsSources {
  counters: DaemonCounters;
  /** The kernel-log path (`LogPipeline`). */
  logs?: { readonly counters: LogPipelineCounters; readonly store: Pick<LogStore, "held"> };
  /** The WireGuard device, read at most once per second. */
  device?: Pick<Device, "read">;
  /** WireGuard over gRPC (`GrpcTunnel`). */
  tunnel?: { readonly counters: GrpcTunnelCounters; readonly open: number };
}

/**
 * Default metrics of prom-client that Deno 2.9.6 cannot give, so they are left out rather than shown wrong:
 * `monitorEventLoopDelay` records microseconds where the loop was blocked for 300 ms (so the lag percentiles are
 * wrong; `nodejs_eventloop_lag_seconds`, measured with `setImmediate`, stays), no `gc` performance entries are
 * ever emitted, `process._getActiveHandles`/`_getActiveRequests` are always empty, and `getActiveResourcesInfo`
 * sees only node:timers, none of Deno's own sockets, listeners or processes.
 */
export const OMITTED_DEFAULT_METRICS = [
  ...["min", "max", "mean", "stddev", "p50", "p90", "p99"].map((stat) => `nodejs_eventloop_lag_${stat}_seconds`),
  "nodejs_gc_duration_seconds",
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_active_resources",
  "nodejs_active_resources_total",
];

/** Label values and value of one sample. */
type Sample = [labels: Record<string, string>, value: number];

/** The samples of a metric now; none when its source is not there (yet). */
type Samples = () => Sample[] | undefined | Promise<Sample[] | undefined>;

const log = logger(["metrics"]);

/**
 * Builds the registry over `sources`.
 *
 * @example
 * ```ts
 * const registry = metricsRegistry({ counters: daemonCounters(), logs, device });
 * await registry.metrics(); // the text exposition format
 * ```
 */
export function metricsRegistry(
  sources: MetricsSources,
  options: { now?: () => Date; monotonicMs?: () => number } = {},
): Registry {
  const registry = new Registry();
  // The event-loop histogram's own timer would wake the loop every 10 ms by default, for metrics left out below.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  for (const name of OMITTED_DEFAULT_METRICS) registry.removeSingleMetric(name);

  // Each metric is filled from its source when scraped (a counter with the source's running total), with no await
  // between the reset and the filling, so that concurrent scrapes cannot add up each other's samples.
  const filledBy =
    (kind: typeof Counter | typeof Gauge) => (name: string, help: string, labelNames: string[], samples: Samples) =>
      new kind({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect(this: Counter | Gauge) {
          const values = await samples();
          this.reset();
          for (const [labels, value] of values ?? []) this.inc(labels, value);
        },
      });
  const counter = filledBy(Counter);
  const gauge = filledBy(Gauge);

  for (const [key, { name, help }] of Object.entries(TALLY_METRICS)) {
    const tally = sources.counters[key as keyof DaemonCounters];
    counter(name, help, [...tally.labelNames], () => tally.series().map(({ labels, value }) => [labels, value]));
  }

  // The kernel-log path's own counters, read as they are (nothing is counted twice).
  const logs = () => sources.logs?.counters;
  const byResult = (results: Record<string, number> | undefined): Sample[] | undefined =>
    results && Object.entries(results).map(([result, value]) => [{ result }, value]);
  counter("siderolink_log_lines_total", "Kernel-log lines received from machines, by result.", ["result"], () => {
    const receiver = logs()?.receiver;
    return byResult(
      receiver && {
        accepted: receiver.accepted,
        malformed: receiver.malformed,
        duplicate: receiver.duplicates,
        rate_limited: receiver.rateLimited,
      },
    );
  });
  counter(
    "siderolink_log_connections_total",
    "Kernel-log connections: accepted, or refused (or closed) because their source is no known machine.",
    ["result"],
    () => {
      const receiver = logs()?.receiver;
      return byResult(receiver && { accepted: receiver.connections, refused_source: receiver.refused });
    },
  );
  counter(
    "siderolink_stdout_lines_total",
    "Output lines (kernel logs and events) written to stdout, or dropped because its reader was too slow.",
    ["result"],
    () => {
      const stdout = logs()?.stdout;
      return byResult(stdout && { written: stdout.written, dropped: stdout.dropped });
    },
  );
  const singles: [typeof counter, string, string, () => number | undefined][] = [
    [
      counter,
      "siderolink_log_truncated_lines_total",
      "Kernel-log lines longer than 16 KiB, cut (also counted as accepted or malformed).",
      () => logs()?.receiver.truncated,
    ],
    [
      counter,
      "siderolink_log_received_bytes_total",
      "Bytes read from machines' kernel-log connections.",
      () => logs()?.receiver.bytes,
    ],
    [gauge, "siderolink_log_open_connections", "Kernel-log connections open now.", () => logs()?.receiver.open],
    [
      counter,
      "siderolink_log_store_stored_lines_total",
      "Kernel-log lines committed to the history.",
      () => logs()?.store.stored,
    ],
    [
      counter,
      "siderolink_log_store_failed_lines_total",
      "Accepted kernel-log lines that could not be stored (printed all the same).",
      () => logs()?.store.failed,
    ],
    [
      counter,
      "siderolink_log_store_pruned_lines_total",
      "Kernel-log lines removed from the history by retention (lines per machine, age).",
      () => logs()?.store.pruned,
    ],
    [
      gauge,
      "siderolink_log_store_lines",
      "Kernel-log lines the history holds.",
      () => sources.logs?.store.held()?.lines,
    ],
    [
      gauge,
      "siderolink_log_store_bytes",
      "Bytes (UTF-8) of the kernel-log lines the history holds.",
      () => sources.logs?.store.held()?.bytes,
    ],
  ];
  for (const [metric, name, help, value] of singles) metric(name, help, [], () => single(value()));

  // WireGuard over gRPC: the tunnel's own counters, read as they are.
  const tunnelMetrics: [string, string, string, (counters: GrpcTunnelCounters) => Record<string, number>][] = [
    [
      "siderolink_grpc_tunnel_streams_total",
      "WireGuard-over-gRPC streams: accepted, refused (metadata missing, malformed or no machine's), replaced.",
      "result",
      (c) => ({ accepted: c.streamsAccepted, refused: c.streamsRefused, replaced: c.streamsReplaced }),
    ],
    [
      "siderolink_grpc_tunnel_datagrams_total",
      "WireGuard datagrams relayed over gRPC: in (machines to WireGuard), out (WireGuard to machines).",
      "direction",
      (c) => ({ in: c.datagramsIn, out: c.datagramsOut }),
    ],
    [
      "siderolink_grpc_tunnel_bytes_total",
      "Bytes of the WireGuard datagrams relayed over gRPC, by direction.",
      "direction",
      (c) => ({ in: c.bytesIn, out: c.bytesOut }),
    ],
    [
      "siderolink_grpc_tunnel_dropped_datagrams_total",
      "Datagrams the gRPC relay dropped: slow_reader (a stream 100 behind), oversized (ended its stream), " +
      "send_failed (to WireGuard).",
      "reason",
      (c) => ({ slow_reader: c.droppedSlowReader, oversized: c.droppedOversized, send_failed: c.droppedSendFailed }),
    ],
  ];
  for (const [name, help, label, values] of tunnelMetrics) {
    counter(name, help, [label], () => {
      const counters = sources.tunnel?.counters;
      return counters && Object.entries(values(counters)).map(([value, count]) => [{ [label]: value }, count]);
    });
  }
  gauge(
    "siderolink_grpc_tunnel_open_streams",
    "WireGuard-over-gRPC streams relayed now.",
    [],
    () => single(sources.tunnel?.open),
  );

  // Peers: one device read serves every peer metric of a scrape, and the device is read at most once a second.
  const now = options.now ?? (() => new Date());
  const totals = new TransferTotals();
  const reading = new CachedRead<{ summary: PeerSummary; transfer: Transfer }>(
    async () => {
      const { peers } = await sources.device!.read();
      return { summary: summarizePeers(peers, now()), transfer: totals.update(peers) };
    },
    undefined,
    options.monotonicMs,
  );
  const peers = async () => {
    if (!sources.device) return undefined;
    try {
      return await reading.get();
    } catch (error) {
      log.warn("peer metrics left out: cannot read the device: {error}", { error: (error as Error).message });
      return undefined;
    }
  };
  gauge(
    "siderolink_peers",
    "WireGuard peers by state: up (a handshake within 275 s), down, never (no handshake yet).",
    ["state"],
    async () => {
      const states = (await peers())?.summary.states;
      return states && Object.entries(states).map(([state, count]) => [{ state }, count]);
    },
  );
  new Histogram({
    name: "siderolink_peer_handshake_age_seconds",
    help: "Seconds since the last handshake of each peer that made one, at scrape time (a snapshot, not cumulative).",
    buckets: HANDSHAKE_AGE_BUCKETS,
    registers: [registry],
    async collect() {
      const ages = (await peers())?.summary.handshakeAgesSeconds;
      this.reset();
      for (const age of ages ?? []) this.observe(age);
    },
  });
  counter(
    "siderolink_wireguard_received_bytes_total",
    "Bytes received from all WireGuard peers (removed peers included, up to their last reading).",
    [],
    async () => single((await peers())?.transfer.received),
  );
  counter(
    "siderolink_wireguard_sent_bytes_total",
    "Bytes sent to all WireGuard peers (removed peers included, up to their last reading).",
    [],
    async () => single((await peers())?.transfer.sent),
  );
  return registry;
}

/** One sample without labels, or none when the value is not known. */
function single(value: number | undefined): Sample[] | undefined {
  return value === undefined ? undefined : [[{}, value]];
}

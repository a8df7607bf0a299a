import assert from "node:assert/strict";
import { join } from "node:path";
import type { MetricObjectWithValues, MetricValueWithName } from "prom-client";
import { LogPipeline } from "../logs/pipeline.ts";
import { SqliteState } from "../state/sqlite.ts";
import type { DeviceInfo } from "../wireguard/device.ts";
import { daemonCounters } from "./counters.ts";
import { metricsRegistry, OMITTED_DEFAULT_METRICS } from "./registry.ts";
import { NOW, peer } from "./testdata.ts";

const encoder = new TextEncoder();

function record(seq: number): string {
  const time = new Date(Date.UTC(2026, 2, 2, 8, 0, 1) + seq).toISOString();
  return `{"clock":${1000 + seq},"msg":"m${seq}","priority":"info","seq":${seq},"talos-time":"${time}"}\n`;
}

/** Each metric's samples as `name{label="value",…}` → value. */
async function samples(registry: ReturnType<typeof metricsRegistry>): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const metric of await registry.getMetricsAsJSON() as MetricObjectWithValues<MetricValueWithName<string>>[]) {
    for (const { labels, value, metricName } of metric.values) {
      const text = Object.entries(labels).map(([name, label]) => `${name}="${label}"`).join(",");
      found.set(`${metricName ?? metric.name}${text ? `{${text}}` : ""}`, value);
    }
  }
  return found;
}

/** Asserts that `found` has each sample of `expected` at its value. */
function assertSamples(found: Map<string, number>, expected: Record<string, number>): void {
  for (const [name, value] of Object.entries(expected)) assert.equal(found.get(name), value, name);
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("the kernel-log metrics read the real receiver's, store's and stdout's counters", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "siderolink-metrics-" });
  using state = SqliteState.open(join(dir, "state"), "create");
  const printed: Uint8Array[] = [];
  const logs = await LogPipeline.start({
    hostname: "127.0.0.1",
    port: 0,
    identify: () => ({ serverUuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f" }),
    db: state.db,
    output: { write: (bytes) => Promise.resolve(printed.push(bytes.slice()) && bytes.length) },
  });
  try {
    const registry = metricsRegistry({ counters: daemonCounters(), logs });
    const sent = encoder.encode([1, 2, 3, 4, 5].map(record).join("") + "not json\n" + record(3));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: logs.receiver.port });
    await conn.write(sent);
    conn.close();
    await waitFor(() => logs.receiver.counters.duplicates === 1 && logs.receiver.counters.open === 0, "the lines");
    logs.store.flush();
    const { bytes } = state.db.prepare("SELECT sum(length(CAST(line AS BLOB))) AS bytes FROM log_lines").get() as {
      bytes: number;
    };
    const found = await samples(registry);
    assertSamples(found, {
      'siderolink_log_lines_total{result="accepted"}': 5,
      'siderolink_log_lines_total{result="malformed"}': 1,
      'siderolink_log_lines_total{result="duplicate"}': 1,
      'siderolink_log_lines_total{result="rate_limited"}': 0,
      "siderolink_log_truncated_lines_total": 0,
      "siderolink_log_received_bytes_total": sent.length,
      'siderolink_log_connections_total{result="accepted"}': 1,
      'siderolink_log_connections_total{result="refused_source"}': 0,
      "siderolink_log_open_connections": 0,
      "siderolink_log_store_stored_lines_total": 5,
      "siderolink_log_store_failed_lines_total": 0,
      "siderolink_log_store_pruned_lines_total": 0,
      "siderolink_log_store_lines": 5,
      "siderolink_log_store_bytes": bytes,
      'siderolink_stdout_lines_total{result="dropped"}': 0,
    });
    await logs.writer.close();
    assert.equal((await samples(registry)).get('siderolink_stdout_lines_total{result="written"}'), 5);
  } finally {
    await logs.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("peer metrics: one device read per scrape and per second, states, ages, bytes that never go down", async () => {
  let reads = 0;
  let clock = 0;
  let peers = [peer(1, 10, 1000, 100), peer(2, 200, 2000, 200), peer(3, 400, 4000, 400), peer(4, undefined, 0, 0)];
  const device = {
    read: (): Promise<DeviceInfo> => {
      reads++;
      return Promise.resolve({ name: "siderolink", listenPort: 51821, peers });
    },
  };
  const registry = metricsRegistry({ counters: daemonCounters(), device }, {
    now: () => NOW,
    monotonicMs: () => clock,
  });
  const [found] = await Promise.all([samples(registry), samples(registry)]);
  assert.equal(reads, 1, "two scrapes at once, one read");
  assertSamples(found, {
    'siderolink_peers{state="up"}': 2,
    'siderolink_peers{state="down"}': 1,
    'siderolink_peers{state="never"}': 1,
    'siderolink_peer_handshake_age_seconds_bucket{le="15"}': 1,
    'siderolink_peer_handshake_age_seconds_bucket{le="275"}': 2,
    'siderolink_peer_handshake_age_seconds_bucket{le="600"}': 3,
    'siderolink_peer_handshake_age_seconds_bucket{le="+Inf"}': 3,
    "siderolink_peer_handshake_age_seconds_count": 3,
    "siderolink_peer_handshake_age_seconds_sum": 610,
    "siderolink_wireguard_received_bytes_total": 7000,
    "siderolink_wireguard_sent_bytes_total": 700,
  });

  // A machine came back with a new key: its old peer is gone, a new one is there.
  peers = [peer(1, 10, 1500, 150), peer(2, 200, 2000, 200), peer(3, 400, 4000, 400), peer(5, 1, 10, 1)];
  assert.equal((await samples(registry)).get('siderolink_peers{state="never"}'), 1, "within a second: cached");
  assert.equal(reads, 1);
  clock += 1000;
  const later = await samples(registry);
  assert.equal(reads, 2);
  assert.equal(later.get('siderolink_peers{state="never"}'), 0);
  assert.equal(later.get("siderolink_peer_handshake_age_seconds_count"), 4, "a snapshot of the peers, not cumulative");
  assert.equal(later.get("siderolink_wireguard_received_bytes_total"), 7510);
  assert.equal(later.get("siderolink_wireguard_sent_bytes_total"), 751);
});

Deno.test("a failing device read leaves the peer metrics out, the rest of the scrape stays", async () => {
  const device = { read: (): Promise<DeviceInfo> => Promise.reject(new Error("no such device")) };
  const counters = daemonCounters();
  counters.provisionCalls.add({ code: "OK" });
  const found = await samples(metricsRegistry({ counters, device }));
  assert.equal(found.get('siderolink_provision_calls_total{code="OK"}'), 1);
  assert.equal([...found.keys()].some((name) => name.startsWith("siderolink_peers")), false);
});

Deno.test("the exposition: tallies, the default process metrics, without those Deno cannot give", async () => {
  const counters = daemonCounters();
  counters.provisionCalls.add({ code: "OK" }, 2);
  counters.provisionCalls.add({ code: "PERMISSION_DENIED" });
  counters.events.add({ type: "AddressEvent", result: "handled" });
  const registry = metricsRegistry({ counters });
  const text = await registry.metrics();
  assert.match(registry.contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(text, /^# TYPE siderolink_provision_calls_total counter$/m);
  assert.match(text, /^siderolink_provision_calls_total\{code="OK"\} 2$/m);
  assert.match(text, /^siderolink_provision_calls_total\{code="PERMISSION_DENIED"\} 1$/m);
  assert.match(text, /^siderolink_events_total\{type="AddressEvent",result="handled"\} 1$/m);
  assert.match(text, /^# TYPE siderolink_kubernetes_api_requests_total counter$/m);
  for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"]) {
    assert.match(text, new RegExp(`^${name} \\d`, "m"), name);
  }
  assert.match(text, /^nodejs_heap_size_used_bytes \d+$/m);
  for (const name of OMITTED_DEFAULT_METRICS) assert.doesNotMatch(text, new RegExp(`^# TYPE ${name} `, "m"), name);
  // Without a log pipeline or a device yet, their metrics have no samples (only their HELP and TYPE).
  assert.doesNotMatch(text, /^siderolink_log_lines_total/m);
  assert.doesNotMatch(text, /^siderolink_peers/m);
});

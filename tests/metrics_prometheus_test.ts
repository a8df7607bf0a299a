/**
 * `serve --metrics-listen` scraped by a real Prometheus (Debian's), everything real: serve in namespace `server`
 * with wireguard-go, Prometheus beside it scraping every second, a Talos-like machine in namespace `node`
 * (wireguard-go configured from its Provision reply, Python grpcio for provisioning and events, its kernel records
 * from this machine's `dmesg -J` through the tunnel). The values Prometheus's HTTP API returns must equal what the
 * test sent. `/readyz` is seen answering 503 while serve waits for its device (the wireguard-go it starts is held
 * back until the test has looked) and 200 after; `/healthz` 200 throughout.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { SERVE_CONDITIONS } from "../src/metrics/telemetry.ts";
import { linkNamespaces, NetNs, run } from "./support/netns.ts";
import { httpGet, Prometheus, type Samples, seriesKey } from "./support/prometheus.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";
import { type ProvisionReply, TalosTunnel } from "./support/talos_tunnel.ts";
import { dmesgRecords, jsonLines } from "./support/talos_records.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const UUID = "7d1e0c2a-5b3f-4e8d-a9c6-1f2e3d4c5b6a";
const STRANGER_UUID = "00000000-0000-4000-8000-0000000000ff";
const TOKEN = "metrics-join-token";
const UNDERLAY_SERVER = "fd5e:9::1";
const UNDERLAY_NODE = "fd5e:9::2";
const API = `[${UNDERLAY_SERVER}]:8081`;
const METRICS = `[${UNDERLAY_SERVER}]:9091`;
const PROMETHEUS = "[::1]:9090";
// Connects and waits for serve to close the connection (it does at once: the source is no machine's address).
const REFUSED_CONNECTION = `
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10) as connection:
    try:
        assert connection.recv(1) == b""
    except ConnectionResetError:
        pass
`;

const ignore = skipUnless(
  "metrics scraped by a real Prometheus",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("prometheus"), "prometheus (apt-get install prometheus)"],
  [onPath("curl"), "curl (apt-get install curl)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("dmesg"), "dmesg (util-linux)"],
  [onPath("python3"), "python3 with grpcio (apt-get install python3-grpcio python3-grpc-tools)"],
);

async function provision(node: TalosTunnel, uuid = UUID, token = TOKEN): Promise<ProvisionReply & { code?: string }> {
  return JSON.parse(await node.ns.exec(PYTHON, [NODE_SCRIPT, "provision", API, uuid, await node.publicKey(), token]));
}

/** Waits until Prometheus has every expected sample at its value; fails showing what it has instead. */
async function waitForSamples(prometheus: Prometheus, query: string, expected: Samples): Promise<Samples> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = await prometheus.query(query);
    const wrong = [...expected].filter(([key, value]) => found.get(key) !== value);
    if (wrong.length === 0) return found;
    if (Date.now() > deadline) {
      deepEqual(
        Object.fromEntries(wrong.map(([key]) => [key, found.get(key)])),
        Object.fromEntries(wrong),
        `Prometheus has other values (left) than expected (right); it has: ${JSON.stringify([...found])}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

Deno.test(
  { name: "a real Prometheus scrapes serve: provisions, peers, kernel logs, events; health probes", ignore },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "siderolink-metrics-" });
    const inventory = join(work, "inventory.yaml");
    await Deno.writeTextFile(inventory, `- uuid: ${UUID}\n  cluster: prod\n  machine: prod-cp-1\n`);
    // A wireguard-go in front of the real one that waits for the test's go, so that serve is held in its device step.
    const realWireguardGo = (await run("sh", ["-c", "command -v wireguard-go"])).trim();
    const gate = join(work, "gate");
    const waiting = join(work, "waiting");
    const wrappers = join(work, "bin");
    await Deno.mkdir(wrappers);
    await Deno.writeTextFile(
      join(wrappers, "wireguard-go"),
      `#!/bin/sh\ntouch '${waiting}'\nwhile [ ! -e '${gate}' ]; do sleep 0.05; done\nexec '${realWireguardGo}' "$@"\n`,
      { mode: 0o755 },
    );
    const suffix = `${Deno.pid % 100000}`;
    const serverIface = `slm${suffix}`;
    await using serverNs = await NetNs.create("msrv");
    await using nodeNs = await NetNs.create("mnode");
    await linkNamespaces(serverNs, UNDERLAY_SERVER, nodeNs, UNDERLAY_NODE);
    const starting = ServeProcess.start([
      ...["--state-dir", join(work, "state"), "--wireguard-endpoint", `[${UNDERLAY_SERVER}]:51821`],
      ...["--wireguard-backend", "userspace", "--interface", serverIface, "--api-listen", API],
      ...["--control-socket", join(work, "control.sock"), "--join-token", TOKEN, "--inventory", inventory],
      ...["--accept", "known", "--metrics-listen", METRICS],
    ], { ns: serverNs, env: { PATH: `${wrappers}:${Deno.env.get("PATH")}` } });
    let serve: ServeProcess | undefined;
    try {
      // Before the device: alive, not ready, and why.
      while (!await Deno.stat(waiting).then(() => true, () => false)) {
        await Promise.race([starting, new Promise((resolve) => setTimeout(resolve, 50))]);
      }
      deepEqual(await httpGet(serverNs, `http://${METRICS}/healthz`), { status: 200, body: "ok\n" });
      const before = await httpGet(serverNs, `http://${METRICS}/readyz`);
      equal(before.status, 503);
      ok(before.body.includes(`device: ${SERVE_CONDITIONS.device}\n`), before.body);
      await Deno.writeTextFile(gate, "");
      serve = await starting;
      deepEqual(await httpGet(serverNs, `http://${METRICS}/readyz`), { status: 200, body: "ready\n" });
      deepEqual(await httpGet(serverNs, `http://${METRICS}/healthz`), { status: 200, body: "ok\n" });
      // Bound exactly where configured, nowhere else.
      const listening = (await serverNs.exec("ss", ["-Hltn", "sport = :9091"])).trim().split("\n");
      equal(listening.length, 1, listening.join("\n"));
      match(listening[0], new RegExp(`\\[${UNDERLAY_SERVER}\\]:9091`));

      await using prometheus = await Prometheus.start(serverNs, PROMETHEUS, "siderolink", METRICS);

      // Provisions: a wrong token, a machine not in the inventory, then the machine itself.
      const node = await TalosTunnel.start(nodeNs, `slmn${suffix}`);
      equal((await provision(node, UUID, "wrong-token")).code, "PERMISSION_DENIED");
      equal((await provision(node, STRANGER_UUID)).code, "NOT_FOUND");
      const reply = await provision(node);
      const server = reply.server_address;
      await node.configure(reply);
      await node.reach(server);

      // Kernel logs: N records, a malformed line, 10 records again; and a connection from no machine's address.
      const records = (await dmesgRecords(Date.UTC(2026, 10, 26, 8, 0, 0))).slice(0, 120);
      const file = join(work, "records.jsonl");
      await Deno.writeTextFile(file, jsonLines(records) + "this is not json\n" + jsonLines(records.slice(0, 10)));
      await nodeNs.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", file]);
      await serverNs.exec(PYTHON, ["-c", REFUSED_CONNECTION, server, "4001"]);

      // Events: two handled, one resent, one of a type the sink does not know, one refused.
      const events = [
        {
          id: "cv0m000000000000000a0",
          type: "AddressEvent",
          payload: { hostname: "prod-cp-1", addresses: ["10.5.0.2"] },
        },
        { id: "cv0m000000000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
        { id: "cv0m000000000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
        { id: "cv0m000000000000000a2", type_url: "type.googleapis.com/machine.FutureEvent", value_hex: "0a0178" },
        { id: "cv0m000000000000000a3" },
      ];
      const results = (await nodeNs.exec(PYTHON, [NODE_SCRIPT, "publish", `[${server}]:4002`, JSON.stringify(events)]))
        .trim().split("\n").map((line) => JSON.parse(line).code);
      deepEqual(results, ["OK", "OK", "OK", "OK", "INVALID_ARGUMENT"]);

      const bytes = (await Deno.stat(file)).size;
      const n = records.length;
      const expected: Samples = new Map([
        [seriesKey("siderolink_provision_calls_total", { code: "OK" }), 1],
        [seriesKey("siderolink_provision_calls_total", { code: "PERMISSION_DENIED" }), 1],
        [seriesKey("siderolink_provision_calls_total", { code: "NOT_FOUND" }), 1],
        [seriesKey("siderolink_peers", { state: "up" }), 1],
        [seriesKey("siderolink_peers", { state: "down" }), 0],
        [seriesKey("siderolink_peers", { state: "never" }), 0],
        [seriesKey("siderolink_peer_handshake_age_seconds_count"), 1],
        [seriesKey("siderolink_peer_handshake_age_seconds_bucket", { le: "275" }), 1],
        [seriesKey("siderolink_log_lines_total", { result: "accepted" }), n],
        [seriesKey("siderolink_log_lines_total", { result: "malformed" }), 1],
        [seriesKey("siderolink_log_lines_total", { result: "duplicate" }), 10],
        [seriesKey("siderolink_log_lines_total", { result: "rate_limited" }), 0],
        [seriesKey("siderolink_log_truncated_lines_total"), 0],
        [seriesKey("siderolink_log_received_bytes_total"), bytes],
        [seriesKey("siderolink_log_connections_total", { result: "accepted" }), 1],
        [seriesKey("siderolink_log_connections_total", { result: "refused_source" }), 1],
        [seriesKey("siderolink_log_store_stored_lines_total"), n],
        [seriesKey("siderolink_log_store_failed_lines_total"), 0],
        [seriesKey("siderolink_log_store_lines"), n],
        [seriesKey("siderolink_events_total", { type: "AddressEvent", result: "handled" }), 1],
        [seriesKey("siderolink_events_total", { type: "SequenceEvent", result: "handled" }), 1],
        [seriesKey("siderolink_events_total", { type: "SequenceEvent", result: "duplicate" }), 1],
        [seriesKey("siderolink_events_total", { type: "unknown", result: "handled" }), 1],
        [seriesKey("siderolink_events_total", { type: "none", result: "refused" }), 1],
        [seriesKey("siderolink_stdout_lines_total", { result: "written" }), n + 3],
      ]);
      const found = await waitForSamples(prometheus, '{__name__=~"siderolink_.+"}', expected);

      // WireGuard bytes: what the device had counted at a scrape (its reading may be up to 1 s older than the log
      // counters'), so, once it includes the log lines, above their bytes and at most what wg reports after it.
      let wireguard = found;
      for (
        let tries = 0;
        !(wireguard.get("siderolink_wireguard_received_bytes_total")! > bytes) && tries < 20;
        tries++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        wireguard = await prometheus.query('{__name__=~"siderolink_wireguard_.+"}');
      }
      const [, received, sent] = (await serverNs.exec("wg", ["show", serverIface, "transfer"])).trim().split("\t");
      const scrapedReceived = wireguard.get("siderolink_wireguard_received_bytes_total")!;
      const scrapedSent = wireguard.get("siderolink_wireguard_sent_bytes_total")!;
      ok(scrapedReceived > bytes && scrapedReceived <= Number(received), `${scrapedReceived} of ${received}`);
      ok(scrapedSent > 0 && scrapedSent <= Number(sent), `${scrapedSent} of ${sent}`);
      ok(found.get("siderolink_log_store_bytes")! > 0);
      // The default process metrics come along; the scrape itself is healthy.
      const process = await prometheus.query('{__name__=~"process_resident_memory_bytes|up"}');
      ok(process.get("process_resident_memory_bytes")! > 10_000_000, JSON.stringify([...process]));
      equal(process.get("up"), 1);

      equal(await serve.stop(), 0);
      ok(![...serve.stdout, ...serve.stderr].join("\n").includes(TOKEN), "no join token in any output");
    } finally {
      await Deno.writeTextFile(gate, "").catch(() => {});
      await (serve ?? await starting.catch(() => undefined))?.stop("SIGKILL");
      await Deno.remove(work, { recursive: true });
    }
  },
);

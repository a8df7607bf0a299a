/**
 * WireGuard over gRPC end to end, everything real, as one scenario for both WireGuard backends: serve runs in
 * namespace `server` with the backend given (wireguard-go on this host; the kernel's in the QEMU guest, whose kernel
 * has WireGuard); namespace `node` plays a Talos machine with its own WireGuard of the same kind, configured by `wg`
 * from the Provision reply. Its UDP to the server gets blocked by a routing rule, so its WireGuard datagrams travel
 * through a node-side relay written for the tests (Python grpcio, `grpc_tunnel_node.py`) inside CreateStream. The
 * machine starts on UDP, moves to the tunnel and back, keeping its address; kernel-log lines and events go through the
 * tunnel annotated as usual; serve restarts under an open stream and the tunnel comes back.
 *
 * Every wait is for a condition, with deadlines meant for a loaded machine or an emulated guest, not for speed.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { formatIPv6, parseIPv6 } from "../../src/ipv6.ts";
import { generatePrivateKey } from "../../src/keys.ts";
import { runCli } from "./cli.ts";
import { blockUdp, GrpcTunnelRelay } from "./grpc_tunnel_relay.ts";
import { linkNamespaces, NetNs } from "./netns.ts";
import { httpGet } from "./prometheus.ts";
import { PYTHON } from "./requirements.ts";
import { ServeProcess } from "./serve_process.ts";
import { type NodeWireGuard, pingUntilAnswered, TalosTunnel, type TunnelReply } from "./talos_tunnel.ts";
import { dmesgRecords, expectedLine, jsonLines } from "./talos_records.ts";

const NODE_SCRIPT = new URL("./talos_node.py", import.meta.url).pathname;
const UUID = "5c2b7a10-3d4e-4f60-8a9b-0c1d2e3f4a5b";
const IDENTITY = {
  serverUuid: UUID,
  namespace: "default",
  cluster: "edge",
  metalMachine: "edge-x1",
  machine: "edge-1",
};
const UNDERLAY_SERVER = "fd5e:b::1";
const UNDERLAY_NODE = "fd5e:b::2";
const API = `[${UNDERLAY_SERVER}]:8081`;
const METRICS = `[${UNDERLAY_SERVER}]:9091`;
/** The node relay's UDP port on the node's loopback: the node WireGuard's peer endpoint while tunnelling. */
const RELAY_PORT = 51999;
const TOKEN = "grpc-tunnel-join-token";
/** How long output that travels through the tunnel may take to show up (generous: an emulated guest under load). */
const ARRIVAL_MS = 120_000;

/** What differs between the runs of the scenario. */
export interface GrpcTunnelScenario {
  /** serve's `--wireguard-backend`, and the kind of WireGuard the machine runs. */
  backend: NodeWireGuard;
  /** Whether serve restarts under the open stream (the relay's 10 s retry makes it the longest step). */
  restart: boolean;
}

/** Provisions `node` with its current key, over UDP or asking for the tunnel. */
function provision(node: TalosTunnel, tunnel: boolean): Promise<TunnelReply> {
  return node.provision(API, UUID, TOKEN, tunnel);
}

/** `peers --json` of the running serve. */
async function peers(socket: string): Promise<{ address: string; endpoint?: string; transport?: string }[]> {
  const result = await runCli(["peers", "--json", "--control-socket", socket]);
  equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** The samples of the tunnel's metrics in a scrape of serve's /metrics. */
async function tunnelMetrics(ns: NetNs): Promise<Record<string, number>> {
  const { status, body } = await httpGet(ns, `http://${METRICS}/metrics`);
  equal(status, 200);
  return Object.fromEntries(
    body.split("\n").filter((line) => line.startsWith("siderolink_grpc_tunnel_")).map((line) => {
      const at = line.lastIndexOf(" ");
      return [line.slice(0, at), Number(line.slice(at + 1))];
    }),
  );
}

/** Runs the scenario as steps of `t`; namespaces, processes and files go also when a step fails. */
export async function runGrpcTunnelScenario(t: Deno.TestContext, scenario: GrpcTunnelScenario): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "siderolink-grpc-tunnel-" });
  const socket = join(work, "control.sock");
  const inventory = join(work, "inventory.yaml");
  await Deno.writeTextFile(
    inventory,
    `- uuid: ${UUID}\n  namespace: default\n  cluster: edge\n  metalMachine: edge-x1\n  machine: edge-1\n`,
  );
  const suffix = `${Deno.pid % 100000}`;
  await using serverNs = await NetNs.create("gsrv");
  await using nodeNs = await NetNs.create("gnode");
  await linkNamespaces(serverNs, UNDERLAY_SERVER, nodeNs, UNDERLAY_NODE);
  const args = [
    ...["--state-dir", join(work, "state"), "--wireguard-endpoint", `[${UNDERLAY_SERVER}]:51821`],
    ...["--wireguard-backend", scenario.backend, "--interface", `slg${suffix}`, "--api-listen", API],
    ...["--control-socket", socket, "--inventory", inventory, "--metrics-listen", METRICS],
    ...["--join-token", TOKEN],
  ];
  let serve = await ServeProcess.start(args, { ns: serverNs });
  const relays: GrpcTunnelRelay[] = [];
  try {
    const node = await TalosTunnel.start(nodeNs, `slgn${suffix}`, scenario.backend);
    let address = "";
    let server = "";

    await t.step("over UDP first", async () => {
      const reply = await provision(node, false);
      equal(reply.grpc_peer_addr_port, "");
      await node.configure(reply);
      address = reply.node_address_prefix.replace("/64", "");
      server = reply.server_address;
      await node.reach(server);
      const [peer] = await peers(socket);
      equal(peer.address, address);
      equal(peer.transport, "udp");
      match(peer.endpoint!, new RegExp(`^\\[${UNDERLAY_NODE}\\]:\\d+$`));
    });

    await t.step("UDP blocked: nothing gets through the UDP tunnel any more", async () => {
      await blockUdp(nodeNs, 51821);
      const ping = await nodeNs.exec("ping", ["-6", "-c", "3", "-W", "1", server]).then(() => "answered", String);
      match(ping, /exited 1/);
    });

    await t.step("a new boot asks for the tunnel: same address, the virtual endpoint", async () => {
      node.privateKey = generatePrivateKey();
      const reply = await provision(node, true);
      equal(reply.node_address_prefix, `${address}/64`, "the SideroLink address stays the machine's");
      // The virtual prefix is the SideroLink one with purpose byte 0x04; the last 8 bytes are the machine's.
      const bytes = parseIPv6(address)!;
      bytes[7] = 0x04;
      const virtual = `[${formatIPv6(bytes)}]:50888`;
      equal(reply.grpc_peer_addr_port, virtual);
      deepEqual(reply.server_endpoint, [virtual]);
      const relay = GrpcTunnelRelay.start(nodeNs, API, reply.grpc_peer_addr_port, RELAY_PORT);
      relays.push(relay);
      await relay.waitFor((event) => event.event === "open", 1, ARRIVAL_MS);
      await node.configure(reply, relay.endpoint);
      await node.reach(server);
      // And back: the server reaches the machine through the tunnel too.
      await pingUntilAnswered(serverNs, address);
      await serverNs.exec("ping", ["-6", "-c", "3", "-i", "0.2", "-W", "5", address]);
      const [peer] = await peers(socket);
      equal(peer.address, address);
      equal(peer.transport, "grpc");
      match(peer.endpoint!, /^127\.0\.0\.1:\d+$/);
      const table = await runCli(["peers", "--control-socket", socket]);
      match(table.stdout, /TRANSPORT/);
      match(table.stdout.split("\n").find((line) => line.includes(UUID))!, /127\.0\.0\.1:\d+\s+grpc\s/);
    });

    await t.step("kernel-log lines and events through the tunnel, annotated as usual", async () => {
      const records = (await dmesgRecords(Date.UTC(2026, 10, 27, 9, 0, 0))).slice(0, 100);
      const logFile = join(work, "records.jsonl");
      await Deno.writeTextFile(logFile, jsonLines(records));
      await nodeNs.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", logFile]);
      const expected = records.map((record) => expectedLine(record, IDENTITY));
      const logLines = () => serve.stdout.filter((line) => line.includes('"seq"'));
      await serve.waitFor(() => logLines().length >= expected.length, ARRIVAL_MS, "log lines");
      deepEqual(logLines(), expected);
      const events = [
        { id: "cv1grpc0000000000a0", type: "AddressEvent", payload: { hostname: "edge-1", addresses: [address] } },
        { id: "cv1grpc0000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
      ];
      const results = await nodeNs.exec(PYTHON, [NODE_SCRIPT, "publish", `[${server}]:4002`, JSON.stringify(events)]);
      deepEqual(results.trim().split("\n").map((line) => JSON.parse(line).code), ["OK", "OK"], results);
      const eventLines = () =>
        serve.stdout.filter((line) => line.includes('"component":"sink"')).map((line) => JSON.parse(line));
      await serve.waitFor(() => eventLines().length >= events.length, ARRIVAL_MS, "events");
      deepEqual(eventLines().map((line) => line.id), events.map((event) => event.id));
      for (const line of eventLines()) {
        ok(line.node.startsWith(`[${address}]:`), line.node);
        equal(line.server_uuid, UUID);
        equal(line.machine, "edge-1");
      }
    });

    await t.step("the metrics count the relayed datagrams and bytes: WireGuard's own count of the peer", async () => {
      // Every datagram of the machine's new key went through the tunnel, so the relay's bytes are the peer's transfer
      // as `wg` reads it from the device: a scrape between two equal readings, so that no keepalive slips in between
      // (`wg` answers in milliseconds, so on a loaded machine too the window is small; a change just tries again).
      const transfer = async () => (await serverNs.exec("wg", ["show", `slg${suffix}`, "transfer"])).trim();
      for (const deadline = Date.now() + ARRIVAL_MS;;) {
        const before = await transfer();
        const metrics = await tunnelMetrics(serverNs);
        const after = await transfer();
        if (before !== after) {
          ok(Date.now() < deadline, "the peer's transfer keeps changing");
          continue;
        }
        const [, received, sent] = after.split("\t").map(Number);
        equal(after.split("\n").length, 1, `one peer: ${after}`);
        equal(metrics['siderolink_grpc_tunnel_streams_total{result="accepted"}'], 1);
        equal(metrics["siderolink_grpc_tunnel_open_streams"], 1);
        equal(metrics['siderolink_grpc_tunnel_bytes_total{direction="in"}'], received);
        equal(metrics['siderolink_grpc_tunnel_bytes_total{direction="out"}'], sent);
        for (const direction of ["in", "out"]) {
          const datagrams = metrics[`siderolink_grpc_tunnel_datagrams_total{direction="${direction}"}`];
          const bytes = metrics[`siderolink_grpc_tunnel_bytes_total{direction="${direction}"}`];
          ok(datagrams > 10 && bytes >= datagrams * 32 && bytes <= datagrams * 1312, `${direction}: ${datagrams}`);
        }
        equal(metrics['siderolink_grpc_tunnel_dropped_datagrams_total{reason="slow_reader"}'], 0);
        return;
      }
    });

    if (scenario.restart) {
      await t.step("serve restarts under the open stream: the relay reconnects and the tunnel comes back", async () => {
        const [relay] = relays;
        equal(await serve.stop(), 0, "SIGTERM ends serve cleanly, streams and all");
        const [ended] = await relay.waitFor((event) => event.event === "ended", 1, ARRIVAL_MS);
        equal(ended.code, "UNAVAILABLE", JSON.stringify(ended));
        serve = await ServeProcess.start(args, { ns: serverNs });
        // The relay opens a new stream 10 s after the failure; WireGuard moves the peer to its new socket.
        await relay.waitFor((event) => event.event === "open", 2, ARRIVAL_MS);
        await node.reach(server);
        await pingUntilAnswered(serverNs, address);
        const [peer] = await peers(socket);
        equal(peer.transport, "grpc");
      });
    }

    await t.step("UDP allowed again and a boot without the tunnel: back on UDP, same address", async () => {
      await relays.pop()![Symbol.asyncDispose]();
      await blockUdp(nodeNs, 51821, false);
      node.privateKey = generatePrivateKey();
      const reply = await provision(node, false);
      equal(reply.node_address_prefix, `${address}/64`);
      deepEqual(reply.server_endpoint, [`[${UNDERLAY_SERVER}]:51821`]);
      await node.configure(reply);
      await node.reach(server);
      const [peer] = await peers(socket);
      equal(peer.transport, "udp");
      equal(peer.address, address);
      // The relay's stream ended with its process; serve closes it when the connection goes.
      for (const deadline = Date.now() + ARRIVAL_MS;;) {
        const open = (await tunnelMetrics(serverNs))["siderolink_grpc_tunnel_open_streams"];
        if (open === 0) break;
        ok(Date.now() < deadline, `${open} streams still open`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    });
  } finally {
    for (const relay of relays) await relay[Symbol.asyncDispose]();
    await serve.stop("SIGKILL");
    await Deno.remove(work, { recursive: true });
  }
}

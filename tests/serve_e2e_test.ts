/**
 * `serve` end to end, everything real: serve runs in namespace `server` with the userspace backend
 * (wireguard-go); namespace `node` plays a Talos machine with its own wireguard-go configured by `wg`, exactly
 * as Talos configures itself from the Provision reply; a Python grpcio client provisions and publishes events,
 * kernel records from this machine's `dmesg -J` travel through the tunnel over TCP.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { EventStore } from "../src/events/store.ts";
import { generatePrivateKey } from "../src/keys.ts";
import { MachineStore } from "../src/machines/store.ts";
import { SqliteState } from "../src/state/sqlite.ts";
import { linkNamespaces, NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";
import { type ProvisionReply, TalosTunnel } from "./support/talos_tunnel.ts";
import { dmesgRecords, expectedLine, jsonLines } from "./support/talos_records.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
const IDENTITY = {
  serverUuid: UUID,
  namespace: "default",
  cluster: "prod",
  metalMachine: "prod-cp-x7k2p",
  machine: "prod-cp-1",
};
const TOKEN = "e2e-join-token";
const UNDERLAY_SERVER = "fd5e:1::1";
const UNDERLAY_NODE = "fd5e:1::2";

const ignore = skipUnless(
  "serve end to end",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("dmesg"), "dmesg (util-linux)"],
  [existsFile(PYTHON), "python3 with grpcio (apt-get install python3-grpcio python3-grpc-tools)"],
);

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Provisions `node` (its current key) through the API with the Python grpcio client. */
async function provision(
  node: TalosTunnel,
  token = TOKEN,
): Promise<ProvisionReply & { grpc_peer_addr_port?: string; code?: string; details?: string }> {
  const api = `[${UNDERLAY_SERVER}]:8081`;
  return JSON.parse(await node.ns.exec(PYTHON, [NODE_SCRIPT, "provision", api, UUID, await node.publicKey(), token]));
}

Deno.test({ name: "serve end to end with a real WireGuard peer, real logs and real events", ignore }, async () => {
  const work = await Deno.makeTempDir({ prefix: "siderolink-e2e-" });
  const stateDir = join(work, "state");
  const inventory = join(work, "inventory.yaml");
  await Deno.writeTextFile(
    inventory,
    `- uuid: ${UUID}\n  namespace: default\n  cluster: prod\n  metalMachine: prod-cp-x7k2p\n  machine: prod-cp-1\n`,
  );
  const suffix = `${Deno.pid % 100000}`;
  const serverIface = `sls${suffix}`;
  const nodeIface = `sln${suffix}`;
  await using serverNs = await NetNs.create("srv");
  await using nodeNs = await NetNs.create("node");
  await linkNamespaces(serverNs, UNDERLAY_SERVER, nodeNs, UNDERLAY_NODE);
  const args = [
    "--state-dir",
    stateDir,
    "--wireguard-endpoint",
    `[${UNDERLAY_SERVER}]:51821`,
    "--wireguard-backend",
    "userspace",
    "--interface",
    serverIface,
    "--api-listen",
    `[${UNDERLAY_SERVER}]:8081`,
    "--control-socket",
    join(work, "control.sock"),
    "--join-token",
    TOKEN,
    "--inventory",
    inventory,
    "--log-level",
    "debug",
  ];
  let serve = await ServeProcess.start(args, { ns: serverNs });
  try {
    // The start-up line names the settings and never the secrets.
    const startup = serve.stderr.find((line) => line.includes("serving"))!;
    equal(startup.includes(TOKEN), false, "the join token is not printed");
    match(startup, /talos\.logging\.kernel=tcp:\/\/\[fd[0-9a-f:]+::1\]:4001/);

    // The node: a wireguard-go of its own, provisioned through the API.
    const node = await TalosTunnel.start(nodeNs, nodeIface);

    const denied = await provision(node, "wrong-token");
    deepEqual(denied, { code: "PERMISSION_DENIED", details: "invalid join token" });

    const reply = await provision(node);
    deepEqual(reply.server_endpoint, [`[${UNDERLAY_SERVER}]:51821`]);
    const nodeAddress = (reply.node_address_prefix as string).replace("/64", "");
    const server = reply.server_address as string;
    match(server, /^fd[0-9a-f:]+::1$/);
    equal(reply.grpc_peer_addr_port, "");
    await node.configure(reply);
    await node.reach(server);

    // The server's device, seen by `wg`: one peer, the node's key, exactly the node's /128.
    const dump = (await serverNs.exec("wg", ["show", serverIface, "dump"])).trim().split("\n");
    equal(dump.length, 2, dump.join("\n"));
    const [peerKey, , endpoint, allowed] = dump[1].split("\t");
    equal(peerKey, await node.publicKey());
    equal(allowed, `${nodeAddress}/128`);
    match(endpoint, new RegExp(`^\\[${UNDERLAY_NODE}\\]:\\d+$`));

    // Kernel logs through the tunnel: the machine's whole ring buffer, then the same again (a resend).
    const records = (await dmesgRecords(Date.UTC(2026, 10, 26, 8, 0, 0))).slice(0, 200);
    const logFile = join(work, "records.jsonl");
    await Deno.writeTextFile(logFile, jsonLines(records) + "this is not json\n" + jsonLines(records.slice(0, 10)));
    await nodeNs.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", logFile]);
    const expected = records.map((record) => expectedLine(record, IDENTITY));
    await serve.waitFor(
      () => serve.stdout.filter((line) => line.includes('"seq"')).length >= expected.length,
      20_000,
      "log lines",
    );
    deepEqual(serve.stdout.filter((line) => line.includes('"seq"')), expected, "exact lines, once each, in order");

    // Events through the tunnel.
    const events = [
      {
        id: "cv0e2e000000000000a0",
        type: "AddressEvent",
        payload: { hostname: "prod-cp-1", addresses: [nodeAddress, "10.5.0.2"] },
      },
      { id: "cv0e2e000000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
      {
        id: "cv0e2e000000000000a2",
        type: "SequenceEvent",
        payload: {
          sequence: "install",
          action: "NOOP",
          error: { code: "FATAL", message: "install failed: disk busy" },
        },
      },
      { id: "cv0e2e000000000000a3", type: "ConfigLoadErrorEvent", payload: { error: "bad config" } },
      {
        id: "cv0e2e000000000000a4",
        type: "ServiceStateEvent",
        payload: { service: "etcd", action: "RUNNING", message: "Health check successful", health: { healthy: true } },
      },
      {
        id: "cv0e2e000000000000a5",
        type: "MachineStatusEvent",
        payload: { stage: "RUNNING", status: { ready: true } },
      },
      { id: "cv0e2e000000000000a6", type_url: "type.googleapis.com/machine.FutureEvent", value_hex: "0a0178" },
      { id: "cv0e2e000000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
      { id: "cv0e2e000000000000a7" },
    ];
    const results = (await nodeNs.exec(PYTHON, [NODE_SCRIPT, "publish", `[${server}]:4002`, JSON.stringify(events)]))
      .trim().split("\n").map((line) => JSON.parse(line));
    deepEqual(results.map((result) => result.code), [
      "OK",
      "OK",
      "OK",
      "OK",
      "OK",
      "OK",
      "OK",
      "OK",
      "INVALID_ARGUMENT",
    ]);
    await serve.waitFor(
      () => serve.stdout.some((line) => line.includes("cv0e2e000000000000a6")),
      10_000,
      "event lines",
    );
    const eventLines = serve.stdout.filter((line) => line.includes('"component":"sink"')).map((line) =>
      JSON.parse(line)
    );
    deepEqual(eventLines.map((line) => line.id), events.slice(0, 7).map((event) => event.id), "each id once");
    for (const line of eventLines) {
      equal(line.node.startsWith(`[${nodeAddress}]:`), true, line.node);
      equal(line.server_uuid, UUID);
      equal(line.cluster, "prod");
      equal(line.machine, "prod-cp-1");
    }
    deepEqual(Object.keys(eventLines[0]).slice(0, 7), ["level", "ts", "msg", "component", "node", "id", "type"]);
    deepEqual(eventLines[0].addresses, [nodeAddress, "10.5.0.2"]);
    equal(eventLines[4].msg, "service Health check successful");

    // Stored status: addresses without the SideroLink one, conditions per PROTOCOL.md §5.
    {
      using state = SqliteState.open(stateDir, "read");
      const status = new EventStore(state).status(UUID)!;
      deepEqual(status.addresses, ["10.5.0.2"]);
      equal(status.hostname, "prod-cp-1");
      equal(status.stage, "RUNNING");
      equal(status.ready, true);
      const conditions = Object.fromEntries(status.conditions.map((condition) => [condition.type, condition]));
      equal(conditions.TalosConfigLoaded.status, "False");
      equal(conditions.TalosConfigLoaded.reason, "TalosConfigLoadFailed");
      equal(conditions.TalosInstalled.status, "False");
      equal(conditions.TalosInstalled.reason, "TalosInstallationFailed");
      equal(conditions.TalosConfigValidated.status, "True");
    }

    // Restart: same key, same addresses, same peer; the node's tunnel comes back without provisioning again.
    const serverKeyBefore = (await serverNs.exec("wg", ["show", serverIface, "public-key"])).trim();
    equal(await serve.stop(), 0, "SIGTERM ends serve cleanly");
    serve = await ServeProcess.start(args, { ns: serverNs });
    equal((await serverNs.exec("wg", ["show", serverIface, "public-key"])).trim(), serverKeyBefore);
    equal(serverKeyBefore, reply.server_public_key);
    const peersAfter = (await serverNs.exec("wg", ["show", serverIface, "allowed-ips"])).trim();
    equal(peersAfter, `${await node.publicKey()}\t${nodeAddress}/128`);
    await node.reach(server);
    await nodeNs.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", logFile]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    equal(serve.stdout.filter((line) => line.includes('"seq"')).length, 0, "replayed records are not printed again");

    // A new boot: a new key. The old peer goes, the address stays.
    node.privateKey = generatePrivateKey();
    const again = await provision(node);
    equal(again.node_address_prefix, reply.node_address_prefix);
    await node.configure(again);
    await node.reach(server);
    equal(
      (await serverNs.exec("wg", ["show", serverIface, "allowed-ips"])).trim(),
      `${await node.publicKey()}\t${nodeAddress}/128`,
    );
    {
      using state = SqliteState.open(stateDir, "read");
      equal(new MachineStore(state).get(UUID)?.publicKey, await node.publicKey());
    }
    equal(await serve.stop(), 0);
    const everything = [...serve.stdout, ...serve.stderr].join("\n");
    ok(!everything.includes(TOKEN), "no join token in any output");
  } finally {
    await serve.stop("SIGKILL");
    await Deno.remove(work, { recursive: true });
  }
});

/**
 * `serve --kubernetes` end to end, everything real: etcd and a kube-apiserver 1.20.2 with the project's RBAC
 * manifests (serve authenticates as the ServiceAccount), serve with the userspace backend in namespace `server`,
 * a Talos-like machine (its own wireguard-go, Python grpcio) in namespace `node`, kernel records from `dmesg -J`.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { generatePrivateKey, publicKeyOf } from "../src/keys.ts";
import { formatKey } from "../src/keys.ts";
import { KUBE_TOOLS_REQUIREMENT, KubeApiserver } from "./support/kube_apiserver.ts";
import { linkNamespaces, NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";
import { type ProvisionReply, TalosTunnel } from "./support/talos_tunnel.ts";
import { dmesgRecords, expectedLine, jsonLines, type TalosRecord } from "./support/talos_records.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const DEPLOY = new URL("../deploy/kubernetes/", import.meta.url).pathname;
const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
const IMPORTED_UUID = "7d2b9c4e-1a3f-4e5d-8c6b-0a1b2c3d4e5f";
const UNBOUND_UUID = "99999999-8888-4777-8666-555555555555";
const UNDERLAY_SERVER = "fd5e:2::1";
const UNDERLAY_NODE = "fd5e:2::2";
const API = `[${UNDERLAY_SERVER}]:8081`;

export const ignore = skipUnless(
  "serve --kubernetes",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
  [onPath("dmesg"), "dmesg (util-linux)"],
  KUBE_TOOLS_REQUIREMENT,
);

type Reply = ProvisionReply & { code?: string; details?: string };

/** One control plane, one serve, one machine: what every step below shares. */
class World implements AsyncDisposable {
  work = "";
  serve?: ServeProcess;
  readonly disposables: AsyncDisposable[] = [];

  constructor(readonly serverNs: NetNs, readonly nodeNs: NetNs, readonly kube: KubeApiserver) {}

  static async create(): Promise<World> {
    const serverNs = await NetNs.create("ksrv");
    const nodeNs = await NetNs.create("knode");
    try {
      await linkNamespaces(serverNs, UNDERLAY_SERVER, nodeNs, UNDERLAY_NODE);
      const world = new World(serverNs, nodeNs, await KubeApiserver.start(serverNs));
      world.work = await Deno.makeTempDir({ prefix: "siderolink-kube-" });
      return world;
    } catch (error) {
      await nodeNs[Symbol.asyncDispose]();
      await serverNs[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** serve's arguments: Kubernetes mode as the ServiceAccount, userspace WireGuard. */
  args(iface: string): string[] {
    return [
      "--kubernetes",
      "--kubeconfig",
      this.kube.serviceAccountKubeconfig,
      "--state-dir",
      join(this.work, "state"),
      "--wireguard-endpoint",
      `[${UNDERLAY_SERVER}]:51821`,
      "--wireguard-backend",
      "userspace",
      "--interface",
      iface,
      "--api-listen",
      API,
      "--control-socket",
      join(this.work, "control.sock"),
      "--metrics-listen",
      "127.0.0.1:9091",
      "--cleanup-on-exit",
    ];
  }

  kubectl(args: string[], stdin?: string): Promise<string> {
    return this.kube.kubectl(args, { stdin });
  }

  // deno-lint-ignore no-explicit-any
  async json(args: string[]): Promise<Record<string, any>> {
    return JSON.parse(await this.kubectl([...args, "-o", "json"]));
  }

  async apply(objects: unknown[]): Promise<void> {
    await this.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  }

  async provision(uuid: string, publicKey: string): Promise<Reply> {
    return JSON.parse(await this.nodeNs.exec(PYTHON, [NODE_SCRIPT, "provision", API, uuid, publicKey]));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.serve?.stop("SIGKILL");
    for (const disposable of this.disposables.reverse()) await disposable[Symbol.asyncDispose]();
    await this.kube[Symbol.asyncDispose]();
    await this.nodeNs[Symbol.asyncDispose]();
    await this.serverNs[Symbol.asyncDispose]();
    if (this.work) await Deno.remove(this.work, { recursive: true });
  }
}

function binding(uuid: string, options: { cluster?: string; metalMachine?: string; siderolink?: unknown } = {}) {
  return {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
    kind: "ServerBinding",
    metadata: { name: uuid, labels: options.cluster ? { "cluster.x-k8s.io/cluster-name": options.cluster } : {} },
    spec: {
      metalMachineRef: {
        apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
        kind: "MetalMachine",
        namespace: "default",
        name: options.metalMachine ?? `mm-${uuid.slice(0, 8)}`,
      },
      ...(options.siderolink !== undefined && { siderolink: options.siderolink }),
    },
  };
}

function metalMachine(name: string, machine: string) {
  return {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
    kind: "MetalMachine",
    metadata: {
      name,
      namespace: "default",
      ownerReferences: [{
        apiVersion: "cluster.x-k8s.io/v1alpha4",
        kind: "Machine",
        name: machine,
        uid: crypto.randomUUID(),
      }],
    },
    spec: {},
  };
}

async function newKey(): Promise<string> {
  return formatKey(await publicKeyOf(generatePrivateKey()));
}

async function allowedIps(world: World, iface: string): Promise<string> {
  return (await world.serverNs.exec("wg", ["show", iface, "allowed-ips"])).trim();
}

/** Waits until `check` passes (watch events arrive asynchronously), or throws its last failure. */
async function eventually(check: () => Promise<void> | void, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

Deno.test({ name: "serve --kubernetes: Secret, bindings, provisioning, names, status, outage", ignore }, async (t) => {
  await using world = await World.create();
  const iface = `slk${Deno.pid % 100000}`;
  // Every manifest of deploy/kubernetes/, as a user applies them (the apiserver validates the Deployment too).
  await world.kubectl(["apply", "-f", DEPLOY]);

  // What Sidero would have made: two machines bound to MetalMachines, one of them with a link imported from Sidero,
  // and one binding whose link is malformed.
  const importedKey = await newKey();
  const importedAddress = "fdae:41e4:649b:9303:1111:2222:3333:4444";
  await world.apply([
    metalMachine("prod-cp-x7k2p", "prod-cp-1"),
    metalMachine("prod-w-imp", "prod-w-1"),
    binding(UUID, { cluster: "prod", metalMachine: "prod-cp-x7k2p" }),
    binding(IMPORTED_UUID, {
      cluster: "prod",
      metalMachine: "prod-w-imp",
      siderolink: { address: `${importedAddress}/64`, publicKey: importedKey },
    }),
    binding("aaaaaaaa-0000-4000-8000-000000000001", { siderolink: { address: "nonsense", publicKey: importedKey } }),
  ]);

  world.serve = await ServeProcess.start(world.args(iface), { ns: world.serverNs });
  const serve = world.serve;
  const secret = await world.json(["-n", "default", "get", "secret", "siderolink"]);
  const privateKey = new TextDecoder().decode(Uint8Array.fromBase64(secret.data["private-key"]));
  const server = JSON.parse(serve.stderr.find((line) => line.includes("serving"))!).properties.settings.serverAddress;
  const node = await TalosTunnel.start(world.nodeNs, `slkn${Deno.pid % 100000}`);
  // The pod's follower containers: kernel-log lines only, and event lines only.
  const follower = (args: string[]) => {
    const child = new Deno.Command("ip", {
      args: world.serverNs.wrap(Deno.execPath(), [
        "run",
        "--allow-all",
        "--frozen",
        CLI,
        "logs",
        ...args,
        "--control-socket",
        join(world.work, "control.sock"),
      ]),
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const text = new Response(child.stdout).text();
    world.disposables.push({ [Symbol.asyncDispose]: async () => void await child.status });
    return { lines: async () => (await text).split("\n").filter(Boolean), stop: () => child.kill("SIGTERM") };
  };
  // The whole history first (the pod uses --tail 0), so that no line is missed however late the reader connects.
  const serverlogs = follower(["--follow"]);
  const serverevents = follower(["--events"]);

  await t.step("the Secret is created as Sidero writes it; the existing link's peer is on the device", async () => {
    equal(Uint8Array.fromBase64(privateKey).length, 32);
    equal(
      Uint8Array.fromBase64(new TextDecoder().decode(Uint8Array.fromBase64(secret.data["installation-id"]))).length,
      32,
    );
    deepEqual(secret.metadata.labels, { "clusterctl.cluster.x-k8s.io/move": "" });
    equal(
      (await world.serverNs.exec("wg", ["show", iface, "public-key"])).trim(),
      formatKey(await publicKeyOf(Uint8Array.fromBase64(privateKey))),
    );
    equal(await allowedIps(world, iface), `${importedKey}\t${importedAddress}/128`);
    ok(
      serve.stderr.some((line) =>
        line.includes("aaaaaaaa-0000-4000-8000-000000000001") && line.includes("is not an IPv6 address")
      ),
      "one warning names the malformed binding",
    );
  });

  let reply!: Reply;
  let nodeAddress = "";
  await t.step(
    "provisioning: an unbound machine is refused; a bound one gets its link written and a tunnel",
    async () => {
      deepEqual(await world.provision(UNBOUND_UUID, await node.publicKey()), {
        code: "NOT_FOUND",
        details: `server binding "${UNBOUND_UUID}" not found`,
      });
      reply = await world.provision(UUID, await node.publicKey());
      equal(reply.server_address, server);
      nodeAddress = reply.node_address_prefix.replace("/64", "");
      const written = await world.json(["get", "serverbinding", UUID]);
      deepEqual(written.spec.siderolink, { address: reply.node_address_prefix, publicKey: await node.publicKey() });
      await node.configure(reply);
      await node.reach(server);
      ok((await allowedIps(world, iface)).includes(`${await node.publicKey()}\t${nodeAddress}/128`));
    },
  );

  const records = (await dmesgRecords(Date.UTC(2026, 10, 26, 8, 0, 0))).slice(0, 50);
  const sendLogs = async (batch: TalosRecord[]) => {
    const file = join(world.work, "records.jsonl");
    await Deno.writeTextFile(file, jsonLines(batch));
    await world.nodeNs.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", file]);
  };
  const logLines = () => serve.stdout.filter((line) => line.includes('"seq"'));
  const identity = {
    serverUuid: UUID,
    namespace: "default",
    cluster: "prod",
    metalMachine: "prod-cp-x7k2p",
    machine: "prod-cp-1",
  };

  await t.step("kernel-log lines carry the binding's and the MetalMachine owner's names, byte for byte", async () => {
    await sendLogs(records.slice(0, 40));
    await serve.waitFor(() => logLines().length >= 40, 20_000, "log lines");
    deepEqual(logLines(), records.slice(0, 40).map((record) => expectedLine(record, identity)));
  });

  await t.step("a MetalMachine's new owner shows in the next line", async () => {
    await world.kubectl([
      "-n",
      "default",
      "patch",
      "metalmachine",
      "prod-cp-x7k2p",
      "--type=merge",
      "-p",
      JSON.stringify({ metadata: { ownerReferences: metalMachine("x", "prod-cp-2").metadata.ownerReferences } }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await sendLogs(records.slice(40, 41));
    await serve.waitFor(() => logLines().length >= 41, 20_000, "the next line");
    equal(logLines()[40], expectedLine(records[40], { ...identity, machine: "prod-cp-2" }));
  });

  await t.step("events: addresses, hostname and conditions land on the binding, read back with kubectl", async () => {
    const events = [
      {
        id: "cv0k8s000000000000a0",
        type: "AddressEvent",
        payload: { hostname: "prod-cp-1", addresses: [nodeAddress, "10.5.0.2"] },
      },
      { id: "cv0k8s000000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
      { id: "cv0k8s000000000000a2", type: "ConfigLoadErrorEvent", payload: { error: "bad config" } },
      { id: "cv0k8s000000000000a1", type: "SequenceEvent", payload: { sequence: "boot", action: "START" } },
    ];
    const results =
      (await world.nodeNs.exec(PYTHON, [NODE_SCRIPT, "publish", `[${server}]:4002`, JSON.stringify(events)]))
        .trim().split("\n").map((line) => JSON.parse(line).code);
    deepEqual(results, ["OK", "OK", "OK", "OK"]);
    const stored = await world.json(["get", "serverbinding", UUID]);
    deepEqual(stored.spec.addresses, ["10.5.0.2"]);
    equal(stored.spec.hostname, "prod-cp-1");
    const conditions = Object.fromEntries(
      (stored.status.conditions as Record<string, string>[]).map((condition) => [condition.type, condition]),
    );
    equal(conditions.TalosInstalled.status, "True");
    equal(conditions.TalosConfigValidated.status, "True");
    equal(conditions.TalosConfigLoaded.status, "False");
    equal(conditions.TalosConfigLoaded.reason, "TalosConfigLoadFailed");
    equal(conditions.TalosConfigLoaded.severity, "Error");
    equal(conditions.TalosConfigLoaded.message, "bad config");
    match(conditions.TalosInstalled.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const eventLines = serve.stdout.filter((line) => line.includes('"component":"sink"')).map((line) =>
      JSON.parse(line)
    );
    deepEqual(eventLines.map((line) => line.id), events.slice(0, 3).map((event) => event.id), "each id once");
    equal(eventLines[0].machine, "prod-cp-2");
  });

  await t.step("a new key replaces the peer and keeps the address; an imported address wins", async () => {
    const before = await node.publicKey();
    node.privateKey = generatePrivateKey();
    const again = await world.provision(UUID, await node.publicKey());
    equal(again.node_address_prefix, reply.node_address_prefix);
    const allowed = await allowedIps(world, iface);
    ok(!allowed.includes(before), "the old key's peer is gone");
    ok(allowed.includes(`${await node.publicKey()}\t${nodeAddress}/128`), allowed);
    await node.configure(again);
    await node.reach(server);

    const imported = await world.provision(IMPORTED_UUID, await newKey());
    equal(imported.node_address_prefix, `${importedAddress}/64`);
  });

  const squatterKey = await newKey();
  await t.step("two bindings claiming one address: the second is skipped and refused", async () => {
    const squatter = "bbbbbbbb-0000-4000-8000-000000000002";
    await world.apply([binding(squatter, { siderolink: { address: `${nodeAddress}/64`, publicKey: squatterKey } })]);
    await serve.waitFor(() => serve.stderr.some((line) => line.includes(squatter) && line.includes("is held by")));
    const refused = await world.provision(squatter, await newKey());
    equal(refused.code, "ALREADY_EXISTS");
    match(refused.details!, new RegExp(`held by ${UUID}`));
    await node.reach(server);
  });

  await t.step("the apiserver away for 20 s: tunnels and logs go on, provisions get UNAVAILABLE", async () => {
    await world.kube.stopApiserver("SIGKILL");
    const outageStart = Date.now();
    await node.reach(server);
    await sendLogs(records.slice(41, 45));
    await serve.waitFor(() => logLines().length >= 45, 20_000, "lines during the outage");
    deepEqual(
      logLines().slice(41),
      records.slice(41, 45).map((record) => expectedLine(record, { ...identity, machine: "prod-cp-2" })),
    );
    const started = Date.now();
    const refused = await world.provision(UUID, await node.publicKey());
    equal(refused.code, "UNAVAILABLE", JSON.stringify(refused));
    ok(Date.now() - started < 25_000, "answered within Talos's deadline");
    const statusEvent = [{
      id: "cv0k8s000000000000b0",
      type: "AddressEvent",
      payload: { hostname: "h", addresses: [] },
    }];
    const published = JSON.parse(
      await world.nodeNs.exec(PYTHON, [NODE_SCRIPT, "publish", `[${server}]:4002`, JSON.stringify(statusEvent)]),
    );
    equal(published.code, "UNAVAILABLE");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20_000 - (Date.now() - outageStart))));
    await world.kube.startApiserver();

    // Back: a binding created now is followed by the resumed watch, without a restart.
    const late = "cccccccc-0000-4000-8000-000000000003";
    const lateKey = await newKey();
    const lateAddress = "fdae:41e4:649b:9303:5555:6666:7777:8888";
    await world.apply([binding(late, { siderolink: { address: `${lateAddress}/64`, publicKey: lateKey } })]);
    await eventually(
      async () => ok((await allowedIps(world, iface)).includes(`${lateKey}\t${lateAddress}/128`)),
      30_000,
    );
    equal((await world.provision(UUID, await node.publicKey())).node_address_prefix, reply.node_address_prefix);
  });

  await t.step("metrics count the API requests and the watch restarts of the outage; ready once synced", async () => {
    const metrics = await world.serverNs.exec("curl", ["-sf", "http://127.0.0.1:9091/metrics"]);
    const value = (series: string) => Number(new RegExp(`^${series} (\\S+)$`, "m").exec(metrics)?.[1] ?? 0);
    ok(value('siderolink_kubernetes_api_requests_total{verb="patch",code="200"}') >= 3, metrics);
    ok(value('siderolink_kubernetes_api_requests_total{verb="patch",code="0"}') >= 1, "the refused provision's write");
    ok(value('siderolink_kubernetes_watch_restarts_total{resource="serverbindings"}') >= 1);
    ok(value('siderolink_kubernetes_watch_restarts_total{resource="metalmachines"}') >= 1);
    equal(value('siderolink_events_total{type="AddressEvent",result="unavailable"}'), 1);
    equal((await world.serverNs.exec("curl", ["-sf", "http://127.0.0.1:9091/readyz"])).trim(), "ready");
  });

  await t.step("a deleted binding loses its peer; the binding that waited for its address gets it", async () => {
    const key = await node.publicKey();
    await world.kubectl(["delete", "serverbinding", UUID]);
    await eventually(async () => {
      const allowed = await allowedIps(world, iface);
      ok(!allowed.includes(key), allowed);
      ok(allowed.includes(`${squatterKey}\t${nodeAddress}/128`), allowed);
    });
  });

  await t.step("peers over the control socket: the links joined with the bindings' names", async () => {
    const peers = JSON.parse(
      await world.serverNs.exec(Deno.execPath(), [
        "run",
        "--allow-all",
        "--frozen",
        CLI,
        "peers",
        "--json",
        "--control-socket",
        join(world.work, "control.sock"),
      ]),
    ) as { serverUuid?: string; cluster?: string; machine?: string; address?: string }[];
    const imported = peers.find((peer) => peer.serverUuid === IMPORTED_UUID);
    deepEqual(
      { cluster: imported?.cluster, machine: imported?.machine, address: imported?.address },
      { cluster: "prod", machine: "prod-w-1", address: importedAddress },
    );
  });

  await t.step(
    "follower containers: serverlogs shows kernel-log lines only, serverevents event lines only",
    async () => {
      equal(await serve.stop(), 0);
      deepEqual(await serverlogs.lines(), logLines());
      deepEqual(await serverevents.lines(), serve.stdout.filter((line) => line.includes('"component":"sink"')));
    },
  );

  await t.step("the private key is never printed", () => {
    const everything = [...serve.stdout, ...serve.stderr].join("\n");
    ok(!everything.includes(privateKey), "no private key in any output");
  });
});

/**
 * `peers` at many peers against a real serve (userspace backend, 1,500 machines provisioned through the real API
 * by Python grpcio): the text the daemon formats and the CLI copies is byte for byte what the CLI made before from
 * the JSON report (the same report, formatted as it was), through the plain path and through commander alike, and
 * `--direct` (the device and the state read by the CLI itself) prints the same once serve has stopped.
 */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { formatPeers, PEERS_FORMATS } from "../src/control/peers_format.ts";
import type { PeersReport } from "../src/control/peers.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { cliArgs, runCli } from "./support/cli.ts";
import { ServeProcess } from "./support/serve_process.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const MACHINES = 1_500;

const ignore = skipUnless(
  "peers output against a real serve",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
);

/**
 * The lines of a `peers` text in a fixed order. wireguard-go lists its peers in no fixed order and peers without a
 * handshake tie, so two reads list them differently; each line is compared byte for byte. A JSON text is compared
 * as its peers, and as the exact text of those peers.
 */
function normalised(text: string, format: typeof PEERS_FORMATS[number]): string[] {
  if (format !== "json") return text.split("\n").sort();
  const peers = JSON.parse(text) as { publicKey: string }[];
  equal(text, `${JSON.stringify(peers, null, 2)}\n`, "the JSON text is the indented array");
  return peers.map((peer) => JSON.stringify(peer)).sort();
}

Deno.test({
  name: "peers at 1,500 peers: the daemon's text is the previous formatting; plain, commander, --direct",
  ignore,
}, async () => {
  const work = await Deno.makeTempDir({ prefix: "siderolink-peers-" });
  const socket = join(work, "control.sock");
  const stateDir = join(work, "state");
  const iface = `slo${Deno.pid % 100000}`;
  await using ns = await NetNs.create("peers");
  await ns.exec("ip", ["-6", "addr", "add", "fd5e:4::1/64", "dev", "lo", "nodad"]);
  const serve = await ServeProcess.start([
    "--state-dir",
    stateDir,
    "--wireguard-endpoint",
    "[fd5e:4::1]:51821",
    "--wireguard-backend",
    "userspace",
    "--interface",
    iface,
    "--api-listen",
    "[fd5e:4::1]:8081",
    "--control-socket",
    socket,
    "--no-join-token",
  ], { ns });
  try {
    const many = JSON.parse(
      await ns.exec(PYTHON, [NODE_SCRIPT, "provision-many", "[fd5e:4::1]:8081", String(MACHINES), "8", "-"]),
    );
    equal(many.count, MACHINES, JSON.stringify(many));

    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const report = await (await fetch("http://siderolink/v1/peers", { client })).json() as PeersReport;
    client.close();
    equal(report.peers.length, MACHINES);
    const printed: Record<string, string> = {};
    for (const format of PEERS_FORMATS) {
      const flags = format === "table" ? [] : [`--${format}`];
      const plain = await runCli(["peers", ...flags, "--control-socket", socket]);
      equal(plain.code, 0, plain.stderr);
      // A global option before the subcommand sends the same request through commander.
      const parsed = await runCli(["--log-level", "info", "peers", ...flags, "--control-socket", socket]);
      equal(parsed.code, 0, parsed.stderr);
      // No peer made a handshake, so the table's ages ("never") do not depend on the time it is formatted at.
      const before = formatPeers(report, format, new Date(), false);
      deepEqual(normalised(plain.stdout, format), normalised(before, format), `${format}: the previous formatting`);
      deepEqual(normalised(parsed.stdout, format), normalised(before, format), `${format}: through commander`);
      printed[format] = plain.stdout;
    }
    equal(printed.table.split("\n").length, MACHINES + 3, "heading, header, a row per peer, the final newline");

    equal(await serve.stop(), 0);
    for (const format of PEERS_FORMATS) {
      const direct = await ns.exec(
        Deno.execPath(),
        cliArgs([
          "peers",
          "--direct",
          ...(format === "table" ? [] : [`--${format}`]),
          ...["--state-dir", stateDir, "--interface", iface, "--wireguard-backend", "userspace"],
        ]),
      );
      deepEqual(normalised(direct, format), normalised(printed[format], format), `${format}: --direct`);
    }
  } finally {
    await serve.stop("SIGKILL");
    await Deno.remove(work, { recursive: true });
  }
});

/**
 * Concurrent provisions against a real serve (userspace backend) in a test namespace: they share device writes,
 * and still every machine's peer is on the device when its reply arrives (checked with `wg` right after each
 * reply, from a Python grpcio client provisioning from 16 threads at once).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const MACHINES = 96;

const ignore = skipUnless(
  "concurrent provisions on a real device",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
);

Deno.test(
  { name: "concurrent provisions share device writes; each reply finds its peer on the device", ignore },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "siderolink-concurrent-" });
    const iface = `slpc${Deno.pid % 100000}`;
    await using ns = await NetNs.create("concurrent");
    await ns.exec("ip", ["-6", "addr", "add", "fd5e:c0::1/64", "dev", "lo", "nodad"]);
    const serve = await ServeProcess.start([
      "--log-level",
      "trace",
      "--state-dir",
      join(work, "state"),
      "--wireguard-endpoint",
      "[fd5e:c0::1]:51821",
      "--wireguard-backend",
      "userspace",
      "--interface",
      iface,
      "--api-listen",
      "[fd5e:c0::1]:8081",
      "--control-socket",
      join(work, "control.sock"),
      "--join-token",
      "t",
      "--cleanup-on-exit",
    ], { ns });
    try {
      const result = JSON.parse(
        await ns.exec(PYTHON, [
          NODE_SCRIPT,
          "provision-verify",
          "[fd5e:c0::1]:8081",
          String(MACHINES),
          "16",
          "t",
          iface,
        ]),
      );
      deepEqual(result, { count: MACHINES, errors: [], missing: [] });
      const peers = (await ns.exec("wg", ["show", iface, "peers"])).trim().split("\n");
      equal(peers.length, MACHINES);
      const writes = serve.stderr.filter((line) => line.includes("one device write for"))
        .map((line) => JSON.parse(line).properties.callers as number);
      equal(writes.reduce((sum, callers) => sum + callers, 0), MACHINES, "every provision went through one write");
      ok(writes.some((callers) => callers > 1), `some writes served several provisions: ${JSON.stringify(writes)}`);
    } finally {
      equal(await serve.stop(), 0);
      await Deno.remove(work, { recursive: true });
    }
  },
);

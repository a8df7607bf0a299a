/**
 * serve's settings and lifecycle against a real serve (userspace backend) in a test namespace: a config file
 * under environment under flags, `--accept known` with an inventory that is edited while serve runs, peer GC,
 * `--cleanup-on-exit`, and a start-up error for a bad setting.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { formatKey, generatePrivateKey, publicKeyOf } from "../src/keys.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { runCli } from "./support/cli.ts";
import { ServeProcess } from "./support/serve_process.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const KNOWN = "44444444-4444-4444-8444-444444444444";
const LATER = "55555555-5555-4555-8555-555555555555";

const ignore = skipUnless(
  "serve settings and lifecycle",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
);

async function provision(ns: NetNs, uuid: string, token: string): Promise<Record<string, string>> {
  const key = formatKey(await publicKeyOf(generatePrivateKey()));
  return JSON.parse(await ns.exec(PYTHON, [NODE_SCRIPT, "provision", "[fd5e:4::1]:9081", uuid, key, token]));
}

/** Polls `condition` every 100 ms for up to 10 s; returns whether it came true. */
async function until(condition: () => Promise<boolean>): Promise<boolean> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

Deno.test(
  { name: "serve: config layering, accept known with a live inventory, peer GC, cleanup on exit", ignore },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "siderolink-life-" });
    const iface = `sll${Deno.pid % 100000}`;
    const inventory = join(work, "inventory.yaml");
    await Deno.writeTextFile(inventory, `- uuid: ${KNOWN}\n  machine: known-1\n`);
    const config = join(work, "serve.yaml");
    // The file sets everything; the environment overrides the join token; a flag overrides the API port.
    await Deno.writeTextFile(
      config,
      [
        `state-dir: ${join(work, "state")}`,
        "wireguard-endpoint: '[fd5e:4::1]:51821'",
        "wireguard-backend: userspace",
        `interface: ${iface}`,
        "api-listen: '[fd5e:4::1]:8081'",
        `control-socket: ${join(work, "control.sock")}`,
        "join-token: from-file",
        `inventory: ${inventory}`,
        "accept: known",
        "peer-gc-after: 3s",
        "cleanup-on-exit: true",
        "",
      ].join("\n"),
    );
    await using ns = await NetNs.create("life");
    await ns.exec("ip", ["-6", "addr", "add", "fd5e:4::1/64", "dev", "lo", "nodad"]);

    const bad = await runCli(["serve", "--config", config, "--accept", "some"]);
    equal(bad.code, 2);
    match(bad.stderr, /option '--accept <which>' argument 'some' is invalid/);
    const badFile = join(work, "bad.yaml");
    await Deno.writeTextFile(badFile, "acept: known\n");
    const unknownKey = await runCli(["serve", "--config", badFile]);
    equal(unknownKey.code, 2);
    match(unknownKey.stderr, /config .*bad\.yaml: unknown setting "acept"/);

    const serve = await ServeProcess.start(["--config", config, "--api-listen", "[fd5e:4::1]:9081"], {
      ns,
      env: { SIDEROLINK_JOIN_TOKEN: "from-env" },
    });
    try {
      deepEqual(await provision(ns, KNOWN, "from-file"), { code: "PERMISSION_DENIED", details: "invalid join token" });
      const known = await provision(ns, KNOWN, "from-env");
      match(known.node_address_prefix, /^fd[0-9a-f:]+\/64$/);
      const unknown = await provision(ns, LATER, "from-env");
      equal(unknown.code, "NOT_FOUND");

      // The inventory gains a machine while serve runs: it may provision now.
      await Deno.writeTextFile(
        inventory,
        `- uuid: ${KNOWN}\n  machine: known-1\n- uuid: ${LATER}\n  machine: later-1\n`,
      );
      await serve.waitFor(() => serve.stderr.some((line) => line.includes("reloaded")), 10_000, "inventory reload");
      const later = await provision(ns, LATER, "from-env");
      match(later.node_address_prefix, /\/64$/);
      // Its peer is there (the first machine's may already be gone: peer GC runs 3 s after its provision, and the
      // inventory reload can take that long on a loaded machine).
      match(
        await ns.exec("wg", ["show", iface, "allowed-ips"]),
        new RegExp(`\t${later.node_address_prefix.replace("/64", "/128")}\n`),
      );

      // No handshake ever comes: 3 s after each provision its peer goes; the addresses stay reserved.
      await serve.waitFor(() => serve.stderr.some((line) => line.includes("peer GC removed")), 15_000, "peer GC");
      equal(
        await until(async () => (await ns.exec("wg", ["show", iface, "peers"])).trim() === ""),
        true,
        "both peers went",
      );
      equal((await provision(ns, KNOWN, "from-env")).node_address_prefix, known.node_address_prefix);

      // --cleanup-on-exit: the interface goes with serve.
      equal(await serve.stop(), 0);
      let gone = false;
      for (let attempt = 0; attempt < 20 && !gone; attempt++) {
        gone = !(await ns.exec("ip", ["-o", "link"])).includes(iface);
        if (!gone) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      equal(gone, true, "the interface was removed");
    } finally {
      await serve.stop("SIGKILL");
      await Deno.remove(work, { recursive: true });
    }
  },
);

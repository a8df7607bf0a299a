/**
 * The userspace backend for real: the Device drives wireguard-go in namespace A (in a Deno child under
 * `ip netns exec`, since this process cannot enter a namespace); a second wireguard-go in namespace B, set up
 * with `wg` and `ip`, is its peer over a veth pair. `wg show … dump` is the independent witness.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { formatKey, generatePrivateKey, publicKeyOf } from "../src/keys.ts";
import { linkNamespaces, NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import type { DriverResult, DriverStep, WireInfo } from "./support/userspace_driver.ts";
import {
  drive,
  type Dump,
  startWireGuardGo,
  uniqueInterfaceName,
  wgDump,
  WireGuardGoCleanup,
} from "./support/wireguard_go.ts";

const ignore = skipUnless(
  "userspace WireGuard against wireguard-go",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("ping"), "ping (apt-get install iputils-ping)"],
);

/** Runs steps that must all succeed and returns their results. */
async function succeed(ns: NetNs, name: string, steps: DriverStep[]): Promise<DriverResult[]> {
  const results = await drive(ns, { name, steps });
  const failed = results.find((result) => result.error !== undefined);
  if (failed) throw new Error(`${failed.op} on ${name} failed: ${failed.error}`);
  equal(results.length, steps.length);
  return results;
}

async function readDevice(ns: NetNs, name: string): Promise<WireInfo> {
  const [result] = await succeed(ns, name, [{ op: "read" }]);
  return result.info!;
}

/** What the Device reported, in the shape of `wg show dump`, peers in dump order. */
function asDump(info: WireInfo, order: string[]): Dump {
  const peers = info.peers.map((peer) => ({
    publicKey: peer.publicKey,
    endpoint: peer.endpoint,
    allowedIPs: peer.allowedIPs,
    latestHandshake: peer.lastHandshake ? Math.floor(Date.parse(peer.lastHandshake) / 1000) : 0,
    receiveBytes: peer.receiveBytes,
    transmitBytes: peer.transmitBytes,
    persistentKeepalive: peer.persistentKeepaliveInterval,
  }));
  peers.sort((a, b) => order.indexOf(a.publicKey) - order.indexOf(b.publicKey));
  return { publicKey: info.publicKey!, listenPort: info.listenPort, peers };
}

/** Compares read() with `wg show dump`, taken while no packet moved (the dump is the same before and after). */
async function assertAgrees(ns: NetNs, name: string): Promise<Dump> {
  for (let attempt = 1;; attempt++) {
    const before = await wgDump(ns, name);
    const info = await readDevice(ns, name);
    const after = await wgDump(ns, name);
    if (JSON.stringify(before) === JSON.stringify(after) || attempt === 3) {
      deepEqual(asDump(info, after.peers.map((peer) => peer.publicKey)), after);
      return after;
    }
  }
}

async function ping(ns: NetNs, address: string): Promise<void> {
  // The first packets over a fresh tunnel can be lost while the handshake completes.
  for (let attempt = 1;; attempt++) {
    try {
      await ns.exec("ping", ["-6", "-c", "1", "-W", "2", address]);
      return;
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}

/** How many `wireguard-go <name>` processes run on the host (argv[0] is a path when started from PATH). */
async function processCount(name: string): Promise<number> {
  let count = 0;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const [program, ...args] = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "")).split("\0");
    if (program.split("/").pop() === "wireguard-go" && args[0] === name) count++;
  }
  return count;
}

Deno.test(
  { name: "userspace WireGuard: the Device drives wireguard-go against a wg-configured peer", ignore },
  async (t) => {
    await using a = await NetNs.create("uwa");
    await using b = await NetNs.create("uwb");
    const [nameA, nameB] = [uniqueInterfaceName("slua"), uniqueInterfaceName("slub")];
    // Disposed before the namespaces: a wireguard-go would keep its namespace alive after `ip netns delete`.
    await using _stopA = new WireGuardGoCleanup(nameA);
    await using _stopB = await startWireGuardGo(b, nameB);
    await linkNamespaces(a, "fd01::1", b, "fd01::2");

    const [keyA, keyB] = [generatePrivateKey(), generatePrivateKey()];
    const [publicA, publicB] = [formatKey(await publicKeyOf(keyA)), formatKey(await publicKeyOf(keyB))];
    await b.exec("wg", ["set", nameB, "private-key", "/dev/stdin", "listen-port", "51821"], { stdin: keyB.toBase64() });
    await b.exec("wg", ["set", nameB, "peer", publicA, "allowed-ips", "fd00::1/128"]);
    await b.exec("ip", ["-6", "addr", "add", "fd00::2/64", "dev", nameB, "nodad"]);
    await b.exec("ip", ["link", "set", nameB, "mtu", "1280", "up"]);
    const peerB = { publicKey: publicB, endpoint: "[fd01::2]:51821", persistentKeepaliveInterval: 25 };

    await t.step(
      "ensureLink starts wireguard-go; MTU 1280, up, the address, key, port and a peer are set",
      async () => {
        await succeed(a, nameA, [
          { op: "ensureLink" },
          { op: "ensureAddress", cidr: "fd00::1/64" },
          { op: "ensureAddress", cidr: "fd00::1/64" }, // already there: no error
          {
            op: "configure",
            config: {
              privateKey: keyA.toBase64(),
              listenPort: 51820,
              peers: [{ ...peerB, allowedIPs: ["fd00::2/128"] }],
            },
          },
        ]);
        const link = await a.exec("ip", ["-o", "link", "show", nameA]);
        match(link, /<[^>]*\bUP\b[^>]*>/);
        match(link, / mtu 1280 /);
        match(await a.exec("ip", ["-6", "-o", "addr", "show", "dev", nameA]), / inet6 fd00::1\/64 scope global nodad/);
        const dump = await wgDump(a, nameA);
        deepEqual([dump.publicKey, dump.listenPort], [publicA, 51820]);
        deepEqual(
          dump.peers.map((peer) => [peer.publicKey, peer.endpoint, peer.allowedIPs, peer.persistentKeepalive]),
          [
            [publicB, "[fd01::2]:51821", ["fd00::2/128"], 25],
          ],
        );
      },
    );

    await t.step("they handshake, ping6 crosses the tunnel both ways, and wg show agrees with read()", async () => {
      await ping(a, "fd00::2");
      await ping(b, "fd00::1");
      const dump = await assertAgrees(a, nameA);
      const [peer] = dump.peers;
      ok(peer.latestHandshake > 0 && Math.abs(peer.latestHandshake - Date.now() / 1000) < 60, "a recent handshake");
      ok(peer.receiveBytes > 0 && peer.transmitBytes > 0, "bytes both ways");
      // The other side, configured without an endpoint, learned ours from the handshake.
      deepEqual((await wgDump(b, nameB)).peers.map((p) => [p.publicKey, p.endpoint]), [[publicA, "[fd01::1]:51820"]]);
    });

    await t.step("a restarted process reuses the running wireguard-go, its link and its peers", async () => {
      await succeed(a, nameA, [{ op: "ensureLink" }, { op: "ensureAddress", cidr: "fd00::1/64" }]);
      equal(await processCount(nameA), 1, "one wireguard-go for the interface");
      const info = await readDevice(a, nameA);
      deepEqual(info.peers.map((peer) => peer.publicKey), [publicB]);
      await ping(a, "fd00::2");
    });

    await t.step("a live socket whose link is in another namespace is refused, not reused", async () => {
      const [result] = await drive(b, { name: nameA, steps: [{ op: "ensureLink" }] });
      match(
        result.error ?? "",
        new RegExp(`^a WireGuard daemon answers on .*/${nameA}\\.sock but this network namespace`),
      );
      equal(await processCount(nameA), 1);
    });

    const publicC = formatKey(await publicKeyOf(generatePrivateKey()));
    await t.step("a peer update replaces only that peer's allowed IPs", async () => {
      await succeed(a, nameA, [
        { op: "configure", config: { peers: [{ publicKey: publicC, allowedIPs: ["fd00::3/128"] }] } },
        { op: "configure", config: { peers: [{ publicKey: publicB, allowedIPs: ["fd00::22/128", "fd00::2/128"] }] } },
      ]);
      let peers = (await assertAgrees(a, nameA)).peers;
      const find = (key: string) => peers.find((peer) => peer.publicKey === key)!;
      deepEqual(find(publicB).allowedIPs.toSorted(), ["fd00::22/128", "fd00::2/128"].toSorted());
      deepEqual(find(publicC).allowedIPs, ["fd00::3/128"]);
      // Endpoint and keepalive were not named in the update: they stay.
      deepEqual([find(publicB).endpoint, find(publicB).persistentKeepalive], ["[fd01::2]:51821", 25]);

      await succeed(a, nameA, [{
        op: "configure",
        config: { peers: [{ publicKey: publicB, allowedIPs: ["fd00::2/128"] }] },
      }]);
      peers = (await wgDump(a, nameA)).peers;
      deepEqual(find(publicB).allowedIPs, ["fd00::2/128"]);
      deepEqual(find(publicC).allowedIPs, ["fd00::3/128"]);
    });

    await t.step("removing a peer is idempotent", async () => {
      const remove: DriverStep = { op: "configure", config: { peers: [{ publicKey: publicC, remove: true }] } };
      await succeed(a, nameA, [remove, remove]);
      deepEqual((await wgDump(a, nameA)).peers.map((peer) => peer.publicKey), [publicB]);
    });

    await t.step("1,000 peers added in one batch are all read back (timed)", async () => {
      const keys = await Promise.all(
        Array.from({ length: 1000 }, async () => formatKey(await publicKeyOf(generatePrivateKey()))),
      );
      const cidr = (i: number) => `fd00::1:${(i + 1).toString(16)}/128`;
      const [apply, read] = await succeed(a, nameA, [
        { op: "configure", config: { peers: keys.map((publicKey, i) => ({ publicKey, allowedIPs: [cidr(i)] })) } },
        { op: "read" },
      ]);
      const byKey = new Map(read.info!.peers.map((peer) => [peer.publicKey, peer.allowedIPs]));
      equal(byKey.size, 1001);
      keys.forEach((key, i) => deepEqual(byKey.get(key), [cidr(i)], `peer ${i}`));
      const witness = (await a.exec("wg", ["show", nameA, "allowed-ips"])).trimEnd().split("\n");
      equal(witness.length, 1001, "wg show counts them too");
      const [remove] = await succeed(a, nameA, [
        { op: "configure", config: { peers: keys.map((publicKey) => ({ publicKey, remove: true })) } },
      ]);
      console.log(
        `1,000-peer batch on wireguard-go: apply ${apply.ms.toFixed(1)} ms, read back ${read.ms.toFixed(1)} ms, ` +
          `remove ${remove.ms.toFixed(1)} ms`,
      );
      deepEqual((await wgDump(a, nameA)).peers.map((peer) => peer.publicKey), [publicB]);
    });

    await t.step("a refused set is an error naming the interface (listen port in use: errno -98)", async () => {
      const other = uniqueInterfaceName("sluo");
      await using _stop = new WireGuardGoCleanup(other);
      const results = await drive(a, {
        name: other,
        steps: [{ op: "ensureLink" }, { op: "configure", config: { listenPort: 51820 } }],
      });
      equal(results[1].error, `WireGuard device ${other} refused the request: errno=-98 (EADDRINUSE)`);
      await succeed(a, other, [{ op: "deleteLink" }]);
    });

    await t.step("a wireguard-go that cannot start is an error with its own words", async () => {
      const taken = uniqueInterfaceName("slut");
      await a.exec("ip", ["link", "add", taken, "type", "bridge"]);
      const [result] = await drive(a, { name: taken, steps: [{ op: "ensureLink" }] });
      match(
        result.error ?? "",
        new RegExp(`^wireguard-go could not start ${taken}: it exited 1: .*Failed to create TUN device`),
      );
      ok(!result.error!.includes("┌"), "without the banner");
    });

    await t.step("deleteLink stops wireguard-go and removes the link; again it is a no-op", async () => {
      await succeed(a, nameA, [{ op: "deleteLink" }, { op: "deleteLink" }]);
      equal(await processCount(nameA), 0);
      ok(!(await a.exec("ip", ["-o", "link"])).includes(nameA), "the link is gone");
      ok(!(await Deno.stat(`/var/run/wireguard/${nameA}.sock`).then(() => true, () => false)), "the socket is gone");
    });
  },
);

/**
 * Guest side of tests/kernel_wireguard_test.ts: runs INSIDE the VM (Debian's kernel, with WireGuard), as
 * `deno test -A --no-check --cached-only tests/vm/kernel_device_guest.ts`. Not named `*_test.ts`, so the host's test
 * run does not pick it up: the host kernel has no WireGuard.
 *
 * The KernelDevice drives `wgk0` in the VM's initial namespace; `wg show wgk0 dump` is the independent witness of
 * what it set and read, and a second kernel WireGuard interface in namespace B, configured with `ip` and `wg`, is
 * the peer it pings through the tunnel.
 *
 * @module
 */
import assert from "node:assert/strict";
import { formatKey, generatePrivateKey, publicKeyOf } from "../../src/keys.ts";
import type { DeviceInfo } from "../../src/wireguard/device.ts";
import { KernelDevice } from "../../src/wireguard/kernel.ts";
import { NetNs, run } from "../support/netns.ts";

const IFACE = "wgk0";
const PORT_A = 51820, PORT_B = 51821;
const UNDERLAY_A = "fd00:1::1", UNDERLAY_B = "fd00:1::2";
const TUNNEL_A = "fd00:2::1", TUNNEL_B = "fd00:2::2";
const BATCH = 1000;

/** A device in the line format of `wg show <iface> dump`, without the private key. */
function asDump(info: DeviceInfo): string[] {
  const peers = info.peers.map((peer) =>
    [
      formatKey(peer.publicKey),
      "(none)", // preshared key: the Device never sets one
      peer.endpoint ?? "(none)",
      peer.allowedIPs.length === 0 ? "(none)" : peer.allowedIPs.toSorted().join(","),
      peer.lastHandshake === undefined ? "0" : String(Math.floor(peer.lastHandshake.getTime() / 1000)),
      String(peer.receiveBytes),
      String(peer.transmitBytes),
      peer.persistentKeepaliveInterval === 0 ? "off" : String(peer.persistentKeepaliveInterval),
    ].join("\t")
  );
  return [
    [info.publicKey ? formatKey(info.publicKey) : "(none)", String(info.listenPort), "off"].join("\t"),
    ...peers.toSorted(),
  ];
}

/** `wg show <iface> dump` with the private key dropped and allowed IPs and peers in a stable order. */
async function wgDump(iface: string): Promise<string[]> {
  const [device, ...peers] = (await run("wg", ["show", iface, "dump"])).trimEnd().split("\n");
  const normalized = peers.map((line) => {
    const fields = line.split("\t");
    fields[3] = fields[3] === "(none)" ? fields[3] : fields[3].split(",").toSorted().join(",");
    return fields.join("\t");
  });
  return [device.split("\t").slice(1).join("\t"), ...normalized.toSorted()];
}

/**
 * Asserts that what the device reads equals what `wg` shows. Traffic may move counters or a handshake between the
 * two reads (a passive keepalive 10 s after the last packet), so a mismatch is read again a few times.
 */
async function assertAgreesWithWg(device: KernelDevice): Promise<DeviceInfo> {
  for (let attempt = 1;; attempt++) {
    const info = await device.read();
    const ours = asDump(info), theirs = await wgDump(IFACE);
    try {
      assert.deepEqual(ours, theirs, "KernelDevice.read() differs from `wg show dump`");
      return info;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

async function pingThroughTunnel(address: string): Promise<void> {
  // The first packets wait for the handshake and may be lost.
  for (let attempt = 1;; attempt++) {
    try {
      await run("ping", ["-6", "-c", "1", "-W", "2", address]);
      return;
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}

Deno.test("KernelDevice drives the kernel's WireGuard: link, address, key, port, peers, batch, tunnel", async (t) => {
  const privateA = generatePrivateKey(), privateB = generatePrivateKey();
  const publicA = await publicKeyOf(privateA), publicB = await publicKeyOf(privateB);
  await using b = await NetNs.create("b");
  const device = KernelDevice.open(IFACE);
  try {
    await t.step(
      "ensureLink and ensureAddress create an up link with MTU 1280 and the address, idempotently",
      async () => {
        for (let i = 0; i < 2; i++) {
          await device.ensureLink();
          await device.ensureAddress(`${TUNNEL_A}/64`);
        }
        const link = JSON.parse(await run("ip", ["-j", "link", "show", IFACE]))[0];
        assert.equal(link.mtu, 1280);
        assert.ok(link.flags.includes("UP"), `link flags ${link.flags}`);
        const details = JSON.parse(await run("ip", ["-j", "-d", "link", "show", IFACE]))[0];
        assert.equal(details.linkinfo.info_kind, "wireguard");
        const addresses = JSON.parse(await run("ip", ["-j", "-6", "addr", "show", "dev", IFACE]))[0].addr_info
          .filter((a: { scope: string }) => a.scope === "global");
        assert.deepEqual(addresses.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`), [
          `${TUNNEL_A}/64`,
        ]);
      },
    );

    await t.step("configure sets key, port and peers; read agrees with wg show", async () => {
      const idle = crypto.getRandomValues(new Uint8Array(32));
      await device.configure({
        privateKey: privateA,
        listenPort: PORT_A,
        peers: [
          { publicKey: publicB, endpoint: `[${UNDERLAY_B}]:${PORT_B}`, allowedIPs: [`${TUNNEL_B}/128`] },
          { publicKey: idle, persistentKeepaliveInterval: 25, allowedIPs: ["fd00:2::77/128"] },
        ],
      });
      const info = await assertAgreesWithWg(device);
      assert.deepEqual(info.publicKey, publicA);
      assert.equal(info.listenPort, PORT_A);
      assert.equal(info.peers.length, 2);
      const idlePeer = info.peers.find((peer) => formatKey(peer.publicKey) === formatKey(idle));
      assert.deepEqual(idlePeer?.allowedIPs, ["fd00:2::77/128"]);
      assert.equal(idlePeer?.persistentKeepaliveInterval, 25);

      await device.configure({ peers: [{ publicKey: idle, remove: true }] });
      await device.configure({ peers: [{ publicKey: idle, remove: true }] }); // removing an absent peer is fine
      assert.equal((await assertAgreesWithWg(device)).peers.length, 1);
    });

    await t.step("ping6 through the tunnel to kernel WireGuard in namespace B, set up with ip and wg", async () => {
      await run("ip", ["link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b.name]);
      await run("ip", ["-6", "addr", "add", `${UNDERLAY_A}/64`, "dev", "veth-a", "nodad"]);
      await run("ip", ["link", "set", "veth-a", "up"]);
      await b.exec("ip", ["-6", "addr", "add", `${UNDERLAY_B}/64`, "dev", "veth-b", "nodad"]);
      await b.exec("ip", ["link", "set", "veth-b", "up"]);
      await b.exec("ip", ["link", "add", "wg0", "type", "wireguard"]);
      await b.exec("ip", ["-6", "addr", "add", `${TUNNEL_B}/64`, "dev", "wg0", "nodad"]);
      const keyFile = await Deno.makeTempFile();
      await Deno.writeTextFile(keyFile, formatKey(privateB), { mode: 0o600 });
      await b.exec("wg", [
        "set",
        "wg0",
        "private-key",
        keyFile,
        "listen-port",
        String(PORT_B),
        "peer",
        formatKey(publicA),
        "endpoint",
        `[${UNDERLAY_A}]:${PORT_A}`,
        "allowed-ips",
        `${TUNNEL_A}/128`,
      ]);
      await Deno.remove(keyFile);
      await b.exec("ip", ["link", "set", "wg0", "up"]);

      await pingThroughTunnel(TUNNEL_B);
      const peer = (await assertAgreesWithWg(device)).peers[0];
      assert.ok(peer.lastHandshake !== undefined, "no handshake recorded");
      assert.ok(peer.receiveBytes > 0 && peer.transmitBytes > 0, `rx ${peer.receiveBytes}, tx ${peer.transmitBytes}`);
    });

    await t.step("an update replaces only that peer's allowed IPs and keeps its endpoint", async () => {
      await device.configure({ peers: [{ publicKey: publicB, allowedIPs: [`${TUNNEL_B}/128`, "fd00:2::3/128"] }] });
      const peer = (await assertAgreesWithWg(device)).peers[0];
      assert.deepEqual(peer.allowedIPs.toSorted(), [`${TUNNEL_B}/128`, "fd00:2::3/128"]);
      assert.equal(peer.endpoint, `[${UNDERLAY_B}]:${PORT_B}`);
      await pingThroughTunnel(TUNNEL_B);
    });

    await t.step(`a batch of ${BATCH} peers is applied in one call and read back in full`, async () => {
      const batch = Array.from({ length: BATCH }, (_, i) => ({
        publicKey: crypto.getRandomValues(new Uint8Array(32)),
        allowedIPs: [`fd00:3::${(i + 1).toString(16)}/128`],
      }));
      let started = performance.now();
      await device.configure({ peers: batch });
      const applyMs = performance.now() - started;
      started = performance.now();
      const info = await device.read();
      const readMs = performance.now() - started;
      console.log(
        `KernelDevice figures: ${BATCH}-peer batch applied in ${applyMs.toFixed(0)} ms, ` +
          `read back (${info.peers.length} peers) in ${readMs.toFixed(0)} ms`,
      );
      assert.equal(info.peers.length, BATCH + 1);
      const byKey = new Map(info.peers.map((peer) => [formatKey(peer.publicKey), peer.allowedIPs]));
      for (const peer of batch) assert.deepEqual(byKey.get(formatKey(peer.publicKey)), peer.allowedIPs);
      await assertAgreesWithWg(device);

      await device.configure({ peers: batch.map((peer) => ({ publicKey: peer.publicKey, remove: true })) });
      assert.deepEqual((await device.read()).peers.map((peer) => formatKey(peer.publicKey)), [formatKey(publicB)]);
    });

    await t.step("deleteLink removes the link, idempotently", async () => {
      await device.deleteLink();
      await device.deleteLink();
      await assert.rejects(run("ip", ["link", "show", IFACE]), /does not exist/);
    });
  } finally {
    await device.close();
  }
});

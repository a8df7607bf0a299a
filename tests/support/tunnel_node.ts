/**
 * A machine with a real WireGuard tunnel to a {@link FaultServe}: its own namespace joined to serve's by a veth
 * pair, its own wireguard-go configured with `wg` from a real Provision reply, the way Talos configures itself.
 * Fault tests use it to show that the tunnel itself outlives a fault.
 *
 * @module
 */

import { join } from "node:path";
import { formatKey, generatePrivateKey, publicKeyOf } from "../../src/keys.ts";
import type { FaultServe } from "./fault_serve.ts";
import { linkNamespaces, NetNs, run } from "./netns.ts";

const SERVE_SIDE = "fd5e:7::1";
const NODE_SIDE = "fd5e:7::2";

/** A tunnelled machine; disposing it removes its namespace and ends its wireguard-go. */
export class TunnelNode implements AsyncDisposable {
  readonly ns: NetNs;
  readonly uuid: string;
  /** Its SideroLink address (bare). */
  readonly address: string;
  /** The server's tunnel address (bare). */
  readonly server: string;

  private constructor(ns: NetNs, uuid: string, address: string, server: string) {
    this.ns = ns;
    this.uuid = uuid;
    this.address = address;
    this.server = server;
  }

  /** Provisions a new machine through `fault`'s API and brings its tunnel up (a ping gets through). */
  static async connect(fault: FaultServe): Promise<TunnelNode> {
    const ns = await NetNs.create("tun");
    try {
      await linkNamespaces(fault.ns, SERVE_SIDE, ns, NODE_SIDE);
      const iface = `sltn${crypto.getRandomValues(new Uint8Array(4)).toHex()}`;
      await ns.exec("wireguard-go", [iface]);
      await ns.exec("ip", ["link", "set", iface, "mtu", "1280", "up"]);
      const privateKey = generatePrivateKey();
      const uuid = crypto.randomUUID();
      const [reply] = await fault.provision([
        await fault.request(uuid, formatKey(await publicKeyOf(privateKey))),
      ]);
      if (reply.code !== "OK") throw new Error(`provision: ${JSON.stringify(reply)}`);
      const keyFile = join(fault.work, `node-${uuid}.key`);
      await Deno.writeTextFile(keyFile, formatKey(privateKey), { mode: 0o600 });
      const port = (reply.server_endpoint ?? "").split(":").at(-1) || "51821";
      await ns.exec("ip", ["-6", "addr", "add", reply.node_address_prefix, "dev", iface, "nodad"]);
      await ns.exec("wg", [
        "set",
        iface,
        "private-key",
        keyFile,
        "peer",
        reply.server_public_key,
        "endpoint",
        `[${SERVE_SIDE}]:${port}`,
        "allowed-ips",
        `${reply.server_address}/128`,
        "persistent-keepalive",
        "25",
      ]);
      await Deno.remove(keyFile);
      const node = new TunnelNode(ns, uuid, reply.node_address_prefix.replace("/64", ""), reply.server_address);
      await node.ping();
      return node;
    } catch (error) {
      await TunnelNode.#remove(ns);
      throw error;
    }
  }

  /** Pings the server through the tunnel until it answers (the first packets wait for a handshake). */
  async ping(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.ns.exec("ping", ["-6", "-c", "1", "-W", "1", this.server]);
        return;
      } catch (error) {
        if (attempt >= 10) throw new Error(`no answer through the tunnel: ${(error as Error).message}`);
      }
    }
  }

  static async #remove(ns: NetNs): Promise<void> {
    const pids = (await run("ip", ["netns", "pids", ns.name]).catch(() => "")).trim().split("\n");
    for (const pid of pids.filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* already gone */ }
    }
    await ns[Symbol.asyncDispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await TunnelNode.#remove(this.ns);
  }
}

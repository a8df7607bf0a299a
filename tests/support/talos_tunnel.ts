/**
 * A Talos machine's side of the SideroLink tunnel, for tests: its own wireguard-go in its own namespace,
 * configured with `wg` and `ip` from a real Provision reply exactly as Talos configures itself (one peer, the
 * server's key and endpoint, allowed `<server>/128`, keepalive 25 s, the node address as /64).
 *
 * @module
 */

import { formatKey, generatePrivateKey, publicKeyOf } from "../../src/keys.ts";
import type { NetNs } from "./netns.ts";

/** The Provision reply fields the node uses, as the Python client prints them. */
export interface ProvisionReply {
  server_endpoint: string[];
  server_public_key: string;
  node_address_prefix: string;
  server_address: string;
}

/** A node's WireGuard interface; the namespace's disposal ends its wireguard-go. */
export class TalosTunnel {
  readonly ns: NetNs;
  readonly iface: string;
  /** The node's key; Talos makes a new one at every boot, and so may a test. */
  privateKey: Uint8Array = generatePrivateKey();

  private constructor(ns: NetNs, iface: string) {
    this.ns = ns;
    this.iface = iface;
  }

  /** Starts wireguard-go for `iface` in `ns` (MTU 1280, up). */
  static async start(ns: NetNs, iface: string): Promise<TalosTunnel> {
    await ns.exec("wireguard-go", [iface]);
    await ns.exec("ip", ["link", "set", iface, "mtu", "1280", "up"]);
    return new TalosTunnel(ns, iface);
  }

  /** The public key of the current private key, in base64. */
  async publicKey(): Promise<string> {
    return formatKey(await publicKeyOf(this.privateKey));
  }

  /**
   * Configures the interface from `reply`, replacing any earlier configuration; `endpoint` defaults to the
   * reply's primary endpoint (written last, PROTOCOL.md §3).
   */
  async configure(reply: ProvisionReply, endpoint: string = reply.server_endpoint.at(-1)!): Promise<void> {
    const keyFile = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(keyFile, formatKey(this.privateKey), { mode: 0o600 });
      await this.ns.exec("ip", ["-6", "addr", "flush", "dev", this.iface]);
      await this.ns.exec("ip", ["-6", "addr", "add", reply.node_address_prefix, "dev", this.iface, "nodad"]);
      await this.ns.exec("wg", ["set", this.iface, "private-key", keyFile]);
      for (const peer of (await this.ns.exec("wg", ["show", this.iface, "peers"])).split("\n").filter(Boolean)) {
        await this.ns.exec("wg", ["set", this.iface, "peer", peer, "remove"]);
      }
      await this.ns.exec("wg", [
        "set",
        this.iface,
        "peer",
        reply.server_public_key,
        "endpoint",
        endpoint,
        "allowed-ips",
        `${reply.server_address}/128`,
        "persistent-keepalive",
        "25",
      ]);
    } finally {
      await Deno.remove(keyFile);
    }
  }

  /** Pings `server` through the tunnel until it answers (the first packets wait for the handshake). */
  async reach(server: string): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.ns.exec("ping", ["-6", "-c", "1", "-W", "1", server]);
        return;
      } catch (error) {
        if (attempt >= 20) throw new Error(`no answer from ${server} through the tunnel: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * A Talos machine's side of the SideroLink tunnel, for tests: its own WireGuard (wireguard-go, or the kernel's where it
 * has WireGuard) in its own namespace, configured with `wg` and `ip` from a real Provision reply exactly as Talos configures itself (one peer, the
 * server's key and endpoint, allowed `<server>/128`, keepalive 25 s, the node address as /64).
 *
 * @module
 */

import { formatKey, generatePrivateKey, publicKeyOf } from "../../src/keys.ts";
import type { NetNs } from "./netns.ts";
import { PYTHON } from "./requirements.ts";

const NODE_SCRIPT = new URL("./talos_node.py", import.meta.url).pathname;

/** The Provision reply fields the node uses, as the Python client prints them. */
export interface ProvisionReply {
  server_endpoint: string[];
  server_public_key: string;
  node_address_prefix: string;
  server_address: string;
}

/** A whole Provision reply, with the WireGuard-over-gRPC answer ("" for UDP). */
export type TunnelReply = ProvisionReply & { grpc_peer_addr_port: string };

/** Which WireGuard a node runs: wireguard-go, or the kernel's (in the QEMU guest: this host's kernel has none). */
export type NodeWireGuard = "userspace" | "kernel";

/** A node's WireGuard interface; the namespace's disposal ends its wireguard-go or removes its kernel link. */
export class TalosTunnel {
  readonly ns: NetNs;
  readonly iface: string;
  /** The node's key; Talos makes a new one at every boot, and so may a test. */
  privateKey: Uint8Array = generatePrivateKey();

  private constructor(ns: NetNs, iface: string) {
    this.ns = ns;
    this.iface = iface;
  }

  /** Creates `iface` in `ns` (MTU 1280, up) with wireguard-go, or as a kernel WireGuard link. */
  static async start(ns: NetNs, iface: string, wireguard: NodeWireGuard = "userspace"): Promise<TalosTunnel> {
    if (wireguard === "userspace") await ns.exec("wireguard-go", [iface]);
    else await ns.exec("ip", ["link", "add", iface, "type", "wireguard"]);
    await ns.exec("ip", ["link", "set", iface, "mtu", "1280", "up"]);
    return new TalosTunnel(ns, iface);
  }

  /**
   * Provisions the machine `uuid` with the current key through the Provision API at `api`, from its namespace, with
   * the independent Python client (talos_node.py); `tunnel` asks for WireGuard over gRPC. Throws on an error reply.
   */
  async provision(api: string, uuid: string, token: string, tunnel = false): Promise<TunnelReply> {
    const args = [
      NODE_SCRIPT,
      "provision",
      api,
      uuid,
      await this.publicKey(),
      token,
      ...(tunnel ? ["grpc-tunnel"] : []),
    ];
    const reply = JSON.parse(await this.ns.exec(PYTHON, args));
    if (reply.code) throw new Error(`provision: ${JSON.stringify(reply)}`);
    return reply;
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
  reach(server: string, timeoutMs?: number): Promise<void> {
    return pingUntilAnswered(this.ns, server, timeoutMs);
  }
}

/**
 * Pings `address` from `ns`, one echo at a time, until one is answered; fails after `timeoutMs` (generous: a loaded
 * machine or an emulated guest may take seconds for a handshake) with the last ping's error.
 */
export async function pingUntilAnswered(ns: NetNs, address: string, timeoutMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs;;) {
    try {
      await ns.exec("ping", ["-6", "-c", "1", "-W", "1", address]);
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`no answer from ${address} in ${timeoutMs} ms: ${(error as Error).message}`);
      }
      // A ping that fails at once (no route yet) should not spin.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

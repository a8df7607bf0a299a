/**
 * A machine with a real WireGuard tunnel to a {@link FaultServe}: its own namespace joined to serve's by a veth
 * pair, its own wireguard-go configured with `wg` from a real Provision reply, the way Talos configures itself.
 * Fault tests use it to show that the tunnel itself outlives a fault.
 *
 * @module
 */

import type { FaultServe } from "./fault_serve.ts";
import { linkNamespaces, NetNs } from "./netns.ts";
import { TalosTunnel } from "./talos_tunnel.ts";

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

  readonly #tunnel: TalosTunnel;

  private constructor(ns: NetNs, tunnel: TalosTunnel, uuid: string, address: string, server: string) {
    this.ns = ns;
    this.#tunnel = tunnel;
    this.uuid = uuid;
    this.address = address;
    this.server = server;
  }

  /** Provisions a new machine through `fault`'s API and brings its tunnel up (a ping gets through). */
  static async connect(fault: FaultServe): Promise<TunnelNode> {
    const ns = await NetNs.create("tun");
    try {
      await linkNamespaces(fault.ns, SERVE_SIDE, ns, NODE_SIDE);
      const tunnel = await TalosTunnel.start(ns, `sltn${crypto.getRandomValues(new Uint8Array(4)).toHex()}`);
      const uuid = crypto.randomUUID();
      const [reply] = await fault.provision([await fault.request(uuid, await tunnel.publicKey())]);
      if (reply.code !== "OK") throw new Error(`provision: ${JSON.stringify(reply)}`);
      const port = (reply.server_endpoint ?? "").split(":").at(-1) || "51821";
      const { server_public_key, node_address_prefix, server_address } = reply;
      // Reached over the veth from the node's namespace, whatever endpoint serve advertises.
      const endpoint = `[${SERVE_SIDE}]:${port}`;
      await tunnel.configure({ server_endpoint: [endpoint], server_public_key, node_address_prefix, server_address });
      const node = new TunnelNode(ns, tunnel, uuid, reply.node_address_prefix.replace("/64", ""), reply.server_address);
      await node.ping();
      return node;
    } catch (error) {
      await ns[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** Pings the server through the tunnel until it answers. */
  ping(): Promise<void> {
    return this.#tunnel.reach(this.server);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.ns[Symbol.asyncDispose]();
  }
}

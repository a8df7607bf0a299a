/**
 * The node side of WireGuard over gRPC for the end-to-end tests: `grpc_tunnel_node.py relay` (Python grpcio,
 * independent of the product's code) in the machine's namespace, between its WireGuard (whose peer endpoint is the
 * relay's UDP port on 127.0.0.1) and serve's CreateStream, reopening the stream 10 s after a failure as Talos does.
 * Also the filter rule that blocks the machine's UDP to the server, as the networks this feature is for do.
 *
 * @module
 */

import { lineReader } from "./line_reader.ts";
import type { NetNs } from "./netns.ts";
import { PYTHON } from "./requirements.ts";

const NODE = new URL("./grpc_tunnel_node.py", import.meta.url).pathname;

/** One line the relay printed: a stream opened, or ended with a gRPC status. */
export interface RelayEvent {
  event: "open" | "ended";
  code?: string;
  details?: string;
}

/** A running relay; disposing it ends it. */
export class GrpcTunnelRelay implements AsyncDisposable {
  /** The WireGuard peer endpoint that reaches the relay. */
  readonly endpoint: string;
  /** Everything it printed so far. */
  readonly events: RelayEvent[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;

  private constructor(child: Deno.ChildProcess, port: number) {
    this.#child = child;
    this.endpoint = `127.0.0.1:${port}`;
    const lines = lineReader(child.stdout);
    this.#reading = (async () => {
      try {
        for (;;) this.events.push(JSON.parse(await lines.next()));
      } catch {
        // The relay ended.
      }
    })();
  }

  /**
   * Starts the relay in `ns`: UDP on 127.0.0.1:`port`, streams to `api` naming the machine by `virtual` (its
   * Provision reply's `grpc_peer_addr_port`); a failed stream is reopened after `retrySeconds`.
   */
  static start(ns: NetNs, api: string, virtual: string, port: number, retrySeconds = 10): GrpcTunnelRelay {
    const child = new Deno.Command("ip", {
      args: ns.wrap(PYTHON, [NODE, "relay", api, virtual, String(port), String(retrySeconds)]),
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return new GrpcTunnelRelay(child, port);
  }

  /** Waits until the relay has printed `count` events matching `match`, for at most `timeoutMs`. */
  async waitFor(match: (event: RelayEvent) => boolean, count = 1, timeoutMs = 30_000): Promise<RelayEvent[]> {
    for (const deadline = Date.now() + timeoutMs;;) {
      const found = this.events.filter(match);
      if (found.length >= count) return found;
      if (Date.now() > deadline) throw new Error(`relay: no ${count} such events in ${JSON.stringify(this.events)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The relay's process id (`ip netns exec` execs Python, so it is the relay's own). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Makes the relay stop reading its stream (SIGUSR1), or read again (SIGUSR2). */
  reading(on: boolean): void {
    this.#child.kill(on ? "SIGUSR2" : "SIGUSR1");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#reading;
  }
}

/**
 * Blocks (or, with `blocked` false, unblocks) UDP from `ns` to `port` anywhere: a routing rule that blackholes
 * those datagrams, as a firewall that lets only TCP out would. Needs nothing but iproute2.
 */
export async function blockUdp(ns: NetNs, port: number, blocked = true): Promise<void> {
  await ns.exec("ip", ["-6", "rule", blocked ? "add" : "del", "ipproto", "17", "dport", String(port), "blackhole"]);
}

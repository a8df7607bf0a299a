/**
 * `/sidero.link.WireGuardOverGRPCService/CreateStream` (PROTOCOL.md §3): a machine whose UDP is blocked opens a
 * stream naming its virtual address; the stream is relayed to the WireGuard interface (`relay.ts`). One stream
 * per machine: a newer stream for the same address ends the older one with ABORTED "peer replaced".
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import { logger } from "../log.ts";
import type { GrpcService } from "../grpc/server.ts";
import { loadService } from "../grpc/service.ts";
import type { IdentifyByAddress } from "../machines/identity.ts";
import { PEER_ADDRESS_KEY, PEER_NOT_ALLOWED, tunnelPeer } from "./peer_address.ts";
import { DatagramRelay, type RelayCounters, relayCounters, type TunnelCall } from "./relay.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

/** What the tunnel needs from the daemon. */
export interface GrpcTunnelOptions {
  installationId: string;
  /** WireGuard's UDP listen port, reached on loopback. */
  wireguardPort: number;
  /** The machine at a SideroLink address: only provisioned machines may tunnel. */
  identify: IdentifyByAddress;
}

/** The tunnel's counters (read by the metrics). */
export interface GrpcTunnelCounters extends RelayCounters {
  /** Streams that were relayed. */
  streamsAccepted: number;
  /** Streams refused before relaying (metadata missing, malformed, not a provisioned machine's, stopping). */
  streamsRefused: number;
  /** Streams ended because a newer one named the same machine. */
  streamsReplaced: number;
}

const log = logger(["tunnel"]);

/**
 * The WireGuard-over-gRPC service and its open streams.
 *
 * @example
 * ```ts
 * const tunnel = new GrpcTunnel({ installationId, wireguardPort: 51821, identify: directory.identify });
 * await startGrpcServer({ host, port, services: [provisionService(provisioner), tunnel.service()] });
 * await tunnel.close();
 * ```
 */
export class GrpcTunnel {
  /** Summed over every stream since start. */
  readonly counters: GrpcTunnelCounters = {
    ...relayCounters(),
    streamsAccepted: 0,
    streamsRefused: 0,
    streamsReplaced: 0,
  };
  readonly #options: GrpcTunnelOptions;
  /** The open stream of each machine, by SideroLink address. */
  readonly #relays = new Map<string, DatagramRelay>();
  #closing = false;

  constructor(options: GrpcTunnelOptions) {
    this.#options = options;
  }

  /** How many streams are relayed now. */
  get open(): number {
    return this.#relays.size;
  }

  /** The service to add to the Provision API's listener. */
  service(): GrpcService {
    const definition = loadService(
      new URL("../proto/wireguard.proto", import.meta.url),
      "sidero.link.WireGuardOverGRPCService",
    );
    return { definition, implementation: { CreateStream: (call: TunnelCall) => void this.#accept(call) } };
  }

  async #accept(call: TunnelCall): Promise<void> {
    const from = call.getPeer();
    let relay: DatagramRelay;
    let peer, identity;
    try {
      if (this.#closing) throw new GrpcRefusal(status.UNAVAILABLE, "the server is stopping");
      peer = tunnelPeer(call.metadata.get(PEER_ADDRESS_KEY), this.#options.installationId);
      identity = this.#options.identify(peer.address);
      if (!identity) throw new GrpcRefusal(status.PERMISSION_DENIED, PEER_NOT_ALLOWED);
      relay = await DatagramRelay.open(call, { wireguardPort: this.#options.wireguardPort, counters: this.counters });
    } catch (error) {
      const refusal = error instanceof GrpcRefusal
        ? error
        : new GrpcRefusal(status.INTERNAL, `cannot relay the stream: ${(error as Error).message}`);
      this.counters.streamsRefused++;
      log.info("refused a WireGuard-over-gRPC stream from {from}: {message}", { from, message: refusal.message });
      call.emit("error", { code: refusal.code, details: refusal.message });
      return;
    }
    if (this.#closing) {
      relay.end({ code: status.UNAVAILABLE, details: "the server is stopping" });
      return;
    }
    const fields = { uuid: identity.serverUuid, from, virtual: peer.virtual, port: relay.localPort };
    const older = this.#relays.get(peer.address);
    if (older) {
      this.counters.streamsReplaced++;
      older.end({ code: status.ABORTED, details: "peer replaced" });
    }
    this.#relays.set(peer.address, relay);
    this.counters.streamsAccepted++;
    log.info("server {uuid} tunnels WireGuard over gRPC from {from} as {virtual}, relayed from port {port}", fields);
    const end = await relay.closed;
    if (this.#relays.get(peer.address) === relay) this.#relays.delete(peer.address);
    log.info("the WireGuard-over-gRPC stream of server {uuid} from {from} ended: {details}", {
      ...fields,
      details: end.details,
    });
  }

  /** Ends every stream with UNAVAILABLE (the machines' relays open new ones to the next server) and refuses new ones. */
  async close(): Promise<void> {
    this.#closing = true;
    const relays = [...this.#relays.values()];
    for (const relay of relays) relay.end({ code: status.UNAVAILABLE, details: "the server is stopping" });
    await Promise.all(relays.map((relay) => relay.closed));
  }
}

/**
 * The Provision API as a gRPC service (`/sidero.link.ProvisionService/Provision`) over {@linkcode Provisioner}.
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import type * as grpc from "@grpc/grpc-js";
import { logger } from "../log.ts";
import type { GrpcService } from "../grpc/server.ts";
import type { Tally } from "../metrics/tally.ts";
import { loadService } from "../grpc/service.ts";
import type { Provisioner } from "./provisioner.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

/** The request as decoded from the wire (field names of the .proto; proto3 optionals absent when unset). */
interface WireRequest {
  node_uuid: string;
  node_public_key: string;
  join_token?: string;
  node_unique_token?: string;
  talos_version?: string;
  wireguard_over_grpc?: boolean;
}

const log = logger(["provision"]);

/**
 * The service to pass to `startGrpcServer`; each call's answer is counted in `calls` by its code's name.
 *
 * @example
 * ```ts
 * await startGrpcServer({ host: "::", port: 8081, services: [provisionService(provisioner, counters.provisionCalls)] });
 * ```
 */
export function provisionService(provisioner: Provisioner, calls?: Tally<"code">): GrpcService {
  const definition = loadService(new URL("../proto/provision.proto", import.meta.url), "sidero.link.ProvisionService");
  const Provision: grpc.handleUnaryCall<WireRequest, object> = (call, callback) => {
    const request = call.request;
    let pending: Promise<object>;
    try {
      pending = provisioner.provision({
        nodeUuid: request.node_uuid,
        nodePublicKey: request.node_public_key,
        joinToken: request.join_token,
        nodeUniqueToken: request.node_unique_token,
        talosVersion: request.talos_version,
        wireguardOverGrpc: request.wireguard_over_grpc,
      }).then((response) => ({
        server_endpoint: response.serverEndpoint,
        server_public_key: response.serverPublicKey,
        node_address_prefix: response.nodeAddressPrefix,
        server_address: response.serverAddress,
        grpc_peer_addr_port: response.grpcPeerAddrPort,
      }));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then((response) => {
      calls?.add({ code: status[status.OK] });
      callback(null, response);
    }, (error) => {
      if (error instanceof GrpcRefusal) {
        log.info("refused a provision from {peer}: {message}", { peer: call.getPeer(), message: error.message });
        calls?.add({ code: status[error.code] });
        callback({ code: error.code, details: error.message }, null);
      } else {
        log.error("provision from {peer} failed: {error}", { peer: call.getPeer(), error: String(error) });
        calls?.add({ code: status[status.INTERNAL] });
        callback({ code: status.INTERNAL, details: `internal error: ${(error as Error)?.message ?? error}` }, null);
      }
    });
  };
  return { definition, implementation: { Provision } };
}

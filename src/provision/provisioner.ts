/**
 * The Provision API's logic (PROTOCOL.md §3), apart from gRPC: check the join token, the UUID and the key;
 * give the machine its address; put its peer on the device; record it; answer.
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import { createHash, timingSafeEqual } from "node:crypto";
import { canonicalUuid, GRPC_TUNNEL_PORT, nodeAddress, PREFIX_LENGTH, virtualAddress } from "../addressing.ts";
import { formatHostPort } from "../hostport.ts";
import { formatIPv6, parseIPv6 } from "../ipv6.ts";
import { formatKey, parseKey } from "../keys.ts";
import { logger } from "../log.ts";
import { DirectoryUnavailable, type MachineDirectory } from "../machines/directory.ts";
import type { Device } from "../wireguard/device.ts";
import { PeerWrites } from "../wireguard/peer_writes.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

/** What a machine sends (field names as protobufjs decodes them). */
export interface ProvisionRequest {
  nodeUuid: string;
  nodePublicKey: string;
  joinToken?: string;
  nodeUniqueToken?: string;
  talosVersion?: string;
  wireguardOverGrpc?: boolean;
}

/** What the server answers. */
export interface ProvisionResponse {
  /** `ip:port` endpoints, the primary one last (old clients keep the last value they read). */
  serverEndpoint: string[];
  serverPublicKey: string;
  nodeAddressPrefix: string;
  serverAddress: string;
  grpcPeerAddrPort: string;
}

/** Everything a provisioner works with. */
export interface ProvisionerOptions {
  installationId: string;
  serverPublicKey: Uint8Array;
  /** Server address, bare (`fd…::1`). */
  serverAddress: string;
  /** Advertised WireGuard endpoints, primary first. */
  endpoints: string[];
  /** When set, machines must present it. */
  joinToken?: string;
  /** Where machines live; it also decides which machines may provision. */
  directory: MachineDirectory;
  device: Device;
  now?: () => Date;
}

const log = logger(["provision"]);

/**
 * Provisions machines; concurrent calls for one UUID run one after the other.
 *
 * @example
 * ```ts
 * const response = await provisioner.provision({ nodeUuid, nodePublicKey, joinToken });
 * ```
 */
export class Provisioner {
  readonly #options: ProvisionerOptions;
  readonly #tokenDigest?: Uint8Array;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Concurrent provisions share device writes. */
  readonly #peerWrites: PeerWrites;

  constructor(options: ProvisionerOptions) {
    this.#options = options;
    this.#peerWrites = new PeerWrites(options.device);
    if (options.joinToken !== undefined) this.#tokenDigest = digest(options.joinToken);
  }

  /** Handles one request; throws {@linkcode GrpcRefusal} for every refusal. */
  provision(request: ProvisionRequest): Promise<ProvisionResponse> {
    this.#checkToken(request.joinToken);
    const uuid = checked(() => canonicalUuid(request.nodeUuid), "node_uuid");
    const publicKey = formatKey(checked(() => parseKey(request.nodePublicKey, "node_public_key"), "node_public_key"));
    return this.#serialised(uuid, () => this.#provision(uuid, publicKey, request));
  }

  async #provision(uuid: string, publicKey: string, request: ProvisionRequest): Promise<ProvisionResponse> {
    const { directory } = this.#options;
    const admission = await fromDirectory("read the machine", () => directory.admit(uuid));
    const existing = admission.publicKey;
    const address = admission.address ?? formatIPv6(nodeAddress(this.#options.installationId, uuid));
    const holder = directory.holderOfAddress(address);
    if (holder !== undefined && holder !== uuid) {
      throw new GrpcRefusal(status.ALREADY_EXISTS, `address ${address} of server ${uuid} is held by ${holder}`);
    }
    const keyHolder = directory.holderOfKey(publicKey);
    if (keyHolder !== undefined && keyHolder !== uuid) {
      throw new GrpcRefusal(status.ALREADY_EXISTS, `node_public_key is already in use by server ${keyHolder}`);
    }
    // WireGuard over gRPC: the machine's endpoint is its virtual address, which names it to the tunnel service.
    const tunnel = request.wireguardOverGrpc
      ? formatHostPort(
        formatIPv6(virtualAddress(this.#options.installationId, parseIPv6(address)!)),
        GRPC_TUNNEL_PORT,
      )
      : undefined;

    // Talos makes a new key at every boot: the old key's peer goes in the same batch that adds the new one.
    const oldKey = existing !== undefined && existing !== publicKey ? existing : undefined;
    try {
      await this.#peerWrites.apply([
        ...(oldKey ? [{ publicKey: Uint8Array.fromBase64(oldKey), remove: true }] : []),
        { publicKey: Uint8Array.fromBase64(publicKey), replaceAllowedIPs: true, allowedIPs: [`${address}/128`] },
      ]);
    } catch (error) {
      log.error("could not add the peer of server {uuid}: {error}", { uuid, error: (error as Error).message });
      throw new GrpcRefusal(status.INTERNAL, `could not configure the WireGuard peer: ${(error as Error).message}`);
    }
    const nodeUniqueToken = request.nodeUniqueToken || undefined;
    try {
      await directory.recordProvision(
        admission,
        { uuid, address, publicKey, nodeUniqueToken, talosVersion: request.talosVersion || undefined },
        (this.#options.now ?? (() => new Date()))(),
      );
    } catch (error) {
      log.error("could not record server {uuid}: {error}", { uuid, error: (error as Error).message });
      // The device must keep matching the records: a refused machine gets no peer, and a re-keyed one keeps
      // its recorded peer (its tunnel stays up until it provisions again).
      if (existing !== publicKey) await this.#undoPeer(uuid, publicKey, oldKey, address);
      throw directoryError("record the machine", error);
    }
    log.info("provisioned server {uuid} at {address}{rekeyed}{tunnel}", {
      uuid,
      address,
      rekeyed: oldKey ? " (new key, old peer removed)" : "",
      tunnel: tunnel ? `, WireGuard over gRPC as ${tunnel}` : "",
    });
    return this.#response(address, tunnel);
  }

  /** Takes the new key's peer off the device again and puts the old key's back; failures are logged. */
  async #undoPeer(uuid: string, publicKey: string, oldKey: string | undefined, address: string): Promise<void> {
    try {
      await this.#peerWrites.apply([
        { publicKey: Uint8Array.fromBase64(publicKey), remove: true },
        ...(oldKey ? [{ publicKey: Uint8Array.fromBase64(oldKey), allowedIPs: [`${address}/128`] }] : []),
      ]);
    } catch (error) {
      log.error("could not undo the peer change of server {uuid}: {error}", {
        uuid,
        error: (error as Error).message,
      });
    }
  }

  /** The reply; with `tunnel` (the virtual `[addr]:port`), that is the only endpoint and the gRPC peer. */
  #response(address: string, tunnel?: string): ProvisionResponse {
    const endpoints = tunnel ? [tunnel] : [...this.#options.endpoints];
    // An old client keeps the last endpoint it reads: the primary goes last; new clients swap it back.
    if (endpoints.length > 1) [endpoints[0], endpoints[endpoints.length - 1]] = [endpoints.at(-1)!, endpoints[0]];
    return {
      serverEndpoint: endpoints,
      serverPublicKey: formatKey(this.#options.serverPublicKey),
      nodeAddressPrefix: `${address}/${PREFIX_LENGTH}`,
      serverAddress: this.#options.serverAddress,
      grpcPeerAddrPort: tunnel ?? "",
    };
  }

  #checkToken(presented: string | undefined): void {
    if (!this.#tokenDigest) return;
    if (presented === undefined || !timingSafeEqual(digest(presented), this.#tokenDigest)) {
      throw new GrpcRefusal(status.PERMISSION_DENIED, "invalid join token");
    }
  }

  /** Runs `work` after every earlier call for the same UUID has finished. */
  #serialised<T>(uuid: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(uuid) ?? Promise.resolve();
    const result = previous.then(work, work);
    const settled = result.catch(() => {});
    this.#queues.set(uuid, settled);
    settled.then(() => {
      if (this.#queues.get(uuid) === settled) this.#queues.delete(uuid);
    });
    return result;
  }
}

/** Comparing digests keeps the comparison constant-time whatever the lengths of the two tokens. */
function digest(token: string): Uint8Array {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Runs a directory call, turning its refusals and outages into the status Talos should see. */
async function fromDirectory<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw directoryError(what, error);
  }
}

function directoryError(what: string, error: unknown): GrpcRefusal {
  if (error instanceof GrpcRefusal) return error;
  const message = `could not ${what}: ${(error as Error).message}`;
  return new GrpcRefusal(error instanceof DirectoryUnavailable ? status.UNAVAILABLE : status.INTERNAL, message);
}

function checked<T>(parse: () => T, field: string): T {
  try {
    return parse();
  } catch (error) {
    throw new GrpcRefusal(status.INVALID_ARGUMENT, `${field}: ${(error as Error).message}`);
  }
}

/**
 * A gRPC server over HTTP/2, cleartext (h2c, prior knowledge) or TLS: `@grpc/grpc-js` fed by our own `node:net`
 * listener, so every accepted connection passes through the GOAWAY filter (see `goaway_filter.ts`) on its way
 * in, after TLS when there is TLS (see `tls_accept.ts`), with one listening socket bound to exactly the
 * configured address.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import * as net from "node:net";
import { logger } from "../log.ts";
import { formatHostPort } from "../hostport.ts";
import { filterGoaway } from "./goaway_filter.ts";
import { acceptTls, type TlsSource } from "./tls_accept.ts";

const log = logger(["grpc"]);

/** One gRPC service: its method definitions (see `loadService`) and the handlers by method name. */
export interface GrpcService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** What {@link startGrpcServer} needs. */
export interface GrpcServerOptions {
  /** The address to bind, exactly: an IP literal (IPv6 without brackets) or a name that resolves to one. */
  host: string;
  /** The TCP port; 0 picks a free one (see {@link GrpcServer.port}). */
  port: number;
  services: readonly GrpcService[];
  /** How long {@link GrpcServer.shutdown} lets in-flight calls finish before cancelling them (default 5 s). */
  shutdownGraceMs?: number;
  /** Channel options passed to the grpc-js `Server` (limits, keepalive). */
  serverOptions?: grpc.ServerOptions;
  /** Serve TLS with the pair this holds at each new connection; cleartext without it. */
  tls?: TlsSource;
}

/** A running gRPC server. Disposing it shuts it down gracefully. */
export interface GrpcServer extends AsyncDisposable {
  /** The bound address, as the socket reports it (`::1`, `127.0.0.1`). */
  readonly host: string;
  /** The bound port. */
  readonly port: number;
  /**
   * Stops accepting connections, asks clients to finish (HTTP/2 GOAWAY from the server), waits up to `graceMs`
   * for in-flight calls, then cancels what remains and closes every connection. Safe to call twice.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** Default bound on how long shutdown waits for in-flight calls. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/**
 * Starts serving `services` on `host:port`; rejects with an error naming the address when it cannot bind.
 *
 * @example
 * ```ts
 * const definition = loadService(new URL("../proto/provision.proto", import.meta.url), "sidero.link.ProvisionService");
 * await using server = await startGrpcServer({
 *   host: "::", port: 8081,
 *   services: [{ definition, implementation: { Provision: (call, callback) => callback(null, reply(peerOf(call))) } }],
 * });
 * ```
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server(options.serverOptions);
  for (const service of options.services) server.addService(service.definition, service.implementation);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    if (options.tls) acceptTls(socket, options.tls, (secure) => injector.injectConnection(filterGoaway(secure)));
    else injector.injectConnection(filterGoaway(socket));
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", (error: Error) => {
      reject(
        new Error(`cannot listen for gRPC on ${formatHostPort(options.host, options.port)}: ${error.message}`, {
          cause: error,
        }),
      );
    });
    listener.listen({ host: options.host, port: options.port, exclusive: true }, resolve);
  });
  // After start-up a listener error (EMFILE while accepting) must not kill the process.
  listener.on("error", (error: Error) => {
    log.warning("gRPC listener on {address}: {error}", {
      address: formatHostPort(options.host, options.port),
      error: error.message,
    });
  });
  const bound = listener.address() as net.AddressInfo;

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> => {
    stopping ??= (async () => {
      // The listener's callback comes once every accepted connection has closed.
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      // GOAWAY to every client, so it opens no new calls and closes the connection when its calls are done.
      injector.drain(graceMs);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
      await Promise.race([closed, expired]);
      clearTimeout(timer);
      server.forceShutdown();
      for (const socket of sockets) socket.destroy();
      await closed;
    })();
    return stopping;
  };
  return { host: bound.address, port: bound.port, shutdown, [Symbol.asyncDispose]: () => shutdown() };
}

/** The client's address and port of a call, from `call.getPeer()`. */
export interface Peer {
  /** The IP address, without brackets; an IPv4-mapped IPv6 address is given as plain IPv4. */
  address: string;
  port: number;
}

/**
 * The client's address and port of a call, as the connection's socket saw them.
 *
 * @example
 * ```ts
 * const { address, port } = peerOf(call); // { address: "fdae:41e4:649b:9303:a1b2:c3d4:e5f6:789", port: 40312 }
 * ```
 */
export function peerOf(call: { getPeer(): string }): Peer {
  const peer = call.getPeer();
  const match = /^\[?(.+?)\]?:(\d+)$/.exec(peer);
  if (!match) throw new Error(`gRPC peer ${JSON.stringify(peer)} has no address and port`);
  return { address: match[1].replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1"), port: Number(match[2]) };
}

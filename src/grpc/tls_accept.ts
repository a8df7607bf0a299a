/**
 * The TLS side of an accepted connection: the handshake with the pair in use at that moment, and the ALPN rule
 * of the Provision API (PROTOCOL.md §3).
 *
 * Why TLS is terminated here and not by `http2.createSecureServer`: the decrypted bytes must pass the GOAWAY
 * filter (`goaway_filter.ts`) before `node:http2` reads them, exactly as on a cleartext listener; so the
 * server wraps the accepted socket in a `TLSSocket`, and the filter and grpc-js get that.
 *
 * ALPN: clients that offer `h2` get it; clients that offer no ALPN at all (Talos before 1.9) are accepted
 * without it; clients that offer only other protocols (`http/1.1`) are refused in the handshake with the
 * `no_application_protocol` alert, so an HTTP/1.1 client learns at once that this is no web server.
 *
 * @module
 */

import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { logger } from "../log.ts";
import type { TlsPair } from "./tls_pair.ts";

const log = logger(["grpc", "tls"]);

/** How long a client has to complete the handshake before its connection is closed. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Where new connections get their certificate: read once per connection, so a reload takes effect at the next. */
export interface TlsSource {
  readonly current: TlsPair;
}

/**
 * Starts the server side of TLS on `socket`; calls `onSecure` with the decrypted stream once the handshake is
 * done. A failed or too slow handshake closes the connection (logged at debug level: clients cause it).
 *
 * @example
 * ```ts
 * net.createServer((socket) => acceptTls(socket, tls, (secure) => injector.injectConnection(filterGoaway(secure))));
 * ```
 */
export function acceptTls(socket: Socket, source: TlsSource, onSecure: (secure: TLSSocket) => void): void {
  const client = `${socket.remoteAddress}:${socket.remotePort}`;
  const secure = new TLSSocket(socket, {
    isServer: true,
    secureContext: source.current.secureContext,
    ALPNProtocols: ["h2"],
  });
  const timer = setTimeout(() => {
    log.debug("TLS handshake from {client} timed out", { client });
    secure.destroy();
  }, HANDSHAKE_TIMEOUT_MS);
  secure.once("secure", () => {
    clearTimeout(timer);
    onSecure(secure);
  });
  // Once secure, the GOAWAY filter also listens for errors; this one keeps an early one from being unhandled.
  secure.on("error", (error: Error) => {
    clearTimeout(timer);
    log.debug("TLS connection from {client}: {error}", { client, error: error.message });
    secure.destroy();
  });
  secure.once("close", () => clearTimeout(timer));
}

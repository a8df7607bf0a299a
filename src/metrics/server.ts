/**
 * The metrics and health listener: `/metrics` (Prometheus text format), `/healthz` and `/readyz`, over plain
 * HTTP on exactly the address `--metrics-listen` names.
 *
 * @module
 */

import { text } from "../control/server.ts";
import { UserError } from "../errors.ts";
import { splitHostPort } from "../hostport.ts";
import { logger } from "../log.ts";
import type { Readiness } from "./readiness.ts";

/** The exposition, as the registry renders it. */
export interface Exposition {
  /** The text exposition (prom-client's `Registry.metrics`). */
  metrics(): Promise<string>;
  /** Its content type (prom-client's `Registry.contentType`). */
  readonly contentType: string;
}

/** A running listener. */
export interface HealthServer {
  /** The bound port. */
  readonly port: number;
  /** Stops listening and ends open responses. */
  close(): Promise<void>;
}

const PATHS = ["/metrics", "/healthz", "/readyz"];

const log = logger(["metrics"]);

/**
 * Listens on `listen` (`host:port`, `[v6]:port`) and answers `GET` (and `HEAD`) for the three paths: `/healthz`
 * 200 `ok` whenever the event loop answers, `/readyz` 200 `ready` or 503 with one unmet condition per line,
 * `/metrics` the registry's exposition (once `exposition` has settled: the registry may still be loading). Throws
 * a one-line error when the address cannot be bound.
 *
 * @example
 * ```ts
 * const server = startHealthServer("[::1]:9091", registry, readiness);
 * await server.close();
 * ```
 */
export function startHealthServer(
  listen: string,
  exposition: Exposition | Promise<Exposition>,
  readiness: Readiness,
): HealthServer {
  const { host, port } = splitHostPort(listen);
  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: host, port, signal: abort.signal, onListen: () => {}, onError: internalError },
      (request) => handle(request, exposition, readiness),
    );
  } catch (error) {
    throw new UserError(`cannot listen for metrics on ${listen}: ${(error as Error).message}`);
  }
  return {
    port: server.addr.port,
    close: async () => {
      abort.abort();
      await server.finished;
    },
  };
}

async function handle(
  request: Request,
  exposition: Exposition | Promise<Exposition>,
  readiness: Readiness,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, `method ${request.method} not allowed: use GET`);
  }
  const path = new URL(request.url).pathname;
  switch (path) {
    case "/healthz":
      return text(200, "ok");
    case "/readyz":
      return readiness.ready ? text(200, "ready") : text(503, readiness.reasons().join("\n"));
    case "/metrics": {
      const registry = await exposition;
      return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
    }
    default:
      return text(404, `no such path ${path}; known: ${PATHS.join(", ")}`);
  }
}

function internalError(error: unknown): Response {
  log.error("metrics request failed: {error}", { error: (error as Error)?.message ?? String(error) });
  return text(500, `internal error: ${(error as Error)?.message ?? error}`);
}

/**
 * The control API: HTTP over a unix socket (mode 0660, so root and the socket's group only), through which
 * `peers` and `logs` ask the running daemon, which owns the device and the store.
 *
 * @module
 */

import { dirname } from "node:path";
import { UserError } from "../errors.ts";
import { logger } from "../log.ts";

/** A route's handler; it receives the parsed URL so it can read the query. */
export type ControlRoute = (url: URL, request: Request) => Response | Promise<Response>;

/** Largest request body accepted; the API takes none, so anything larger is refused unread. */
const MAX_BODY_BYTES = 64 * 1024;

const log = logger(["control"]);

/** A running control server. */
export interface ControlServer extends AsyncDisposable {
  readonly path: string;
  /** Stops listening, ends open responses and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Listens on `path` and answers `GET` requests to the given routes; everything else gets an error status,
 * never a crash. A stale socket file from a crashed daemon is replaced; a live one is an error.
 *
 * @example
 * ```ts
 * await using control = await startControlServer("/run/siderolink/siderolink.sock", { "/v1/peers": peers });
 * ```
 */
export async function startControlServer(path: string, routes: Record<string, ControlRoute>): Promise<ControlServer> {
  await removeStaleSocket(path);
  try {
    Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  } catch (error) {
    throw new UserError(`cannot create the control socket folder ${dirname(path)}: ${(error as Error).message}`);
  }
  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.UnixAddr>;
  try {
    server = Deno.serve(
      { path, signal: abort.signal, onListen: () => {}, onError: internalError },
      (request) => handle(request, routes),
    );
  } catch (error) {
    throw new UserError(`cannot listen on the control socket ${path}: ${(error as Error).message}`);
  }
  Deno.chmodSync(path, 0o660);
  const close = async () => {
    abort.abort();
    await server.finished;
    await Deno.remove(path).catch(() => {});
  };
  return { path, close, [Symbol.asyncDispose]: close };
}

async function handle(request: Request, routes: Record<string, ControlRoute>): Promise<Response> {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (length > MAX_BODY_BYTES || request.headers.has("transfer-encoding")) {
    return text(413, "request body too large: the control API takes no body");
  }
  if (request.method !== "GET") return text(405, `method ${request.method} not allowed: use GET`);
  const url = new URL(request.url);
  const route = routes[url.pathname];
  if (!route) return text(404, `no such path ${url.pathname}; known: ${Object.keys(routes).join(", ")}`);
  try {
    return await route(url, request);
  } catch (error) {
    if (error instanceof UserError) return text(400, error.message);
    return internalError(error);
  }
}

function internalError(error: unknown): Response {
  log.error("control request failed: {error}", { error: (error as Error)?.message ?? String(error) });
  return text(500, `internal error: ${(error as Error)?.message ?? error}`);
}

/** A plain-text response with a trailing newline. */
export function text(status: number, body: string): Response {
  return new Response(`${body}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!Deno.lstatSync(path).isSocket) throw new UserError(`control socket path ${path} exists and is not a socket`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  try {
    const connection = await Deno.connect({ transport: "unix", path });
    connection.close();
    throw new UserError(`another daemon answers on ${path}: stop it or pass another --control-socket`);
  } catch (error) {
    if (error instanceof UserError) throw error;
    Deno.removeSync(path);
  }
}

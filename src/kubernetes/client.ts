/**
 * A small Kubernetes REST client on the platform's `fetch`: JSON requests with a deadline, merge patches, and
 * watches read as a stream of JSON lines. Every failure becomes a {@linkcode KubeError} that names the verb,
 * the resource and the apiserver's own message in one line, and says whether it is an outage (retry later) or a
 * refusal.
 *
 * Why not `@kubernetes/client-node`: Kubernetes mode needs exact control of deadlines (a provision must answer
 * within Talos's 30 s), of watch restarts and of token re-reads, and the few calls it makes (get, list, create,
 * merge-patch, watch) are a thin layer over `fetch` with `Deno.createHttpClient` for the CA and client
 * certificate; this keeps the mode free of a large dependency tree and its start-up cost.
 *
 * @module
 */

import type { KubeConnection } from "./connection.ts";

/** How long one request may take; a provision makes at most a few, within Talos's 30 s deadline. */
export const REQUEST_TIMEOUT_MS = 8_000;

/** The verbs the project uses, as RBAC names them. */
export type Verb = "get" | "list" | "watch" | "create" | "patch";

/** A failed request. */
export class KubeError extends Error {
  /** HTTP status, or 0 when no answer came (connection refused, reset, timed out). */
  readonly status: number;
  /** The Status `reason` (`NotFound`, `Conflict`, `AlreadyExists`, `Forbidden`, `Expired`, …). */
  readonly reason: string;

  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }

  /** Whether the apiserver is away or failing (no answer, 429 or 5xx): worth retrying later. */
  get unavailable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** One API request's outcome, for metrics: verb, resource and HTTP status (0 without an answer). */
export type RequestObserver = (verb: Verb, resource: string, status: number) => void;

/** What a request is for, used in messages and metrics. */
export interface Target {
  verb: Verb;
  /** The resource's plural name, e.g. `serverbindings`. */
  resource: string;
  /** `namespace/name`, `name`, or nothing for collections. */
  name?: string;
}

/**
 * The client.
 *
 * @example
 * ```ts
 * const client = new KubeClient(resolveConnection(undefined, Deno.env.toObject()));
 * const secret = await client.json({ verb: "get", resource: "secrets", name: "default/siderolink" },
 *   "/api/v1/namespaces/default/secrets/siderolink");
 * ```
 */
export class KubeClient {
  readonly connection: KubeConnection;
  readonly #http: Deno.HttpClient;
  #observer?: RequestObserver;
  #closed = false;

  constructor(connection: KubeConnection) {
    this.connection = connection;
    this.#http = Deno.createHttpClient({
      ...(connection.caPem !== undefined && { caCerts: [connection.caPem] }),
      ...connection.clientCertificate,
    });
  }

  /** Reports every request's outcome to `observer` (metrics). */
  observe(observer: RequestObserver): void {
    this.#observer = observer;
  }

  /** Sends a request and parses the JSON answer; throws {@linkcode KubeError}. */
  async json<T>(
    target: Target,
    path: string,
    init: { method?: string; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const response = await this.#send(target, path, init, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    try {
      return await response.json() as T;
    } catch (error) {
      throw new KubeError(0, "", `${describe(target)}: the answer was cut off: ${(error as Error).message}`);
    }
  }

  /**
   * Opens a watch and yields its events until the server ends it; `signal` stops it. A stream that stays silent
   * longer than `idleMs` is taken for a lost connection.
   */
  async *watch(
    target: Target,
    path: string,
    signal: AbortSignal,
    idleMs: number,
  ): AsyncGenerator<WatchEvent> {
    const idle = new AbortController();
    const response = await this.#send(target, path, {}, AbortSignal.any([signal, idle.signal]));
    let timer = setTimeout(() => idle.abort(), idleMs);
    try {
      const lines = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
      for await (const line of lines) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleMs);
        if (line.trim() === "") continue;
        yield JSON.parse(line) as WatchEvent;
      }
    } catch (error) {
      if (signal.aborted) return;
      throw new KubeError(0, "", `${describe(target)}: the watch broke off: ${messageOf(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection pool (once; later calls do nothing). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#http.close();
  }

  async #send(
    target: Target,
    path: string,
    init: { method?: string; body?: unknown; contentType?: string },
    signal: AbortSignal,
  ): Promise<Response> {
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = { accept: "application/json" };
      const token = this.connection.token?.(attempt > 0);
      if (token) headers.authorization = `Bearer ${token}`;
      if (init.body !== undefined) headers["content-type"] = init.contentType ?? "application/json";
      let response: Response;
      try {
        response = await fetch(`${this.connection.server}${path}`, {
          method: init.method ?? "GET",
          headers,
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          client: this.#http,
          signal,
        });
      } catch (error) {
        this.#observer?.(target.verb, target.resource, 0);
        const why = signal.aborted ? "no answer in time" : messageOf(error);
        throw new KubeError(
          0,
          "",
          `${describe(target)}: cannot reach the Kubernetes API at ${this.connection.server}: ${why}`,
        );
      }
      this.#observer?.(target.verb, target.resource, response.status);
      if (response.ok) return response;
      // A rotated service-account token: read the file again once and retry.
      if (response.status === 401 && attempt === 0 && this.connection.token) {
        await response.body?.cancel();
        continue;
      }
      throw await errorOf(target, response);
    }
  }
}

/** One event of a watch. */
export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject;
}

/** The fields of every object the project reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string }[];
  };
  [field: string]: unknown;
}

/** A list answer. */
export interface KubeList {
  metadata: { resourceVersion: string; continue?: string };
  items: KubeObject[];
}

/** `get secrets default/siderolink` — how a request is named in messages. */
export function describe(target: Target): string {
  return `${target.verb} ${target.resource}${target.name ? ` ${target.name}` : ""}`;
}

async function errorOf(target: Target, response: Response): Promise<KubeError> {
  const text = await response.text().catch(() => "");
  let reason = "";
  let message = text.trim().split("\n")[0].slice(0, 300) || response.statusText;
  try {
    const status = JSON.parse(text) as { reason?: string; message?: string };
    reason = status.reason ?? "";
    if (status.message) message = status.message;
  } catch {
    // Not a Status object (a proxy's page): the first line of the text says enough.
  }
  return new KubeError(response.status, reason, `${describe(target)}: ${response.status} ${reason}: ${message}`.trim());
}

function messageOf(error: unknown): string {
  return (error as Error)?.message?.split("\n")[0] ?? String(error);
}

/** Splits a text stream into lines. */
function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (rest !== "") controller.enqueue(rest);
    },
  });
}

/**
 * `GET /v1/logs`: the daemon's kernel-log history over the control API, and with `follow` the new lines as the
 * store commits them.
 *
 * The contract (all parameters optional):
 * - `uuid` (repeatable): server UUIDs, any letter case; a line matches any of them.
 * - `cluster`, `namespace`, `machine`: equal to the line's annotation of that name.
 * - `level`: `error`, `warn`, `info` or `debug`: that level and more severe ones.
 * - `since`: by record time: an RFC 3339 time, or a duration back from now (`10m`).
 * - `tail`: only the last N matching lines of the history (a whole number, 0 for none); all when absent.
 * - `follow`: `1` or `true`: after the history, stream new lines until the client goes away.
 *
 * The answer is `application/x-ndjson`: the documented lines (PROTOCOL.md §4) exactly as serve printed them,
 * oldest first, each ending in `\n`. A bad parameter is a 400 naming it.
 *
 * @module
 */

import { canonicalUuid } from "../addressing.ts";
import { UsageError } from "../errors.ts";
import { candidateNeedles, type LineFilter, matchesRecord, parseSince } from "../logs/filter.ts";
import { isTalosLevel, parseRecord } from "../logs/record.ts";
import type { LogFilter, LogRow, LogStore } from "../logs/store.ts";
import type { ControlRoute } from "./server.ts";

/** One `/v1/logs` request. */
export interface LogsRequest {
  filter: LineFilter;
  /** The last N matching lines of the history; all when absent. */
  tail?: number;
  /** Stream new lines after the history. */
  follow: boolean;
}

/** What the route needs of the history: {@link LogStore}'s queries and subscription. */
export type LogHistory = Pick<LogStore, "query" | "subscribe">;

/** How far a follower may fall behind (bytes queued for it) before its stream is ended, by default. */
export const MAX_BEHIND_BYTES = 16 * 1024 * 1024;

/** Settings of {@link logsRoute}. */
export interface LogsRouteOptions {
  /** How far a follower may fall behind (bytes queued for it); default {@link MAX_BEHIND_BYTES}. */
  maxBehindBytes?: number;
}

/** History is sent in pieces of about this size, as the client reads. */
const PIECE_BYTES = 64 * 1024;

const PARAMETERS = ["uuid", "cluster", "namespace", "machine", "level", "since", "tail", "follow"];

const ANNOTATIONS = ["cluster", "namespace", "machine"] as const;

/**
 * The path and query of a request; `since` is sent as an RFC 3339 time.
 *
 * @example
 * ```ts
 * logsPath({ filter: { uuids: ["0f3c…"], level: "warn" }, tail: 100, follow: true });
 * // "/v1/logs?uuid=0f3c…&level=warn&tail=100&follow=1"
 * ```
 */
export function logsPath(request: LogsRequest): string {
  const params = new URLSearchParams();
  const { filter } = request;
  for (const uuid of filter.uuids ?? []) params.append("uuid", uuid);
  for (const key of ANNOTATIONS) if (filter[key] !== undefined) params.set(key, filter[key]);
  if (filter.level) params.set("level", filter.level);
  if (filter.sinceMs !== undefined) params.set("since", new Date(filter.sinceMs).toISOString());
  if (request.tail !== undefined) params.set("tail", String(request.tail));
  if (request.follow) params.set("follow", "1");
  const query = params.toString();
  return query ? `/v1/logs?${query}` : "/v1/logs";
}

/**
 * Reads a request's parameters; throws a `UsageError` naming a bad or unknown one.
 *
 * @example
 * ```ts
 * parseLogsQuery(new URLSearchParams("uuid=0F3C…&tail=10"), Date.now()); // { filter: { uuids: ["0f3c…"] }, tail: 10, follow: false }
 * ```
 */
export function parseLogsQuery(params: URLSearchParams, nowMs: number): LogsRequest {
  for (const key of params.keys()) {
    if (!PARAMETERS.includes(key)) {
      throw new UsageError(`unknown parameter ${JSON.stringify(key)}: want ${PARAMETERS.join(", ")}`);
    }
  }
  const filter: LineFilter = {};
  const uuids = params.getAll("uuid");
  if (uuids.length > 0) filter.uuids = uuids.map(canonicalUuid);
  for (const key of ANNOTATIONS) {
    const value = params.get(key);
    if (value !== null) filter[key] = value;
  }
  const level = params.get("level");
  if (level !== null) {
    if (!isTalosLevel(level)) throw new UsageError(`level ${JSON.stringify(level)}: want error, warn, info or debug`);
    filter.level = level;
  }
  const since = params.get("since");
  if (since !== null) {
    try {
      filter.sinceMs = parseSince(since, nowMs);
    } catch (error) {
      throw new UsageError(`since: ${(error as Error).message}`);
    }
  }
  const request: LogsRequest = { filter, follow: false };
  const tail = params.get("tail");
  if (tail !== null) {
    if (!/^\d+$/.test(tail) || !Number.isSafeInteger(Number(tail))) {
      throw new UsageError(`tail ${JSON.stringify(tail)}: want a whole number`);
    }
    request.tail = Number(tail);
  }
  const follow = params.get("follow");
  if (follow !== null) {
    if (!["1", "true", "0", "false"].includes(follow)) {
      throw new UsageError(`follow ${JSON.stringify(follow)}: want 1, true, 0 or false`);
    }
    request.follow = follow === "1" || follow === "true";
  }
  return request;
}

/**
 * The handler of `/v1/logs`, for the daemon's control server.
 *
 * UUIDs, level, time and tail are the store's to apply; annotations are tested on the lines. A follower subscribes in the same task as that query, which the
 * store guarantees to neither miss nor repeat a line; new lines wait until the history is sent, and a follower
 * that falls more than `maxBehindBytes` behind has its stream ended rather than the daemon's memory grow.
 *
 * @example
 * ```ts
 * await startControlServer(socket, { "/v1/peers": peers, "/v1/logs": logsRoute(logs.store) });
 * ```
 */
export function logsRoute(store: LogHistory, options: LogsRouteOptions = {}): ControlRoute {
  const maxBehind = options.maxBehindBytes ?? MAX_BEHIND_BYTES;
  return (url) => {
    const { filter, tail, follow } = parseLogsQuery(url.searchParams, Date.now());
    const storeFilter: LogFilter = { uuids: filter.uuids, level: filter.level, sinceMs: filter.sinceMs };
    const keep = annotationTest(filter);
    const history = keep ? annotatedHistory(store, storeFilter, keep, tail) : store.query({ ...storeFilter, tail });
    return new Response(followingStream(store, storeFilter, keep, history, follow, maxBehind), {
      headers: { "content-type": "application/x-ndjson; charset=utf-8" },
    });
  };
}

/**
 * The test of a filter's annotations (cluster, namespace, machine) on a stored line, `undefined` when it names
 * none. Only lines holding the annotation text are parsed.
 */
function annotationTest(filter: LineFilter): ((row: LogRow) => boolean) | undefined {
  const annotations: LineFilter = { cluster: filter.cluster, namespace: filter.namespace, machine: filter.machine };
  const needles = candidateNeedles(annotations);
  if (!needles) return undefined;
  return (row) => {
    if (!needles.some((needle) => row.line.includes(needle))) return false;
    const { record } = parseRecord(row.line);
    return record !== undefined && matchesRecord(annotations, record);
  };
}

/**
 * The last `tail` stored lines that pass `keep`. The store cannot test annotations, so ever larger tails are
 * asked for (4× each time) until enough lines pass or the history is exhausted: the work stays proportional to
 * how far back the lines are, not to the whole history.
 */
function annotatedHistory(
  store: LogHistory,
  storeFilter: LogFilter,
  keep: (row: LogRow) => boolean,
  tail: number | undefined,
): LogRow[] {
  if (tail === undefined) return store.query(storeFilter).filter(keep);
  if (tail === 0) return [];
  for (let asked = Math.max(4 * tail, 1000);; asked *= 4) {
    const rows = store.query({ ...storeFilter, tail: asked });
    const kept = rows.filter(keep);
    if (kept.length >= tail || rows.length < asked) return kept.slice(Math.max(0, kept.length - tail));
  }
}

/** The response body: `history` as the client reads it, then (with `follow`) the new lines. */
function followingStream(
  store: LogHistory,
  storeFilter: LogFilter,
  keep: ((row: LogRow) => boolean) | undefined,
  history: LogRow[],
  follow: boolean,
  maxBehind: number,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let sent = 0;
  let waiting: string[] | undefined = follow ? [] : undefined; // new lines while the history is being sent
  let waitingBytes = 0;
  let unsubscribe: (() => void) | undefined;
  const stop = () => {
    unsubscribe?.();
    unsubscribe = undefined;
  };
  return new ReadableStream<Uint8Array>({
    // Runs in the constructor, so in the same task as the history query.
    start(controller) {
      if (!follow) return;
      unsubscribe = store.subscribe(storeFilter, (rows) => {
        const lines = (keep ? rows.filter(keep) : rows).map((row) => row.line);
        if (lines.length === 0) return;
        const text = `${lines.join("\n")}\n`;
        if (waiting) {
          waiting.push(text);
          waitingBytes += text.length;
        }
        const behind = waiting ? waitingBytes : -(controller.desiredSize ?? 0);
        if (behind > maxBehind) {
          stop();
          controller.error(new Error(`the follower fell more than ${maxBehind} bytes behind`));
          return;
        }
        if (!waiting) controller.enqueue(encoder.encode(text));
      });
    },
    pull(controller) {
      if (sent < history.length) {
        let piece = "";
        while (sent < history.length && piece.length < PIECE_BYTES) piece += `${history[sent++].line}\n`;
        controller.enqueue(encoder.encode(piece));
        return;
      }
      if (!follow) {
        controller.close();
        return;
      }
      if (waiting) {
        if (waitingBytes > 0) controller.enqueue(encoder.encode(waiting.join("")));
        waiting = undefined;
      }
    },
    cancel: stop,
  }, new ByteLengthQueuingStrategy({ highWaterMark: PIECE_BYTES }));
}

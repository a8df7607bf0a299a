/**
 * Which documented kernel-log lines (PROTOCOL.md §4) `logs` shows: by server UUID, by the line's own annotation
 * keys, by level and by record time. The same filter serves the daemon's history and `--stdin`.
 *
 * @module
 */

import { parseDuration } from "../duration.ts";
import { type KernelRecord, levelOf, levelsAtLeast, recordTimeMs } from "./record.ts";
import type { LogFilter } from "./store.ts";

/**
 * What a line must match: the store's filter (server UUIDs, level, record time) plus the line's own
 * annotation keys. An absent field matches every line.
 */
export interface LineFilter extends LogFilter {
  /** The line's `cluster` annotation. */
  cluster?: string;
  /** The line's `namespace` annotation. */
  namespace?: string;
  /** The line's `machine` annotation. */
  machine?: string;
}

/** The annotation keys a filter compares with a line's own keys of the same name. */
const ANNOTATION_KEYS = ["machine", "cluster", "namespace"] as const;

/**
 * Whether a parsed documented line matches. A line without `talos-time` never matches a `sinceMs` filter:
 * its time cannot be told.
 *
 * @example
 * ```ts
 * matchesRecord({ level: "warn" }, { "talos-level": "error", msg: "oops" }); // true
 * ```
 */
export function matchesRecord(filter: LineFilter, record: KernelRecord): boolean {
  if (filter.uuids) {
    const uuid = record.server_uuid;
    if (typeof uuid !== "string" || !filter.uuids.includes(uuid.toLowerCase())) return false;
  }
  for (const key of ANNOTATION_KEYS) {
    if (filter[key] !== undefined && record[key] !== filter[key]) return false;
  }
  if (filter.level !== undefined && !levelsAtLeast(filter.level).includes(levelOf(record))) return false;
  if (filter.sinceMs !== undefined) {
    const time = recordTimeMs(record);
    if (time === undefined || time < filter.sinceMs) return false;
  }
  return true;
}

/**
 * Text of which every matching documented line contains at least one, so that lines holding none can be
 * skipped unparsed: `"server_uuid":"<uuid>"` for each UUID, else the `machine`, `cluster` or `namespace`
 * annotation exactly as serve writes it (compact JSON, `JSON.stringify` of the value). `undefined` when the
 * filter names none of these (every line must then be parsed). Level and time are never used: a line may lack
 * `talos-level` (its level then comes from `priority`) and times are compared, not searched.
 *
 * @example
 * ```ts
 * candidateNeedles({ uuids: ["0f3c…"] }); // ['"server_uuid":"0f3c…"']
 * ```
 */
export function candidateNeedles(filter: LineFilter): string[] | undefined {
  if (filter.uuids) return filter.uuids.map((uuid) => `"server_uuid":${JSON.stringify(uuid)}`);
  for (const key of ANNOTATION_KEYS) {
    const value = filter[key];
    if (value !== undefined) return [`${JSON.stringify(key)}:${JSON.stringify(value)}`];
  }
  return undefined;
}

/** RFC 3339 date-time: a date, `T` (or `t`, or a space), a time with optional fraction, and a zone. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Reads a `--since` value: a duration back from `nowMs` (`10m`, `1h30m`) or an RFC 3339 time. Returns ms since
 * the epoch; throws a `RangeError` saying what is expected.
 *
 * @example
 * ```ts
 * parseSince("10m", Date.parse("2026-03-02T08:15:00Z")); // Date.parse("2026-03-02T08:05:00Z")
 * parseSince("2026-03-02T08:00:00+01:00", Date.now()); // Date.parse("2026-03-02T07:00:00Z")
 * ```
 */
export function parseSince(text: string, nowMs: number): number {
  const ms = RFC3339.test(text) ? Date.parse(text.replace(" ", "T")) : nowMs - durationMs(text);
  if (Number.isFinite(ms)) return ms;
  throw new RangeError(
    `${JSON.stringify(text)} is neither a duration nor an RFC 3339 time: want e.g. 10m, 1h30m or ` +
      "2026-03-02T08:15:00Z",
  );
}

/** A duration in ms, or NaN for text that is none. */
function durationMs(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    return NaN;
  }
}

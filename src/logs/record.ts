/**
 * Talos kernel-log records (PROTOCOL.md §4): parsing one JSON line, the record's level and time, and the
 * documented output line (the record's keys plus the machine's annotations, sorted, compact, one line).
 *
 * @module
 */

/**
 * A Talos kernel record as it arrives: `clock` (µs since boot), `facility`, `msg`, `priority`, `seq`,
 * `talos-level`, `talos-time` (RFC 3339, UTC), plus any unknown keys, which are kept. Values are as the machine
 * sent them, so they are `unknown` until checked. This server adds `truncated: true` when the line was longer
 * than the cap and its middle was dropped.
 */
export type KernelRecord = Record<string, unknown>;

/** A parsed record, or why the line is not one. */
export type ParseResult = { record: KernelRecord; error?: undefined } | { record?: undefined; error: string };

/**
 * Parses one line (without its `\n`) into a record. Never throws: a line that is not a JSON object gives an
 * error naming what was wrong.
 *
 * @example
 * ```ts
 * parseRecord('{"seq":1,"msg":"hi\\n"}').record?.seq; // 1
 * parseRecord("[1]").error; // "not a JSON object (an array)"
 * ```
 */
export function parseRecord(line: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { error: `not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      error: `not a JSON object (${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value})`,
    };
  }
  return { record: value as KernelRecord };
}

/** Talos levels, most severe first. */
export const TALOS_LEVELS = ["error", "warn", "info", "debug"] as const;

/** One of the Talos levels. */
export type TalosLevel = typeof TALOS_LEVELS[number];

/** The Talos level of each syslog priority, as Talos maps them. */
const LEVEL_OF_PRIORITY: Readonly<Record<string, TalosLevel>> = {
  emerg: "error",
  alert: "error",
  crit: "error",
  err: "error",
  warning: "warn",
  notice: "info",
  info: "info",
  debug: "debug",
};

/** Whether `text` names a Talos level. */
export function isTalosLevel(text: unknown): text is TalosLevel {
  return text === "error" || text === "warn" || text === "info" || text === "debug";
}

/** A record's level: its `talos-level`, else derived from `priority`, else `info`. */
export function levelOf(record: KernelRecord): TalosLevel {
  const level = record["talos-level"];
  if (isTalosLevel(level)) return level;
  return (typeof record.priority === "string" && LEVEL_OF_PRIORITY[record.priority]) || "info";
}

/** The levels at least as severe as `level`, for filters ("warn" gives error and warn). */
export function levelsAtLeast(level: TalosLevel): TalosLevel[] {
  return TALOS_LEVELS.slice(0, TALOS_LEVELS.indexOf(level) + 1);
}

/** A record's `talos-time` in milliseconds since the epoch, or `undefined` when absent or unreadable. */
export function recordTimeMs(record: KernelRecord): number | undefined {
  const time = record["talos-time"];
  if (typeof time !== "string") return undefined;
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Compares two strings by the byte order of their UTF-8 encodings (code point order). */
export function compareBytes(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only between surrogates and U+E000..U+FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff, ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** One piece of an output line: a fixed annotation (`"cluster":"prod"`) or a record key with its `"key":`. */
type Step = { fixed: string; key?: undefined; prefix?: undefined } | { fixed?: undefined; key: string; prefix: string };

/**
 * Builds the documented output line for records of one machine. The merged, sorted key order is worked out
 * once per record shape (Talos always sends the same keys) and reused, so the hot path is string joins.
 * Annotation keys win over record keys of the same name: a machine cannot claim another identity.
 *
 * @example
 * ```ts
 * const formatter = new LineFormatter({ server_uuid: "0f3c…", cluster: "prod" });
 * formatter.format({ seq: 1, msg: "hi" }); // '{"cluster":"prod","msg":"hi","seq":1,"server_uuid":"0f3c…"}'
 * ```
 */
export class LineFormatter {
  readonly #annotation: Readonly<Record<string, string>>;
  #shape: string[] = [];
  #steps: Step[] = [];

  constructor(annotation: Readonly<Record<string, string>>) {
    this.#annotation = annotation;
    this.#steps = this.#plan([]);
  }

  /** The output line of `record` (one line: JSON escapes every control character, `\n` included). */
  format(record: KernelRecord): string {
    const keys = Object.keys(record);
    if (!sameKeys(keys, this.#shape)) {
      this.#shape = keys;
      this.#steps = this.#plan(keys);
    }
    let line = "{";
    const steps = this.#steps;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      if (i > 0) line += ",";
      // A value JSON cannot hold (only possible for records built in code) is written as null.
      line += step.fixed ?? step.prefix + (JSON.stringify(record[step.key]) ?? "null");
    }
    return line + "}";
  }

  #plan(recordKeys: string[]): Step[] {
    const annotation = this.#annotation;
    const keys = new Set([...recordKeys, ...Object.keys(annotation)]);
    return [...keys].sort(compareBytes).map((key): Step =>
      Object.hasOwn(annotation, key)
        ? { fixed: `${JSON.stringify(key)}:${JSON.stringify(annotation[key])}` }
        : { key, prefix: `${JSON.stringify(key)}:` }
    );
  }
}

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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
  return levelFrom(record["talos-level"], record.priority);
}

/** The level of a record with these `talos-level` and `priority` values (see {@link levelOf}). */
export function levelFrom(talosLevel: unknown, priority: unknown): TalosLevel {
  if (isTalosLevel(talosLevel)) return talosLevel;
  return (typeof priority === "string" && Object.hasOwn(LEVEL_OF_PRIORITY, priority) && LEVEL_OF_PRIORITY[priority]) ||
    "info";
}

/** The levels at least as severe as `level`, for filters ("warn" gives error and warn). */
export function levelsAtLeast(level: TalosLevel): TalosLevel[] {
  return TALOS_LEVELS.slice(0, TALOS_LEVELS.indexOf(level) + 1);
}

/** A record's `talos-time` in milliseconds since the epoch, or `undefined` when absent or unreadable. */
export function recordTimeMs(record: KernelRecord): number | undefined {
  const time = record["talos-time"];
  if (typeof time !== "string") return undefined;
  const ms = rfc3339UtcMs(time) ?? Date.parse(time);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Longest time text {@link rfc3339UtcMs} reads itself (a year, nanoseconds and more fraction digits fit). */
const MAX_TIME_TEXT = 64;
const timeScratch = new Uint8Array(MAX_TIME_TEXT * 3);
const encoder = new TextEncoder();

/** {@link rfc3339UtcMsOfBytes} of a string. */
function rfc3339UtcMs(text: string): number | undefined {
  if (text.length > MAX_TIME_TEXT) return undefined;
  const { written } = encoder.encodeInto(text, timeScratch);
  return rfc3339UtcMsOfBytes(timeScratch, 0, written);
}

/**
 * Reads Talos's own time format (`2026-03-02T08:15:44.1038Z`: UTC, any number of fraction digits, cut to ms as
 * `Date.parse` does) from the UTF-8 bytes `text[start, end)`, several times faster than `Date.parse`, for the
 * receive path. Anything else, or a field out of the ranges every month has, gives `undefined` and is left to
 * `Date.parse`.
 */
export function rfc3339UtcMsOfBytes(text: Uint8Array, start: number, end: number): number | undefined {
  const length = end - start;
  if (
    length < 20 || text[start + 4] !== 0x2d || text[start + 7] !== 0x2d || text[start + 10] !== 0x54 ||
    text[start + 13] !== 0x3a || text[start + 16] !== 0x3a || text[end - 1] !== 0x5a
  ) return undefined;
  const year = digits(text, start, 4), month = digits(text, start + 5, 2), day = digits(text, start + 8, 2);
  const hour = digits(text, start + 11, 2), minute = digits(text, start + 14, 2);
  const second = digits(text, start + 17, 2);
  if (month < 1 || month > 12 || day < 1 || day > 28 || hour > 23 || minute > 59 || second > 59) return undefined;
  let ms = 0;
  if (length > 20) {
    if (text[start + 19] !== 0x2e || length === 21) return undefined;
    const fraction = length - 21;
    if (digits(text, start + 20, fraction) < 0) return undefined;
    ms = digits(text, start + 20, Math.min(3, fraction)) * (fraction === 1 ? 100 : fraction === 2 ? 10 : 1);
  }
  if (year < 0) return undefined;
  // Records come in order, so the hour is nearly always the last one's: Date.UTC only when it changes.
  const hourKey = ((year * 16 + month) * 32 + day) * 32 + hour;
  if (hourKey !== lastHour.key) lastHour = { key: hourKey, ms: Date.UTC(year, month - 1, day, hour) };
  return lastHour.ms + minute * 60_000 + second * 1000 + ms;
}

/** The start of the hour {@link rfc3339UtcMsOfBytes} read last. */
let lastHour = { key: -1, ms: 0 };

/** The decimal number in `text[at, at + count)`, or -1 when a byte is not a digit. */
function digits(text: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text[i] - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
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

/** One key of an output line: a fixed annotation, or a key whose value comes from the record. */
interface Step {
  key: string;
  /** The annotation's value, when the key is an annotation. */
  annotation?: string;
  /** `"key":` (for the general path). */
  prefix: string;
}

/**
 * Builds the documented output line for records of one machine. The merged, sorted key order is worked out
 * once per record shape (Talos always sends the same keys) and reused. The line is then built as an object with
 * its keys in that order and serialised by `JSON.stringify` (the fastest way measured here), unless a key is an
 * array index (JavaScript objects put those first, in numeric order) or `__proto__`: then it is joined by hand.
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
  #byObject = true;

  constructor(annotation: Readonly<Record<string, string>>) {
    this.#annotation = annotation;
    this.#plan([]);
  }

  /** The output line of `record` (one line: JSON escapes every control character, `\n` included). */
  format(record: KernelRecord): string {
    const keys = Object.keys(record);
    if (!sameKeys(keys, this.#shape)) {
      this.#shape = keys;
      this.#plan(keys);
    }
    const steps = this.#steps;
    if (this.#byObject) {
      const ordered: Record<string, unknown> = {};
      for (let i = 0; i < steps.length; i++) {
        const step = steps[i];
        ordered[step.key] = step.annotation ?? record[step.key];
      }
      return JSON.stringify(ordered);
    }
    const parts: string[] = [];
    for (const step of steps) {
      const value = JSON.stringify(step.annotation ?? record[step.key]);
      if (value !== undefined) parts.push(step.prefix + value); // undefined values are left out, as JSON.stringify does
    }
    return `{${parts.join(",")}}`;
  }

  #plan(recordKeys: string[]): void {
    const annotation = this.#annotation;
    const keys = [...new Set([...recordKeys, ...Object.keys(annotation)])].sort(compareBytes);
    this.#steps = keys.map((key) => ({
      key,
      annotation: Object.hasOwn(annotation, key) ? annotation[key] : undefined,
      prefix: `${JSON.stringify(key)}:`,
    }));
    this.#byObject = keys.every((key) => key !== "__proto__" && !/^\d+$/.test(key));
  }
}

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The output formats of `logs` for one documented kernel-log line (PROTOCOL.md §4): `json` (the line itself,
 * byte-for-byte), `dmesg` (the kernel's own `[seconds.micros]` layout) and `pretty` (for people).
 *
 * @module
 */

import { colour } from "../control/format.ts";
import { type KernelRecord, levelOf, recordTimeMs, type TalosLevel } from "./record.ts";

/** The formats `--format` accepts. */
export const LOG_FORMATS = ["json", "dmesg", "pretty"] as const;

/** One of {@link LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/**
 * Renders one line: `line` is the documented line as stored, `record` the same line parsed. The result has no
 * trailing newline and may hold several lines (a multi-line `msg`).
 */
export type LineRenderer = (line: string, record: KernelRecord) => string;

/**
 * The renderer of a format; `colours` only affects `pretty`.
 *
 * @example
 * ```ts
 * const render = lineRenderer("dmesg", false);
 * render(line, JSON.parse(line)); // "[    1.503112] kern: eth0: link up"
 * ```
 */
export function lineRenderer(format: LogFormat, colours: boolean): LineRenderer {
  switch (format) {
    case "json":
      return (line) => line;
    case "dmesg":
      return (_line, record) => formatDmesg(record);
    case "pretty":
      return (_line, record) => formatPretty(record, colours);
  }
}

/**
 * `[ seconds.micros] facility: msg` from the record's `clock` (µs since boot), padded as the kernel's
 * `dmesg` does (`[%5lu.%06lu]`). A trailing newline of `msg` is dropped; each further line of `msg` repeats the
 * prefix, so every output line stands alone for `grep`. Control characters are shown escaped (`\x1b`), as
 * `dmesg` does, so a machine cannot drive the reader's terminal.
 *
 * @example
 * ```ts
 * formatDmesg({ clock: 1503112, facility: "kern", msg: "eth0: link up\n" }); // "[    1.503112] kern: eth0: link up"
 * ```
 */
export function formatDmesg(record: KernelRecord): string {
  const clock = record.clock;
  const stamp = typeof clock === "number" && Number.isSafeInteger(clock) && clock >= 0
    ? `[${String(Math.floor(clock / 1e6)).padStart(5)}.${String(clock % 1e6).padStart(6, "0")}]`
    : "[     -.------]";
  const facility = typeof record.facility === "string" ? `${escapeControls(record.facility)}: ` : "";
  return prefixLines(`${stamp} ${facility}`, messageOf(record));
}

/** Display width of the level column of `pretty`. */
const LEVEL_WIDTH = 5;

const LEVEL_COLOURS: Readonly<Record<TalosLevel, "red" | "yellow" | "dim" | undefined>> = {
  error: "red",
  warn: "yellow",
  info: undefined,
  debug: "dim",
};

/**
 * `time level machine message`: the record time in UTC to the millisecond, the level (coloured when
 * `colours`), the `machine` name or else the server UUID (`unknown` for neither), and the message; each further
 * line of a multi-line message repeats the prefix.
 *
 * @example
 * ```ts
 * formatPretty({ "talos-time": "2026-03-02T08:15:44.1038Z", "talos-level": "info", machine: "cp-1", msg: "up\n" }, false);
 * // "2026-03-02T08:15:44.103Z info  cp-1 up"
 * ```
 */
export function formatPretty(record: KernelRecord, colours: boolean): string {
  const ms = recordTimeMs(record);
  const time = ms === undefined ? "-".padEnd(24) : new Date(ms).toISOString();
  const level = levelOf(record);
  const levelColour = LEVEL_COLOURS[level];
  const shownLevel = levelColour ? colour(level, levelColour, colours) : level;
  const who = typeof record.machine === "string"
    ? record.machine
    : typeof record.server_uuid === "string"
    ? record.server_uuid
    : "unknown";
  const padding = " ".repeat(LEVEL_WIDTH - level.length);
  return prefixLines(`${time} ${shownLevel}${padding} ${escapeControls(who)} `, messageOf(record));
}

/** The record's message with one trailing newline dropped and control characters escaped. */
function messageOf(record: KernelRecord): string[] {
  const msg = typeof record.msg === "string" ? record.msg : record.msg === undefined ? "" : JSON.stringify(record.msg);
  return (msg.endsWith("\n") ? msg.slice(0, -1) : msg).split("\n").map(escapeControls);
}

function prefixLines(prefix: string, lines: string[]): string {
  return lines.length === 1 ? prefix + lines[0] : lines.map((line) => prefix + line).join("\n");
}

/** C0 controls but tab, DEL and C1 controls: what a terminal could take as a command. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/** Shows control characters as `\xNN`, as `dmesg` does. */
function escapeControls(text: string): string {
  return text.replace(CONTROL, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

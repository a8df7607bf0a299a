/**
 * Diagnostic logging through @logtape/logtape, written synchronously to stderr so that nothing is lost when
 * the process exits and stdout stays free for the documented output lines: readable, coloured lines on a
 * terminal, JSON lines otherwise (a container or a systemd journal).
 *
 * @module
 */

import {
  ansiColorFormatter,
  configureSync,
  getLogger,
  jsonLinesFormatter,
  type LogLevel,
  type LogRecord,
} from "@logtape/logtape";
import { writeAllSync } from "./output.ts";

/** The levels `--log-level` accepts, most verbose first. */
export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];

const encoder = new TextEncoder();

/** Writes all of `bytes` to stderr, looping over partial writes. */
export function writeStderr(bytes: Uint8Array): void {
  writeAllSync(Deno.stderr, bytes);
}

/**
 * Sends every record at `level` or above to stderr. Call once, before the first log call.
 *
 * @example
 * ```ts
 * setupLogging("info");
 * logger(["provision"]).info("provisioned {uuid}", { uuid });
 * ```
 */
export function setupLogging(level: LogLevel, json = !Deno.stderr.isTerminal()): void {
  const format = json ? jsonLinesFormatter : ansiColorFormatter;
  configureSync({
    reset: true,
    sinks: { stderr: (record: LogRecord) => writeStderr(encoder.encode(format(record))) },
    loggers: [
      { category: ["siderolink"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** The logger of one part of siderolink, e.g. `logger(["provision"])`. */
export function logger(category: readonly string[]) {
  return getLogger(["siderolink", ...category]);
}

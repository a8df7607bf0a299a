/**
 * Documented kernel-log lines for the tests of `logs`, built with serve's own {@link LineFormatter} so they are
 * byte-for-byte what serve prints, mixed with lines that are not documented lines.
 *
 * @module
 */

import { type KernelRecord, levelOf, LineFormatter, parseRecord, recordTimeMs } from "./record.ts";
import type { LogStore } from "./store.ts";

/** Machine `prod-cp-1` of cluster `prod`. */
export const UUID_A = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
/** Machine `stage-w-1` of cluster `staging`. */
export const UUID_B = "11111111-2222-4333-8444-555555555555";
/** A machine without names. */
export const UUID_C = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

const A = new LineFormatter({
  server_uuid: UUID_A,
  namespace: "default",
  cluster: "prod",
  metal_machine: "prod-cp-x7k2p",
  machine: "prod-cp-1",
});
const B = new LineFormatter({ server_uuid: UUID_B, namespace: "default", cluster: "staging", machine: "stage-w-1" });
const C = new LineFormatter({ server_uuid: UUID_C });

function record(
  seq: number,
  clock: number,
  facility: string,
  priority: string,
  level: string,
  time: string,
  msg: string,
): KernelRecord {
  return { clock, facility, msg, priority, seq, "talos-level": level, "talos-time": time };
}

/** The documented lines, by name, in input order. */
export const LINES = {
  aLinkUp: A.format(record(812, 1503112, "kern", "info", "info", "2026-03-02T08:15:44.1038Z", "eth0: link up\n")),
  bDisk: B.format(record(5, 2000000, "kern", "err", "error", "2026-03-02T08:16:00Z", "sda: I/O error\n")),
  aMulti: A.format(
    record(813, 123456789012, "daemon", "warning", "warn", "2026-03-02T08:17:00.5Z", "first\nsecond\nthird\n"),
  ),
  cDebug: C.format(record(1, 0, "user", "debug", "debug", "2026-03-02T08:18:00Z", "no newline at the end")),
  bOk: B.format(record(6, 3000001, "kern", "notice", "info", "2026-03-02T08:19:00Z", "ok\n")),
  aEscape: A.format(record(814, 4000000, "kern", "info", "info", "2026-03-02T08:20:00Z", "\x1b[31mred\x1b[0m\r\n")),
};

/** What `logs --stdin` reads: the documented lines with malformed ones between them. */
export const STDIN_TEXT = [
  LINES.aLinkUp,
  LINES.bDisk,
  "not json at all",
  LINES.aMulti,
  "[1,2,3]",
  LINES.cDebug,
  '{"truncated json',
  LINES.bOk,
  "",
  "null",
  LINES.aEscape,
].join("\n") + "\n";

/** Adds a documented line to `store` as serve's pipeline does (one boot; seq and time from the line). */
export function storeLine(store: LogStore, line: string): void {
  const record = parseRecord(line).record!;
  store.add({
    uuid: record.server_uuid as string,
    boot: "1772438400",
    seq: Number(record.seq ?? -1),
    timeMs: recordTimeMs(record) ?? Date.now(),
    level: levelOf(record),
    line,
  });
}

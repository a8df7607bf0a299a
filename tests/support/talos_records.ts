/**
 * Talos kernel-log records for tests, made from this machine's own kernel ring buffer (`dmesg -J`), and the
 * documented output line computed independently of the product's code (merge, sort keys, stringify).
 *
 * @module
 */

import type { MachineIdentity } from "../../src/machines/identity.ts";

/** A record as JSON-ready fields. */
export type TalosRecord = Record<string, unknown>;

// syslog facility numbers 0..23 by name, as util-linux prints them.
const FACILITIES = [
  "kern",
  "user",
  "mail",
  "daemon",
  "auth",
  "syslog",
  "lpr",
  "news",
  "uucp",
  "cron",
  "authpriv",
  "ftp",
  "ntp",
  "security",
  "console",
  "solaris-cron",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
];
const PRIORITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];
const TALOS_LEVEL = ["error", "error", "error", "error", "warn", "info", "info", "debug"];

/** Talos's time text: RFC 3339 UTC with nanoseconds, trailing zeros trimmed. */
export function talosTime(ms: number, extraMicros: number): string {
  const iso = new Date(Math.floor(ms)).toISOString();
  const nanos = (Math.floor(ms) % 1000) * 1_000_000 + extraMicros * 1000;
  const fraction = String(nanos).padStart(9, "0").replace(/0+$/, "");
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
}

/** This machine's kernel ring buffer as Talos records of a boot that started at `bootMs`. */
export async function dmesgRecords(bootMs: number): Promise<TalosRecord[]> {
  const { stdout } = await new Deno.Command("dmesg", { args: ["-J"], stdout: "piped" }).output();
  const entries = JSON.parse(new TextDecoder().decode(stdout)).dmesg as {
    pri?: number;
    fac?: number | string;
    time: number;
    msg: string;
  }[];
  return entries.map((entry, seq) => {
    const pri = entry.pri ?? 6;
    const facility = typeof entry.fac === "string" ? entry.fac : FACILITIES[entry.fac ?? pri >> 3];
    const priority = pri & 7;
    const clock = Math.round(entry.time * 1_000_000);
    return {
      clock,
      facility,
      msg: `${entry.msg}\n`,
      priority: PRIORITIES[priority],
      seq,
      "talos-level": TALOS_LEVEL[priority],
      "talos-time": talosTime(bootMs + Math.floor(clock / 1000), clock % 1000),
    };
  });
}

/** The documented output line of `record` from the machine `identity`. */
export function expectedLine(record: TalosRecord, identity: MachineIdentity): string {
  const merged: TalosRecord = { ...record, server_uuid: identity.serverUuid };
  if (identity.namespace !== undefined) merged.namespace = identity.namespace;
  if (identity.cluster !== undefined) merged.cluster = identity.cluster;
  if (identity.metalMachine !== undefined) merged.metal_machine = identity.metalMachine;
  if (identity.machine !== undefined) merged.machine = identity.machine;
  const keys = Object.keys(merged).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(merged[key])}`).join(",")}}`;
}

/** Records as the JSON lines a Talos sender writes. */
export function jsonLines(records: TalosRecord[]): string {
  return records.map((record) => `${JSON.stringify(record)}\n`).join("");
}

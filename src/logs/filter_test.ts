import { deepEqual, equal, throws } from "node:assert/strict";
import { candidateNeedles, matchesRecord, parseSince } from "./filter.ts";
import type { KernelRecord } from "./record.ts";

const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
const RECORD: KernelRecord = {
  cluster: "prod",
  machine: "prod-cp-1",
  namespace: "default",
  server_uuid: UUID,
  "talos-level": "warn",
  "talos-time": "2026-03-02T08:15:44.1038Z",
};

Deno.test("matchesRecord: UUIDs (of any case in the line), annotations, level and time", () => {
  equal(matchesRecord({}, RECORD), true);
  equal(matchesRecord({ uuids: [UUID] }, RECORD), true);
  equal(matchesRecord({ uuids: [UUID] }, { ...RECORD, server_uuid: UUID.toUpperCase() }), true);
  equal(matchesRecord({ uuids: ["11111111-2222-4333-8444-555555555555"] }, RECORD), false);
  equal(matchesRecord({ uuids: [UUID] }, { msg: "no uuid" }), false);
  equal(matchesRecord({ cluster: "prod", namespace: "default", machine: "prod-cp-1" }, RECORD), true);
  equal(matchesRecord({ cluster: "staging" }, RECORD), false);
  equal(matchesRecord({ machine: "prod-cp-2" }, RECORD), false);
  equal(matchesRecord({ namespace: "other" }, RECORD), false);
  equal(matchesRecord({ level: "warn" }, RECORD), true);
  equal(matchesRecord({ level: "error" }, RECORD), false);
  equal(matchesRecord({ level: "debug" }, RECORD), true);
  // Without talos-level the level comes from priority, as serve stores it.
  equal(matchesRecord({ level: "error" }, { priority: "crit" }), true);
  equal(matchesRecord({ sinceMs: Date.parse("2026-03-02T08:15:44.103Z") }, RECORD), true);
  equal(matchesRecord({ sinceMs: Date.parse("2026-03-02T08:15:44.104Z") }, RECORD), false);
  equal(matchesRecord({ sinceMs: 0 }, { msg: "no time" }), false);
});

Deno.test("candidateNeedles: the annotation text serve writes, UUIDs first", () => {
  deepEqual(candidateNeedles({ uuids: [UUID, "x"], cluster: "prod" }), [
    `"server_uuid":"${UUID}"`,
    `"server_uuid":"x"`,
  ]);
  deepEqual(candidateNeedles({ machine: 'a"b', cluster: "prod" }), [`"machine":"a\\"b"`]);
  deepEqual(candidateNeedles({ namespace: "default" }), [`"namespace":"default"`]);
  equal(candidateNeedles({ level: "error", sinceMs: 0 }), undefined);
});

Deno.test("parseSince: durations back from now and RFC 3339 times", () => {
  const now = Date.parse("2026-03-02T08:15:00Z");
  equal(parseSince("10m", now), Date.parse("2026-03-02T08:05:00Z"));
  equal(parseSince("1h30m", now), Date.parse("2026-03-02T06:45:00Z"));
  equal(parseSince("2026-03-02T08:00:00+01:00", now), Date.parse("2026-03-02T07:00:00Z"));
  equal(parseSince("2026-03-02t08:00:00.25z", now), Date.parse("2026-03-02T08:00:00.250Z"));
  equal(parseSince("2026-03-02 08:00:00Z", now), Date.parse("2026-03-02T08:00:00Z"));
  for (const bad of ["", "10", "yesterday", "2026-03-02", "2026-03-02T08:00:00", "2026-13-02T08:00:00Z", "-5m"]) {
    throws(() => parseSince(bad, now), /is neither a duration nor an RFC 3339 time: want e\.g\. 10m/);
  }
});

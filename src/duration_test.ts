import { equal, throws } from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("durations parse in every unit and combination", () => {
  equal(parseDuration("90s"), 90_000);
  equal(parseDuration("5m"), 300_000);
  equal(parseDuration("1h30m"), 5_400_000);
  equal(parseDuration("30d"), 2_592_000_000);
  equal(parseDuration("250ms"), 250);
});

Deno.test("malformed durations are refused with what is expected", () => {
  for (const bad of ["", "5", "5x", "m5", "1h 30m", "-5m", "1.5h"]) {
    throws(() => parseDuration(bad), /is not a duration: want e\.g\. 90s/);
  }
});

import { deepEqual, equal, throws } from "node:assert/strict";
import { RATE_LIMIT_REPORT_MS, RateLimiter } from "./rate_limit.ts";

function limiter(perSecond: number) {
  let now = 0;
  const reports: [string, number][] = [];
  const limit = new RateLimiter(perSecond, (key, dropped) => reports.push([key, dropped]), () => now);
  return { limit, reports, advance: (ms: number) => now += ms };
}

function admitted(limit: RateLimiter, key: string, count: number): number {
  let passed = 0;
  for (let i = 0; i < count; i++) if (limit.admit(key)) passed++;
  return passed;
}

Deno.test("a burst up to the limit passes, the rest is dropped and reported at once", () => {
  const { limit, reports } = limiter(100);
  equal(admitted(limit, "a", 150), 100);
  deepEqual(reports, [["a", 1]]);
});

Deno.test("a sustained flood is cut to the limit; drops are reported at most every 10 s with their count", () => {
  const { limit, reports, advance } = limiter(100);
  let passed = 0;
  for (let ms = 0; ms < 20_000; ms += 10) {
    passed += admitted(limit, "a", 10);
    advance(10);
  }
  // 1,000 lines offered per second: the full bucket (100), then the refill of 100 per second over 19.99 s.
  equal(passed, 100 + 1999);
  equal(reports.length, 2);
  equal(reports[0][1], 1);
  equal(reports[1][1] > 0, true);
});

Deno.test("an idle bucket fills up to one second's worth, not more", () => {
  const { limit, advance } = limiter(50);
  equal(admitted(limit, "a", 50), 50);
  advance(60_000);
  equal(admitted(limit, "a", 200), 50);
  advance(100);
  equal(admitted(limit, "a", 200), 5);
});

Deno.test("machines have their own buckets", () => {
  const { limit, reports } = limiter(10);
  equal(admitted(limit, "a", 20), 10);
  equal(admitted(limit, "b", 10), 10);
  deepEqual(reports, [["a", 1]]);
  equal(RATE_LIMIT_REPORT_MS, 10_000);
});

Deno.test("the limit must be positive", () => {
  throws(() => new RateLimiter(0, () => {}), /positive/);
});

import assert from "node:assert/strict";
import { CachedRead, READ_CACHE_MS } from "./cached_read.ts";

Deno.test("a cached read is shared within its age, never overlaps, and a failure is kept as long", async () => {
  let clock = 0;
  let reads = 0;
  let release: (() => void) | undefined;
  let fail = false;
  const cache = new CachedRead(
    async () => {
      const n = ++reads;
      await new Promise<void>((resolve) => release = resolve);
      if (fail) throw new Error(`read ${n} failed`);
      return n;
    },
    READ_CACHE_MS,
    () => clock,
  );

  const [a, b] = [cache.get(), cache.get()];
  clock += 5 * READ_CACHE_MS; // a slow read: still shared, no second one starts while it runs
  const c = cache.get();
  release!();
  assert.deepEqual(await Promise.all([a, b, c]), [1, 1, 1]);
  assert.equal(reads, 1);

  clock += READ_CACHE_MS - 1; // 1 ms short of the age since it started: the next call reads again
  const d = cache.get();
  release!();
  assert.equal(await d, 2);
  clock += READ_CACHE_MS - 1;
  assert.equal(await cache.get(), 2, "within a second of the last read");
  assert.equal(reads, 2);

  clock += 1;
  fail = true;
  const e = cache.get();
  release!();
  await assert.rejects(e, /read 3 failed/);
  await assert.rejects(cache.get(), /read 3 failed/, "the failure is kept, not retried at once");
  assert.equal(reads, 3);
});

import assert from "node:assert/strict";
import { Tally } from "./tally.ts";

Deno.test("a tally counts per label values, whatever order the labels are given in", () => {
  const tally = new Tally(["type", "result"]);
  tally.add({ type: "AddressEvent", result: "handled" });
  tally.add({ result: "handled", type: "AddressEvent" }, 2);
  tally.add({ type: "TaskEvent", result: "duplicate" });
  assert.equal(tally.get({ type: "AddressEvent", result: "handled" }), 3);
  assert.equal(tally.get({ type: "TaskEvent", result: "handled" }), 0);
  assert.deepEqual(tally.series(), [
    { labels: { type: "AddressEvent", result: "handled" }, value: 3 },
    { labels: { type: "TaskEvent", result: "duplicate" }, value: 1 },
  ]);
});

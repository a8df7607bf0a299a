import assert from "node:assert/strict";
import { summarizePeers, TransferTotals } from "./peers.ts";
import { NOW, peer } from "./testdata.ts";

Deno.test("peers by state (up under 275 s) and the ages of their last handshakes", () => {
  const summary = summarizePeers([peer(1, 10), peer(2, 274.9), peer(3, 275), peer(4, undefined), peer(5, 9000)], NOW);
  assert.deepEqual(summary.states, { up: 2, down: 2, never: 1 });
  assert.deepEqual(summary.handshakeAgesSeconds.map((age) => Math.round(age * 10) / 10), [10, 274.9, 275, 9000]);
  assert.deepEqual(summarizePeers([], NOW), { states: { up: 0, down: 0, never: 0 }, handshakeAgesSeconds: [] });
});

Deno.test("transfer totals never go down: removed peers and restarted counters keep their bytes", () => {
  const totals = new TransferTotals();
  assert.deepEqual(totals.update([peer(1, 1, 100, 10), peer(2, 1, 200, 20)]), { received: 300, sent: 30 });
  assert.deepEqual(totals.update([peer(1, 1, 150, 15), peer(2, 1, 200, 20)]), { received: 350, sent: 35 });
  // Peer 2 is removed (its machine came back with a new key: peer 3).
  assert.deepEqual(totals.update([peer(1, 1, 150, 15), peer(3, 1, 5, 1)]), { received: 355, sent: 36 });
  // Peer 1 was removed and added again between two readings: its counters start again.
  assert.deepEqual(totals.update([peer(1, 1, 40, 4), peer(3, 1, 5, 1)]), { received: 395, sent: 40 });
  assert.deepEqual(totals.update([]), { received: 395, sent: 40 });
});

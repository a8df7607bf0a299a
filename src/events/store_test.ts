import assert from "node:assert/strict";
import { EventStore, PRUNE_EVERY } from "./store.ts";
import { MACHINE, temporaryState } from "./testdata.ts";

const at = new Date("2026-03-02T08:15:44.103Z");
const stored = (id: string) => ({
  id,
  receivedAt: at,
  typeUrl: "type.googleapis.com/machine.TaskEvent",
  line: `{"id":"${id}"}`,
});

Deno.test("an event id is recorded once per machine; a repeat changes nothing", () => {
  using temp = temporaryState();
  const store = new EventStore(temp.state);
  let calls = 0;
  const change = () => {
    calls++;
    return { stage: "RUNNING", ready: true };
  };
  assert.equal(store.record(MACHINE.uuid, stored("d6h0r3ug10l1s9ao0fd0"), change), true);
  assert.equal(store.record(MACHINE.uuid, stored("d6h0r3ug10l1s9ao0fd0"), () => ({ stage: "REBOOTING" })), false);
  assert.equal(calls, 1);
  assert.deepEqual(store.status(MACHINE.uuid), {
    stage: "RUNNING",
    ready: true,
    conditions: [],
    updatedAt: "2026-03-02T08:15:44.103Z",
  });
  // The same id from another machine is another event.
  assert.equal(store.record("11111111-2222-3333-4444-555555555555", stored("d6h0r3ug10l1s9ao0fd0")), true);
  assert.deepEqual(store.events(MACHINE.uuid), [stored("d6h0r3ug10l1s9ao0fd0")]);
});

Deno.test("status round trip: every column, and no change leaves the status untouched", () => {
  using temp = temporaryState();
  const store = new EventStore(temp.state);
  assert.deepEqual(store.status(MACHINE.uuid), { conditions: [] });
  assert.equal(store.status("11111111-2222-3333-4444-555555555555"), undefined);
  const conditions = [{ type: "TalosInstalled", status: "True", lastTransitionTime: "2026-03-02T08:15:44Z" }] as const;
  store.record(MACHINE.uuid, stored("a1"), (current) => {
    assert.deepEqual(current, { conditions: [] });
    return { hostname: "prod-cp-1", addresses: ["10.5.0.2"], conditions: [...conditions] };
  });
  store.record(MACHINE.uuid, stored("a2"), () => ({ stage: "BOOTING", ready: false }));
  store.record(MACHINE.uuid, { ...stored("a3"), receivedAt: new Date("2030-01-01T00:00:00Z") });
  store.record(MACHINE.uuid, { ...stored("a4"), receivedAt: new Date("2030-01-01T00:00:00Z") }, () => ({}));
  assert.deepEqual(store.status(MACHINE.uuid), {
    hostname: "prod-cp-1",
    addresses: ["10.5.0.2"],
    stage: "BOOTING",
    ready: false,
    conditions,
    updatedAt: "2026-03-02T08:15:44.103Z",
  });
});

Deno.test("history keeps the newest events per machine, pruned every PRUNE_EVERY events", () => {
  using temp = temporaryState();
  const store = new EventStore(temp.state, { eventsPerMachine: 3 });
  const id = (n: number) => `c${String(n).padStart(3, "0")}`;
  for (let n = 0; n < 3 * PRUNE_EVERY + 8; n++) store.record(MACHINE.uuid, stored(id(n)));
  // Pruned last after event 3 * PRUNE_EVERY: its newest 3, then the 8 recorded since.
  const expected = Array.from({ length: 11 }, (_, i) => id(3 * PRUNE_EVERY - 3 + i));
  assert.deepEqual(store.events(MACHINE.uuid).map((event) => event.id), expected);
  // Another machine's history is untouched by this one's pruning.
  store.record("11111111-2222-3333-4444-555555555555", stored("c000"));
  assert.equal(store.events("11111111-2222-3333-4444-555555555555").length, 1);
});

Deno.test("a damaged JSON column reads as absent instead of failing", () => {
  using temp = temporaryState();
  temp.state.db.prepare("UPDATE machines SET conditions = '{', addresses = 'x' WHERE uuid = ?").run(MACHINE.uuid);
  assert.deepEqual(new EventStore(temp.state).status(MACHINE.uuid), { conditions: [] });
});

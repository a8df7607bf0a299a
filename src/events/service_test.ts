import assert from "node:assert/strict";
import { EVENT_SINK_SERVICE, eventSinkServiceDefinition } from "./service.ts";

Deno.test("the service definition has the Talos method path and an empty response", () => {
  const { Publish } = eventSinkServiceDefinition();
  assert.equal(EVENT_SINK_SERVICE, "events.EventSinkService");
  assert.equal(Publish.path, "/events.EventSinkService/Publish");
  assert.equal(Publish.responseSerialize({}).length, 0);
  assert.deepEqual([...Publish.requestDeserialize(new Uint8Array([1, 2]) as never) as Uint8Array], [1, 2]);
});

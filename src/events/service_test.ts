import assert from "node:assert/strict";
import { EVENT_SINK_SERVICE, eventSinkServiceDefinition, parsePeer } from "./service.ts";

Deno.test("peers as grpc-js reports them", () => {
  assert.deepEqual(parsePeer("fdae:41e4:649b:9303::2:50412"), { address: "fdae:41e4:649b:9303::2", port: 50412 });
  // Also a valid IPv6 address as a whole: the port still comes off, as grpc-js always appends one.
  assert.deepEqual(parsePeer("fdae::2:8080"), { address: "fdae::2", port: 8080 });
  assert.deepEqual(parsePeer("[::1]:4002"), { address: "::1", port: 4002 });
  assert.deepEqual(parsePeer("::1:4002"), { address: "::1", port: 4002 });
  assert.deepEqual(parsePeer("10.0.0.9:4411"), { address: "10.0.0.9", port: 4411 });
  assert.deepEqual(parsePeer("::ffff:10.0.0.9:4411"), { address: "::ffff:10.0.0.9", port: 4411 });
  assert.deepEqual(parsePeer("fe80::1%eth0:4411"), { address: "fe80::1%eth0", port: 4411 });
  assert.deepEqual(parsePeer("10.0.0.9"), { address: "10.0.0.9", port: 0 });
  assert.equal(parsePeer("unknown"), undefined);
  assert.equal(parsePeer(""), undefined);
});

Deno.test("the service definition has the Talos method path and an empty response", () => {
  const { Publish } = eventSinkServiceDefinition();
  assert.equal(EVENT_SINK_SERVICE, "events.EventSinkService");
  assert.equal(Publish.path, "/events.EventSinkService/Publish");
  assert.equal(Publish.responseSerialize({}).length, 0);
  assert.deepEqual([...Publish.requestDeserialize(new Uint8Array([1, 2]) as never) as Uint8Array], [1, 2]);
});

import assert from "node:assert/strict";
import { typeUrlOf } from "./decode.ts";
import { EVENT_SINK_SERVICE, eventSinkHandlers, eventSinkServiceDefinition } from "./service.ts";
import { EventSink } from "./sink.ts";
import { EventStore } from "./store.ts";
import { encodePayload, encodeRequest, storeDirectory, temporaryState } from "./testdata.ts";

Deno.test("the service definition has the Talos method path and an empty response", () => {
  const { Publish } = eventSinkServiceDefinition();
  assert.equal(EVENT_SINK_SERVICE, "events.EventSinkService");
  assert.equal(Publish.path, "/events.EventSinkService/Publish");
  assert.equal(Publish.responseSerialize({}).length, 0);
  assert.deepEqual([...Publish.requestDeserialize(new Uint8Array([1, 2]) as never) as Uint8Array], [1, 2]);
});

Deno.test("handlers: the sink's status becomes the reply; an unreadable peer is handled as an unknown source", async () => {
  using temp = temporaryState();
  const lines: string[] = [];
  const sink = new EventSink({
    directory: storeDirectory(() => undefined, new EventStore(temp.state)),
    write: (l) => lines.push(l),
  });
  const { Publish } = eventSinkHandlers(sink, () => {
    throw new Error("no address");
  }) as { Publish: (call: unknown, callback: (error: unknown, value: unknown) => void) => void };
  const replies: unknown[] = [];
  const call = (request: Uint8Array) => ({ request, getPeer: () => "unix:/run/x" });
  const bytes = encodeRequest(
    "d6h0r3ug10l1s9ao0fb1",
    typeUrlOf("TaskEvent"),
    encodePayload("TaskEvent", { task: "t" }),
  );
  const publish = (request: Uint8Array) =>
    new Promise<void>((resolve) =>
      Publish(call(request), (error, value) => resolve(void replies.push([error, value])))
    );
  await publish(bytes);
  await publish(new Uint8Array());
  assert.deepEqual(replies, [
    [null, {}],
    [{ code: 3, details: "event request has no data (google.protobuf.Any field 1)" }, null],
  ]);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /"node":"\[unix:\/run\/x\]:0",.*"unknown_source":true/);
});

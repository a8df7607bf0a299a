import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decodeEventRequest,
  decodePayload,
  InvalidEventRequest,
  PAYLOAD_TYPES,
  payloadType,
  typeUrlOf,
} from "./decode.ts";
import { eventProtos } from "./protos.ts";
import { encodePayload, encodeRequest, SAMPLES } from "./testdata.ts";

Deno.test("every payload type decodes, enum values by name", () => {
  for (const type of PAYLOAD_TYPES) {
    const [payload, expected] = SAMPLES[type];
    assert.deepEqual(decodePayload(type, encodePayload(type, payload)), expected, type);
  }
});

Deno.test("default values decode as proto3 defaults; an absent sequence error stays absent", () => {
  assert.deepEqual(decodePayload("SequenceEvent", new Uint8Array()), {
    kind: "SequenceEvent",
    sequence: "",
    action: "NOOP",
  });
  assert.deepEqual(decodePayload("MachineStatusEvent", new Uint8Array()), {
    kind: "MachineStatusEvent",
    stage: "UNKNOWN",
    ready: false,
  });
  assert.deepEqual(decodePayload("AddressEvent", new Uint8Array()), {
    kind: "AddressEvent",
    hostname: "",
    addresses: [],
  });
});

Deno.test("hand-encoded wire bytes with PROTOCOL.md's field numbers", () => {
  const text = (field: number, value: string) => [field << 3 | 2, value.length, ...new TextEncoder().encode(value)];
  // MachineStatusEvent: stage (1) = 4, status (2) = { ready (1) = true }.
  assert.deepEqual(decodePayload("MachineStatusEvent", new Uint8Array([0x08, 4, 0x12, 2, 0x08, 1])), {
    kind: "MachineStatusEvent",
    stage: "RUNNING",
    ready: true,
  });
  // SequenceEvent: sequence (1), action (2) = 0 left out, error (3) = { code (1) = 1, message (2) }.
  const error = [0x08, 1, ...text(2, "held")];
  assert.deepEqual(
    decodePayload("SequenceEvent", new Uint8Array([...text(1, "install"), 0x1a, error.length, ...error])),
    {
      kind: "SequenceEvent",
      sequence: "install",
      action: "NOOP",
      error: { code: "LOCKED", message: "held" },
    },
  );
  // ServiceStateEvent: service (1), action (2) = 8, message (3).
  assert.deepEqual(
    decodePayload("ServiceStateEvent", new Uint8Array([...text(1, "etcd"), 0x10, 8, ...text(3, "up")])),
    {
      kind: "ServiceStateEvent",
      service: "etcd",
      action: "STARTING",
      message: "up",
    },
  );
  // EventRequest: data (1) = Any { type_url (1), value (2) }, id (2), actor_id (3).
  const any = [...text(1, "type.googleapis.com/machine.RestartEvent"), ...[0x12, 2, 0x08, 7]];
  const envelope = decodeEventRequest(new Uint8Array([0x0a, any.length, ...any, ...text(2, "x1"), ...text(3, "a")]));
  assert.deepEqual({ ...envelope, value: [...envelope.value] }, {
    id: "x1",
    actorId: "a",
    typeUrl: "type.googleapis.com/machine.RestartEvent",
    value: [0x08, 7],
  });
  assert.deepEqual(decodePayload("RestartEvent", envelope.value), { kind: "RestartEvent", cmd: "7" });
});

Deno.test("an enum value newer than this build is kept as its number", () => {
  // Field 1 "boot", field 2 (action) = 9.
  const bytes = new Uint8Array([0x0a, 4, ...new TextEncoder().encode("boot"), 0x10, 9]);
  assert.deepEqual(decodePayload("SequenceEvent", bytes), { kind: "SequenceEvent", sequence: "boot", action: "9" });
});

Deno.test("the envelope: id, actor id, type URL and raw payload", () => {
  const value = encodePayload("PhaseEvent", { phase: "install" });
  const envelope = decodeEventRequest(encodeRequest("d6h0r3ug10l1s9ao0fd0", typeUrlOf("PhaseEvent"), value, "actor-1"));
  assert.deepEqual({ ...envelope, value: [...envelope.value] }, {
    id: "d6h0r3ug10l1s9ao0fd0",
    actorId: "actor-1",
    typeUrl: "type.googleapis.com/machine.PhaseEvent",
    value: [...value],
  });
});

Deno.test("a request without data, without id, or cut short is an InvalidEventRequest naming the problem", () => {
  const request = eventProtos().events.lookupType("events.EventRequest");
  assert.throws(
    () => decodeEventRequest(request.encode({ id: "d6h0r3ug10l1s9ao0fd0" }).finish()),
    (error: Error) => error instanceof InvalidEventRequest && /has no data/.test(error.message),
  );
  assert.throws(
    () => decodeEventRequest(encodeRequest("", typeUrlOf("PhaseEvent"), new Uint8Array())),
    (error: Error) => error instanceof InvalidEventRequest && /has no id/.test(error.message),
  );
  const whole = encodeRequest("d6h0r3ug10l1s9ao0fd0", typeUrlOf("AddressEvent"), encodePayload("AddressEvent", {}));
  for (let length = 1; length < whole.length; length++) {
    const cut = whole.slice(0, length);
    // As a plain array and as a Node Buffer (which protobufjs reads more leniently unless the decoder guards it).
    for (const bytes of [cut, Buffer.from(cut)]) {
      assert.throws(
        () => decodeEventRequest(bytes),
        (error: Error) => error instanceof InvalidEventRequest && /cannot be decoded|has no/.test(error.message),
        `cut at ${length}`,
      );
    }
  }
});

Deno.test("a truncated payload of a known type is an error naming the type", () => {
  const whole = encodePayload("AddressEvent", { hostname: "prod-cp-1", addresses: ["10.5.0.2"] });
  for (const bytes of [whole.slice(0, whole.length - 1), Buffer.from(whole.slice(0, 5))]) {
    assert.throws(() => decodePayload("AddressEvent", bytes), /machine\.AddressEvent payload cannot be decoded/);
  }
});

Deno.test("payload types by type URL: the machine package only, prefix up to the last slash ignored", () => {
  assert.equal(payloadType("type.googleapis.com/machine.AddressEvent"), "AddressEvent");
  assert.equal(payloadType("example.com/x/machine.PhaseEvent"), "PhaseEvent");
  assert.equal(payloadType("type.googleapis.com/machine.FutureEvent"), undefined);
  assert.equal(payloadType("type.googleapis.com/other.AddressEvent"), undefined);
  assert.equal(payloadType(""), undefined);
  assert.equal(typeUrlOf("RestartEvent"), "type.googleapis.com/machine.RestartEvent");
});

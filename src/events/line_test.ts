import assert from "node:assert/strict";
import { PAYLOAD_TYPES, typeUrlOf } from "./decode.ts";
import { eventLine } from "./line.ts";
import { SAMPLES } from "./testdata.ts";

const time = new Date("2026-03-02T08:15:44.103Z");
const node = "[fdae:41e4:649b:9303:1d2c:4b5a:6978:8a9b]:50412";
const id = "d6h0r3ug10l1s9ao0fd0";
const identity = {
  serverUuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",
  namespace: "default",
  cluster: "prod",
  metalMachine: "prod-cp-x7k2p",
  machine: "prod-cp-1",
};
const head = (type: string, msg = "incoming event") =>
  `{"level":"info","ts":1772439344.103,"msg":"${msg}","component":"sink","node":"${node}","id":"${id}",` +
  `"type":"type.googleapis.com/machine.${type}","server_uuid":"0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",` +
  `"cluster":"prod","namespace":"default","metal_machine":"prod-cp-x7k2p","machine":"prod-cp-1"`;

/** The exact line for each sample payload of testdata.ts. */
const GOLDEN: Record<typeof PAYLOAD_TYPES[number], string> = {
  AddressEvent: head("AddressEvent") +
    `,"hostname":"prod-cp-1","addresses":["10.5.0.2","fdae:41e4:649b:9303:1d2c:4b5a:6978:8a9b"]}`,
  ConfigLoadErrorEvent: head("ConfigLoadErrorEvent") + `,"error":"no config"}`,
  ConfigValidationErrorEvent: head("ConfigValidationErrorEvent") + `,"error":"bad cidr"}`,
  PhaseEvent: head("PhaseEvent") + `,"phase":"install","action":"STOP"}`,
  TaskEvent: head("TaskEvent") + `,"task":"saveConfig","action":"START"}`,
  SequenceEvent: head("SequenceEvent") + `,"sequence":"install","action":"NOOP","error":"ctx done"}`,
  ServiceStateEvent: head("ServiceStateEvent", "service Starting service") + `,"service":"etcd","action":"STARTING"}`,
  MachineStatusEvent: head("MachineStatusEvent") + `,"stage":"RUNNING","ready":true}`,
  RestartEvent: head("RestartEvent") + `}`,
};

Deno.test("golden event line of every payload type, keys in the documented order", () => {
  for (const type of PAYLOAD_TYPES) {
    const line = eventLine({ time, node, id, typeUrl: typeUrlOf(type), identity, event: SAMPLES[type][1] });
    assert.equal(line, GOLDEN[type], type);
  }
});

Deno.test("a sequence without error has no error key", () => {
  const event = { kind: "SequenceEvent", sequence: "boot", action: "START" } as const;
  const line = eventLine({ time, node, id, typeUrl: typeUrlOf("SequenceEvent"), identity, event });
  assert.equal(line, head("SequenceEvent") + `,"sequence":"boot","action":"START"}`);
});

Deno.test("only known annotations are printed, in the line's order", () => {
  const line = eventLine({
    time,
    node,
    id,
    typeUrl: typeUrlOf("PhaseEvent"),
    identity: { serverUuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f", machine: "m", namespace: "ns" },
    event: { kind: "PhaseEvent", phase: "boot", action: "START" },
  });
  assert.deepEqual(Object.keys(JSON.parse(line)), [
    ...["level", "ts", "msg", "component", "node", "id", "type"],
    ...["server_uuid", "namespace", "machine", "phase", "action"],
  ]);
});

Deno.test("unknown type, unknown source, and a handling failure", () => {
  const unknownType = eventLine({
    time,
    node,
    id,
    typeUrl: "type.googleapis.com/machine.FutureEvent",
    identity,
    event: undefined,
  });
  assert.equal(
    unknownType,
    head("FutureEvent") + "}",
  );
  const unknownSource = eventLine({
    time,
    node: "10.0.0.9:4411",
    id,
    typeUrl: typeUrlOf("TaskEvent"),
    identity: undefined,
    event: { kind: "TaskEvent", task: "t", action: "STOP" },
  });
  assert.equal(
    unknownSource,
    `{"level":"info","ts":1772439344.103,"msg":"incoming event","component":"sink","node":"10.0.0.9:4411",` +
      `"id":"${id}","type":"type.googleapis.com/machine.TaskEvent","unknown_source":true,"task":"t","action":"STOP"}`,
  );
  const failed = eventLine({
    time,
    node,
    id,
    typeUrl: typeUrlOf("AddressEvent"),
    identity,
    event: undefined,
    handlingError: "machine.AddressEvent payload cannot be decoded: index out of range",
  });
  assert.equal(
    failed,
    head("AddressEvent").replace(`"level":"info"`, `"level":"error"`) +
      `,"handling_error":"machine.AddressEvent payload cannot be decoded: index out of range"}`,
  );
});

/**
 * The event sink against independent implementations: protoc's Python classes (Debian `python3-grpc-tools`)
 * compiled from our `.proto` files check the field numbers and types both ways, and a Python grpcio client and a
 * grpc-js client publish over loopback to the gRPC layer's server (grpc-js behind the GOAWAY filter) running the sink.
 *
 * @module
 */

import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { decodeEventRequest, decodePayload, PAYLOAD_TYPES, payloadType, typeUrlOf } from "../src/events/decode.ts";
import { eventSinkHandlers, eventSinkServiceDefinition } from "../src/events/service.ts";
import { EventSink } from "../src/events/sink.ts";
import { ExcludedNetworks } from "../src/events/status.ts";
import { EventStore } from "../src/events/store.ts";
import { peerOf, startGrpcServer } from "../src/grpc/server.ts";
import {
  encodePayload,
  encodeRequest,
  MACHINE,
  SAMPLES,
  storeDirectory,
  temporaryState,
} from "../src/events/testdata.ts";
import { hasPythonGrpc, PYTHON, skipUnless } from "./support/requirements.ts";

const PROTO_DIR = new URL("../src/proto/", import.meta.url).pathname;

const ignore = skipUnless(
  "event sink against Python protoc classes and grpcio",
  [hasPythonGrpc(), "Python grpcio and grpc_tools (apt-get install python3-grpcio python3-grpc-tools)"],
);

/**
 * Compiles the project's protos with Debian's protoc into `dir`. It predates proto3 `optional`: a copy without
 * those labels is compiled (same wire format).
 */
function compileProtos(dir: string): void {
  for (const file of ["common.proto", "machine.proto", "events.proto"]) {
    const text = Deno.readTextFileSync(`${PROTO_DIR}${file}`);
    Deno.writeTextFileSync(`${dir}/${file}`, text.replace(/^(\s*)optional /gm, "$1"));
  }
  const result = new Deno.Command(PYTHON, {
    args: ["-m", "grpc_tools.protoc", `-I${dir}`, `--python_out=${dir}`, `--grpc_python_out=${dir}`, "common.proto"]
      .concat(["machine.proto", "events.proto"]),
    cwd: dir,
  }).outputSync();
  assert.ok(result.success, `protoc failed: ${new TextDecoder().decode(result.stderr)}`);
}

/** Python that builds the test samples with the generated classes (the same values as testdata.ts SAMPLES). */
const PY_SAMPLES = `
import sys, json
sys.path.insert(0, sys.argv[1])
from google.protobuf import any_pb2, timestamp_pb2
import common_pb2, machine_pb2, events_pb2
m = machine_pb2
SAMPLES = {
  "AddressEvent": m.AddressEvent(hostname="prod-cp-1",
      addresses=["10.5.0.2", "fdae:41e4:649b:9303:1d2c:4b5a:6978:8a9b"]),
  "ConfigLoadErrorEvent": m.ConfigLoadErrorEvent(error="no config"),
  "ConfigValidationErrorEvent": m.ConfigValidationErrorEvent(error="bad cidr"),
  "PhaseEvent": m.PhaseEvent(phase="install", action=m.PhaseEvent.STOP),
  "TaskEvent": m.TaskEvent(task="saveConfig", action=m.TaskEvent.START),
  "SequenceEvent": m.SequenceEvent(sequence="install", action=m.SequenceEvent.NOOP,
      error=common_pb2.Error(code=common_pb2.CANCELED, message="ctx done")),
  "ServiceStateEvent": m.ServiceStateEvent(service="etcd", action=m.ServiceStateEvent.STARTING,
      message="Starting service",
      health=m.ServiceHealth(unknown=True, healthy=False, last_message="",
                             last_change=timestamp_pb2.Timestamp(seconds=1772439344, nanos=5))),
  "MachineStatusEvent": m.MachineStatusEvent(stage=m.MachineStatusEvent.RUNNING,
      status=m.MachineStatusEvent.MachineStatus(ready=True,
          unmet_conditions=[m.MachineStatusEvent.MachineStatus.UnmetCondition(name="time", reason="not synced")])),
  "RestartEvent": m.RestartEvent(cmd=9007199254740993),
}
`;

/** Python both ways: prints its own EventRequest encodings, and checks ours (hex on stdin) against its samples. */
const PY_AGREE = PY_SAMPLES + `
ours = json.load(sys.stdin)
out = {"requests": {}, "parsed": {}}
for name, sample in SAMPLES.items():
    data = any_pb2.Any()
    data.Pack(sample)
    request = events_pb2.EventRequest(data=data, id="d6h0r3ug10l1s9ao0fd0", actor_id="py")
    out["requests"][name] = request.SerializeToString().hex()
    parsed = type(sample)()
    parsed.ParseFromString(bytes.fromhex(ours[name]))
    out["parsed"][name] = parsed == sample
print(json.dumps(out))
`;

Deno.test({
  name: "protos agree with protoc's Python classes, both ways, for every payload type",
  ignore,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "siderolink-protoc-" });
    try {
      compileProtos(dir);
      const ours = Object.fromEntries(
        PAYLOAD_TYPES.map((type) => [type, encodePayload(type, SAMPLES[type][0]).toHex()]),
      );
      const result = JSON.parse(await runPython(PY_AGREE, [dir], JSON.stringify(ours)));
      for (const type of PAYLOAD_TYPES) {
        assert.equal(result.parsed[type], true, `Python reads our ${type} as its own`);
        const envelope = decodeEventRequest(Uint8Array.fromHex(result.requests[type]));
        assert.equal(envelope.typeUrl, typeUrlOf(type));
        assert.equal(envelope.actorId, "py");
        assert.equal(payloadType(envelope.typeUrl), type);
        assert.deepEqual(decodePayload(type, envelope.value), SAMPLES[type][1], `we read Python's ${type}`);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** Runs a Python script with `input` on stdin; returns its stdout, failing with its stderr. */
async function runPython(script: string, args: string[], input: string): Promise<string> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await child.output();
  const text = new TextDecoder();
  assert.ok(output.success, `python failed: ${text.decode(output.stderr)}`);
  return text.decode(output.stdout);
}

/** Python grpcio client: publishes a Talos-like run of events plus bad requests and prints each reply's status. */
const PY_CLIENT = PY_SAMPLES + `
import grpc, events_pb2_grpc
channel = grpc.insecure_channel(sys.argv[2])
stub = events_pb2_grpc.EventSinkServiceStub(channel)
raw = channel.unary_unary("/events.EventSinkService/Publish")
def call(send, request):
    try:
        send(request, timeout=10)
        return {"code": "OK"}
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details()}
def event(id, message):
    data = any_pb2.Any()
    data.Pack(message)
    return events_pb2.EventRequest(data=data, id=id)
FATAL_INSTALL = m.SequenceEvent(sequence="install", action=m.SequenceEvent.NOOP,
    error=common_pb2.Error(code=common_pb2.FATAL, message="install failed: disk not found"))
BOOT = m.SequenceEvent(sequence="boot", action=m.SequenceEvent.START)
steps = [
    event("d6h0r3ug10l1s9ao0f01", m.AddressEvent(hostname="node-1", addresses=["192.168.7.20", "::1", "10.5.0.9"])),
    event("d6h0r3ug10l1s9ao0f02", FATAL_INSTALL),
    event("d6h0r3ug10l1s9ao0f03", m.ConfigLoadErrorEvent(error="no config")),
    event("d6h0r3ug10l1s9ao0f04", BOOT),
    event("d6h0r3ug10l1s9ao0f05", m.ServiceStateEvent(service="apid", action=m.ServiceStateEvent.RUNNING,
        message="Health check successful")),
    event("d6h0r3ug10l1s9ao0f06", m.MachineStatusEvent(stage=m.MachineStatusEvent.RUNNING,
        status=m.MachineStatusEvent.MachineStatus(ready=True))),
    events_pb2.EventRequest(data=any_pb2.Any(type_url="type.googleapis.com/machine.FutureEvent", value=b"\\x08\\x01"),
        id="d6h0r3ug10l1s9ao0f07"),
    event("d6h0r3ug10l1s9ao0f04", BOOT),
    events_pb2.EventRequest(id="d6h0r3ug10l1s9ao0f08"),
]
results = [call(stub.Publish, request) for request in steps]
results.append(call(raw, event("d6h0r3ug10l1s9ao0f09", BOOT).SerializeToString()[:-3]))
print(json.dumps(results), flush=True)
sys.stdin.read()
channel.close()
`;

/** The gRPC layer's server (GOAWAY filter included) on `[::1]` running the sink; the machine connects from `::1`. */
async function loopbackSink() {
  const temp = temporaryState();
  const lines: string[] = [];
  const store = new EventStore(temp.state);
  const sink = new EventSink({
    directory: storeDirectory(
      (address) => address === "::1" ? { serverUuid: MACHINE.uuid, cluster: "prod" } : undefined,
      store,
    ),
    excluded: new ExcludedNetworks(["10.5.0.0/24"]),
    write: (line) => lines.push(line),
    now: () => new Date("2026-03-02T08:15:44.103Z"),
  });
  const server = await startGrpcServer({
    host: "::1",
    port: 0,
    services: [{ definition: eventSinkServiceDefinition(), implementation: eventSinkHandlers(sink, peerOf) }],
    shutdownGraceMs: 1000,
  });
  return {
    port: server.port,
    lines,
    store,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      temp[Symbol.dispose]();
    },
  };
}

Deno.test({
  name: "Python grpcio client over loopback: replies, event lines, status, idempotency, bad requests",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "siderolink-protoc-" });
    await using sink = await loopbackSink();
    try {
      compileProtos(dir);
      const child = new Deno.Command(PYTHON, {
        args: ["-c", PY_CLIENT, dir, `[::1]:${sink.port}`],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      const first = await child.stdout.pipeThrough(new TextDecoderStream()).getReader().read();
      await child.stdin.close();
      assert.equal((await child.status).code, 0);
      const replies = JSON.parse(first.value!);
      const ok = { code: "OK" };
      assert.deepEqual(replies.slice(0, 8), [ok, ok, ok, ok, ok, ok, ok, ok]);
      assert.deepEqual(replies[8], {
        code: "INVALID_ARGUMENT",
        details: "event request has no data (google.protobuf.Any field 1)",
      });
      assert.equal(replies[9].code, "INVALID_ARGUMENT");
      assert.match(replies[9].details, /^event request cannot be decoded: /);

      const head = (id: string, type: string, msg = "incoming event") =>
        `{"level":"info","ts":1772439344.103,"msg":"${msg}","component":"sink","node":"[::1]:PORT","id":"${id}",` +
        `"type":"type.googleapis.com/machine.${type}","server_uuid":"${MACHINE.uuid}","cluster":"prod"`;
      assert.deepEqual(sink.lines.map((line) => line.replace(/"node":"\[::1\]:\d+"/, `"node":"[::1]:PORT"`)), [
        head("d6h0r3ug10l1s9ao0f01", "AddressEvent") +
        `,"hostname":"node-1","addresses":["192.168.7.20","::1","10.5.0.9"]}`,
        head("d6h0r3ug10l1s9ao0f02", "SequenceEvent") +
        `,"sequence":"install","action":"NOOP","error":"install failed: disk not found"}`,
        head("d6h0r3ug10l1s9ao0f03", "ConfigLoadErrorEvent") + `,"error":"no config"}`,
        head("d6h0r3ug10l1s9ao0f04", "SequenceEvent") + `,"sequence":"boot","action":"START"}`,
        head("d6h0r3ug10l1s9ao0f05", "ServiceStateEvent", "service Health check successful") +
        `,"service":"apid","action":"RUNNING"}`,
        head("d6h0r3ug10l1s9ao0f06", "MachineStatusEvent") + `,"stage":"RUNNING","ready":true}`,
        head("d6h0r3ug10l1s9ao0f07", "FutureEvent") + `}`,
      ]);
      const at = "2026-03-02T08:15:44Z";
      assert.deepEqual(sink.store.status(MACHINE.uuid), {
        hostname: "node-1",
        addresses: ["192.168.7.20"],
        stage: "RUNNING",
        ready: true,
        conditions: [
          { type: "TalosConfigLoaded", status: "True", lastTransitionTime: at },
          { type: "TalosConfigValidated", status: "True", lastTransitionTime: at },
          { type: "TalosInstalled", status: "True", lastTransitionTime: at },
        ],
        updatedAt: "2026-03-02T08:15:44.103Z",
      });
      assert.deepEqual(sink.store.events(MACHINE.uuid).map((event) => event.line), sink.lines);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "grpc-js client over loopback: OK for an event, INVALID_ARGUMENT with a message for a request without data",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using sink = await loopbackSink();
    const Client = grpc.makeGenericClientConstructor(eventSinkServiceDefinition(), "EventSinkService");
    const client = new Client(`[::1]:${sink.port}`, grpc.credentials.createInsecure());
    type Publish = (request: Uint8Array, callback: (error: grpc.ServiceError | null) => void) => void;
    const call = (client as unknown as { Publish: Publish }).Publish.bind(client);
    const publish = (bytes: Uint8Array) => new Promise<grpc.ServiceError | null>((resolve) => call(bytes, resolve));
    try {
      const task = encodeRequest(
        "d6h0r3ug10l1s9ao0fa1",
        typeUrlOf("TaskEvent"),
        encodePayload("TaskEvent", { task: "t" }),
      );
      assert.equal(await publish(task), null);
      const error = await publish(new Uint8Array());
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(error?.details, "event request has no data (google.protobuf.Any field 1)");
      assert.equal(sink.lines.length, 1);
      assert.match(sink.lines[0], /"node":"\[::1\]:\d+".*"task":"t","action":"START"\}$/);
    } finally {
      // Its GOAWAY (last-stream-id 0) is what the gRPC layer's filter keeps away from node:http2 (issue 4).
      client.close();
    }
  },
});

import assert from "node:assert/strict";
import { configureSync, type LogRecord, resetSync } from "@logtape/logtape";
import { typeUrlOf } from "./decode.ts";
import { eventProtos } from "./protos.ts";
import type { Peer } from "../grpc/server.ts";
import { DirectoryUnavailable } from "../machines/directory.ts";
import { daemonCounters } from "../metrics/counters.ts";
import { EventSink } from "./sink.ts";
import { ExcludedNetworks } from "./status.ts";
import { EventStore } from "./store.ts";
import { encodePayload, encodeRequest, MACHINE, storeDirectory, temporaryState } from "./testdata.ts";

const peer: Peer = { address: MACHINE.address.toUpperCase(), port: 50412 };
const node = `[${MACHINE.address}]:50412`;

/** A sink over a temporary state, with a settable clock and the printed lines collected. */
function harness(options: { excluded?: ExcludedNetworks; eventsPerMachine?: number } = {}) {
  const temp = temporaryState();
  const store = new EventStore(temp.state, options);
  const lines: string[] = [];
  const clock = { now: new Date("2026-03-02T08:00:00Z") };
  const counters = daemonCounters().events;
  const directory = storeDirectory(
    (address) => address === MACHINE.address ? { serverUuid: MACHINE.uuid, cluster: "prod" } : undefined,
    store,
  );
  const sink = new EventSink({
    directory,
    excluded: options.excluded,
    write: (line) => lines.push(line),
    now: () => clock.now,
    counters,
  });
  return {
    sink,
    store,
    lines,
    clock,
    counters,
    directory,
    state: temp.state,
    [Symbol.dispose]: () => temp[Symbol.dispose](),
  };
}

const request = (id: string, type: Parameters<typeof encodePayload>[0], payload: Record<string, unknown>) =>
  encodeRequest(id, typeUrlOf(type), encodePayload(type, payload));

Deno.test("an event is printed, stored and applied once; a resent id is acknowledged and ignored", async () => {
  using h = harness();
  const bytes = request("d6h0r3ug10l1s9ao0fd0", "MachineStatusEvent", { stage: "BOOTING", status: { ready: false } });
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  h.clock.now = new Date("2026-03-02T08:00:05Z");
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  assert.equal(h.lines.length, 1);
  assert.equal(
    h.lines[0],
    `{"level":"info","ts":1772438400,"msg":"incoming event","component":"sink","node":"${node}",` +
      `"id":"d6h0r3ug10l1s9ao0fd0","type":"type.googleapis.com/machine.MachineStatusEvent",` +
      `"server_uuid":"${MACHINE.uuid}","cluster":"prod","stage":"BOOTING","ready":false}`,
  );
  assert.deepEqual(h.store.events(MACHINE.uuid).map((event) => event.line), h.lines);
  assert.deepEqual(h.store.status(MACHINE.uuid), {
    stage: "BOOTING",
    ready: false,
    conditions: [],
    updatedAt: "2026-03-02T08:00:00.000Z",
  });
});

Deno.test("a Talos install and boot: conditions, transition times, addresses filtered, stage", async () => {
  using h = harness({ excluded: new ExcludedNetworks(["10.5.0.0/24"]) });
  const steps: [string, Parameters<typeof request>[1], Record<string, unknown>][] = [
    ["d6h0r3ug10l1s9ao0f01", "ConfigLoadErrorEvent", { error: "no config yet" }],
    ["d6h0r3ug10l1s9ao0f02", "PhaseEvent", { phase: "saveConfig", action: "START" }],
    ["d6h0r3ug10l1s9ao0f03", "PhaseEvent", { phase: "install", action: "START" }],
    ["d6h0r3ug10l1s9ao0f04", "SequenceEvent", {
      sequence: "install",
      action: "NOOP",
      error: { code: "FATAL", message: "unix.Reboot: rebooting" },
    }],
    ["d6h0r3ug10l1s9ao0f05", "SequenceEvent", { sequence: "boot", action: "START" }],
    ["d6h0r3ug10l1s9ao0f06", "AddressEvent", {
      hostname: "prod-cp-1",
      addresses: ["10.5.0.2", "192.168.7.20", MACHINE.address, "2001:db8::20"],
    }],
    ["d6h0r3ug10l1s9ao0f07", "MachineStatusEvent", { stage: "RUNNING", status: { ready: true } }],
  ];
  for (const [minute, [id, type, payload]] of steps.entries()) {
    h.clock.now = new Date(Date.UTC(2026, 2, 2, 8, minute));
    assert.deepEqual(await h.sink.publish(request(id, type, payload), peer), { code: 0 });
  }
  assert.equal(h.lines.length, steps.length);
  assert.deepEqual(h.store.status(MACHINE.uuid), {
    hostname: "prod-cp-1",
    addresses: ["192.168.7.20", "2001:db8::20"],
    stage: "RUNNING",
    ready: true,
    conditions: [
      // False at 08:00, True at 08:01 (saveConfig); boot at 08:04 does not move it.
      { type: "TalosConfigLoaded", status: "True", lastTransitionTime: "2026-03-02T08:01:00Z" },
      { type: "TalosConfigValidated", status: "True", lastTransitionTime: "2026-03-02T08:01:00Z" },
      // False (in progress) at 08:02, True at 08:03 (the install's reboot).
      { type: "TalosInstalled", status: "True", lastTransitionTime: "2026-03-02T08:03:00Z" },
    ],
    updatedAt: "2026-03-02T08:06:00.000Z",
  });
  // The line reports the addresses as the machine sent them.
  assert.deepEqual(JSON.parse(h.lines[5]).addresses, ["10.5.0.2", "192.168.7.20", MACHINE.address, "2001:db8::20"]);
});

Deno.test("an unknown payload type is acknowledged, printed without per-type keys, and kept", async () => {
  using h = harness();
  const bytes = encodeRequest(
    "d6h0r3ug10l1s9ao0fd1",
    "type.googleapis.com/machine.FutureEvent",
    new Uint8Array([8, 1]),
  );
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  assert.equal(h.lines.length, 1);
  const line = JSON.parse(h.lines[0]);
  assert.equal(line.type, "type.googleapis.com/machine.FutureEvent");
  assert.equal(line.level, "info");
  assert.equal(Object.keys(line).at(-1), "cluster");
  assert.equal(h.store.events(MACHINE.uuid).length, 1);
});

Deno.test("no data, no id, or no EventRequest at all: INVALID_ARGUMENT with the reason, nothing printed", async () => {
  using h = harness();
  const type = eventProtos().events.lookupType("events.EventRequest");
  assert.deepEqual(await h.sink.publish(type.encode({ id: "d6h0r3ug10l1s9ao0fd2" }).finish(), peer), {
    code: 3,
    message: "event request has no data (google.protobuf.Any field 1)",
  });
  assert.deepEqual(await h.sink.publish(encodeRequest("", typeUrlOf("TaskEvent"), new Uint8Array()), peer), {
    code: 3,
    message: "event request has no id (field 2)",
  });
  const whole = request("d6h0r3ug10l1s9ao0fd3", "TaskEvent", { task: "t" });
  const result = await h.sink.publish(whole.subarray(0, whole.length - 3), peer);
  assert.equal(result.code, 3);
  assert.match(result.message!, /^event request cannot be decoded: /);
  assert.deepEqual(h.lines, []);
  assert.deepEqual(h.store.events(MACHINE.uuid), []);
});

Deno.test("an undecodable payload of a known type is acknowledged, printed with level error, kept once", async () => {
  using h = harness();
  const bytes = encodeRequest("d6h0r3ug10l1s9ao0fd4", typeUrlOf("AddressEvent"), new Uint8Array([0x0a, 9, 0x61]));
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  assert.equal(h.lines.length, 1);
  const line = JSON.parse(h.lines[0]);
  assert.equal(line.level, "error");
  assert.match(line.handling_error, /^machine\.AddressEvent payload cannot be decoded: /);
  assert.deepEqual(h.store.status(MACHINE.uuid), { conditions: [] });
});

Deno.test("a source that is no known machine: acknowledged, printed once as unknown_source, nothing stored", async () => {
  using h = harness();
  const stranger: Peer = { address: "::ffff:10.0.0.9", port: 4411 };
  const bytes = request("d6h0r3ug10l1s9ao0fd5", "SequenceEvent", { sequence: "boot", action: "START" });
  assert.deepEqual(await h.sink.publish(bytes, stranger), { code: 0 });
  assert.deepEqual(await h.sink.publish(bytes, stranger), { code: 0 });
  assert.equal(h.lines.length, 1);
  const line = JSON.parse(h.lines[0]);
  assert.equal(line.node, "[::ffff:10.0.0.9]:4411");
  assert.equal(line.unknown_source, true);
  assert.equal(line.server_uuid, undefined);
  assert.deepEqual(h.store.status(MACHINE.uuid), { conditions: [] });
  const count = h.state.db.prepare("SELECT count(*) AS n FROM events").get() as { n: number };
  assert.equal(count.n, 0);
});

Deno.test("a store failure is acknowledged and printed with level error; a failing writer does not throw", async () => {
  using h = harness();
  h.state.db.exec("DROP TABLE events");
  const bytes = request("d6h0r3ug10l1s9ao0fd6", "TaskEvent", { task: "t", action: "STOP" });
  assert.deepEqual(await h.sink.publish(bytes, peer), { code: 0 });
  assert.equal(h.lines.length, 1);
  const line = JSON.parse(h.lines[0]);
  assert.equal(line.level, "error");
  assert.match(line.handling_error, /^cannot store event: .*no such table: events/);
  assert.equal(line.task, "t");

  using temp = temporaryState();
  const sink = new EventSink({
    directory: storeDirectory(() => ({ serverUuid: MACHINE.uuid }), new EventStore(temp.state)),
    write: () => {
      throw new Error("stdout closed");
    },
  });
  assert.deepEqual(await sink.publish(bytes, peer), { code: 0 });
});

Deno.test("every call is counted by payload type and result", async () => {
  using h = harness();
  const status = request("d6h0r3ug10l1s9ao0fe0", "MachineStatusEvent", { stage: "BOOTING", status: { ready: false } });
  await h.sink.publish(status, peer);
  await h.sink.publish(status, peer);
  await h.sink.publish(request("d6h0r3ug10l1s9ao0fe1", "MachineStatusEvent", { stage: "RUNNING" }), peer);
  const future = encodeRequest("d6h0r3ug10l1s9ao0fe2", "type.googleapis.com/machine.FutureEvent", new Uint8Array());
  await h.sink.publish(future, peer);
  const undecodable = encodeRequest("d6h0r3ug10l1s9ao0fe3", typeUrlOf("AddressEvent"), new Uint8Array([0x0a, 9]));
  await h.sink.publish(undecodable, peer);
  const stranger = { address: "fd00::9", port: 1 };
  await h.sink.publish(request("d6h0r3ug10l1s9ao0fe4", "SequenceEvent", { sequence: "boot" }), stranger);
  await h.sink.publish(eventProtos().events.lookupType("events.EventRequest").encode({ id: "x" }).finish(), peer);
  const task = request("d6h0r3ug10l1s9ao0fe5", "TaskEvent", { task: "t" });
  h.directory.recordEvent = () => Promise.reject(new DirectoryUnavailable("the apiserver is away"));
  assert.equal((await h.sink.publish(task, peer)).code, 14);
  h.state.db.exec("DROP TABLE events");
  h.directory.recordEvent = (...args) => Promise.resolve(h.store.record(...args));
  await h.sink.publish(task, peer);
  assert.deepEqual(h.counters.series().map(({ labels, value }) => [labels.type, labels.result, value]), [
    ["MachineStatusEvent", "handled", 2],
    ["MachineStatusEvent", "duplicate", 1],
    ["unknown", "handled", 1],
    ["AddressEvent", "handling_error", 1],
    ["SequenceEvent", "unknown_source", 1],
    ["none", "refused", 1],
    ["TaskEvent", "unavailable", 1],
    ["TaskEvent", "handling_error", 1],
  ]);
});

Deno.test("diagnostics name unknown types, unknown sources, failures and refusals, once per event", async () => {
  const records: { level: string; message: string }[] = [];
  configureSync({
    reset: true,
    sinks: { memory: (record: LogRecord) => records.push({ level: record.level, message: record.message.join("") }) },
    loggers: [
      { category: ["siderolink", "events"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    using h = harness();
    const future = encodeRequest("d6h0r3ug10l1s9ao0fd7", "type.googleapis.com/machine.FutureEvent", new Uint8Array());
    const broken = encodeRequest("d6h0r3ug10l1s9ao0fd8", typeUrlOf("PhaseEvent"), new Uint8Array([0x0a, 3]));
    for (let i = 0; i < 2; i++) {
      await h.sink.publish(future, peer);
      await h.sink.publish(broken, peer);
      await h.sink.publish(future, { address: "10.0.0.9", port: 4411 });
    }
    await h.sink.publish(new Uint8Array([0xff]), peer);
    assert.deepEqual(records.map(({ level, message }) => `${level} ${message}`), [
      `info event d6h0r3ug10l1s9ao0fd7 from ${node} has a type the sink does not know: ` +
      `type.googleapis.com/machine.FutureEvent`,
      `error event d6h0r3ug10l1s9ao0fd8 from ${node}: ` +
      `machine.PhaseEvent payload cannot be decoded: index out of range: 2 + 3 > 2`,
      `warning event d6h0r3ug10l1s9ao0fd7 from [::ffff:10.0.0.9]:4411, which is no known machine`,
      `info event d6h0r3ug10l1s9ao0fd7 from [::ffff:10.0.0.9]:4411 has a type the sink does not know: ` +
      `type.googleapis.com/machine.FutureEvent`,
      `warning refused event from ${node}: event request cannot be decoded: index out of range: 1 + 1 > 1`,
    ]);
  } finally {
    resetSync();
  }
});

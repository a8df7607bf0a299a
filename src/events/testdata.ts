/**
 * Test helpers of the event sink: encoded requests built with protobufjs from the project's `.proto` files, and
 * a throw-away state database holding one machine.
 *
 * @module
 */

import type { MachineDirectory } from "../machines/directory.ts";
import type { IdentifyByAddress } from "../machines/identity.ts";
import type { EventStore } from "./store.ts";
import { SqliteState } from "../state/sqlite.ts";
import { eventProtos } from "./protos.ts";
import type { PayloadType, TalosEvent } from "./decode.ts";

/** A machine the tests use: its UUID and SideroLink address. */
export const MACHINE = {
  uuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",
  address: "fdae:41e4:649b:9303:1d2c:4b5a:6978:8a9b",
};

/** Encodes a `machine.<type>` payload from a plain object (proto field names, enum values by name). */
export function encodePayload(type: PayloadType, payload: Record<string, unknown>): Uint8Array {
  const messageType = eventProtos().machine.lookupType(`machine.${type}`);
  return messageType.encode(messageType.fromObject(payload)).finish();
}

/**
 * Encodes an `events.EventRequest` whose `data` holds `value` with type URL `typeUrl`; like Go, an empty actor id
 * is left out.
 */
export function encodeRequest(id: string, typeUrl: string, value: Uint8Array, actorId = ""): Uint8Array {
  const request = eventProtos().events.lookupType("events.EventRequest");
  const fields = actorId === ""
    ? { id, data: { type_url: typeUrl, value } }
    : { id, actor_id: actorId, data: { type_url: typeUrl, value } };
  return request.encode(request.create(fields)).finish();
}

/** The two directory calls the event sink makes, over an identity lookup and an event store. */
export function storeDirectory(
  identify: IdentifyByAddress,
  store: EventStore,
): Pick<MachineDirectory, "identify" | "recordEvent"> {
  return {
    identify,
    recordEvent: (...args: Parameters<EventStore["record"]>) => Promise.resolve(store.record(...args)),
  };
}

/** A state database in a fresh temporary folder, with {@link MACHINE} recorded; closed and removed on dispose. */
export function temporaryState(): { state: SqliteState; dir: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "siderolink-events-" });
  const state = SqliteState.open(dir, "create");
  state.db.prepare("INSERT INTO machines (uuid, address) VALUES (?, ?)").run(MACHINE.uuid, MACHINE.address);
  return {
    state,
    dir,
    [Symbol.dispose]() {
      state.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/** One payload of every type, as a proto object and as the decoder must return it. */
export const SAMPLES: Record<PayloadType, [Record<string, unknown>, TalosEvent]> = {
  AddressEvent: [
    { hostname: "prod-cp-1", addresses: ["10.5.0.2", "fdae:41e4:649b:9303:1d2c:4b5a:6978:8a9b"] },
    { kind: "AddressEvent", hostname: "prod-cp-1", addresses: ["10.5.0.2", "fdae:41e4:649b:9303:1d2c:4b5a:6978:8a9b"] },
  ],
  ConfigLoadErrorEvent: [{ error: "no config" }, { kind: "ConfigLoadErrorEvent", error: "no config" }],
  ConfigValidationErrorEvent: [{ error: "bad cidr" }, { kind: "ConfigValidationErrorEvent", error: "bad cidr" }],
  PhaseEvent: [{ phase: "install", action: "STOP" }, { kind: "PhaseEvent", phase: "install", action: "STOP" }],
  TaskEvent: [{ task: "saveConfig", action: "START" }, { kind: "TaskEvent", task: "saveConfig", action: "START" }],
  SequenceEvent: [
    { sequence: "install", action: "NOOP", error: { code: "CANCELED", message: "ctx done" } },
    { kind: "SequenceEvent", sequence: "install", action: "NOOP", error: { code: "CANCELED", message: "ctx done" } },
  ],
  ServiceStateEvent: [
    {
      service: "etcd",
      action: "STARTING",
      message: "Starting service",
      health: { unknown: true, healthy: false, last_message: "", last_change: { seconds: 1772439344, nanos: 5 } },
    },
    { kind: "ServiceStateEvent", service: "etcd", action: "STARTING", message: "Starting service" },
  ],
  MachineStatusEvent: [
    { stage: "RUNNING", status: { ready: true, unmet_conditions: [{ name: "time", reason: "not synced" }] } },
    { kind: "MachineStatusEvent", stage: "RUNNING", ready: true },
  ],
  RestartEvent: [{ cmd: "9007199254740993" }, { kind: "RestartEvent", cmd: "9007199254740993" }],
};

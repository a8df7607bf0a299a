/**
 * Decoding of what Talos publishes to the event sink: the `events.EventRequest` envelope and its
 * `google.protobuf.Any` payload, into plain typed values with enum values by name (PROTOCOL.md §5).
 *
 * @module
 */

import type protobuf from "protobufjs";
import { eventProtos, TYPE_URL_PREFIX } from "./protos.ts";

/** The Talos payload types the sink understands, by their name in proto package `machine`. */
export const PAYLOAD_TYPES = [
  "AddressEvent",
  "ConfigLoadErrorEvent",
  "ConfigValidationErrorEvent",
  "PhaseEvent",
  "TaskEvent",
  "SequenceEvent",
  "ServiceStateEvent",
  "MachineStatusEvent",
  "RestartEvent",
] as const;

/** One of {@link PAYLOAD_TYPES}. */
export type PayloadType = typeof PAYLOAD_TYPES[number];

/**
 * A decoded Talos event payload. Enum values are their names (`"START"`), or the number when Talos sent a newer
 * one.
 */
export type TalosEvent =
  | { kind: "AddressEvent"; hostname: string; addresses: string[] }
  | { kind: "ConfigLoadErrorEvent"; error: string }
  | { kind: "ConfigValidationErrorEvent"; error: string }
  | { kind: "PhaseEvent"; phase: string; action: string }
  | { kind: "TaskEvent"; task: string; action: string }
  | { kind: "SequenceEvent"; sequence: string; action: string; error?: { code: string; message: string } }
  | { kind: "ServiceStateEvent"; service: string; action: string; message: string }
  | { kind: "MachineStatusEvent"; stage: string; ready: boolean }
  | { kind: "RestartEvent"; cmd: string };

/** The envelope of one published event. */
export interface EventEnvelope {
  /** The event's xid; the key of idempotent handling. */
  id: string;
  actorId: string;
  /** The payload's type URL, e.g. `type.googleapis.com/machine.AddressEvent`. */
  typeUrl: string;
  /** The payload's encoded bytes. */
  value: Uint8Array;
}

/** A request that is not a usable `events.EventRequest`; the sink answers it with INVALID_ARGUMENT. */
export class InvalidEventRequest extends Error {}

/**
 * Decodes the bytes of an `events.EventRequest`.
 *
 * @throws {InvalidEventRequest} when the bytes are no EventRequest (truncated, wrong wire types), when `data` is
 *   missing, or when `id` is empty (idempotent handling needs it; Talos always sends one).
 * @example
 * ```ts
 * const { id, typeUrl } = decodeEventRequest(bytes);
 * ```
 */
export function decodeEventRequest(bytes: Uint8Array): EventEnvelope {
  let request: { data?: { type_url: string; value: Uint8Array } | null; id: string; actor_id: string };
  try {
    request = eventProtos().events.lookupType("events.EventRequest").decode(strict(bytes)) as unknown as typeof request;
  } catch (error) {
    throw new InvalidEventRequest(`event request cannot be decoded: ${(error as Error).message}`);
  }
  if (!request.data) throw new InvalidEventRequest("event request has no data (google.protobuf.Any field 1)");
  if (request.id === "") throw new InvalidEventRequest("event request has no id (field 2)");
  return { id: request.id, actorId: request.actor_id, typeUrl: request.data.type_url, value: request.data.value };
}

/**
 * A plain `Uint8Array` view of `bytes`. protobufjs reads a Node `Buffer` with a reader that silently cuts a string
 * short at the end of the input; a plain array gets the reader that reports truncation.
 */
function strict(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The payload type a type URL names, or `undefined` for a type the sink does not know. Like protobuf's own
 * Any resolution, only the part after the last `/` counts.
 */
export function payloadType(typeUrl: string): PayloadType | undefined {
  const fullName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  if (!fullName.startsWith("machine.")) return undefined;
  const name = fullName.slice("machine.".length);
  return (PAYLOAD_TYPES as readonly string[]).includes(name) ? name as PayloadType : undefined;
}

/** The type URL Talos uses for a payload type. */
export function typeUrlOf(type: PayloadType): string {
  return `${TYPE_URL_PREFIX}machine.${type}`;
}

/**
 * Decodes a payload of a known type.
 *
 * @throws {Error} naming the type when the bytes do not decode as it.
 */
export function decodePayload(type: PayloadType, value: Uint8Array): TalosEvent {
  const messageType = eventProtos().machine.lookupType(`machine.${type}`);
  let message: protobuf.Message;
  try {
    message = messageType.decode(strict(value));
  } catch (error) {
    throw new Error(`machine.${type} payload cannot be decoded: ${(error as Error).message}`);
  }
  // deno-lint-ignore no-explicit-any -- protobufjs objects are untyped; each case below reads its own fields.
  const o: any = messageType.toObject(message, { enums: String, longs: String, defaults: true, arrays: true });
  const name = (value: unknown): string => String(value);
  switch (type) {
    case "AddressEvent":
      return { kind: type, hostname: o.hostname, addresses: o.addresses };
    case "ConfigLoadErrorEvent":
    case "ConfigValidationErrorEvent":
      return { kind: type, error: o.error };
    case "PhaseEvent":
      return { kind: type, phase: o.phase, action: name(o.action) };
    case "TaskEvent":
      return { kind: type, task: o.task, action: name(o.action) };
    case "SequenceEvent": {
      const event: TalosEvent = { kind: type, sequence: o.sequence, action: name(o.action) };
      if (o.error) event.error = { code: name(o.error.code), message: o.error.message };
      return event;
    }
    case "ServiceStateEvent":
      return { kind: type, service: o.service, action: name(o.action), message: o.message };
    case "MachineStatusEvent":
      return { kind: type, stage: name(o.stage), ready: o.status?.ready ?? false };
    case "RestartEvent":
      return { kind: type, cmd: o.cmd };
  }
}

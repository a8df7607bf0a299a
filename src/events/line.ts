/**
 * The event log line `serve` prints for every event (PROTOCOL.md §5): compact JSON with a fixed key order,
 * the shape of the existing sinks' zap lines so that the filters users already have keep working.
 *
 * @module
 */

import { annotations, type MachineIdentity } from "../machines/identity.ts";
import type { TalosEvent } from "./decode.ts";

/** The annotation keys in the order the line carries them (not the order `annotations()` builds them in). */
const ANNOTATION_ORDER = ["server_uuid", "cluster", "namespace", "metal_machine", "machine"] as const;

/** Everything one event line says. */
export interface EventLineInput {
  /** When the event was received. */
  time: Date;
  /** The sender as `[ip]:port` (`ip:port` for IPv4). */
  node: string;
  id: string;
  typeUrl: string;
  /** The sending machine; `undefined` for a source that is no known machine (the line says `unknown_source`). */
  identity: MachineIdentity | undefined;
  /** The decoded payload; `undefined` for an unknown type or a payload that could not be decoded. */
  event: TalosEvent | undefined;
  /** Why handling failed; makes the line's level `error` and is printed last as `handling_error`. */
  handlingError?: string;
}

/**
 * Formats one event line (no trailing newline).
 *
 * @example
 * ```ts
 * eventLine({ time, node: "[fdae:41e4:649b:9303::2]:50412", id, typeUrl, identity, event });
 * // {"level":"info","ts":1772439344.103,"msg":"incoming event","component":"sink","node":"[fdae:…::2]:50412",…}
 * ```
 */
export function eventLine(input: EventLineInput): string {
  const { event } = input;
  const line: Record<string, unknown> = {
    level: input.handlingError === undefined ? "info" : "error",
    ts: input.time.getTime() / 1000,
    msg: event?.kind === "ServiceStateEvent" ? `service ${event.message}` : "incoming event",
    component: "sink",
    node: input.node,
    id: input.id,
    type: input.typeUrl,
  };
  if (input.identity) {
    const known = annotations(input.identity);
    for (const key of ANNOTATION_ORDER) if (known[key] !== undefined) line[key] = known[key];
  } else {
    line.unknown_source = true;
  }
  if (event) Object.assign(line, payloadFields(event));
  if (input.handlingError !== undefined) line.handling_error = input.handlingError;
  return JSON.stringify(line);
}

/** The per-type keys, in the documented order. */
function payloadFields(event: TalosEvent): Record<string, unknown> {
  switch (event.kind) {
    case "AddressEvent":
      return { hostname: event.hostname, addresses: event.addresses };
    case "ConfigLoadErrorEvent":
    case "ConfigValidationErrorEvent":
      return { error: event.error };
    case "PhaseEvent":
      return { phase: event.phase, action: event.action };
    case "TaskEvent":
      return { task: event.task, action: event.action };
    case "ServiceStateEvent":
      return { service: event.service, action: event.action };
    case "SequenceEvent":
      return event.error
        ? { sequence: event.sequence, action: event.action, error: event.error.message }
        : { sequence: event.sequence, action: event.action };
    case "MachineStatusEvent":
      return { stage: event.stage, ready: event.ready };
    case "RestartEvent":
      return {};
  }
}

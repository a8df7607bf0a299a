/**
 * The event sink's protobuf types, loaded from the `.proto` files in `src/proto/` (the same files the tests
 * compile with an independent protoc), so the wire format has one source of truth.
 *
 * @module
 */

import type protobuf from "protobufjs";
import { loadProto } from "../grpc/service.ts";

/** The prefix of every Talos payload type URL. */
export const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The sink's two roots: `events.*` (the envelope and service) and `machine.*`/`common.*` (the payloads). */
export interface EventProtos {
  events: protobuf.Root;
  machine: protobuf.Root;
}

let loaded: EventProtos | undefined;

/** The event sink's protobuf roots, parsed once on first use. */
export function eventProtos(): EventProtos {
  loaded ??= {
    events: loadProto(new URL("../proto/events.proto", import.meta.url)),
    machine: loadProto(new URL("../proto/machine.proto", import.meta.url)),
  };
  return loaded;
}

/**
 * The event sink as a `@grpc/grpc-js` service (`/events.EventSinkService/Publish`): a service definition built
 * from `events.proto` and the handler that hands each request's raw bytes to an {@link EventSink}.
 *
 * Requests reach the handler undecoded, so that a malformed one is answered by the sink with INVALID_ARGUMENT and a
 * message, rather than by grpc-js's deserializer with INTERNAL.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { eventProtos } from "./protos.ts";
import type { Peer } from "../grpc/server.ts";
import type { EventSink } from "./sink.ts";

/** The full name of the service, as in the method path. */
export const EVENT_SINK_SERVICE = "events.EventSinkService";

/** Reads the sender of a call. */
export type PeerOf = (call: { getPeer(): string }) => Peer;

/**
 * The service definition for `Server.addService` (and `makeGenericClientConstructor` in tests). The request side
 * carries raw `EventRequest` bytes; the response side encodes and decodes `events.EventResponse`.
 */
export function eventSinkServiceDefinition(): grpc.ServiceDefinition {
  const root = eventProtos().events;
  const method = root.lookupService(EVENT_SINK_SERVICE).methods.Publish;
  const response = root.lookupType("events.EventResponse");
  return {
    Publish: {
      path: `/${EVENT_SINK_SERVICE}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (request: Uint8Array) => Buffer.from(request),
      requestDeserialize: (bytes: Buffer) => new Uint8Array(bytes),
      responseSerialize: (value: Record<string, never>) => Buffer.from(response.encode(value).finish()),
      responseDeserialize: (bytes: Buffer) => response.toObject(response.decode(bytes)),
    },
  };
}

/**
 * The handlers for `Server.addService(eventSinkServiceDefinition(), eventSinkHandlers(sink, peerOf))`.
 *
 * @param peerOf the machine's real source address and port of a call (the gRPC layer's `peerOf`). When it cannot
 *   tell (it throws), the call is still handled, as coming from an unknown source named by `getPeer()`, so that the
 *   sender is not pushed into resending forever and the event line shows the problem.
 */
export function eventSinkHandlers(sink: EventSink, peerOf: PeerOf): grpc.UntypedServiceImplementation {
  const publish: grpc.handleUnaryCall<Uint8Array, Record<string, never>> = (call, callback) => {
    let peer: Peer;
    try {
      peer = peerOf(call);
    } catch {
      peer = { address: call.getPeer(), port: 0 };
    }
    sink.publish(call.request, peer).then((result) => {
      if (result.code === 0) callback(null, {});
      else callback({ code: result.code, details: result.message ?? "" }, null);
    });
  };
  return { Publish: publish };
}

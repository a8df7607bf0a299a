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
import { isIP } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { eventProtos } from "./protos.ts";
import type { EventSink, Peer } from "./sink.ts";

/** The full name of the service, as in the method path. */
export const EVENT_SINK_SERVICE = "events.EventSinkService";

/** Reads the sender of a call (the default parses `call.getPeer()`). */
export type PeerOf = (call: grpc.ServerUnaryCall<Uint8Array, Record<string, never>>) => Peer;

/**
 * The service definition for `Server.addService` (and `makeGenericClientConstructor` in tests). The request side
 * carries raw `EventRequest` bytes; the response side encodes and decodes `events.EventResponse`.
 */
export function eventSinkServiceDefinition(): grpc.ServiceDefinition {
  const root = eventProtos();
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
 * The handlers for `Server.addService(eventSinkServiceDefinition(), eventSinkHandlers(sink))`.
 *
 * @param peerOf how to learn the machine's real source address, when the server does not see the socket directly
 */
export function eventSinkHandlers(sink: EventSink, peerOf: PeerOf = peerFromCall): grpc.UntypedServiceImplementation {
  const publish: grpc.handleUnaryCall<Uint8Array, Record<string, never>> = (call, callback) => {
    const result = sink.publish(call.request, peerOf(call));
    if (result.code === 0) callback(null, {});
    else callback({ code: result.code, details: result.message ?? "" }, null);
  };
  return { Publish: publish };
}

/** The peer of a call from grpc-js's `getPeer()`; text that is no address is kept, so it reads as an unknown source. */
function peerFromCall(call: grpc.ServerUnaryCall<Uint8Array, Record<string, never>>): Peer {
  const text = call.getPeer();
  return parsePeer(text) ?? { address: text, port: 0 };
}

/**
 * Parses a peer as grpc-js reports it: `addr:port` with the IPv6 address unbracketed (`fdae::2:50412`), or
 * `[addr]:port`, or a bare address (port 0). The port is always split off first, because `fdae::2:8080` also
 * reads as an IPv6 address and grpc-js always appends the port of a TCP peer.
 *
 * @example
 * ```ts
 * parsePeer("fdae:41e4:649b:9303::2:50412"); // { address: "fdae:41e4:649b:9303::2", port: 50412 }
 * ```
 */
export function parsePeer(text: string): Peer | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  if (bracketed && isIP(bracketed[1].replace(/%.*$/, ""))) return { address: bracketed[1], port: Number(bracketed[2]) };
  const split = /^(.+):(\d{1,5})$/.exec(text);
  if (split && isIP(split[1].replace(/%.*$/, ""))) return { address: split[1], port: Number(split[2]) };
  if (isIP(text.replace(/%.*$/, ""))) return { address: text, port: 0 };
  return undefined;
}

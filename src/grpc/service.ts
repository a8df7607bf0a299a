/**
 * gRPC service definitions loaded from our `.proto` files with protobufjs, so that the wire format comes from
 * the same files the tests compile for their Python clients.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/**
 * How decoded messages become plain objects: field names as in the .proto (`node_uuid`), scalars that are not
 * on the wire get their default (`""`, `0`, `false`) except proto3 `optional` ones, which stay absent; enums by
 * name, 64-bit integers as decimal strings, bytes as `Uint8Array`.
 */
export const MESSAGE_OBJECT_OPTIONS: protobuf.IConversionOptions = { defaults: true, enums: String, longs: String };

/**
 * Parses a .proto file and the files it imports (the well-known `google/protobuf/*.proto` are built in).
 *
 * @example
 * ```ts
 * const root = loadProto(new URL("../proto/provision.proto", import.meta.url));
 * root.lookupType("sidero.link.ProvisionRequest");
 * ```
 */
export function loadProto(file: URL): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(fileURLToPath(file), { keepCase: true });
  root.resolveAll();
  return root;
}

/**
 * The grpc-js definition of service `name` (fully qualified, e.g. `sidero.link.ProvisionService`) of `root`:
 * handlers receive requests as plain objects ({@link MESSAGE_OBJECT_OPTIONS}) and reply with plain objects.
 */
export function serviceDefinition(root: protobuf.Root, name: string): grpc.ServiceDefinition {
  const service = root.lookupService(name);
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    definition[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: method.requestStream ?? false,
      responseStream: method.responseStream ?? false,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: method.name,
    };
  }
  return definition;
}

/**
 * Loads `file` and returns the definition of service `name`.
 *
 * @example
 * ```ts
 * const definition = loadService(new URL("../proto/provision.proto", import.meta.url), "sidero.link.ProvisionService");
 * ```
 */
export function loadService(file: URL, name: string): grpc.ServiceDefinition {
  return serviceDefinition(loadProto(file), name);
}

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    const bytes = type.encode(type.fromObject(value)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  // A plain Uint8Array view: protobufjs checks lengths against the end of the message only for those, and
  // with a Buffer would read a truncated string as if it were complete.
  return (bytes) =>
    type.toObject(
      type.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
      MESSAGE_OBJECT_OPTIONS,
    );
}

/**
 * A call refused with a gRPC status: what the directory, the provisioner and the tunnel throw and the services
 * answer with, so that one refusal passes through every layer unchanged.
 *
 * @module
 */
import type { status } from "@grpc/grpc-js";

/** A refusal that reaches the caller as `code` with `message` as the status details. */
export class GrpcRefusal extends Error {
  /** The gRPC status code to answer with. */
  readonly code: status;

  constructor(code: status, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Who a machine is, as the tunnel proves it: the server it provisioned as, and the inventory's names for it.
 * Kernel-log lines and event lines carry these as `server_uuid`, `namespace`, `cluster`, `metal_machine`, `machine`.
 *
 * @module
 */

/** A machine's identity; every field but the UUID is present only when known. */
export interface MachineIdentity {
  /** Lowercase canonical server UUID. */
  serverUuid: string;
  namespace?: string;
  cluster?: string;
  metalMachine?: string;
  machine?: string;
}

/** Looks up the machine that owns a SideroLink address (bare canonical IPv6 text), if any. */
export type IdentifyByAddress = (address: string) => MachineIdentity | undefined;

/**
 * The annotation keys of an identity, in the documented output names, leaving out unknown ones.
 *
 * @example
 * ```ts
 * annotations({ serverUuid: "0f3c…", cluster: "prod" }); // { server_uuid: "0f3c…", cluster: "prod" }
 * ```
 */
export function annotations(identity: MachineIdentity): Record<string, string> {
  const result: Record<string, string> = { server_uuid: identity.serverUuid };
  if (identity.namespace !== undefined) result.namespace = identity.namespace;
  if (identity.cluster !== undefined) result.cluster = identity.cluster;
  if (identity.metalMachine !== undefined) result.metal_machine = identity.metalMachine;
  if (identity.machine !== undefined) result.machine = identity.machine;
  return result;
}

/**
 * The Sidero and Cluster API resources Kubernetes mode reads and writes (PROTOCOL.md §6), as paths and as the few
 * fields it uses. A ServerBinding whose `spec.siderolink` is malformed is read as having no link, and the reason
 * is returned so the caller can warn once.
 *
 * @module
 */

import { formatIPv6, parseIPv6 } from "../ipv6.ts";
import { formatKey, parseKey } from "../keys.ts";
import type { KubeObject } from "./client.ts";

/** The API group of ServerBindings and MetalMachines. */
const INFRASTRUCTURE = "/apis/infrastructure.cluster.x-k8s.io/v1alpha3";

/** Collection paths. */
export const PATHS = {
  serverBindings: `${INFRASTRUCTURE}/serverbindings`,
  metalMachines: `${INFRASTRUCTURE}/metalmachines`,
  secret: (namespace: string, name: string) =>
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
  secrets: (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
};

/** The label naming a binding's Cluster. */
export const CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name";

/** A ServerBinding's link, when it has a valid one. */
export interface Link {
  /** Bare canonical SideroLink address. */
  address: string;
  /** base64 WireGuard public key. */
  publicKey: string;
}

/** What Kubernetes mode uses of a ServerBinding. */
export interface Binding {
  /** Its name, the server UUID. */
  uuid: string;
  resourceVersion?: string;
  link?: Link;
  /** Why `spec.siderolink` was not usable, when it is set but malformed. */
  linkProblem?: string;
  /** `spec.metalMachineRef`. */
  metalMachine?: { namespace: string; name: string };
  cluster?: string;
  hostname?: string;
  addresses?: string[];
  /** `status.conditions` as stored (other writers' conditions are kept as they are). */
  conditions: Record<string, unknown>[];
}

/** Reads a ServerBinding. */
export function readBinding(object: KubeObject): Binding {
  const spec = record(object.spec);
  const status = record(object.status);
  const binding: Binding = {
    uuid: object.metadata.name,
    resourceVersion: object.metadata.resourceVersion,
    conditions: Array.isArray(status.conditions) ? status.conditions.filter(isRecord) : [],
  };
  const siderolink = spec.siderolink;
  if (siderolink !== undefined && siderolink !== null) {
    const link = readLink(record(siderolink));
    if (typeof link === "string") binding.linkProblem = link;
    else binding.link = link;
  }
  const ref = record(spec.metalMachineRef);
  if (typeof ref.name === "string" && ref.name !== "") {
    binding.metalMachine = { namespace: typeof ref.namespace === "string" ? ref.namespace : "", name: ref.name };
  }
  const cluster = object.metadata.labels?.[CLUSTER_LABEL];
  if (cluster) binding.cluster = cluster;
  if (typeof spec.hostname === "string") binding.hostname = spec.hostname;
  if (Array.isArray(spec.addresses)) binding.addresses = spec.addresses.filter((entry) => typeof entry === "string");
  return binding;
}

/** The link, or the reason it cannot be used. */
function readLink(siderolink: Record<string, unknown>): Link | string {
  const { address, publicKey } = siderolink;
  if (typeof address !== "string" || address === "") return "spec.siderolink.address is missing";
  const [bare, length, extra] = address.split("/");
  const bytes = parseIPv6(bare);
  if (!bytes || extra !== undefined || (length !== undefined && !/^\d+$/.test(length))) {
    return `spec.siderolink.address ${JSON.stringify(address)} is not an IPv6 address`;
  }
  if (typeof publicKey !== "string" || publicKey === "") return "spec.siderolink.publicKey is missing";
  try {
    return { address: formatIPv6(bytes), publicKey: formatKey(parseKey(publicKey, "spec.siderolink.publicKey")) };
  } catch (error) {
    return (error as Error).message;
  }
}

/** The name of a MetalMachine's owner of kind `Machine` in group `cluster.x-k8s.io` (any version). */
export function machineOwner(object: KubeObject): string | undefined {
  return object.metadata.ownerReferences?.find((owner) =>
    owner.kind === "Machine" && owner.apiVersion?.split("/")[0] === "cluster.x-k8s.io"
  )?.name;
}

function record(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The installation in Kubernetes mode: the Secret `siderolink` (PROTOCOL.md §2, §6) with `installation-id` and
 * `private-key`, each the base64 text of 32 random bytes, as Sidero writes them. Loaded, or created when missing;
 * two servers creating it at once end with one (the loser of the create reads the winner's). A Secret that is
 * missing a key or holds a malformed one is reported and never overwritten: a new installation would orphan every
 * machine.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { generatePrivateKey, KEY_LENGTH } from "../keys.ts";
import type { Installation } from "../state/types.ts";
import { type KubeClient, KubeError, type KubeObject, type Target } from "./client.ts";
import { PATHS } from "./resources.ts";

/** The Secret's name. */
export const SECRET_NAME = "siderolink";

/** The label clusterctl uses to move the Secret with the management cluster. */
const MOVE_LABEL = "clusterctl.cluster.x-k8s.io/move";

/**
 * Loads or creates the installation Secret in `namespace`.
 *
 * @example
 * ```ts
 * const { installationId, privateKey } = await loadInstallation(client, "default");
 * ```
 */
export async function loadInstallation(client: KubeClient, namespace: string): Promise<Installation> {
  const name = `${namespace}/${SECRET_NAME}`;
  const existing = await readSecret(client, namespace);
  if (existing) return fromSecret(existing, name);
  const data = {
    "installation-id": crypto.getRandomValues(new Uint8Array(32)).toBase64(),
    "private-key": generatePrivateKey().toBase64(),
  };
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: { name: SECRET_NAME, namespace, labels: { [MOVE_LABEL]: "" } },
    data: Object.fromEntries(
      Object.entries(data).map(([key, value]) => [key, new TextEncoder().encode(value).toBase64()]),
    ),
  };
  const target: Target = { verb: "create", resource: "secrets", name };
  try {
    return fromSecret(
      await client.json<KubeObject>(target, PATHS.secrets(namespace), { method: "POST", body: secret }),
      name,
    );
  } catch (error) {
    if (!(error instanceof KubeError && error.status === 409)) throw startupError(error);
  }
  // Another server created it first: use theirs.
  const theirs = await readSecret(client, namespace);
  if (!theirs) throw new UserError(`Secret ${name} was created by another server but cannot be read back`);
  return fromSecret(theirs, name);
}

async function readSecret(client: KubeClient, namespace: string): Promise<KubeObject | undefined> {
  const target: Target = { verb: "get", resource: "secrets", name: `${namespace}/${SECRET_NAME}` };
  try {
    return await client.json<KubeObject>(target, PATHS.secret(namespace, SECRET_NAME));
  } catch (error) {
    if (error instanceof KubeError && error.status === 404) return undefined;
    throw startupError(error);
  }
}

function fromSecret(secret: KubeObject, name: string): Installation {
  const data = (secret.data ?? {}) as Record<string, unknown>;
  const value = (key: string) => {
    const encoded = data[key];
    if (typeof encoded !== "string" || encoded === "") throw new UserError(`Secret ${name} has no key ${key}`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.fromBase64(encoded)).trim();
    } catch {
      throw new UserError(`Secret ${name}: key ${key} is not base64 text`);
    }
  };
  const installationId = value("installation-id");
  if (installationId === "") throw new UserError(`Secret ${name}: key installation-id is empty`);
  let privateKey: Uint8Array;
  try {
    privateKey = Uint8Array.fromBase64(value("private-key"));
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`Secret ${name}: key private-key is not a base64 WireGuard key`);
  }
  if (privateKey.length !== KEY_LENGTH) {
    throw new UserError(`Secret ${name}: key private-key is ${privateKey.length} bytes, want ${KEY_LENGTH}`);
  }
  return { installationId, privateKey };
}

/** At start-up every API failure ends serve with one line naming the request (Kubernetes restarts the pod). */
export function startupError(error: unknown): Error {
  return error instanceof KubeError ? new UserError(`Kubernetes API: ${error.message}`) : error as Error;
}

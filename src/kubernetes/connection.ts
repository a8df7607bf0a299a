/**
 * Where the Kubernetes API is and how to authenticate to it, read the way kubectl reads it: `--kubeconfig`, else
 * `KUBECONFIG` (a `:`-separated list, the first file to define a name wins), else the in-cluster service account.
 * Bearer tokens (inline or `tokenFile`), client certificates and CA settings (inline `-data` or file paths
 * relative to the kubeconfig) are supported; exec and auth-provider plugins are refused with a clear error.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { UserError } from "../errors.ts";

/** The in-cluster service account's folder (token, ca.crt, namespace). */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How long a token read from a file is used before it is read again (rotated tokens are picked up). */
const TOKEN_FILE_REFRESH_MS = 60_000;

/** A resolved connection to an apiserver. */
export interface KubeConnection {
  /** The apiserver's base URL, without a trailing slash. */
  server: string;
  /** Where the settings came from, for messages. */
  source: string;
  /** PEM of the CAs that sign the apiserver's certificate; the system roots when absent. */
  caPem?: string;
  /** PEM client certificate and key. */
  clientCertificate?: { cert: string; key: string };
  /** The bearer token to send now; `refresh` re-reads a token file (after a 401). */
  token?: (refresh?: boolean) => string | undefined;
}

/**
 * Resolves the connection as kubectl would.
 *
 * @example
 * ```ts
 * const connection = resolveConnection(undefined, Deno.env.toObject());
 * ```
 */
export function resolveConnection(kubeconfig: string | undefined, env: Record<string, string | undefined>) {
  if (kubeconfig !== undefined) return fromKubeconfig([kubeconfig]);
  if (env.KUBECONFIG) return fromKubeconfig(env.KUBECONFIG.split(":").filter((path) => path !== ""));
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
    return inCluster(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT);
  }
  throw new UserError(
    "--kubernetes: no cluster to talk to: pass --kubeconfig FILE, set KUBECONFIG, or run in a pod with a service account",
  );
}

function inCluster(host: string, port: string): KubeConnection {
  const tokenPath = join(SERVICE_ACCOUNT_DIR, "token");
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    server,
    source: `the in-cluster service account (${SERVICE_ACCOUNT_DIR})`,
    caPem: readText(join(SERVICE_ACCOUNT_DIR, "ca.crt"), "the service account's CA"),
    token: tokenFromFile(tokenPath),
  };
}

interface Named<T> {
  name: string;
  value: T;
}

interface KubeconfigFile {
  path: string;
  clusters: Named<Record<string, unknown>>[];
  users: Named<Record<string, unknown>>[];
  contexts: Named<Record<string, unknown>>[];
  currentContext?: string;
}

function fromKubeconfig(paths: string[]): KubeConnection {
  const files = paths.map(readKubeconfig);
  const source = `kubeconfig ${paths.join(":")}`;
  const contextName = files.find((file) => file.currentContext)?.currentContext;
  if (!contextName) throw new UserError(`${source}: no current-context`);
  const find = (kind: "clusters" | "users" | "contexts", name: string) => {
    for (const file of files) {
      const entry = file[kind].find((candidate) => candidate.name === name);
      if (entry) return { file, value: entry.value };
    }
    return undefined;
  };
  const context = find("contexts", contextName);
  if (!context) throw new UserError(`${source}: current-context "${contextName}" is not defined`);
  const clusterName = text(context.value.cluster);
  const cluster = clusterName === undefined ? undefined : find("clusters", clusterName);
  if (!cluster) throw new UserError(`${source}: context "${contextName}" names no defined cluster`);
  const server = text(cluster.value.server);
  if (!server) throw new UserError(`${source}: cluster "${clusterName}" has no server`);
  if (cluster.value["insecure-skip-tls-verify"] === true) {
    throw new UserError(`${source}: cluster "${clusterName}": insecure-skip-tls-verify is not supported; give its CA`);
  }
  const connection: KubeConnection = { server: server.replace(/\/+$/, ""), source };
  const ca = material(cluster.value, "certificate-authority", cluster.file.path, `cluster "${clusterName}"`);
  if (ca) connection.caPem = ca;
  const userName = text(context.value.user);
  const user = userName === undefined ? undefined : find("users", userName);
  if (userName !== undefined && !user) throw new UserError(`${source}: user "${userName}" is not defined`);
  if (user) {
    const where = `user "${userName}"`;
    for (const unsupported of ["exec", "auth-provider"]) {
      if (user.value[unsupported] !== undefined) {
        throw new UserError(
          `${source}: ${where} uses ${unsupported}, which is not supported: use a token or a certificate`,
        );
      }
    }
    const cert = material(user.value, "client-certificate", user.file.path, where);
    const key = material(user.value, "client-key", user.file.path, where);
    if ((cert === undefined) !== (key === undefined)) {
      throw new UserError(`${source}: ${where} needs both client-certificate and client-key`);
    }
    if (cert !== undefined && key !== undefined) connection.clientCertificate = { cert, key };
    const token = text(user.value.token);
    const tokenFile = text(user.value.tokenFile);
    if (token !== undefined) connection.token = () => token;
    else if (tokenFile !== undefined) connection.token = tokenFromFile(relativeTo(user.file.path, tokenFile));
  }
  return connection;
}

function readKubeconfig(path: string): KubeconfigFile {
  let document: unknown;
  try {
    document = parse(readText(path, "kubeconfig"));
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`kubeconfig ${path}: not YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (typeof document !== "object" || document === null) throw new UserError(`kubeconfig ${path}: not a kubeconfig`);
  const fields = document as Record<string, unknown>;
  const list = (kind: "clusters" | "users" | "contexts", inner: string) => {
    const entries = fields[kind] ?? [];
    if (!Array.isArray(entries)) throw new UserError(`kubeconfig ${path}: ${kind} must be a list`);
    return entries.map((entry, index) => {
      const name = text(entry?.name);
      const value = entry?.[inner];
      if (name === undefined || typeof value !== "object" || value === null) {
        throw new UserError(`kubeconfig ${path}: ${kind} entry ${index + 1} needs a name and a ${inner}`);
      }
      return { name, value: value as Record<string, unknown> };
    });
  };
  return {
    path,
    clusters: list("clusters", "cluster"),
    users: list("users", "user"),
    contexts: list("contexts", "context"),
    currentContext: text(fields["current-context"]),
  };
}

/** PEM text from `<field>-data` (base64) or the file `<field>` (relative to the kubeconfig). */
function material(fields: Record<string, unknown>, field: string, kubeconfig: string, where: string) {
  const inline = text(fields[`${field}-data`]);
  if (inline !== undefined) {
    try {
      return new TextDecoder().decode(Uint8Array.fromBase64(inline));
    } catch {
      throw new UserError(`kubeconfig ${kubeconfig}: ${where}: ${field}-data is not base64`);
    }
  }
  const path = text(fields[field]);
  return path === undefined ? undefined : readText(relativeTo(kubeconfig, path), `${where} ${field}`);
}

/** A token read from a file, read again once it is a minute old or when asked (after a 401). */
function tokenFromFile(path: string): (refresh?: boolean) => string {
  let token = "";
  let readAt = -Infinity;
  return (refresh = false) => {
    if (refresh || performance.now() - readAt > TOKEN_FILE_REFRESH_MS) {
      token = readText(path, "token file").trim();
      readAt = performance.now();
    }
    return token;
  };
}

function relativeTo(kubeconfig: string, path: string): string {
  return isAbsolute(path) ? path : join(dirname(kubeconfig), path);
}

function readText(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new UserError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

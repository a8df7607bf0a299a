/**
 * The daemon's effective settings, and the parts of them that need the system to resolve: the advertised
 * WireGuard endpoint and the join token.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { UsageError, UserError } from "../errors.ts";
import { formatHostPort, splitHostPort } from "../hostport.ts";
import type { TlsFiles } from "../grpc/tls_pair.ts";

/** Default WireGuard UDP port (PROTOCOL.md §1). */
export const DEFAULT_WIREGUARD_PORT = 51821;

/** Everything `serve` runs with, validated by the CLI. */
export interface ServeConfig {
  stateDir: string;
  /** `host:port` advertised to machines; undefined = this host's first global address. */
  wireguardEndpoint?: string;
  wireguardBackend: "auto" | "kernel" | "userspace";
  interfaceName: string;
  /** `addr:port` of the Provision API. */
  apiListen: string;
  /** TLS for the Provision API; cleartext (h2c) without it. */
  apiTls?: TlsFiles;
  logPort: number;
  eventPort: number;
  /** A token, `false` for `--no-join-token`, undefined for "the stored or a generated one". */
  joinToken?: string | false;
  joinTokenFile?: string;
  inventory?: string;
  /** CIDRs left out of the addresses machines report (AddressEvent). */
  excludedAddresses: string[];
  accept: "any" | "known";
  controlSocket: string;
  peerGcAfterMs?: number;
  logRetainLines: number;
  logRetainAgeMs: number;
  /** Most kernel-log lines per second per machine; unlimited when absent. */
  logRateLimit?: number;
  /** `addr:port` of the metrics and health listener; none when absent. */
  metricsListen?: string;
  cleanupOnExit: boolean;
  /** Set in Kubernetes mode: where the apiserver and the installation Secret are. */
  kubernetes?: KubernetesSettings;
}

/** How Kubernetes mode finds its cluster. */
export interface KubernetesSettings {
  /** A kubeconfig file; else `KUBECONFIG`, else the in-cluster service account. */
  kubeconfig?: string;
  /** Namespace of the `siderolink` Secret. */
  secretNamespace: string;
}

/**
 * The advertised endpoint as `ip:port`: a hostname is resolved once at start-up; without a setting, this
 * host's first global address (IPv4 first, as most machine networks are) on port 51821.
 */
export async function resolveEndpoint(setting: string | undefined): Promise<{ endpoint: string; port: number }> {
  if (setting === undefined) {
    const address = firstGlobalAddress();
    if (!address) {
      throw new UserError(
        "no global address on this host to advertise: pass --wireguard-endpoint HOST:PORT (the address machines reach)",
      );
    }
    return { endpoint: formatHostPort(address, DEFAULT_WIREGUARD_PORT), port: DEFAULT_WIREGUARD_PORT };
  }
  const { host, port } = splitHostPort(setting);
  try {
    const { address } = await lookup(host);
    return { endpoint: formatHostPort(address, port), port };
  } catch (error) {
    throw new UsageError(`--wireguard-endpoint ${setting}: cannot resolve ${host}: ${(error as Error).message}`);
  }
}

function firstGlobalAddress(): string | undefined {
  const global = Deno.networkInterfaces().filter(({ address, family }) =>
    family === "IPv4"
      ? !address.startsWith("127.") && !address.startsWith("169.254.")
      : !/^(::1$|fe[89ab]|fd|fc)/i.test(address)
  );
  return (global.find(({ family }) => family === "IPv4") ?? global[0])?.address;
}

/** A new join token: 32 random bytes, base64url (safe in a kernel argument's query string). */
export function generateJoinToken(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * The token this run enforces: `--no-join-token` → none; `--join-token`/`--join-token-file` → that one;
 * otherwise the stored one, or a new one when none is stored (`generate`; Kubernetes mode has none by default,
 * as Sidero's kernel arguments carry none).
 */
export function chooseJoinToken(
  config: ServeConfig,
  stored: string | undefined,
  generate = true,
): string | undefined {
  if (config.joinToken === false) {
    if (config.joinTokenFile) throw new UsageError("--no-join-token and --join-token-file exclude each other");
    return undefined;
  }
  if (config.joinToken !== undefined && config.joinTokenFile !== undefined) {
    throw new UsageError("--join-token and --join-token-file exclude each other: give one");
  }
  if (config.joinTokenFile !== undefined) {
    let token: string;
    try {
      token = Deno.readTextFileSync(config.joinTokenFile).trim();
    } catch (error) {
      throw new UserError(`cannot read --join-token-file ${config.joinTokenFile}: ${(error as Error).message}`);
    }
    if (token === "") throw new UsageError(`--join-token-file ${config.joinTokenFile} is empty`);
    return token;
  }
  if (config.joinToken !== undefined) {
    if (config.joinToken === "") throw new UsageError("--join-token is empty: give a token or --no-join-token");
    return config.joinToken;
  }
  return stored ?? (generate ? generateJoinToken() : undefined);
}

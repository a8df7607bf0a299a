/**
 * `siderolink addr`: the SideroLink addresses of an installation, computed offline.
 *
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import {
  canonicalUuid,
  checkInstallationId,
  networkPrefix,
  nodeAddress,
  serverAddress,
  withPrefixLength,
} from "../addressing.ts";
import { UsageError } from "../errors.ts";
import { formatIPv6 } from "../ipv6.ts";
import { kernelArgs } from "../kernel_args.ts";
import { MachineStore } from "../machines/store.ts";
import { SqliteState } from "../state/sqlite.ts";
import { DEFAULT_EVENT_PORT, DEFAULT_LOG_PORT, DEFAULT_STATE_DIR } from "./defaults.ts";
import { parseHostPort, parsePort } from "./options.ts";

interface AddrOptions {
  installationId?: string;
  stateDir?: string;
  json?: boolean;
  kernelArgs?: boolean;
  apiEndpoint?: ApiEndpoint;
  logPort: number;
  eventPort: number;
}

/** `--api-endpoint`: where machines reach the Provision API, and whether it serves TLS. */
interface ApiEndpoint {
  hostPort: string;
  tls: boolean;
}

/** One server UUID's address and where it came from. */
interface MachineAddress {
  uuid: string;
  address: string;
  source: "stored" | "computed";
}

/** The installation facts `addr` needs, from `--installation-id` or from a state folder. */
interface Source {
  installationId: string;
  joinToken?: string;
  storedAddress(uuid: string): string | undefined;
}

/** Builds the `addr` subcommand. */
export function addrCommand(): Command {
  return new Command("addr")
    .description("compute the SideroLink network prefix, server address and node addresses (offline)")
    .argument("[server-uuid...]", "servers whose node address to print")
    .addOption(new Option("--installation-id <id>", "the installation ID to compute from (instead of a state)"))
    .addOption(
      new Option("--state-dir <dir>", `read the installation from this state folder (default ${DEFAULT_STATE_DIR})`)
        .env("SIDEROLINK_STATE_DIR"),
    )
    .option("--json", "print one JSON object")
    .option("--kernel-args", "print the Talos kernel arguments a machine needs")
    .option(
      "--api-endpoint <[https://]host:port>",
      "Provision API endpoint as machines reach it (for --kernel-args); https:// when it serves TLS",
      parseApiEndpoint,
    )
    .option("--log-port <port>", "kernel-log port (for --kernel-args)", parsePort, DEFAULT_LOG_PORT)
    .option("--event-port <port>", "event sink port (for --kernel-args)", parsePort, DEFAULT_EVENT_PORT)
    .action((uuids: string[], options: AddrOptions) => runAddr(uuids, options));
}

function runAddr(uuidArgs: string[], options: AddrOptions): void {
  const uuids = uuidArgs.map(canonicalUuid);
  using source = openSource(options);
  const server = formatIPv6(serverAddress(source.installationId));
  const machines: MachineAddress[] = uuids.map((uuid) => {
    const stored = source.storedAddress(uuid);
    return stored
      ? { uuid, address: `${stored}/64`, source: "stored" }
      : { uuid, address: withPrefixLength(nodeAddress(source.installationId, uuid)), source: "computed" };
  });
  const args = options.kernelArgs
    ? kernelArgs({
      serverAddress: server,
      logPort: options.logPort,
      eventPort: options.eventPort,
      apiEndpoint: options.apiEndpoint?.hostPort,
      apiTls: options.apiEndpoint?.tls,
      joinToken: source.joinToken,
    })
    : undefined;

  const lines: string[] = [];
  if (options.json) {
    const prefix = withPrefixLength(networkPrefix(source.installationId));
    lines.push(JSON.stringify({ prefix, server_address: server, machines, ...(args && { kernel_args: args }) }));
  } else {
    if (uuids.length === 0 && !args) {
      lines.push(`prefix ${withPrefixLength(networkPrefix(source.installationId))}`, `server_address ${server}`);
    }
    for (const machine of machines) lines.push(`${machine.uuid} ${machine.address}`);
    if (args) lines.push(args.join(" "));
  }
  console.log(lines.join("\n"));
}

/** `HOST:PORT` or `grpc://HOST:PORT` (h2c), `https://HOST:PORT` (TLS), as `siderolink.api` takes them. */
function parseApiEndpoint(text: string): ApiEndpoint {
  const scheme = /^(https|grpc):\/\//.exec(text)?.[1];
  try {
    return { hostPort: parseHostPort(scheme ? text.slice(scheme.length + 3) : text), tls: scheme === "https" };
  } catch {
    throw new InvalidArgumentError(
      "want HOST:PORT (h2c) or https://HOST:PORT (TLS), with an IPv6 address in brackets.",
    );
  }
}

function openSource(options: AddrOptions): Source & Disposable {
  if (options.installationId !== undefined) {
    if (options.stateDir !== undefined) {
      throw new UsageError("--installation-id and --state-dir exclude each other: give one");
    }
    const installationId = checkInstallationId(options.installationId);
    return { installationId, storedAddress: () => undefined, [Symbol.dispose]() {} };
  }
  const dir = options.stateDir ?? DEFAULT_STATE_DIR;
  if (options.stateDir === undefined && !SqliteState.existsIn(dir)) {
    throw new UsageError(
      `no state in the default folder ${DEFAULT_STATE_DIR}: pass --state-dir DIR (where serve keeps its state) ` +
        `or --installation-id ID (to compute without a state)`,
    );
  }
  const state = SqliteState.open(dir, "read");
  const { installationId, joinToken } = state.installation();
  const machines = new MachineStore(state);
  return {
    installationId,
    joinToken,
    storedAddress: (uuid) => machines.get(uuid)?.address,
    [Symbol.dispose]: () => state.close(),
  };
}
